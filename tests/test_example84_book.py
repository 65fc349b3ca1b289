"""Example 8.4 on the book's axis and the scaling benchmark (``experiments.example84``,
``experiments.scaling``), in the application package.

What each test guards:
- ``test_book_mazes_have_the_books_sizes``: ``book_maze(j)`` has ``47 * 2^j`` free cells, the
  columns doubled first; ``scale_layout_rc(k, k)`` is ``envs.scale_layout(k)``.
- ``test_walk_agrees_with_pointer_doubling``: the greedy walk of the new loop and the pointer
  doubling of the old one answer alike for any ``Q``.
- ``test_the_count_stops_at_the_first_near_optimal_step``: the greedy path is checked after every
  real step (a seed solved after ``k`` steps is unsolved when capped at ``k - 1``), whatever the
  steps per iteration of the loop.
- ``test_book_command_writes_its_tables``: ``dynaq-jax sweeping --axis book`` writes strict JSON,
  the plot and one table per exploration (the loop replaced by a stub: nothing compiles);
  ``--theta`` reaches the agent.
- ``test_rows_computed_by_worker_processes_equal_the_rows_computed_here``: ``--jobs 2`` (two
  spawned workers) gives the rows of one process, bit for bit.
- ``test_scaling_table_and_plot``: the scaling table's growth column and its plot, from rows.
"""

import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from dynaq_jax.envs import distinct_outcomes, maze_layout, scale_layout
from dynaq_jax.envs.mazes import DYNA_MAZE_GOAL, DYNA_MAZE_START, DYNA_MAZE_WALLS
from dynaq_jax.experiments import example84, scaling, sweeping
from dynaq_jax.experiments.book_jobs import run_book
from dynaq_jax.experiments.example84 import (
    SolveResult,
    book_config,
    book_maze,
    free_cells,
    greedy_walk_reaches_goal,
    maze_successors,
    scale_layout_rc,
    solve_until_near_optimal,
)
from dynaq_jax.experiments.sweeping import SweepingOptions, greedy_reaches_goal
from tests.planner_cases import FEW


def test_book_mazes_have_the_books_sizes() -> None:
    sizes = [book_maze(j) for j in range(4)]
    assert [free_cells(env) for env in sizes] == [47, 94, 188, 376]
    assert [len(env.layout or ()) for env in sizes] == [6, 6, 12, 12]  # rows: 6 kr
    assert example84.book_scale(7) == (8, 16) and 47 * 8 * 16 == 6016
    base = maze_layout(6, 9, DYNA_MAZE_START, DYNA_MAZE_GOAL, DYNA_MAZE_WALLS)
    for k in (1, 2, 3):
        assert scale_layout_rc(base, k, k) == scale_layout(base, k)
    with pytest.raises(ValueError, match="doublings must be an int >= 0, got -1"):
        example84.book_scale(-1)


_walk = jax.jit(greedy_walk_reaches_goal, static_argnames=("start", "horizon"))
_doubling = jax.jit(greedy_reaches_goal, static_argnames=("start", "horizon"))
MAZE_1X2 = maze_successors(book_maze(1))


@FEW
@given(
    q=hnp.arrays(np.float32, (108, 4), elements=st.floats(0.0, 1.0, width=32)),
    horizon=st.sampled_from([5, 26, 40]),
)
def test_walk_agrees_with_pointer_doubling(q: np.ndarray, horizon: int) -> None:
    succ, goal, start = MAZE_1X2
    args = (jnp.asarray(succ), jnp.asarray(goal), jnp.asarray(q))
    got = _walk(*args, start=start, horizon=horizon)
    assert bool(got) == bool(_doubling(*args, start=start, horizon=horizon))


