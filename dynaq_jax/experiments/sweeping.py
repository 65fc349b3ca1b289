"""Planner experiments: Sutton & Barto Example 8.4 and a FrozenLake comparison.

Example 8.4 (``example_8_4``): the Dyna maze with every cell scaled to ``k x k`` (``dyna_maze``),
alpha 0.5, gamma 0.95, epsilon 0.1, n = 5, theta 1e-4 and the deterministic model, as in the book.
Each seed acts and learns until the greedy path from the start (``argmax_a Q``, ties to the lowest
action) reaches the goal within ``floor(1.2 * L)`` steps, ``L`` the shortest path (``14 k``); the
result is the number of Q updates made until then (direct and planned: ``1 + n`` per real step for
Dyna-Q, one per pop above ``theta`` for prioritized sweeping). The greedy path is checked after
every real step, by pointer doubling (``O(S log L)``). One compiled loop per planner and size,
``vmap``-ed over seeds.

FrozenLake (``frozenlake_table``): each planner and hyperparameter set trained with
``train_sweep``/``train_seeds``, then the exact success probability of the greedy policy of the
final ``Q`` (``success_probability`` within the time limit) against
``optimal_success_probability``.

The command line (``dynaq-jax sweeping``, options ``SweepingOptions``; ``experiments/sweeping.py``
is a thin wrapper) prints markdown tables and writes strict JSON and a PNG: ``example84.json`` and
``example84.png``, or ``frozenlake_<map>_<episodes>.json``. In ``example84.json`` the statistics
of ``updates`` are ``null`` when no seed was solved within ``max_steps``. The folder is replaced
whole (``output.staged_output``), keeping the JSON of the other experiment and of other maps and
episode counts, so one folder collects them.
"""

import dataclasses
import fnmatch
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import tyro
from jaxtyping import Array, Bool, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import TabularMDP, dyna_maze, from_gymnasium, optimal_success_probability
from dynaq_jax.experiments.book_jobs import available_cores, run_book
from dynaq_jax.experiments.common import (
    Stopwatch,
    horizon_optimal_success,
    shortest_path_length,
    spread,
    success_probabilities,
    timed_training,
)
from dynaq_jax.experiments.example84 import (
    BOOK_DOUBLINGS,
    BOOK_THETA,
    EXPLORATION,
    SolveResult,
    book_markdown,
    free_cells,
    maze_successors,
    plot_book,
    solve_until_near_optimal,
    solved_statistics,
)
from dynaq_jax.experiments.frozen_lake import FROZEN_LAKE_MAP
from dynaq_jax.experiments.options import (
    POSITIVE_INT,
    FieldCheck,
    LearningRate,
    PositiveInt,
    Seed,
    Theta,
    check_fields,
    check_planning_draw,
)
from dynaq_jax.experiments.output import staged_output, write_json
from dynaq_jax.experiments.scaling import (
    pin_to_one_core,
    plot_step_cost,
    scaling_markdown,
    scaling_table,
)
from dynaq_jax.numerics import first_argmax
from dynaq_jax.plotting import plot_updates_vs_states
from dynaq_jax.train import train_sweep
from dynaq_jax.types import IntScalar, Key, QTable

PLANNER_LABELS = {
    "sample": "Dyna-Q",
    "expected": "expected updates",
    "sweeping": "prioritized sweeping",
}


EXAMPLE_PLANNING_STEPS = 5
"""Example 8.4's ``n``."""
FROZENLAKE_PLANNING_STEPS = 50
"""The FrozenLake table's ``n`` (the notebook's)."""


