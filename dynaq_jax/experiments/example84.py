"""Sutton & Barto Example 8.4 on the book's axis: the Dyna maze at 47 to 6,016 free cells.

The book's figure (after Peng & Williams 1993) doubles the number of states from one maze to the
next. The Dyna maze has 47 free cells; ``book_maze(j)`` makes every cell a ``kr x kc`` block with
``kr kc = 2^j`` (the columns doubled first: ``(1,1), (1,2), (2,2), (2,4), ..., (8,16)``), so the
free cells are ``47 * 2^j``: 47, 94, 188, 376, 752, 1,504, 3,008 and 6,016 for ``j = 0..7``.
Start and goal are the top-left cells of their blocks (as ``envs.scale_layout`` places them).

Each seed acts and learns until the greedy path from the start (``argmax_a Q``, ties to the
lowest action) reaches the goal within ``floor(1.2 L)`` steps, ``L`` the shortest path, as in
``experiments.sweeping``; the count is every Q update made until then (``1 + n`` per real step
for Dyna-Q, one per pop above ``theta`` for prioritized sweeping), with the real steps beside it.

The loop (``solve_until_near_optimal``) checks the greedy path after every real step, as
``experiments.sweeping`` always did, with a walk along it that stops at the goal, at ``floor(1.2
L)`` steps or in a loop of one or two states (``O(L A)`` at most, where the pointer doubling of
``sweeping.greedy_reaches_goal`` costs ``O(S log L)``). Checking less often would not give the
same answer: the greedy path can reach the goal after one real step and lose it a few steps later
(optimism pulls it to pairs still untried), and the count is until the first time.

Two ways to explore (``EXPLORATION``): the book's epsilon-greedy (epsilon 0.1), and directed
exploration, R-max's optimism for untried pairs (``optimism = r_max = 1``: an untried pair is worth
``1 / (1 - gamma) = 20``) acting greedily (epsilon 0), as prioritized sweeping's original papers
explored (Moore & Atkeson 1993, "optimism in the face of uncertainty").
"""

import functools
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

from dynaq_jax.agent import act, init, step_counted
from dynaq_jax.checks import typed_jit
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import TabularMDP, grid_maze, maze_layout
from dynaq_jax.envs import step as env_step
from dynaq_jax.envs.mazes import (
    DYNA_MAZE_GOAL,
    DYNA_MAZE_START,
    DYNA_MAZE_WALLS,
    MAZE_COLS,
    MAZE_ROWS,
)
from dynaq_jax.experiments.common import Stopwatch, shortest_path_length, spread
from dynaq_jax.numerics import first_argmax
from dynaq_jax.plotting import plot_updates_vs_states
from dynaq_jax.rng import split_key
from dynaq_jax.state import DynaQState
from dynaq_jax.types import Key, QTable

BOOK_THETA = 1e-4
"""Prioritized sweeping's threshold in the book's Example 8.4. With gamma 0.95 a value at ``d``
steps from the goal is ``0.95^d``: at 6,016 cells the start is 176 steps away, ``0.95^176 =
1.2e-4``, so the errors that would carry the goal's value to the start fall below it."""
BOOK_DOUBLINGS = tuple(range(8))
"""``j`` of the book's sizes: ``47 * 2^j`` free cells."""

EXPLORATION: dict[str, dict[str, float]] = {
    "epsilon": {"epsilon": 0.1, "optimism": 0.0},
    "optimism": {"epsilon": 0.0, "optimism": 1.0},
}
"""The two ways to explore: the book's epsilon-greedy, and R-max's optimism acting greedily."""

PLANNER_LABELS = {"sample": "Dyna-Q", "sweeping": "prioritized sweeping"}


