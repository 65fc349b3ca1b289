"""The benchmark's episode-mode section: the mode a user runs, beside step-budget mode.

Step-budget mode gives every seed the same work, so it measures the loop. What a user runs (the
README's thousand seeds, the experiment commands) is episode mode, where the seeds finish at
different times. This section times ``train_seeds(n_episodes=E)`` on the primary env (dense
count model, ``n = 50``) at each ``--episode-seeds`` count:

* ``episodes-lanes``: as ``train_seeds`` runs by default, the seeds streamed through lanes
  (``dynaq_jax.lanes``) where that applies;
* ``episodes-lockstep`` (up to ``LOCKSTEP_MAX_SEEDS`` seeds): every seed in one batch until the
  slowest is done (``lanes=len(keys)``), as before lanes.

Only useful work counts: ``useful planning updates = n * sum_i steps_done[i]`` (a lane idling
after its seed is done, or a masked lockstep seed, does none), and the idle fraction is ``1 -
useful steps / lane-steps``, the lane-steps replayed from the seeds' step counts
(``lanes.lane_steps``). Each row is set beside step mode at the same seed count (``vs step
mode``), timed in the same rounds: every call of the section runs in turn, round after round, so
that a change in the machine's load between two calls weighs on both sides of a ratio. The
section's targets are the issue's: episode mode at least 0.8 of step mode at 1000 seeds x 30
episodes, step mode at 10000 seeds at least 0.85 of its rate at 1000, and at least 80 M planning
updates/s at 1000 seeds in step mode.
"""

import dataclasses
import functools
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np

from dynaq_jax import lanes
from dynaq_jax.distributed import seed_devices
from dynaq_jax.experiments.benchmark_measure import (
    JAX_IMPL,
    PRIMARY_ENV,
    Options,
    auto_steps,
    bench_config,
    make_env,
    timed_call,
)
from dynaq_jax.experiments.benchmark_report import Target, format_si
from dynaq_jax.train import lane_plan, train_seeds

EPISODES_IMPL = "episodes-lanes"
"""``train_seeds(n_episodes=E)`` as it runs by default: streamed through lanes where it applies."""
LOCKSTEP_IMPL = "episodes-lockstep"
"""``train_seeds(n_episodes=E, lanes=len(keys))``: every seed in one batch, until the slowest."""
EPISODES = 30
"""Episodes per seed (``--episodes``): the issue's 1000 seeds x 30 episodes."""
EPISODE_SEEDS = (1000, 10000)
"""Seed counts of the section (``--episode-seeds``)."""
LOCKSTEP_MAX_SEEDS = 1000
"""The lockstep rows run up to this many seeds (beyond, one batch runs out of the cache)."""


@dataclasses.dataclass
class EpisodeRow:
    """One episode-mode measurement (or, ``mode="step"``, the step-mode row it is set beside)."""

    impl: str
    env: str
    mode: str
    """``"episodes"`` or ``"step"``."""
    seeds: int
    lanes: str
    """How the seeds ran: ``"128 -> 16 (every 5 steps)"``, ``"4 x 250"``, ``"all 1000"``."""
    useful_steps: int
    """Real steps of all seeds (``sum steps_done``)."""
    lane_steps: int
    """Steps the lanes ran, busy or idle (replayed)."""
    idle_fraction: float
    run_s: float
    """Best run time over the calls (compile time excluded)."""
    useful_updates_per_s: float
    """``n * useful_steps / run_s``."""
    episodes_per_seed: int | None = None
    compile_s: float | None = None
    run_s_all: list[float] = dataclasses.field(default_factory=list)
    vs_step_mode: float | None = None
    """``useful_updates_per_s`` over the step-mode row's at the same seed count."""

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return dataclasses.asdict(self)