def example_config(planner: str, learning_rate: float = 0.5) -> DynaQConfig:
    """Example 8.4's agent: alpha 0.5, gamma 0.95, epsilon 0.1, n = 5, theta 1e-4, the
    deterministic (last-seen) model, and the given planner. (``outcome_slots=1`` is kept so the
    recorded config reads as before: the last-seen model keeps no counts at all, so it changes
    nothing; before the core redesign it kept the unused counts compact, 58 MB -> 0.2 MB per seed
    at ``k = 5``.)"""
    return DynaQConfig(
        learning_rate=learning_rate,
        discount=0.95,
        epsilon=0.1,
        planning_steps=EXAMPLE_PLANNING_STEPS,
        model="deterministic",
        theta=1e-4,
        planner=planner,
        outcome_slots=1,
    )


# -- the greedy-path check -----------------------------------------------------------------------


def goal_states(env: TabularMDP) -> np.ndarray:
    """``goal[s']``: some transition into ``s'`` terminates with a positive reward."""
    return maze_successors(env)[1]


def greedy_reaches_goal(
    successors: Int[Array, "S A"],
    goal: Bool[Array, " S"],
    q: QTable,
    start: IntScalar,
    horizon: int,
) -> Bool[Array, ""]:
    """Whether the greedy path ``s_{t+1} = succ[s_t, argmax_a Q[s_t, a]]`` from ``start`` enters a
    goal state within ``horizon`` steps (deterministic env; ties to the lowest action).

    With goals made absorbing, ``f(s) = s`` on a goal and ``succ[s, pi(s)]`` elsewhere, the answer
    is ``goal[f^H(start)]``; ``f^H`` is built by repeated squaring, ``O(S log H)`` gathers.
    """
    n_s = q.shape[-2]
    states = jnp.arange(n_s, dtype=jnp.int32)
    f = jnp.where(goal, states, successors[states, first_argmax(q)])
    pos = jnp.asarray(start, jnp.int32)
    h = int(horizon)
    while h:
        if h & 1:
            pos = f[pos]
        h >>= 1
        if h:
            f = f[f]
    return goal[pos]


# -- Example 8.4's loop --------------------------------------------------------------------------


UpdatesResult = SolveResult
"""Per seed: updates, real steps and episodes until the greedy path was near-optimal, and whether
it got there (``example84.SolveResult``)."""
free_states = free_cells


def updates_until_optimal(
    env: TabularMDP,
    config: DynaQConfig,
    keys: Key,
    *,
    slack: float = 1.2,
    max_steps: int = 1_000_000,
) -> UpdatesResult:
    """Train one agent per key until its greedy path from the start reaches the goal within
    ``floor(slack * L)`` steps (``L = shortest_path_length(env)``); count the updates: the
    answer of a check after every real step (``example84.solve_until_near_optimal``, a walk
    along the greedy path after each step). Each real step:
    ``a ~ act``, ``(s', r, terminated) ~ env``, ``agent.step_counted``; an episode ends on
    termination; ``max_steps`` real steps cap every seed. ``vmap`` over ``keys`` ``[B]``."""
    return solve_until_near_optimal(env, config, keys, slack=slack, max_steps=max_steps)


def example_8_4(
    scales: Sequence[int],
    planners: Sequence[str],
    n_seeds: int,
    *,
    seed: int = 0,
    max_steps: int = 1_000_000,
    learning_rate: float = 0.5,
) -> list[dict[str, Any]]:
    """Run Example 8.4 for every scale and planner; one row per pair with the statistics over
    seeds of the updates until optimal (solved seeds only: NaN when no seed was solved, ``null``
    in the JSON) and the compile/run times."""
    where = "example_8_4"
    POSITIVE_INT.check(where, "n_seeds", n_seeds)
    POSITIVE_INT.check(where, "max_steps", max_steps)
    SCALES.check(where, "scales", tuple(scales))
    check_planning_draw(where, EXAMPLE_PLANNING_STEPS, n_seeds)
    rows: list[dict[str, Any]] = []
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    for k in scales:
        env = dyna_maze(scale=k)
        for planner in planners:
            with Stopwatch() as watch:
                config = example_config(planner, learning_rate)
                res = jax.device_get(updates_until_optimal(env, config, keys, max_steps=max_steps))
            timing = watch.timing(int(np.sum(res.steps)), int(np.sum(res.updates)))
            rows.append(
                {
                    "scale": k,
                    "states": free_states(env),
                    "shortest_path": shortest_path_length(env),
                    "planner": planner,
                    "learning_rate": learning_rate,
                    "seeds": n_seeds,
                    **solved_statistics(res),
                    "steps_mean": float(np.mean(res.steps)),
                    "episodes_mean": float(np.mean(res.episodes)),
                    "compile_s": timing.compile_s,
                    "run_s": timing.run_s,
                }
            )
            print(_row_line(rows[-1]), flush=True)
    return rows