def book_scale(doublings: int) -> tuple[int, int]:
    """``(kr, kc)`` with ``kr kc = 2^doublings``, the columns doubled first."""
    if isinstance(doublings, bool) or not isinstance(doublings, int) or doublings < 0:
        raise ValueError(f"book_scale: doublings must be an int >= 0, got {doublings!r}")
    return 2 ** (doublings // 2), 2 ** ((doublings + 1) // 2)


def scale_layout_rc(layout: Sequence[str], rows: int, cols: int) -> tuple[str, ...]:
    """Every cell becomes a ``rows x cols`` block: walls and free cells fill it, the start and
    each goal occupy its top-left cell (``envs.scale_layout`` with two factors)."""
    for name, k in (("rows", rows), ("cols", cols)):
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"scale_layout_rc: {name} must be an int >= 1, got {k!r}")
    out: list[str] = []
    for row in layout:
        for i in range(rows):
            cells = [
                ((ch if i == 0 else ".") + "." * (cols - 1)) if ch in "SG" else ch * cols
                for ch in row
            ]
            out.append("".join(cells))
    return tuple(out)


def book_maze_rc(rows: int, cols: int) -> TabularMDP:
    """The Dyna maze with every cell a ``rows x cols`` block (``47 rows cols`` free cells)."""
    base = maze_layout(MAZE_ROWS, MAZE_COLS, DYNA_MAZE_START, DYNA_MAZE_GOAL, DYNA_MAZE_WALLS)
    return grid_maze(scale_layout_rc(base, rows, cols), name=f"DynaMaze-{rows}x{cols}")


@functools.cache
def book_maze(doublings: int) -> TabularMDP:
    """The Dyna maze with ``47 * 2^doublings`` free cells (module docstring)."""
    return book_maze_rc(*book_scale(doublings))


def free_cells(env: TabularMDP) -> int:
    """Cells that are not walls (the book's 'number of states' of a maze)."""
    if env.layout is None:
        return env.n_states
    return sum(ch != "#" for row in env.layout for ch in row)


def maze_successors(env: TabularMDP) -> tuple[np.ndarray, np.ndarray, int]:
    """``(succ[s, a], goal[s], start)`` of a deterministic maze (``ValueError`` otherwise):
    ``goal[s']`` where some transition into ``s'`` terminates with a positive reward."""
    probs = np.asarray(env.probs)
    if not np.allclose(probs.max(-1), 1.0):
        raise ValueError(f"{env.name}: the greedy-path check needs a deterministic env")
    k = probs.argmax(-1)
    succ = np.take_along_axis(np.asarray(env.next_states), k[..., None], -1)[..., 0]
    win = np.asarray(env.terminated) & (np.asarray(env.rewards) > 0) & (probs > 0)
    goal = np.zeros(env.n_states, bool)
    goal[np.asarray(env.next_states)[win]] = True
    return succ.astype(np.int32), goal, int(np.argmax(np.asarray(env.initial)))


def greedy_walk_reaches_goal(
    successors: Int[Array, "S A"],
    goal: Bool[Array, " S"],
    q: QTable,
    start: int | Int[Array, ""],
    horizon: int,
) -> Bool[Array, ""]:
    """Whether the greedy path ``s_{t+1} = succ[s_t, argmax_a Q[s_t, a]]`` (ties to the lowest
    action) from ``start`` enters a goal within ``horizon`` steps: a walk of at most ``horizon``
    steps, ``O(horizon A)``, that stops early at a goal or in a loop of one or two states (the
    same answer as ``sweeping.greedy_reaches_goal``'s pointer doubling, ``O(S log horizon)``)."""

    Walk = tuple[Int[Array, ""], Int[Array, ""], Int[Array, ""], Int[Array, ""]]

    def more(c: Walk) -> Bool[Array, ""]:
        i, pos, _, stuck = c
        return (i < horizon) & ~goal[pos] & (stuck == 0)

    def walk(c: Walk) -> Walk:
        i, pos, prev, _ = c
        nxt = successors[pos, first_argmax(q[pos])]
        return i + 1, nxt, pos, ((nxt == pos) | (nxt == prev)).astype(jnp.int32)

    begin = jnp.asarray(start, jnp.int32)
    zero = jnp.zeros((), jnp.int32)
    end = jax.lax.while_loop(more, walk, (zero, begin, begin - 1, zero))
    return goal[end[1]]