def describe(plan: lanes.LanePlan | None, seeds: int, episodes: bool, devices: int = 1) -> str:
    """How ``seeds`` seeds pass through the lanes of ``plan`` on each of ``devices`` devices (an
    equal share of the seeds each), in words."""
    per = -(-seeds // devices)
    if plan is None:
        text = f"all {per}"
    elif not episodes:
        text = f"{-(-per // plan.lanes)} x {plan.lanes}"
    else:
        stages = " -> ".join(map(str, plan.stages))
        text = f"{stages} (every {plan.check_every} steps)"
    return text if devices == 1 else f"{text}, on each of {devices} devices"


@dataclasses.dataclass
class Timed:
    """One call of the section, and its timings (``timed_call``: wall and compile seconds)."""

    impl: str
    seeds: int
    call: Callable[[], Any]
    plan: lanes.LanePlan | None
    walls: list[float] = dataclasses.field(default_factory=list)
    compiles: list[float] = dataclasses.field(default_factory=list)
    out: Any = None

    def runs(self) -> list[float]:
        """Run seconds of each call: wall minus compile."""
        return [max(w - c, 1e-9) for w, c in zip(self.walls, self.compiles, strict=True)]


def section_calls(options: Options) -> list[Timed]:
    """The calls of the section, per episode seed count ``N``: step mode (``auto_steps`` real
    steps per seed, as the main table), episode mode as ``train_seeds`` runs by default, and, when
    that streams and ``N <= LOCKSTEP_MAX_SEEDS``, episode mode in lockstep."""
    env, config = make_env(PRIMARY_ENV), bench_config(PRIMARY_ENV, options)
    episodes = options.episodes or EPISODES
    out = []
    for seeds in options.episode_seeds:
        keys = jax.random.split(jax.random.key(0), seeds)
        steps = auto_steps(seeds, options.planning_steps, options)
        plan = lane_plan(env, config, seeds, n_steps=steps) if seeds > 1 else None
        out.append(
            Timed(
                JAX_IMPL,
                seeds,
                functools.partial(train_seeds, env, config, keys, None, steps),
                plan,
            )
        )
        plan = lane_plan(env, config, seeds, episodes) if seeds > 1 else None
        variants: list[tuple[str, int | None, lanes.LanePlan | None]] = [
            (EPISODES_IMPL, None, plan)
        ]
        if plan is not None and seeds <= LOCKSTEP_MAX_SEEDS:
            variants.append((LOCKSTEP_IMPL, seeds, None))
        for impl, lanes_arg, p in variants:
            call = functools.partial(train_seeds, env, config, keys, episodes, lanes=lanes_arg)
            out.append(Timed(impl, seeds, call, p))
    return out


def episode_row(t: Timed, options: Options) -> EpisodeRow:
    """An episode-mode call's row: useful steps, the lanes' idle fraction (the replayed
    schedule), useful planning updates per second of the best call."""
    env = make_env(PRIMARY_ENV)
    steps = np.asarray(t.out.steps_done)
    chunk = min(env.time_limit or 64, 128)  # train's default chunk
    n_dev = seed_devices(t.seeds)
    # Each device streams its own contiguous share of the seeds (padded to equal shares).
    per_device = -(-t.seeds // n_dev)
    padded = np.concatenate([steps, np.repeat(steps[-1:], per_device * n_dev - t.seeds)])
    ran = sum(lanes.lane_steps(part, t.plan, chunk) for part in padded.reshape(n_dev, per_device))
    useful = int(steps.sum())
    run_s = min(t.runs())
    return EpisodeRow(
        impl=t.impl,
        env=PRIMARY_ENV,
        mode="episodes",
        seeds=t.seeds,
        lanes=describe(t.plan, t.seeds, True, seed_devices(t.seeds)),
        useful_steps=useful,
        lane_steps=ran,
        idle_fraction=1.0 - useful / ran,
        run_s=run_s,
        useful_updates_per_s=options.planning_steps * useful / run_s,
        episodes_per_seed=options.episodes or EPISODES,
        compile_s=t.compiles[0],
        run_s_all=t.runs(),
    )


def step_row(t: Timed, options: Options) -> EpisodeRow:
    """A step-mode call's row (no idle lanes)."""
    useful = int(np.sum(t.out.steps_done))
    run_s = min(t.runs())
    return EpisodeRow(
        impl=t.impl,
        env=PRIMARY_ENV,
        mode="step",
        seeds=t.seeds,
        lanes=describe(t.plan, t.seeds, False, seed_devices(t.seeds)),
        useful_steps=useful,
        lane_steps=useful,
        idle_fraction=0.0,
        run_s=run_s,
        useful_updates_per_s=options.planning_steps * useful / run_s,
        compile_s=t.compiles[0],
        run_s_all=t.runs(),
    )


def episode_section(
    options: Options, log: Callable[[str], None] = print
) -> tuple[list[EpisodeRow], list[dict[str, Any]]]:
    """The section's rows (per seed count: step mode, then episode mode) and its targets; nothing
    when ``options.episode_seeds`` is empty or the primary env is not run.

    Every call runs ``options.repeats`` times, in rounds that go through all the calls in turn
    (the first round compiles), so that the ratios compare calls timed minutes apart at most,
    whatever the machine's load does meanwhile; each row reports its best call."""
    if not options.episode_seeds or PRIMARY_ENV not in options.envs:
        return [], []
    calls = section_calls(options)
    for round_ in range(max(options.repeats, 1)):
        for t in calls:
            if round_ == 0:
                what = describe_call(t, options)
                log(f"[bench] {PRIMARY_ENV} {t.impl}: {t.seeds} seed(s), {what}")
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"train: (stopped at|up to)")
                wall, comp, t.out = timed_call(t.call)
            t.walls.append(wall)
            t.compiles.append(comp)
    rows: list[EpisodeRow] = []
    step_rate = 0.0
    for t in calls:
        if t.impl == JAX_IMPL:
            rows.append(step_row(t, options))
            step_rate = rows[-1].useful_updates_per_s
            continue
        row = episode_row(t, options)
        if step_rate > 0:
            row.vs_step_mode = row.useful_updates_per_s / step_rate
        rows.append(row)
    return rows, evaluate_lane_targets(rows, options.episodes or EPISODES)


def describe_call(t: Timed, options: Options) -> str:
    """``"30 episodes"`` or ``"2000 steps"`` per seed, for the log."""
    if t.impl == JAX_IMPL:
        return f"{auto_steps(t.seeds, options.planning_steps, options)} steps"
    return f"{options.episodes or EPISODES} episodes"


LANE_TARGETS = (
    Target(
        "episode mode (useful updates) over step mode, 1000 seeds x 30 episodes", 0.8, True, "x"
    ),
    Target("step mode at 10000 seeds over step mode at 1000 seeds", 0.85, True, "x"),
    Target("step mode planning updates/s at 1000 seeds", 80e6, True, " updates/s"),
)
"""The lanes issue's targets on the primary env (dense count model, ``n = 50``)."""


def evaluate_lane_targets(rows: Sequence[EpisodeRow], episodes: int) -> list[dict[str, Any]]:
    """Each lane target's value (``None`` when not measured) and status (``"PASS"``,
    ``"FAIL"``, ``"n/a"``); the episode target needs 30 episodes per seed."""
    steps = {r.seeds: r.useful_updates_per_s for r in rows if r.mode == "step"}
    lanes_1000 = [
        r.vs_step_mode
        for r in rows
        if r.impl == EPISODES_IMPL and r.seeds == 1000 and r.vs_step_mode is not None
    ]
    values: list[float | None] = [
        lanes_1000[0] if lanes_1000 and episodes == EPISODES else None,
        steps[10000] / steps[1000] if 10000 in steps and 1000 in steps else None,
        steps.get(1000),
    ]
    out = []
    for target, value in zip(LANE_TARGETS, values, strict=True):
        status = "n/a" if value is None else ("PASS" if value >= target.threshold else "FAIL")
        out.append(
            {
                "name": target.name,
                "env": PRIMARY_ENV,
                "impl": EPISODES_IMPL if target is LANE_TARGETS[0] else JAX_IMPL,
                "threshold": target.threshold,
                "comparison": ">=",
                "unit": target.unit,
                "value": value,
                "status": status,
            }
        )
    return out


def episode_markdown_table(rows: Sequence[EpisodeRow]) -> str:
    """The section's rows as a markdown table."""
    head = (
        "| env | impl | mode | seeds | lanes | useful steps | idle | useful updates/s | "
        "vs step mode | compile (s) |\n|---|---|---|---:|---|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        ratio = f"{r.vs_step_mode:.2f}" if r.vs_step_mode is not None else "-"
        compile_s = f"{r.compile_s:.2f}" if r.compile_s is not None else "-"
        lines.append(
            f"| {r.env} | {r.impl} | {r.mode} | {r.seeds} | {r.lanes} | "
            f"{format_si(r.useful_steps)} | {100 * r.idle_fraction:.0f}% | "
            f"{format_si(r.useful_updates_per_s)} | {ratio} | {compile_s} |"
        )
    return "\n".join(lines)


__all__ = [
    "EPISODES",
    "EPISODES_IMPL",
    "EPISODE_SEEDS",
    "LANE_TARGETS",
    "LOCKSTEP_IMPL",
    "LOCKSTEP_MAX_SEEDS",
    "EpisodeRow",
    "Timed",
    "describe",
    "describe_call",
    "episode_markdown_table",
    "episode_row",
    "episode_section",
    "evaluate_lane_targets",
    "section_calls",
    "step_row",
]