def _row_line(row: dict[str, Any]) -> str:
    return (
        f"k={row['scale']} states={row['states']} {PLANNER_LABELS[row['planner']]}: "
        f"updates {row['updates']['mean']:.4g} ± {row['updates']['sd']:.3g} (sd), "
        f"solved {row['solved']}/{row['seeds']}, compile {row['compile_s']:.1f} s, "
        f"run {row['run_s']:.1f} s"
    )


def example_8_4_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table: one line per scale, mean ± s.e. over the solved seeds of the updates per
    planner, and the ratio Dyna-Q / prioritized sweeping where both ran."""
    planners = list(dict.fromkeys(r["planner"] for r in rows))
    head = ["k", "states", "shortest path"] + [PLANNER_LABELS[p] for p in planners]
    both = "sample" in planners and "sweeping" in planners
    if both:
        head.append("Dyna-Q / sweeping")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for k in dict.fromkeys(r["scale"] for r in rows):
        at = {r["planner"]: r for r in rows if r["scale"] == k}
        first = next(iter(at.values()))
        cells = [str(k), str(first["states"]), str(first["shortest_path"])]
        for p in planners:
            r = at[p]
            u = r["updates"]
            note = "" if r["solved"] == r["seeds"] else f" ({r['solved']}/{r['seeds']} solved)"
            cells.append(f"{u['mean']:,.0f} ± {u['se']:,.0f}{note}" if r["solved"] else "-" + note)
        if both:
            ratio = at["sample"]["updates"]["mean"] / at["sweeping"]["updates"]["mean"]
            cells.append(f"{ratio:.1f}x" if math.isfinite(ratio) else "-")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# -- FrozenLake ----------------------------------------------------------------------------------


HYPERPARAMETERS: dict[str, dict[str, float]] = {
    "notebook": {"learning_rate": 0.1, "discount": 0.95, "epsilon": 0.1, "optimism": 0.0},
    "gamma 0.99": {"learning_rate": 0.1, "discount": 0.99, "epsilon": 0.1, "optimism": 0.0},
    "tuned": {"learning_rate": 0.01, "discount": 0.99, "epsilon": 0.1, "optimism": 1.0},
}
"""FrozenLake hyperparameter sets (n = 50 and the count model throughout): the seed notebook's;
the same with gamma 0.99; and gamma 0.99 with a slow reward average (alpha 0.01, whose start
``R = 0`` the expected planners divide out) and R-max optimism ``r_max = 1``."""


def frozenlake_table(
    map_name: str,
    n_episodes: int,
    n_seeds: int,
    planners: Sequence[str],
    *,
    seed: int = 0,
    hyperparameters: dict[str, dict[str, float]] | None = None,
    planning_steps: int = FROZENLAKE_PLANNING_STEPS,
) -> list[dict[str, Any]]:
    """Train every planner with every hyperparameter set (``train_sweep``, one compile per
    planner) on FrozenLake-v1 ``map_name`` (slippery) and score the greedy policy of the final
    ``Q`` (ties to the lowest action): its exact success probability within the time limit,
    against the oracle's stationary optimum (``optimal_success_probability``) and against the
    best any policy can do within the limit (``horizon_optimal_success``)."""
    where = "frozenlake_table"
    POSITIVE_INT.check(where, "n_episodes", n_episodes)
    POSITIVE_INT.check(where, "n_seeds", n_seeds)
    sets = HYPERPARAMETERS if hyperparameters is None else hyperparameters
    check_planning_draw(where, planning_steps, n_seeds * len(sets), "(seeds x hyperparameter sets)")
    env = from_gymnasium("FrozenLake-v1", map_name=map_name)
    horizon = env.time_limit if env.time_limit is not None else 100
    optimum = float(optimal_success_probability(env))
    bound = horizon_optimal_success(env, horizon)
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    rows: list[dict[str, Any]] = []
    for planner in planners:
        configs = DynaQConfig.stack(
            [
                DynaQConfig(planning_steps=planning_steps, planner=planner, **hp)  # type: ignore[arg-type]
                for hp in sets.values()
            ]
        )
        out, timing = timed_training(
            train_sweep, env, configs, keys, n_episodes=n_episodes, planning_steps=planning_steps
        )
        greedy_policies = np.asarray(out.state.q).argmax(-1).reshape(-1, env.n_states)
        success = success_probabilities(env, greedy_policies, horizon).reshape(len(sets), -1)
        for (name, hp), p, steps in zip(
            sets.items(), success, np.asarray(out.steps_done), strict=True
        ):
            stats = spread(p)
            rows.append(
                {
                    "map": map_name,
                    "episodes": n_episodes,
                    "planner": planner,
                    "hyperparameters": name,
                    **hp,
                    "planning_steps": planning_steps,
                    "seeds": n_seeds,
                    "optimum": optimum,
                    "bound": bound,
                    "success": stats,
                    "ratio": stats["mean"] / optimum,
                    "ratio_bound": stats["mean"] / bound,
                    "at_95": float(np.mean(p >= 0.95 * optimum)),
                    "steps_mean": float(steps.mean()),
                    "compile_s_all_sets": timing.compile_s,
                    "run_s_all_sets": timing.run_s,
                }
            )
            print(_fl_line(rows[-1]), flush=True)
    return rows


def _fl_line(r: dict[str, Any]) -> str:
    return (
        f"{r['map']} {PLANNER_LABELS[r['planner']]} [{r['hyperparameters']}]: "
        f"{r['success']['mean']:.3f} ± {r['success']['sd']:.3f} = {r['ratio']:.3f} of "
        f"{r['optimum']:.3f}"
    )


def frozenlake_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """Markdown table of ``frozenlake_table`` rows."""
    head = (
        "| map | episodes | planner | hyperparameters | P(goal) mean ± sd | p10 | median | "
        "mean / optimum | mean / bound | seeds ≥ 0.95 optimum |"
    )
    lines = [head, "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        p = r["success"]
        lines.append(
            f"| {r['map']} | {r['episodes']} | {PLANNER_LABELS[r['planner']]} | "
            f"{r['hyperparameters']} | {p['mean']:.3f} ± {p['sd']:.3f} | {p['p10']:.3f} | "
            f"{p['median']:.3f} | {r['ratio']:.3f} | {r['ratio_bound']:.3f} | {r['at_95']:.0%} |"
        )
    return "\n".join(lines)


# -- command line --------------------------------------------------------------------------------

PLANNERS = FieldCheck(str, choices=tuple(PLANNER_LABELS), many=True, optional=True)
SCALES = dataclasses.replace(POSITIVE_INT, many=True)
DOUBLINGS = FieldCheck(int, "an int in [0, 10]", minimum=0, maximum=10, many=True)
EXPLORATIONS = FieldCheck(str, choices=tuple(EXPLORATION), many=True)

OWN_FILES = (
    "example84.json",
    "example84.png",
    "example84_book.json",
    "example84_book.png",
    "scaling.json",
    "scaling.png",
    "frozenlake_*.json",
)
"""What ``dynaq-jax sweeping`` writes; a run keeps those of the folder it replaces that it does
not write again."""


@dataclasses.dataclass(frozen=True)
class SweepingOptions:
    """The options of ``dynaq-jax sweeping`` (each field's docstring is its help)."""

    experiment: Literal["example84", "frozenlake", "scaling"] = "example84"
    """Sutton & Barto Example 8.4 (default), the FrozenLake planner table, or the cost of a real
    step against the maze's size (scaling)"""
    seeds: PositiveInt = 20
    """seeds per point"""
    seed: Seed = 0
    """root PRNG seed"""
    planners: Annotated[
        tuple[str, ...] | None,
        PLANNERS,
        PLANNERS.cli(),
        tyro.conf.arg(help_behavior_hint="(default: see above)"),
    ] = None
    """default: sample sweeping (example84); sample expected sweeping (frozenlake)"""
    scales: Annotated[tuple[int, ...], SCALES, SCALES.cli()] = (1, 2, 3, 4, 5)
    """example84: maze scales k"""
    axis: Literal["scales", "book"] = "scales"
    """example84: the Dyna maze scaled k x k (--scales), or the book's axis, 47 * 2^j free cells
    (--doublings), with epsilon-greedy and directed exploration (--exploration)"""
    doublings: Annotated[tuple[int, ...], DOUBLINGS, DOUBLINGS.cli()] = BOOK_DOUBLINGS
    """example84 --axis book: the sizes j (47 * 2^j free cells)"""
    exploration: Annotated[tuple[str, ...], EXPLORATIONS, EXPLORATIONS.cli()] = tuple(EXPLORATION)
    """example84 --axis book: epsilon (the book's epsilon-greedy) and/or optimism (R-max,
    greedy)"""
    max_steps: PositiveInt = 3_000_000
    """example84: real-step cap per seed"""
    learning_rate: LearningRate = 0.5
    """example84: alpha (the book: 0.5)"""
    jobs: PositiveInt | None = None
    """example84 --axis book: worker processes, each on its own core (default: one per core
    this process may use)"""
    theta: Theta = BOOK_THETA
    """example84 --axis book: prioritized sweeping's priority threshold (the book: 1e-4; at
    6,016 cells the start's value 0.95^176 is about 1.2e-4, and smaller errors are not swept)"""
    bench_seeds: PositiveInt = 8
    """scaling: agents per timed run"""
    bench_steps: PositiveInt = 2000
    """scaling: real steps per timed run"""
    bench_repeats: PositiveInt = 5
    """scaling: timed runs per point (the least is reported)"""
    pin: bool = True
    """example84 --axis book and scaling: pin the process to one core (XLA then plans no
    thread hand-offs; see experiments.scaling)"""
    map_name: Annotated[str, FROZEN_LAKE_MAP, FROZEN_LAKE_MAP.cli(), tyro.conf.arg(name="map")] = (
        "4x4"
    )
    """frozenlake: 4x4 or 8x8"""
    episodes: PositiveInt = 300
    """frozenlake: episodes per seed"""
    out: Path = Path("runs/sweeping")
    """output folder (replaced when the run is done; the JSON of other runs in it are kept)"""

    def __post_init__(self) -> None:
        check_fields(self)
        if self.experiment == "example84":
            check_planning_draw(type(self).__name__, EXAMPLE_PLANNING_STEPS, self.seeds)
        else:
            agents = self.seeds * len(HYPERPARAMETERS)
            check_planning_draw(
                type(self).__name__,
                FROZENLAKE_PLANNING_STEPS,
                agents,
                f"(seeds x {len(HYPERPARAMETERS)} hyperparameter sets)",
            )


def _is_own(name: str) -> bool:
    """Whether ``name`` is a file ``dynaq-jax sweeping`` writes (``OWN_FILES``): a run carries
    those of the folder it replaces over, unless it writes them again."""
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in OWN_FILES)