def test_the_count_stops_at_the_first_near_optimal_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A seed solved after ``k`` real steps is not solved when capped at ``k - 1`` (the check
    runs after every real step), and the steps per iteration of the loop do not matter."""
    env = dq.dyna_maze()
    config = book_config("sample", "epsilon").replace(planning_steps=1)  # a smaller program
    keys = jax.random.split(jax.random.key(3), 3)
    found = solve_until_near_optimal(env, config, keys, max_steps=1500)
    solved = np.asarray(found.solved)
    assert solved.any()
    k = int(np.asarray(found.steps)[solved].min())
    short = solve_until_near_optimal(env, config, keys, max_steps=k - 1)
    assert not np.asarray(short.solved)[np.asarray(found.steps) == k].any()
    monkeypatch.setattr(example84, "STEPS_PER_CHECK_OF_THE_LOOP", 5)
    jax.clear_caches()
    again = solve_until_near_optimal(env, config, keys, max_steps=1500)
    for a, b in zip(found, again, strict=True):
        np.testing.assert_array_equal(a, b)


def test_book_command_writes_its_tables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def stub(env: Any, config: Any, keys: Any, **kwargs: Any) -> SolveResult:
        n = len(keys)
        assert float(config.theta) == pytest.approx(1e-6)  # --theta reaches the agent
        per = 6 if config.planner == "sample" else 2
        steps = np.full(n, 10 * free_cells(env), np.int32)
        first = steps // 2
        return SolveResult(per * steps, steps, steps * 0 + 1, np.arange(n) > 0, first, first)

    monkeypatch.setattr(example84, "solve_until_near_optimal", stub)
    out = tmp_path / "book"
    args = SweepingOptions(
        axis="book", doublings=(0, 1), seeds=3, out=out, pin=False, theta=1e-6, jobs=1
    )
    assert sweeping.main(args) == 0
    rows = example84_rows(out)
    assert len(rows) == 2 * 2 * 2 and all(r["solved"] == 2 for r in rows)
    assert {r["theta"] for r in rows} == {1e-6}
    assert {r["updates_per_step"] for r in rows} == {6.0, 2.0}
    text = capsys.readouterr().out
    assert "epsilon:" in text and "optimism:" in text and "| 94 | 1x2 blocks | 22 |" in text
    assert "3.0x" in text and "(2/3 solved)" in text
    assert "| 470, 470 | 470, 470 | 1.00, 3.00 |" in text  # 940 steps, half before the goal
    assert (out / "example84_book.png").is_file()


def example84_rows(out: Path) -> list[dict[str, Any]]:
    import json

    rows: list[dict[str, Any]] = json.loads((out / "example84_book.json").read_text())
    return rows


def test_scaling_table_and_plot(tmp_path: Path) -> None:
    rows = [
        {"cells": c, "planner": p, "model": m, "us_cpu": base * g}
        for c, g in ((54, 1.0), (1944, 1.5))
        for p, base in (("sample", 1.0), ("sweeping", 4.0))
        for m in ("deterministic", "compact")
    ]
    table = scaling.scaling_markdown(rows)
    assert "| prioritized sweeping | compact | 4.00 | 6.00 | 1.50x |" in table
    assert scaling.plot_step_cost(rows, tmp_path / "s.png").is_file()
    env = dq.dyna_maze()
    compact = scaling.bench_config(env, "sweeping", "compact")
    assert compact.outcome_slots == distinct_outcomes(env) == 1


def test_rows_computed_by_worker_processes_equal_the_rows_computed_here() -> None:
    """``run_book`` with two spawned workers gives ``book_example_8_4``'s rows, in its order,
    bit for bit (timings aside)."""
    args = ((0,), ("sample",), ("epsilon", "optimism"), 2)
    kwargs: dict[str, Any] = {"max_steps": 2000, "pin": False}
    here = run_book(*args, jobs=1, **kwargs)
    there = run_book(*args, jobs=2, **kwargs)

    def text(rows: list[dict[str, Any]]) -> str:  # NaN statistics compare equal as text
        timing = ("compile_s", "run_s")
        return json.dumps([{k: v for k, v in r.items() if k not in timing} for r in rows])

    assert text(there) == text(here)
    assert any(r["solved"] for r in here)
    assert [r["exploration"] for r in there] == ["epsilon", "optimism"]
    with pytest.raises(ValueError, match="jobs must be an int >= 1, got 0"):
        run_book(*args, jobs=0)