class SolveResult(NamedTuple):
    """Per seed: what it took until the greedy path was near-optimal."""

    updates: Int[Array, " B"]
    """Q updates made until (and including) the first real step after which the greedy path
    reached the goal within the horizon (or until ``max_steps``, when not ``solved``)."""
    steps: Int[Array, " B"]
    """Real steps taken."""
    episodes: Int[Array, " B"]
    """Episodes completed."""
    solved: Bool[Array, " B"]
    """The greedy path reached the goal within the horizon before ``max_steps``."""
    first_goal_steps: Int[Array, " B"] | None = None
    """Real steps until the goal was first reached (the end of the first episode; 0: never)."""
    first_goal_updates: Int[Array, " B"] | None = None
    """Q updates made until then."""


class _Run(NamedTuple):
    agent: DynaQState
    key: Key
    s: Int[Array, ""]
    updates: Int[Array, ""]
    steps: Int[Array, ""]
    episodes: Int[Array, ""]
    first_goal_steps: Int[Array, ""]
    first_goal_updates: Int[Array, ""]


def _step(
    env: TabularMDP, config: DynaQConfig, start: Int[Array, ""], r: _Run, on: Bool[Array, ""]
) -> _Run:
    key, k_act, k_env, k_plan, _ = split_key(r.key, 5)  # the fifth: sweeping's reset key
    a = act(r.agent, k_act, r.s, config)
    s_next, rew, term = env_step(env, k_env, r.s, a)
    agent, n = step_counted(r.agent, k_plan, r.s, a, rew, s_next, term, config, active=on)
    first = on & term & (r.episodes == 0)
    return _Run(
        agent=agent,
        key=jnp.where(on, key, r.key),
        s=jnp.where(on, jnp.where(term, start, s_next), r.s),
        updates=r.updates + n,
        steps=r.steps + on,
        episodes=r.episodes + (term & on),
        first_goal_steps=jnp.where(first, r.steps + 1, r.first_goal_steps),
        first_goal_updates=jnp.where(first, r.updates + n, r.first_goal_updates),
    )


STEPS_PER_CHECK_OF_THE_LOOP = 16
"""Real steps (each followed by its check of the greedy path) per iteration of the loop over
``any seed still running``: the loop's own overhead, shared."""


@typed_jit
def _begin(env: TabularMDP, config: DynaQConfig, keys: Key, start: Int[Array, ""]) -> _Run:
    def first(k: Key) -> _Run:
        zero = jnp.zeros((), jnp.int32)
        agent = init(env.n_states, env.n_actions, config)
        k, _ = jax.random.split(k)  # as sweeping.updates_until_optimal: the same trajectories
        return _Run(agent, k, start, zero, zero, zero, zero, zero)

    return jax.vmap(first)(keys)


@functools.partial(jax.jit, static_argnames="horizon")
def _solve(
    run: _Run,
    env: TabularMDP,
    config: DynaQConfig,
    walk: tuple[Int[Array, "S A"], Bool[Array, " S"], Int[Array, ""]],
    max_steps: Int[Array, ""],
    *,
    horizon: int,
) -> tuple[_Run, Bool[Array, " B"]]:
    """Real steps, each followed by a check of the greedy path, until every seed is solved or
    capped."""
    successors, goal, start = walk

    def done(q: QTable) -> Bool[Array, ""]:
        return greedy_walk_reaches_goal(successors, goal, q, start, horizon)

    def one(_: Int[Array, ""], c: tuple[_Run, Bool[Array, " B"]]) -> tuple[_Run, Bool[Array, " B"]]:
        r, solved = c
        on = ~solved & (r.steps < max_steps)
        r = jax.vmap(lambda x, o: _step(env, config, start, x, o))(r, on)
        return r, solved | (on & jax.vmap(done)(r.agent.q))

    def block(c: tuple[_Run, Bool[Array, " B"]]) -> tuple[_Run, Bool[Array, " B"]]:
        out: tuple[_Run, Bool[Array, " B"]] = jax.lax.fori_loop(
            0, STEPS_PER_CHECK_OF_THE_LOOP, one, c
        )
        return out

    def running(c: tuple[_Run, Bool[Array, " B"]]) -> Bool[Array, ""]:
        return jnp.any(~c[1] & (c[0].steps < max_steps))

    out: tuple[_Run, Bool[Array, " B"]] = jax.lax.while_loop(
        running, block, (run, jnp.zeros(run.steps.shape, jnp.bool_))
    )
    return out