def main(args: SweepingOptions) -> int:
    """Run the chosen experiment; print a markdown table; write JSON (and the Example 8.4 PNG)
    into a fresh folder that replaces ``args.out`` at the end (``output.staged_output``)."""
    if args.experiment == "scaling":
        return _main_scaling(args)
    if args.experiment == "example84" and args.axis == "book":
        return _main_book(args)
    if args.experiment == "example84":
        planners = args.planners or ["sample", "sweeping"]
        rows = example_8_4(
            args.scales,
            planners,
            args.seeds,
            seed=args.seed,
            max_steps=args.max_steps,
            learning_rate=args.learning_rate,
        )
        table = example_8_4_markdown(rows)
        plot = {
            PLANNER_LABELS[p]: (
                [r["states"] for r in rows if r["planner"] == p],
                [r["updates"]["mean"] for r in rows if r["planner"] == p],
                [r["updates"]["se"] for r in rows if r["planner"] == p],
            )
            for p in planners
        }
        with staged_output(args.out, keep=_is_own) as folder:
            write_json(folder / "example84.json", rows)
            plot_updates_vs_states(
                plot,
                folder / "example84.png",
                spread_label="± s.e.",
                title="Example 8.4: updates until the greedy path is within 1.2 x the shortest",
            )
        print(table)
        print(f"wrote {args.out / 'example84.json'} and {args.out / 'example84.png'}")
    else:
        planners = args.planners or ["sample", "expected", "sweeping"]
        rows = frozenlake_table(args.map_name, args.episodes, args.seeds, planners, seed=args.seed)
        name = f"frozenlake_{args.map_name}_{args.episodes}.json"
        with staged_output(args.out, keep=_is_own) as folder:
            write_json(folder / name, rows)
        print(frozenlake_markdown(rows))
        print(f"wrote {args.out / name}")
    return 0


