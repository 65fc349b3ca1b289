"""Sutton & Barto Figure 8.2: steps per episode in the Dyna maze for n = 0, 5, 50: ``DYNA_MAZE``,
``run_dyna_maze``, then ``summarize_dyna_maze``, ``format_dyna_maze`` and ``write_dyna_maze``
(``dynaq-jax maze``).

Every ``n`` trains with the same keys (common random numbers): the first episode is identical for
every ``n``, because planning cannot change a zero ``Q`` before the first reward.
"""

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import jax
import numpy as np
from numpy.typing import NDArray

from dynaq_jax import plotting
from dynaq_jax.agent import state_values
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import TabularMDP, dyna_maze
from dynaq_jax.experiments.common import (
    Timing,
    drawn_policy,
    greedy_path_lengths,
    greedy_path_summary,
    make_config,
    seed_keys,
    shortest_path_length,
    timed_training,
)
from dynaq_jax.experiments.options import (
    PLANNING_STEPS,
    Discount,
    Epsilon,
    LearningRate,
    Model,
    PositiveInt,
    Seed,
    check_fields,
    check_planning_draw,
)
from dynaq_jax.experiments.output import (
    DPI,
    out_dir,
    path_cell,
    path_text,
    timing_line,
    versions,
    with_summary,
    write_csv,
)
from dynaq_jax.train import TrainResult, train_seeds

NEAR_OPTIMAL_FACTOR = 1.5
"""Figure 8.2 read-out: the first episode whose mean length is at most 1.5 x the shortest path."""

READOUT_EPISODES = (1, 2, 3, 5, 10, 25, 50)
"""Episodes at which the Figure 8.2 summary reads the mean steps per episode."""

PLANNING_STEPS_VALUES = dataclasses.replace(PLANNING_STEPS, many=True)


@dataclasses.dataclass(frozen=True)
class DynaMazeProtocol:
    """Sutton & Barto Figure 8.2: steps per episode in the Dyna maze for several ``n``.

    ``runs`` runs (the book: 30) of ``episodes`` episodes (50) for each ``n`` in
    ``planning_steps`` (0, 5, 50); alpha 0.1, gamma 0.95, epsilon 0.1; the book's deterministic
    (last-seen) model.
    """

    runs: PositiveInt = 30
    """runs (seeds) per n"""
    episodes: PositiveInt = 50
    """episodes per run"""
    planning_steps: Annotated[
        tuple[int, ...], PLANNING_STEPS_VALUES, PLANNING_STEPS_VALUES.cli()
    ] = (0, 5, 50)
    """the values of n compared (one compiled call each)"""
    learning_rate: LearningRate = 0.1
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
        where = type(self).__name__
        steps = tuple(self.planning_steps)
        if not steps:
            raise ValueError(f"{where}: planning_steps needs at least one value")
        check_fields(self)
        if len(set(steps)) != len(steps):
            raise ValueError(f"{where}: planning_steps has repeated values: {list(steps)}")
        object.__setattr__(self, "planning_steps", tuple(int(n) for n in steps))
        for n in self.planning_steps:
            self.config(n)
        check_planning_draw(where, max(self.planning_steps), self.runs, "runs")

    def config(self, planning_steps: int) -> DynaQConfig:
        """The ``DynaQConfig`` of the agent with ``n = planning_steps``."""
        return make_config(
            type(self).__name__,
            learning_rate=self.learning_rate,
            discount=self.discount,
            epsilon=self.epsilon,
            planning_steps=planning_steps,
            model=self.model,
            kappa=0.0,
        )


DYNA_MAZE = DynaMazeProtocol()
"""Figure 8.2: the Dyna maze, n = 0, 5, 50, 50 episodes, 30 runs, alpha 0.1, gamma 0.95,
epsilon 0.1."""