def solve_until_near_optimal(
    env: TabularMDP,
    config: DynaQConfig,
    keys: Key,
    *,
    slack: float = 1.2,
    max_steps: int = 3_000_000,
) -> SolveResult:
    """Train one agent per key until its greedy path from the start reaches the goal within
    ``floor(slack * L)`` steps (``L = shortest_path_length(env)``); count the updates.

    Each real step: ``a ~ act``, ``(s', r, terminated) ~ env``, ``agent.step_counted``, then the
    check of the greedy path (``greedy_walk_reaches_goal``); an episode ends on termination and
    the next starts at the start cell. A solved seed stops (its steps are masked) while the rest
    of the batch runs on; ``max_steps`` real steps cap every seed. The same keys give the same
    trajectories, and so the same answer, as ``sweeping.updates_until_optimal`` (whose pointer
    doubling costs ``O(S log L)`` a check, this walk ``O(L A)`` at most). One compiled loop,
    ``vmap`` over ``keys`` ``[B]``, with ``env`` and ``config`` as its arguments: configs that
    differ only in their leaves (``epsilon``, ``optimism``) share it.
    """
    if isinstance(max_steps, bool) or not isinstance(max_steps, int) or max_steps < 1:
        raise ValueError(
            f"solve_until_near_optimal: max_steps must be an int >= 1, got {max_steps!r}"
        )
    horizon = math.floor(slack * shortest_path_length(env))
    succ, goal, start = maze_successors(env)
    walk = (jnp.asarray(succ), jnp.asarray(goal), jnp.asarray(start, jnp.int32))
    cap = jnp.asarray(max_steps, jnp.int32)
    r, solved = _solve(_begin(env, config, keys, walk[2]), env, config, walk, cap, horizon=horizon)
    return SolveResult(
        r.updates, r.steps, r.episodes, solved, r.first_goal_steps, r.first_goal_updates
    )


# -- the experiment -------------------------------------------------------------------------------


def book_config(
    planner: str, exploration: str, learning_rate: float = 0.5, theta: float = BOOK_THETA
) -> DynaQConfig:
    """Example 8.4's agent (alpha 0.5, gamma 0.95, n = 5, theta 1e-4, the deterministic model)
    with ``planner`` and the exploration ``EXPLORATION[exploration]``."""
    return DynaQConfig(
        learning_rate=learning_rate,
        discount=0.95,
        planning_steps=5,
        model="deterministic",
        theta=theta,
        planner=planner,
        epsilon=EXPLORATION[exploration]["epsilon"],
        optimism=EXPLORATION[exploration]["optimism"],
    )


_NAN = dict.fromkeys(("mean", "sd", "se", "min", "p10", "median", "p90", "max"), math.nan)


def _spread_or_nan(x: np.ndarray) -> dict[str, float]:
    """``spread(x)``, or every statistic NaN where ``x`` is empty (no seed solved)."""
    return spread(x) if x.size else dict(_NAN)