def _main_scaling(args: SweepingOptions) -> int:
    core = pin_to_one_core() if args.pin else None
    planners = args.planners or ["sample", "sweeping"]
    rows = scaling_table(
        planners=planners,
        seeds=args.bench_seeds,
        steps=args.bench_steps,
        repeats=args.bench_repeats,
    )
    for r in rows:
        r["pinned_core"] = core
    with staged_output(args.out, keep=_is_own) as folder:
        write_json(folder / "scaling.json", rows)
        plot_step_cost(rows, folder / "scaling.png")
    print(scaling_markdown(rows))
    print(f"wrote {args.out / 'scaling.json'} and {args.out / 'scaling.png'}")
    return 0


def _main_book(args: SweepingOptions) -> int:
    planners = args.planners or ["sample", "sweeping"]
    rows = run_book(
        args.doublings,
        planners,
        args.exploration,
        args.seeds,
        jobs=args.jobs or len(available_cores()),
        pin=args.pin,
        seed=args.seed,
        max_steps=args.max_steps,
        learning_rate=args.learning_rate,
        theta=args.theta,
    )
    with staged_output(args.out, keep=_is_own) as folder:
        write_json(folder / "example84_book.json", rows)
        plot_book(rows, folder / "example84_book.png")
    for exploration in args.exploration:
        print(f"\n{exploration}:\n{book_markdown(rows, exploration)}")
    print(f"wrote {args.out / 'example84_book.json'} and {args.out / 'example84_book.png'}")
    return 0


__all__ = [
    "EXAMPLE_PLANNING_STEPS",
    "FROZENLAKE_PLANNING_STEPS",
    "HYPERPARAMETERS",
    "OWN_FILES",
    "PLANNER_LABELS",
    "SweepingOptions",
    "UpdatesResult",
    "example_8_4",
    "example_8_4_markdown",
    "example_config",
    "free_states",
    "frozenlake_markdown",
    "frozenlake_table",
    "goal_states",
    "greedy_reaches_goal",
    "main",
    "updates_until_optimal",
]
