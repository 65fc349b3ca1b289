"""The seed notebook's protocol on FrozenLake-v1 over many seeds: ``FROZEN_LAKE``,
``run_frozen_lake``, then ``summarize_frozen_lake``, ``format_frozen_lake`` and
``write_frozen_lake`` (``dynaq-jax frozen-lake``).

Each experiment module has three parts, so that the command line and the scripts in
``experiments/`` hold no logic of their own: a *protocol* (a frozen dataclass of every setting,
validated on construction, whose defaults are the published ones and whose fields, with their
docstrings, are the command's options); ``run_*(protocol)``, which trains every seed in one
compiled call and evaluates the final greedy policies exactly with the oracle; and the summary,
terminal report and output folder (``metrics.npz``, CSV, ``summary.json``, PNG plots).
"""

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import jax
import numpy as np
import tyro
from numpy.typing import NDArray

from dynaq_jax import plotting
from dynaq_jax.agent import state_values
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import TabularMDP, from_gymnasium, greedy
from dynaq_jax.envs.oracle import DEFAULT_SUCCESS_DISCOUNT
from dynaq_jax.experiments.common import (
    Timing,
    drawn_policy,
    horizon_optimal_success,
    make_config,
    median_index,
    optimal_policy,
    seed_keys,
    spread,
    success_probabilities,
    timed_training,
)
from dynaq_jax.experiments.options import (
    MAX_COUNT,
    Discount,
    Epsilon,
    FieldCheck,
    Kappa,
    LearningRate,
    Model,
    PlanningSteps,
    PositiveInt,
    Seed,
    check_fields,
    check_planning_draw,
)
from dynaq_jax.experiments.output import (
    DPI,
    config_text,
    out_dir,
    stats_header,
    stats_row,
    timing_line,
    versions,
    with_summary,
    write_csv,
)
from dynaq_jax.io import save
from dynaq_jax.state import model_size
from dynaq_jax.train import TrainResult, memory_per_seed, train_seeds

FROZEN_LAKE_MAPS: tuple[str, ...] = ("4x4", "8x8")
"""The FrozenLake-v1 maps the ``frozen-lake`` experiment accepts (gymnasium's named maps)."""

SUCCESS_WINDOW = 100
"""The notebook's final success rate: the fraction of successes in the last 100 episodes."""

CURVE_WINDOW = 20
"""The notebook's moving-average and rolling-success window, in episodes."""

NOTEBOOK_REPORT_EVERY = 50
"""The notebook prints the average reward of the last 50 episodes and the model size every 50."""

FROZEN_LAKE_MAP = FieldCheck(str, choices=FROZEN_LAKE_MAPS)


@dataclasses.dataclass(frozen=True)
class FrozenLakeProtocol:
    """The seed notebook's protocol over many seeds (defaults: the notebook's settings).

    FrozenLake-v1 (slippery), ``episodes`` episodes of at most ``max_steps`` steps, Dyna-Q with
    ``planning_steps`` planned updates per real step. ``model`` defaults to the lecture notes'
    count model (the library's default; the right model for a slippery lake); ``"deterministic"``
    is the notebook's last-seen model. ``kappa > 0`` makes it Dyna-Q+.
    """

    map_name: Annotated[str, FROZEN_LAKE_MAP, FROZEN_LAKE_MAP.cli(), tyro.conf.arg(name="map")] = (
        "4x4"
    )
    """FrozenLake map"""
    seeds: PositiveInt = 100
    """number of seeds (agents) trained"""
    episodes: PositiveInt = 300
    """episodes per seed"""
    max_steps: PositiveInt = 100
    """time limit: steps per episode at most (also the horizon of the exact evaluation)"""
    planning_steps: PlanningSteps = 50
    """planned updates per real step (n)"""
    model: Model = "count"
    """the model: 'count' (T_c counts, smoothed rewards) or 'deterministic' (last (s', r) seen)"""
    kappa: Kappa = 0.0
    """Dyna-Q+ exploration bonus kappa * sqrt(tau) in planning; 0 is plain Dyna-Q"""
    learning_rate: LearningRate = 0.1
    """step size alpha of the Q updates and of the reward model, in (0, 1]"""
    discount: Discount = 0.95
    """discount gamma, in [0, 1]"""
    epsilon: Epsilon = 0.1
    """exploration rate of epsilon-greedy acting (ties broken at random), in [0, 1]"""
    slippery: Annotated[
        bool,
        tyro.conf.arg(aliases=("--not-slippery",), help_behavior_hint="(default: slippery)"),
    ] = True
    """the lake is slippery (the notebook's); --not-slippery: deterministic moves"""
    seed: Seed = 0
    """base PRNG seed; run i uses jax.random.split(jax.random.key(SEED), RUNS)[i]"""

    def __post_init__(self) -> None:
        check_fields(self)
        self.config()
        where = type(self).__name__
        check_planning_draw(where, self.planning_steps, self.seeds)
        if self.episodes * self.max_steps > MAX_COUNT:
            raise ValueError(
                f"{where}: episodes x max_steps = {self.episodes} x {self.max_steps} real steps "
                f"per seed exceeds {MAX_COUNT} (2**31 - 1: a run counts its steps in int32)"
            )

    def config(self) -> DynaQConfig:
        """The agent's ``DynaQConfig``."""
        return make_config(
            type(self).__name__,
            learning_rate=self.learning_rate,
            discount=self.discount,
            epsilon=self.epsilon,
            planning_steps=self.planning_steps,
            model=self.model,
            kappa=self.kappa,
        )