def solved_statistics(res: SolveResult) -> dict[str, Any]:
    """Over the solved seeds of ``res``: their number, ``spread`` of the updates and of the real
    steps (all NaN where none was solved) and the updates per real step (ratio of the sums)."""
    solved = np.asarray(res.solved)
    upd = np.asarray(res.updates, np.float64)[solved]
    steps = np.asarray(res.steps, np.float64)[solved]
    return {
        "solved": int(solved.sum()),
        "updates": _spread_or_nan(upd),
        "real_steps": _spread_or_nan(steps),
        "updates_per_step": float(upd.sum() / steps.sum()) if upd.size else math.nan,
    }


def book_cell(
    doublings: int,
    planner: str,
    exploration: str,
    n_seeds: int,
    *,
    seed: int = 0,
    max_steps: int = 3_000_000,
    learning_rate: float = 0.5,
    theta: float = BOOK_THETA,
) -> dict[str, Any]:
    """One row of ``book_example_8_4``: size ``book_maze(doublings)``, one planner, one way to
    explore, ``n_seeds`` seeds (``jax.random.split(jax.random.key(seed), n_seeds)``); printed
    as it is measured."""
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    env = book_maze(doublings)
    kr, kc = book_scale(doublings)
    config = book_config(planner, exploration, learning_rate, theta)
    with Stopwatch() as watch:
        res = jax.device_get(solve_until_near_optimal(env, config, keys, max_steps=max_steps))
    timing = watch.timing(int(np.sum(res.steps)), int(np.sum(res.updates)))
    solved = np.asarray(res.solved)
    first = np.asarray(res.first_goal_steps, np.float64)[solved]
    first_upd = np.asarray(res.first_goal_updates, np.float64)[solved]
    row = {
        "doublings": doublings,
        "block": [kr, kc],
        "states": free_cells(env),
        "cells": env.n_states,
        "shortest_path": shortest_path_length(env),
        "planner": planner,
        "exploration": exploration,
        **EXPLORATION[exploration],
        "learning_rate": learning_rate,
        "theta": theta,
        "seeds": n_seeds,
        **solved_statistics(res),
        "first_goal_steps": _spread_or_nan(first),
        "first_goal_updates": _spread_or_nan(first_upd),
        "episodes_mean": float(np.mean(res.episodes)),
        "compile_s": timing.compile_s,
        "run_s": timing.run_s,
    }
    print(_line(row), flush=True)
    return row


def book_example_8_4(
    doublings: Sequence[int],
    planners: Sequence[str],
    explorations: Sequence[str],
    n_seeds: int,
    *,
    seed: int = 0,
    max_steps: int = 3_000_000,
    learning_rate: float = 0.5,
    theta: float = BOOK_THETA,
) -> list[dict[str, Any]]:
    """Example 8.4 on the book's axis: for every size (``book_maze(j)``), planner and way to
    explore, the statistics over the solved seeds of the updates and the real steps until the
    greedy path was near-optimal, and the updates per real step (for prioritized sweeping the
    pops above ``theta`` per real step: the ratio of the means). One row each
    (``book_cell``), in this order; the explorations of one size and planner share one compiled
    loop. ``experiments.book_jobs`` runs the same rows over several cores."""
    return [
        book_cell(
            j,
            planner,
            exploration,
            n_seeds,
            seed=seed,
            max_steps=max_steps,
            learning_rate=learning_rate,
            theta=theta,
        )
        for j in doublings
        for planner in planners
        for exploration in explorations
    ]


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['states']} states {PLANNER_LABELS[row['planner']]} ({row['exploration']}): "
        f"updates {row['updates']['mean']:.4g} ± {row['updates']['se']:.3g} (s.e.), real steps "
        f"{row['real_steps']['mean']:.4g}, {row['updates_per_step']:.2f} updates per real step, "
        f"solved {row['solved']}/{row['seeds']}, compile {row['compile_s']:.1f} s, "
        f"run {row['run_s']:.1f} s"
    )


