"""Sutton & Barto Figures 8.4 and 8.5: Dyna-Q against Dyna-Q+ in the blocking and the shortcut
maze: ``BLOCKING_MAZE``, ``SHORTCUT_MAZE``, ``run_changing_maze``, then
``summarize_changing_maze``, ``format_changing_maze`` and ``write_changing_maze``
(``dynaq-jax blocking`` and ``dynaq-jax shortcut``).
"""

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import jax
import numpy as np
import tyro
from numpy.typing import NDArray

from dynaq_jax import plotting
from dynaq_jax.agent import state_values
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import ChangingMDP, TabularMDP, blocking_maze, shortcut_maze
from dynaq_jax.experiments.common import (
    Timing,
    drawn_policy,
    greedy_path_lengths,
    greedy_path_summary,
    make_config,
    seed_keys,
    shortest_path_length,
    spread,
    timed_training,
)
from dynaq_jax.experiments.options import (
    Discount,
    Epsilon,
    FieldCheck,
    LearningRate,
    Model,
    NonNegativeInt,
    PlanningSteps,
    PlusKappa,
    PositiveInt,
    Seed,
    check_fields,
    check_planning_draw,
)
from dynaq_jax.experiments.output import (
    DPI,
    config_text,
    out_dir,
    path_cell,
    path_text,
    timing_line,
    versions,
    with_summary,
    write_csv,
)
from dynaq_jax.train import TrainResult, train_sweep

DYNA_Q_LABELS: tuple[str, str] = ("Dyna-Q", "Dyna-Q+")

MazeKind = Literal["blocking", "shortcut"]
MAZE_KIND = FieldCheck(str, choices=("blocking", "shortcut"))


@dataclasses.dataclass(frozen=True)
class ChangingMazeProtocol:
    """Sutton & Barto Figures 8.4 and 8.5: Dyna-Q against Dyna-Q+ in a maze that changes.

    ``runs`` runs of exactly ``steps`` real steps (step-budget mode); the walls move at global
    step ``switch_step``. Both agents share every setting but ``kappa`` (0 for Dyna-Q), so they
    run as one compiled sweep. Defaults: ``BLOCKING_MAZE`` and ``SHORTCUT_MAZE``.
    """

    maze: tyro.conf.Suppress[Annotated[MazeKind, MAZE_KIND]]
    """the maze: 'blocking' (Figure 8.4) or 'shortcut' (Figure 8.5)"""
    runs: PositiveInt
    """runs (seeds) per agent"""
    steps: PositiveInt
    """real steps per run"""
    switch_step: NonNegativeInt
    """global step at which the walls move (at most --steps)"""
    planning_steps: PlanningSteps
    """planned updates per real step (n)"""
    kappa: PlusKappa
    """Dyna-Q+'s exploration bonus kappa * sqrt(tau) (Dyna-Q uses 0)"""
    learning_rate: LearningRate = 1.0
    """step size alpha of the Q updates and of the reward model, in (0, 1]"""
    discount: Discount = 0.95
    """discount gamma, in [0, 1]"""
    epsilon: Epsilon = 0.1
    """exploration rate of epsilon-greedy acting (ties broken at random), in [0, 1]"""
    model: Model = "deterministic"
    """the model: 'count' (T_c counts, smoothed rewards) or 'deterministic' (last (s', r) seen)"""
    seed: Seed = 0
    """base PRNG seed; run i uses jax.random.split(jax.random.key(SEED), RUNS)[i]"""

    def __post_init__(self) -> None:
        check_fields(self)
        if self.switch_step > self.steps:
            raise ValueError(
                f"{type(self).__name__}: switch_step must lie in [0, steps] = [0, {self.steps}], "
                f"got {self.switch_step}"
            )
        self.configs()
        check_planning_draw(type(self).__name__, self.planning_steps, 2 * self.runs, "2 x runs")

    def configs(self) -> tuple[DynaQConfig, DynaQConfig]:
        """The ``DynaQConfig`` of Dyna-Q (``kappa = 0``) and of Dyna-Q+ (``kappa``)."""
        plain = make_config(
            type(self).__name__,
            learning_rate=self.learning_rate,
            discount=self.discount,
            epsilon=self.epsilon,
            planning_steps=self.planning_steps,
            model=self.model,
            kappa=0.0,
        )
        return plain, plain.replace(kappa=float(self.kappa))

    def env(self) -> ChangingMDP:
        """The blocking or shortcut maze, switching at ``switch_step``."""
        make = blocking_maze if self.maze == "blocking" else shortcut_maze
        return make(switch_step=self.switch_step)