FROZEN_LAKE = FrozenLakeProtocol()
"""The notebook: FrozenLake-v1 4x4 slippery, 300 episodes of at most 100 steps, n = 50, alpha 0.1,
gamma 0.95, epsilon 0.1, over 100 seeds."""


@dataclasses.dataclass(frozen=True)
class FrozenLakeResult:
    """What ``run_frozen_lake`` returns (arrays on the host, leading axis: seeds).

    Attributes:
        protocol: the settings.
        env: the FrozenLake MDP (``time_limit = protocol.max_steps``).
        train: ``train_seeds``' result: final agents and per-episode metrics ``[seeds, episodes]``.
        success_last: per seed, the fraction of successful episodes among the last 100 (the
            notebook's "final success rate").
        greedy_success: per seed, the exact probability that the final greedy policy reaches the
            goal within ``max_steps`` steps.
        optimal_success: the same for the oracle's policy (``optimal_success_probability``).
        best_success: the highest success probability within ``max_steps`` of any policy, also
            one that depends on the time left (``horizon_optimal_success``).
        optimal_policy: the oracle's policy ``greedy(Q*)`` ``[S]`` (``optimal_policy``).
        optimal_values: ``max_a Q*`` ``[S]``.
        model_size: per seed, the distinct ``(s, a)`` pairs tried (the notebook's model size).
        policy_seed: the seed drawn on the policy map: the median of ``greedy_success``.
        timing: compile and run time of the training call.
    """

    protocol: FrozenLakeProtocol
    env: TabularMDP
    train: TrainResult
    success_last: NDArray[np.float64]
    greedy_success: NDArray[np.float64]
    optimal_success: float
    best_success: float
    optimal_policy: NDArray[np.int32]
    optimal_values: NDArray[np.float32]
    model_size: NDArray[np.int64]
    policy_seed: int
    timing: Timing


def frozen_lake_env(protocol: FrozenLakeProtocol = FROZEN_LAKE) -> TabularMDP:
    """FrozenLake-v1 with the protocol's map and slipperiness, time limit ``max_steps``."""
    env = from_gymnasium("FrozenLake-v1", map_name=protocol.map_name, is_slippery=protocol.slippery)
    return dataclasses.replace(env, time_limit=protocol.max_steps)


def run_frozen_lake(
    protocol: FrozenLakeProtocol = FROZEN_LAKE, *, progress: bool = False
) -> FrozenLakeResult:
    """Train ``protocol.seeds`` Dyna-Q agents on FrozenLake in one compiled call and evaluate them.

    Each agent runs the notebook's loop (``train_seeds`` in episode mode: ``episodes`` episodes,
    each ending on termination or after ``max_steps`` steps). Afterwards the greedy policy of each
    final ``Q`` is evaluated exactly (``success_probability`` with horizon ``max_steps``) and
    compared with the oracle's ``optimal_success_probability``.
    """
    env = frozen_lake_env(protocol)
    config = protocol.config()
    out, timing = timed_training(
        train_seeds,
        env,
        config,
        seed_keys(protocol.seed, protocol.seeds),
        n_episodes=protocol.episodes,
        progress=progress,
        planning_steps=config.planning_steps,
    )
    window = min(SUCCESS_WINDOW, protocol.episodes)
    success_last = np.asarray(out.episodes.success, np.float64)[:, -window:].mean(axis=1)
    # The learned greedy policies and the oracle's, evaluated exactly in one call.
    optimal_pi, optimal_v = optimal_policy(env)
    policies = np.concatenate([np.asarray(greedy(out.state.q)), optimal_pi[None]])
    probs = success_probabilities(env, policies, protocol.max_steps)
    greedy_p = probs[:-1]
    return FrozenLakeResult(
        protocol=protocol,
        env=env,
        train=out,
        success_last=success_last,
        greedy_success=greedy_p,
        optimal_success=float(probs[-1]),
        best_success=horizon_optimal_success(env, protocol.max_steps),
        optimal_policy=optimal_pi,
        optimal_values=optimal_v,
        model_size=np.asarray(model_size(out.state), np.int64),
        policy_seed=median_index(greedy_p),
        timing=timing,
    )