def book_markdown(rows: Sequence[dict[str, Any]], exploration: str) -> str:
    """Markdown table of one exploration's rows: per size, mean ± s.e. (solved seeds) of the
    updates of each planner and their ratio; the mean real steps until the goal was first
    reached and after it, for each planner; prioritized sweeping's pops per real step before and
    after that first visit; the run times."""
    mine = [r for r in rows if r["exploration"] == exploration]
    head = [
        "states",
        "maze",
        "shortest path",
        "Dyna-Q updates",
        "sweeping updates",
        "Dyna-Q / sweeping",
        "real steps to the first goal: Dyna-Q, sweeping",
        "real steps after it: Dyna-Q, sweeping",
        "sweeping pops per real step: before, after",
        "run time (s): Dyna-Q, sweeping",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def updates(r: dict[str, Any] | None) -> str:
        if r is None or not r["solved"]:
            return "-"
        note = "" if r["solved"] == r["seeds"] else f" ({r['solved']}/{r['seeds']} solved)"
        return f"{r['updates']['mean']:,.0f} ± {r['updates']['se']:,.0f}{note}"

    def split(r: dict[str, Any] | None) -> tuple[float, float, float, float]:
        if r is None or not r["solved"]:
            return (math.nan,) * 4
        before, total = r["first_goal_steps"]["mean"], r["real_steps"]["mean"]
        pops = r["first_goal_updates"]["mean"]
        after_pops = (r["updates"]["mean"] - pops) / max(total - before, 1e-9)
        return before, total - before, pops / max(before, 1e-9), after_pops

    def pair(a: float, b: float, fmt: str) -> str:
        return ", ".join("-" if x != x else format(x, fmt) for x in (a, b))

    for j in dict.fromkeys(r["doublings"] for r in mine):
        at = {r["planner"]: r for r in mine if r["doublings"] == j}
        first = next(iter(at.values()))
        dq_, ps = at.get("sample"), at.get("sweeping")
        ratio = (
            f"{dq_['updates']['mean'] / ps['updates']['mean']:.1f}x"
            if dq_ and ps and dq_["solved"] and ps["solved"]
            else "-"
        )
        d, p = split(dq_), split(ps)
        times = ", ".join(f"{r['run_s']:.0f}" if r else "-" for r in (dq_, ps))
        cells = [
            f"{first['states']:,}",
            "x".join(str(b) for b in first["block"]) + " blocks",
            str(first["shortest_path"]),
            updates(dq_),
            updates(ps),
            ratio,
            pair(d[0], p[0], ",.0f"),
            pair(d[1], p[1], ",.0f"),
            pair(p[2], p[3], ".2f"),
            times,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_book(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Updates until the greedy path is near-optimal against the number of states, log-log (the
    book's figure), one line per planner and way to explore."""
    curves = {}
    for planner in dict.fromkeys(r["planner"] for r in rows):
        for exploration in dict.fromkeys(r["exploration"] for r in rows):
            mine = [
                r
                for r in rows
                if (r["planner"], r["exploration"]) == (planner, exploration) and r["solved"]
            ]
            if mine:
                curves[f"{PLANNER_LABELS[planner]}, {exploration}"] = (
                    [r["states"] for r in mine],
                    [r["updates"]["mean"] for r in mine],
                    [r["updates"]["se"] for r in mine],
                )
    return plot_updates_vs_states(
        curves,
        path,
        spread_label="± s.e.",
        log_x=True,
        title="Example 8.4 on the book's axis: updates until the greedy path is near-optimal",
    )


__all__ = [
    "BOOK_DOUBLINGS",
    "EXPLORATION",
    "PLANNER_LABELS",
    "SolveResult",
    "book_cell",
    "book_config",
    "book_example_8_4",
    "book_markdown",
    "book_maze",
    "book_maze_rc",
    "book_scale",
    "free_cells",
    "greedy_walk_reaches_goal",
    "maze_successors",
    "plot_book",
    "scale_layout_rc",
    "solve_until_near_optimal",
    "solved_statistics",
]