BLOCKING_MAZE = ChangingMazeProtocol(
    maze="blocking", runs=30, steps=3000, switch_step=1000, planning_steps=10, kappa=1e-4
)
"""Figure 8.4: 3000 steps, walls move at 1000, alpha 1.0, n = 10, Dyna-Q+ kappa 1e-4."""

SHORTCUT_MAZE = ChangingMazeProtocol(
    maze="shortcut", runs=30, steps=6000, switch_step=3000, planning_steps=50, kappa=1e-3
)
"""Figure 8.5: 6000 steps, a shortcut opens at 3000, alpha 1.0, n = 50, Dyna-Q+ kappa 1e-3."""


@dataclasses.dataclass(frozen=True)
class ChangingMazeResult:
    """What ``run_changing_maze`` returns (leading axes: agent (Dyna-Q, Dyna-Q+), run).

    Attributes:
        protocol: the settings.
        env: the changing maze.
        train: ``train_sweep``'s result ``[2, runs, ...]``.
        step_rewards: reward of every real step ``[2, runs, steps]``.
        shortest_path: the shortest path in the maze in force at the end.
        greedy_path: ``[2, runs]``: steps the final greedy policy takes from the start to the goal
            of the maze in force at the end (after the change when ``switch_step < steps``);
            ``-1``: it never gets there.
        timing: compile and run time of the sweep.
    """

    protocol: ChangingMazeProtocol
    env: ChangingMDP
    train: TrainResult
    step_rewards: NDArray[np.float32]
    shortest_path: int
    greedy_path: NDArray[np.int64]
    timing: Timing

    @property
    def final_env(self) -> TabularMDP:
        """The maze in force at the last step (``before`` when ``switch_step == steps``)."""
        return self.env.at(self.protocol.steps - 1)

    @property
    def cumulative_reward(self) -> NDArray[np.float64]:
        """Cumulative reward after each step ``[2, runs, steps]``."""
        return np.cumsum(self.step_rewards.astype(np.float64), axis=-1)


def run_changing_maze(
    protocol: ChangingMazeProtocol = BLOCKING_MAZE, *, progress: bool = False
) -> ChangingMazeResult:
    """Figures 8.4/8.5: Dyna-Q and Dyna-Q+ for exactly ``steps`` real steps in a changing maze.

    Both agents run as one compiled sweep (``train_sweep`` over ``kappa``, step-budget mode) with
    the same keys; the walls move at global step ``switch_step``.
    """
    env = protocol.env()
    out, timing = timed_training(
        train_sweep,
        env,
        DynaQConfig.stack(protocol.configs()),
        seed_keys(protocol.seed, protocol.runs),
        n_steps=protocol.steps,
        progress=progress,
        planning_steps=protocol.planning_steps,
    )
    final = env.at(protocol.steps - 1)  # the maze of the last step
    shortest = shortest_path_length(final)
    q = np.asarray(out.state.q)
    paths = greedy_path_lengths(final, q.reshape(-1, *q.shape[2:]))
    assert out.step_rewards is not None
    return ChangingMazeResult(
        protocol=protocol,
        env=env,
        train=out,
        step_rewards=np.asarray(out.step_rewards, np.float32),
        shortest_path=shortest,
        greedy_path=paths.reshape(q.shape[:2]),
        timing=timing,
    )