def _env_title(r: FrozenLakeResult) -> str:
    p = r.protocol
    slip = "slippery" if p.slippery else "not slippery"
    return f"FrozenLake-v1 {p.map_name} ({slip})"


def summarize_frozen_lake(result: FrozenLakeResult) -> dict[str, Any]:
    """The JSON-ready summary: the notebook's numbers (final success rate, model size, its
    every-50-episodes print) over seeds, the exact greedy and optimal success probabilities, and
    the timing."""
    p, out = result.protocol, result.train
    config = p.config()
    returns = np.asarray(out.episodes.returns, np.float64)
    sizes = np.asarray(out.episodes.model_size, np.float64)
    checkpoints = [
        {
            "episode": e,
            "avg_reward_last_50": float(returns[:, max(0, e - NOTEBOOK_REPORT_EVERY) : e].mean()),
            "model_size": float(sizes[:, e - 1].mean()),
        }
        for e in range(NOTEBOOK_REPORT_EVERY, p.episodes + 1, NOTEBOOK_REPORT_EVERY)
    ]
    i = result.policy_seed
    return {
        "experiment": "frozen-lake",
        "env": {
            "name": "FrozenLake-v1",
            "map": p.map_name,
            "slippery": p.slippery,
            "n_states": result.env.n_states,
            "n_actions": result.env.n_actions,
            "time_limit": p.max_steps,
        },
        "protocol": dataclasses.asdict(p),
        "config": config.to_dict(),
        "seeds": p.seeds,
        "episodes": p.episodes,
        "success_window": min(SUCCESS_WINDOW, p.episodes),
        "success_rate_last_episodes": spread(result.success_last),
        "model_size": spread(result.model_size),
        "greedy_success_probability": spread(result.greedy_success),
        "optimal_success_probability": result.optimal_success,
        "best_success_probability_within_limit": result.best_success,
        "greedy_success_probability_per_seed": result.greedy_success,
        "notebook_checkpoints": checkpoints,
        "policy_map_seed": {
            "index": i,
            "rule": "median greedy success probability over seeds",
            "greedy_success_probability": float(result.greedy_success[i]),
        },
        "real_steps_per_seed": spread(np.asarray(out.steps_done)),
        "memory_per_seed_bytes": memory_per_seed(result.env, config),
        "timing": result.timing.to_dict(),
        "versions": versions(),
    }


def format_frozen_lake(summary: Mapping[str, Any]) -> str:
    """The terminal report of a ``summarize_frozen_lake`` summary: a compact table."""
    env, proto = summary["env"], summary["protocol"]
    slip = "slippery" if env["slippery"] else "not slippery"
    n_pairs = env["n_states"] * env["n_actions"]
    w = 36
    lines = [
        f"Dyna-Q on FrozenLake-v1 {env['map']} ({slip}): {summary['seeds']} seeds x "
        f"{summary['episodes']} episodes of at most {env['time_limit']} steps",
        config_text(summary["config"]) + f", seed {proto['seed']}",
        "",
    ]
    if summary["notebook_checkpoints"]:
        lines += [
            "the notebook's print, mean over seeds:",
            f"{'episode':>9}{'avg reward (last 50)':>23}{'model size':>13}",
        ]
        lines += [
            f"{c['episode']:>9}{c['avg_reward_last_50']:>23.3f}{c['model_size']:>13.1f}"
            for c in summary["notebook_checkpoints"]
        ]
        lines.append("")
    lines += [
        stats_header(w),
        stats_row(
            f"success rate, last {summary['success_window']} episodes",
            summary["success_rate_last_episodes"],
            w,
        ),
        stats_row("greedy policy: P(goal) exact", summary["greedy_success_probability"], w),
        f"{'optimal policy: P(goal) exact':<{w}}{summary['optimal_success_probability']:>8.3f}"
        "   (oracle: greedy(Q*), one action per state)",
        f"{'best possible within the limit':<{w}}"
        f"{summary['best_success_probability_within_limit']:>8.3f}"
        "   (backward induction: may depend on the time left)",
        stats_row(f"model size (of {n_pairs} pairs)", summary["model_size"], w, ".1f"),
        "",
        "P(goal): probability that the greedy policy of the final Q reaches the goal within "
        f"{env['time_limit']} steps (oracle)",
        timing_line(summary["timing"]),
    ]
    return "\n".join(lines)