@dataclasses.dataclass(frozen=True)
class DynaMazeResult:
    """What ``run_dyna_maze`` returns.

    Attributes:
        protocol: the settings.
        env: the Dyna maze.
        lengths: steps per episode ``[len(planning_steps), runs, episodes]``.
        trains: one ``train_seeds`` result per ``n``.
        shortest_path: the shortest path's length (14).
        greedy_path: ``[len(planning_steps), runs]``: steps the final greedy policy takes from the
            start to the goal (``-1``: it never gets there); a shortest path takes
            ``shortest_path``.
        timing: compile and run time of all training calls.
    """

    protocol: DynaMazeProtocol
    env: TabularMDP
    lengths: NDArray[np.int64]
    trains: tuple[TrainResult, ...]
    shortest_path: int
    greedy_path: NDArray[np.int64]
    timing: Timing


def run_dyna_maze(
    protocol: DynaMazeProtocol = DYNA_MAZE, *, progress: bool = False
) -> DynaMazeResult:
    """Figure 8.2: for each ``n``, ``runs`` agents of ``episodes`` episodes in the Dyna maze.

    One compiled call per ``n`` (``planning_steps`` is static); every ``n`` uses the same keys.
    """
    env = dyna_maze()
    keys = seed_keys(protocol.seed, protocol.runs)
    shortest = shortest_path_length(env)
    trains: list[TrainResult] = []
    timing = Timing(0.0, 0.0, 0, 0)
    paths: list[NDArray[np.int64]] = []
    for n in protocol.planning_steps:
        out, t = timed_training(
            train_seeds,
            env,
            protocol.config(n),
            keys,
            n_episodes=protocol.episodes,
            progress=progress,
            planning_steps=n,
        )
        trains.append(out)
        timing = timing + t
        paths.append(greedy_path_lengths(env, np.asarray(out.state.q)))
    lengths = np.stack([np.asarray(t.episodes.lengths, np.int64) for t in trains])
    return DynaMazeResult(
        protocol=protocol,
        env=env,
        lengths=lengths,
        trains=tuple(trains),
        shortest_path=shortest,
        greedy_path=np.stack(paths),
        timing=timing,
    )


def summarize_dyna_maze(result: DynaMazeResult) -> dict[str, Any]:
    """The JSON-ready summary: per ``n``, the mean steps-per-episode curve, read-outs at a few
    episodes, the first episode whose mean is within ``1.5 x`` the shortest path, and the path the
    final greedy policy walks (``greedy_path_summary``)."""
    p = result.protocol
    threshold = NEAR_OPTIMAL_FACTOR * result.shortest_path
    agents = []
    for k, n in enumerate(p.planning_steps):
        per_run = result.lengths[k].astype(np.float64)
        mean = per_run.mean(axis=0)
        below = np.flatnonzero(mean <= threshold)
        agents.append(
            {
                "planning_steps": n,
                "steps_per_episode_mean": mean,
                "steps_at_episode": {
                    str(e): float(mean[e - 1]) for e in READOUT_EPISODES if e <= p.episodes
                },
                "first_episode_near_optimal": int(below[0]) + 1 if below.size else None,
                "last_10_episodes_mean": float(mean[-10:].mean()),
                "greedy_path": greedy_path_summary(result.greedy_path[k], result.shortest_path),
                "real_steps": int(np.asarray(result.trains[k].steps_done).sum()),
            }
        )
    return {
        "experiment": "maze",
        "env": {"name": result.env.name, "shortest_path": result.shortest_path},
        "protocol": dataclasses.asdict(p),
        "config": p.config(p.planning_steps[0]).to_dict() | {"planning_steps": p.planning_steps},
        "runs": p.runs,
        "episodes": p.episodes,
        "near_optimal_threshold": threshold,
        "agents": agents,
        "timing": result.timing.to_dict(),
        "versions": versions(),
    }