def summarize_changing_maze(result: ChangingMazeResult) -> dict[str, Any]:
    """The JSON-ready summary: per agent, cumulative reward at the change and at the end (mean and
    spread over runs), the reward gained after the change and the path the final greedy policy walks
    in the final maze (``greedy_path_summary``); how often Dyna-Q+ ends ahead, and the step from
    which its mean cumulative reward stays above Dyna-Q's (``None`` if it ends behind)."""
    p = result.protocol
    cum = result.cumulative_reward
    at_switch = cum[..., p.switch_step - 1] if p.switch_step > 0 else np.zeros(cum.shape[:2])
    end = cum[..., -1]
    mean = cum.mean(axis=1)
    behind = np.flatnonzero(mean[1] <= mean[0])
    if mean[1, -1] <= mean[0, -1]:
        ahead_from = None
    else:
        ahead_from = int(behind[-1]) + 2 if behind.size else 1
    agents = []
    for k, label in enumerate(DYNA_Q_LABELS):
        cfg = result.protocol.configs()[k]
        agents.append(
            {
                "agent": label,
                "kappa": float(cfg.kappa),
                "cumulative_reward_at_switch": spread(at_switch[k]),
                "cumulative_reward_at_end": spread(end[k]),
                "reward_after_switch": spread(end[k] - at_switch[k]),
                "greedy_path": greedy_path_summary(result.greedy_path[k], result.shortest_path),
            }
        )
    return {
        "experiment": p.maze,
        "env": {
            "name": result.env.before.name.removesuffix("-before"),
            "switch_step": p.switch_step,
            "shortest_path_final": result.shortest_path,
        },
        "protocol": dataclasses.asdict(p),
        "config": result.protocol.configs()[1].to_dict(),
        "runs": p.runs,
        "steps": p.steps,
        "agents": agents,
        "plus_ahead_at_end_fraction": float(np.mean(end[1] > end[0])),
        "plus_ahead_from_step": ahead_from,
        "plus_minus_plain_at_end": spread(end[1] - end[0]),
        "timing": result.timing.to_dict(),
        "versions": versions(),
    }


def format_changing_maze(summary: Mapping[str, Any]) -> str:
    """The terminal report of a ``summarize_changing_maze`` summary."""
    proto, env = summary["protocol"], summary["env"]
    figure = "8.4" if proto["maze"] == "blocking" else "8.5"
    w = 10
    lines = [
        f"{proto['maze'].capitalize()} maze (Sutton & Barto Figure {figure}): {summary['runs']} "
        f"runs x {summary['steps']} steps, walls move at step {env['switch_step']}",
        config_text(summary["config"]) + f", seed {proto['seed']}",
        "",
        "cumulative reward, mean ± s.e. over runs:",
        f"{'agent':<{w}}{'at switch':>16}{'at end':>16}{'after switch':>16}{'greedy path':>16}",
    ]
    for a in summary["agents"]:

        def cell(s: Mapping[str, float]) -> str:
            return f"{s['mean']:.1f} ± {s['se']:.1f}"

        lines.append(
            f"{a['agent']:<{w}}{cell(a['cumulative_reward_at_switch']):>16}"
            f"{cell(a['cumulative_reward_at_end']):>16}{cell(a['reward_after_switch']):>16}"
            f"{path_cell(a['greedy_path']):>16}"
        )
    diff = summary["plus_minus_plain_at_end"]
    lines += [
        "",
        f"Dyna-Q+ minus Dyna-Q at the end: {diff['mean']:.1f} ± {diff['se']:.1f}; Dyna-Q+ ahead "
        f"in {summary['plus_ahead_at_end_fraction']:.0%} of runs"
        + (
            f"; its mean stays ahead from step {summary['plus_ahead_from_step']}"
            if summary["plus_ahead_from_step"]
            else ""
        ),
        "greedy path: runs whose final greedy policy walks a shortest path "
        f"({env['shortest_path_final']} steps) of the final maze (mean length of the paths that "
        "reach the goal)",
        timing_line(summary["timing"]),
    ]
    return "\n".join(lines)