def write_frozen_lake(
    result: FrozenLakeResult, out: str | Path, *, command: str | None = None, dpi: int = DPI
) -> list[Path]:
    """Write the output folder and return the files written.

    - ``metrics.npz``: per-episode ``returns``, ``lengths``, ``success``, ``terminated``,
      ``model_size`` ``[seeds, episodes]`` and per-seed ``success_last``, ``greedy_success``,
      ``final_model_size``, ``steps_done``, with ``optimal_success`` (plain ``numpy.load``);
    - ``agents.npz``: the final agents with their config (``dynaq_jax.load``);
    - ``episodes.csv`` (one row per seed and episode), ``seeds.csv`` (one row per seed);
    - ``summary.json`` (``summarize_frozen_lake``, with ``command`` and the file list);
    - ``learning_curves.png`` (the notebook's two panels, mean over seeds with a 10-90 percentile
      band), ``policy.png`` (greedy policy and ``max_a Q`` of the median seed),
      ``policy_optimal.png`` (the oracle's policy and values).
    """
    folder = out_dir(out)
    p, tr = result.protocol, result.train
    ep = tr.episodes
    files: list[Path] = []
    metrics = folder / "metrics.npz"
    np.savez_compressed(
        metrics,
        returns=np.asarray(ep.returns),
        lengths=np.asarray(ep.lengths),
        success=np.asarray(ep.success),
        terminated=np.asarray(ep.terminated),
        model_size=np.asarray(ep.model_size),
        success_last=result.success_last,
        greedy_success=result.greedy_success,
        optimal_success=np.float64(result.optimal_success),
        final_model_size=result.model_size,
        steps_done=np.asarray(tr.steps_done),
    )
    files.append(metrics)
    files.append(save(folder / "agents.npz", tr.state, p.config()))

    n_seeds, n_episodes = np.shape(ep.returns)
    returns, lengths = np.asarray(ep.returns), np.asarray(ep.lengths)
    success, term, sizes = (
        np.asarray(ep.success),
        np.asarray(ep.terminated),
        np.asarray(ep.model_size),
    )
    files.append(
        write_csv(
            folder / "episodes.csv",
            ["seed", "episode", "return", "length", "success", "terminated", "model_size"],
            (
                [
                    i,
                    e + 1,
                    f"{returns[i, e]:g}",
                    int(lengths[i, e]),
                    int(success[i, e]),
                    int(term[i, e]),
                    int(sizes[i, e]),
                ]
                for i in range(n_seeds)
                for e in range(n_episodes)
            ),
        )
    )
    files.append(
        write_csv(
            folder / "seeds.csv",
            ["seed", "success_last", "greedy_success", "model_size", "real_steps"],
            (
                [
                    i,
                    f"{result.success_last[i]:.6g}",
                    f"{result.greedy_success[i]:.6g}",
                    int(result.model_size[i]),
                    int(np.asarray(tr.steps_done)[i]),
                ]
                for i in range(n_seeds)
            ),
        )
    )

    title = f"Dyna-Q on {_env_title(result)}, {config_text(p.config().to_dict())}"
    files.append(
        plotting.plot_learning_curves(
            returns,
            success,
            folder / "learning_curves.png",
            dpi=dpi,
            window=CURVE_WINDOW,
            title=title,
        )
    )
    i = result.policy_seed
    layout = result.env.layout
    assert layout is not None
    files.append(
        plotting.plot_policy_map(
            layout,
            drawn_policy(np.asarray(tr.state.q)[i]),
            np.asarray(state_values(jax.tree.map(lambda x: x[i], tr.state))),
            folder / "policy.png",
            dpi=dpi,
            title=(
                f"Greedy policy and max_a Q of seed {i} of {n_seeds}\n(the median seed by "
                f"P(goal) = {result.greedy_success[i]:.2f}; optimal {result.optimal_success:.2f})"
            ),
            action_arrows="frozen_lake",
        )
    )
    files.append(
        plotting.plot_policy_map(
            layout,
            result.optimal_policy,
            result.optimal_values,
            folder / "policy_optimal.png",
            dpi=dpi,
            title=(
                f"Oracle: greedy(Q*) and max_a Q*, gamma {DEFAULT_SUCCESS_DISCOUNT}\n"
                f"P(goal within {p.max_steps} steps) = {result.optimal_success:.2f}"
            ),
            action_arrows="frozen_lake",
        )
    )
    return with_summary(folder, files, summarize_frozen_lake(result), command)


__all__ = [
    "CURVE_WINDOW",
    "FROZEN_LAKE",
    "FROZEN_LAKE_MAPS",
    "NOTEBOOK_REPORT_EVERY",
    "SUCCESS_WINDOW",
    "FrozenLakeProtocol",
    "FrozenLakeResult",
    "format_frozen_lake",
    "frozen_lake_env",
    "run_frozen_lake",
    "summarize_frozen_lake",
    "write_frozen_lake",
]