def format_dyna_maze(summary: Mapping[str, Any]) -> str:
    """The terminal report of a ``summarize_dyna_maze`` summary."""
    proto = summary["protocol"]
    episodes = [e for e in READOUT_EPISODES if e <= summary["episodes"]]
    lines = [
        f"Dyna maze (Sutton & Barto Figure 8.2): {summary['runs']} runs x {summary['episodes']} "
        f"episodes, shortest path {summary['env']['shortest_path']} steps",
        f"{proto['model']} model, alpha {proto['learning_rate']:g}, gamma {proto['discount']:g}, "
        f"epsilon {proto['epsilon']:g}, seed {proto['seed']}",
        "",
        "mean steps per episode:",
        f"{'n':>4}"
        + "".join(f"{'ep ' + str(e):>8}" for e in episodes)
        + f"{'near-opt at':>13}{'greedy path':>18}",
    ]
    for a in summary["agents"]:
        first = a["first_episode_near_optimal"]
        lines.append(
            f"{a['planning_steps']:>4}"
            + "".join(f"{a['steps_at_episode'][str(e)]:>8.1f}" for e in episodes)
            + f"{('ep ' + str(first)) if first else 'never':>13}"
            + f"{path_cell(a['greedy_path']):>18}"
        )
    lines += [
        "",
        f"near-opt at: first episode whose mean length is <= {summary['near_optimal_threshold']:g}"
        " (1.5 x shortest)",
        "greedy path: runs whose final greedy policy walks a shortest path (mean length of the "
        "paths that reach the goal)",
        timing_line(summary["timing"]),
    ]
    return "\n".join(lines)


def write_dyna_maze(
    result: DynaMazeResult, out: str | Path, *, command: str | None = None, dpi: int = DPI
) -> list[Path]:
    """Write the output folder and return the files written.

    - ``metrics.npz``: ``lengths`` ``[n values, runs, episodes]``, ``planning_steps``,
      ``greedy_path`` ``[n values, runs]`` (``greedy_path_lengths``);
    - ``steps_per_episode.csv``: one row per ``n``, run and episode;
    - ``summary.json``; ``steps_per_episode.png`` (Figure 8.2, from episode 2 as in the book);
      ``policy.png`` (greedy policy and ``max_a Q`` of the first run with the largest ``n``).
    """
    folder = out_dir(out)
    p = result.protocol
    files: list[Path] = []
    metrics = folder / "metrics.npz"
    np.savez_compressed(
        metrics,
        lengths=result.lengths,
        planning_steps=np.asarray(p.planning_steps),
        greedy_path=result.greedy_path,
    )
    files.append(metrics)
    n_values, runs, episodes = result.lengths.shape
    files.append(
        write_csv(
            folder / "steps_per_episode.csv",
            ["planning_steps", "run", "episode", "steps"],
            (
                [p.planning_steps[k], i, e + 1, int(result.lengths[k, i, e])]
                for k in range(n_values)
                for i in range(runs)
                for e in range(episodes)
            ),
        )
    )
    files.append(
        plotting.plot_steps_per_episode(
            {f"n = {n}": result.lengths[k] for k, n in enumerate(p.planning_steps)},
            folder / "steps_per_episode.png",
            dpi=dpi,
            optimal=float(result.shortest_path),
            start_episode=2 if episodes >= 2 else 1,
            title=(
                f"Dyna maze (Figure 8.2): steps per episode, {p.model} model, "
                f"alpha {p.learning_rate:g}, epsilon {p.epsilon:g}"
            ),
        )
    )
    k = int(np.argmax(p.planning_steps))
    state = jax.tree.map(lambda x: x[0], result.trains[k].state)
    layout = result.env.layout
    assert layout is not None
    files.append(
        plotting.plot_policy_map(
            layout,
            drawn_policy(np.asarray(state.q)),
            np.asarray(state_values(state)),
            folder / "policy.png",
            dpi=dpi,
            title=(
                f"Dyna maze, n = {p.planning_steps[k]}: greedy policy and max_a Q of the first "
                f"run after {episodes} episodes\n"
                + path_text(int(result.greedy_path[k, 0]), result.shortest_path)
            ),
            action_arrows="maze",
        )
    )
    return with_summary(folder, files, summarize_dyna_maze(result), command)


__all__ = [
    "DYNA_MAZE",
    "NEAR_OPTIMAL_FACTOR",
    "READOUT_EPISODES",
    "DynaMazeProtocol",
    "DynaMazeResult",
    "format_dyna_maze",
    "run_dyna_maze",
    "summarize_dyna_maze",
    "write_dyna_maze",
]