def write_changing_maze(
    result: ChangingMazeResult, out: str | Path, *, command: str | None = None, dpi: int = DPI
) -> list[Path]:
    """Write the output folder and return the files written.

    - ``metrics.npz``: ``step_rewards`` ``[2, runs, steps]`` (agent 0 Dyna-Q, 1 Dyna-Q+),
      ``kappa``, ``greedy_path`` ``[2, runs]`` (``greedy_path_lengths``), ``switch_step``;
    - ``cumulative_reward.csv``: one row per step: mean and s.e. of each agent's cumulative reward;
    - ``summary.json``; ``cumulative_reward.png`` (Figure 8.4 or 8.5);
      ``policy_dyna_q.png``, ``policy_dyna_q_plus.png`` (each agent's final greedy policy and
      ``max_a Q`` in the final maze, first run).
    """
    folder = out_dir(out)
    p = result.protocol
    files: list[Path] = []
    metrics = folder / "metrics.npz"
    np.savez_compressed(
        metrics,
        step_rewards=result.step_rewards,
        kappa=np.asarray([c.kappa for c in p.configs()], np.float64),
        greedy_path=result.greedy_path,
        switch_step=np.int64(p.switch_step),
    )
    files.append(metrics)
    cum = result.cumulative_reward
    mean = cum.mean(axis=1)
    se = cum.std(axis=1, ddof=1) / math.sqrt(p.runs) if p.runs > 1 else np.zeros_like(mean)
    files.append(
        write_csv(
            folder / "cumulative_reward.csv",
            ["step", "dyna_q_mean", "dyna_q_se", "dyna_q_plus_mean", "dyna_q_plus_se"],
            (
                [
                    t + 1,
                    f"{mean[0, t]:.6g}",
                    f"{se[0, t]:.6g}",
                    f"{mean[1, t]:.6g}",
                    f"{se[1, t]:.6g}",
                ]
                for t in range(p.steps)
            ),
        )
    )
    figure = "8.4" if p.maze == "blocking" else "8.5"
    labels = [
        f"{label} (kappa {c.kappa:g})" if c.kappa else label
        for label, c in zip(DYNA_Q_LABELS, p.configs(), strict=True)
    ]
    files.append(
        plotting.plot_cumulative_reward(
            {label: cum[k] for k, label in enumerate(labels)},
            folder / "cumulative_reward.png",
            dpi=dpi,
            change_step=p.switch_step,
            title=(
                f"{p.maze.capitalize()} maze (Figure {figure}): n = {p.planning_steps}, "
                f"alpha {p.learning_rate:g}, epsilon {p.epsilon:g}, {p.model} model"
            ),
        )
    )
    final = result.final_env
    layout = final.layout
    assert layout is not None
    when = "after the change" if p.switch_step < p.steps else "before any change"
    for k, (label, name) in enumerate(zip(DYNA_Q_LABELS, ("dyna_q", "dyna_q_plus"), strict=True)):
        state = jax.tree.map(lambda x, k=k: x[k, 0], result.train.state)
        files.append(
            plotting.plot_policy_map(
                layout,
                drawn_policy(np.asarray(state.q)),
                np.asarray(state_values(state)),
                folder / f"policy_{name}.png",
                dpi=dpi,
                title=(
                    f"{p.maze.capitalize()} maze {when}: {label} greedy policy and max_a Q, "
                    f"first run, step {p.steps}\n"
                    + path_text(int(result.greedy_path[k, 0]), result.shortest_path)
                ),
                action_arrows="maze",
            )
        )
    return with_summary(folder, files, summarize_changing_maze(result), command)


__all__ = [
    "BLOCKING_MAZE",
    "DYNA_Q_LABELS",
    "SHORTCUT_MAZE",
    "ChangingMazeProtocol",
    "ChangingMazeResult",
    "MazeKind",
    "format_changing_maze",
    "run_changing_maze",
    "summarize_changing_maze",
    "write_changing_maze",
]
