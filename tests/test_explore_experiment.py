"""``dynaq-jax explore`` at small sizes: the exact evaluator, the table, the CLI end to end."""

import csv
import json
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from dynaq_jax.envs import continuation_matrix, expected_rewards, river_swim, value_iteration
from dynaq_jax.experiments import explore
from dynaq_jax.experiments.cli import main


def test_greedy_value_of_the_optimal_q_is_the_optimum() -> None:
    env = river_swim(time_limit=20, reward_scale=1e-4)
    q = value_iteration(env, 0.95, tol=1e-7, max_iters=100_000)
    j = explore.greedy_value(q, continuation_matrix(env), expected_rewards(env), env.initial, 0.95)
    assert float(j) == pytest.approx(float(explore.optimal_value(env, 0.95)), rel=1e-4)
    # Always swimming left is the trap: far below the optimum, and exactly its own value.
    left = jnp.zeros_like(q).at[:, 0].set(1.0)
    j_left = explore.greedy_value(
        left, continuation_matrix(env), expected_rewards(env), env.initial, 0.95
    )
    p = np.asarray(continuation_matrix(env))[np.arange(6), 0]
    r = np.asarray(expected_rewards(env))[np.arange(6), 0]
    v = np.linalg.solve(np.eye(6) - 0.95 * p, r)
    assert float(j_left) == pytest.approx(float(np.asarray(env.initial) @ v), rel=1e-5)
    assert float(j_left) < 0.1 * float(j)


def test_option_configs() -> None:
    assert explore.option_config("dyna-q+", "expected") is None
    c = explore.option_config("r-max m=20", "sweeping")
    assert c is not None and c.known_threshold == 20 and c.planner == "sweeping"
    with pytest.raises(ValueError, match="bogus"):
        explore.option_config("bogus", "sample")
    with pytest.raises(ValueError, match="n_seeds"):
        explore.run(n_seeds=0)
    with pytest.raises(ValueError, match="moon"):
        explore.run(envs=("moon",))


def test_explore_cli_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "explore"
    code = main(
        [
            "explore",
            "--out",
            str(out),
            "--envs",
            "river-swim",
            "--options",
            "epsilon-greedy",
            "r-max m=20",
            "--planners",
            "sample",
            "--seeds",
            "3",
            "--steps",
            "200",
            "--no-progress",
        ]
    )
    assert code == 0
    text = capsys.readouterr().out
    assert "river-swim" in text and "r-max m=20" in text
    rows = list(csv.DictReader((out / "explore.csv").open()))
    assert [(r["option"], r["planner"]) for r in rows] == [
        ("epsilon-greedy", "sample"),
        ("r-max m=20", "sample"),
    ]
    for r in rows:
        assert 0.0 <= float(r["reached"]) <= 1.0
    curves = list(csv.DictReader((out / "regret.csv").open()))
    assert len(curves) == 2 * 2  # two evaluations (every 100 steps) per cell
    summary = json.loads((out / "summary.json").read_text())
    assert summary["seeds"] == 3 and (out / "explore.png").stat().st_size > 0
    # The compact model, exact for RiverSwim: its pairs have at most 3 next states.
    assert summary["outcome_slots"] == {"river-swim": 3}
    assert not explore.resume_folder(out).exists()  # the finished cells go with a complete run


SMALL = {
    "envs": ("river-swim",),
    "planners": ("sample",),
    "n_seeds": 3,
    "steps": {"river-swim": 200},
    "progress": False,
}


def test_a_stopped_run_resumes_at_its_first_unfinished_cell(tmp_path: Path) -> None:
    """Finished cells are saved as they finish and read back by a run with the same settings
    (the rows equal an uninterrupted run's); a cell's file is really what is read (a changed
    file changes the row); another run's files, and unreadable ones, are errors naming them."""
    fresh = explore.run(options=("r-max", "mbie-eb"), **SMALL)  # type: ignore[arg-type]
    cells = tmp_path / "cells"
    explore.run(options=("r-max",), cell_dir=cells, **SMALL)  # type: ignore[arg-type]
    assert [p.name for p in cells.glob("*.npz")] == ["river-swim__r-max__sample.npz"]
    resumed = explore.run(options=("r-max", "mbie-eb"), cell_dir=cells, **SMALL)  # type: ignore[arg-type]
    assert resumed == fresh
    assert len(list(cells.glob("*.npz"))) == 2

    path = explore.cell_file(cells, "river-swim", "r-max", "sample")
    with np.load(path) as z:
        meta, values = str(z["meta"]), z["values"]
    np.savez(path, meta=np.asarray(meta), values=np.zeros_like(values))
    (row, *_) = explore.run(options=("r-max",), cell_dir=cells, **SMALL)  # type: ignore[arg-type]
    assert row.final_ratio == 0.0 and row.reached == 0.0

    with pytest.raises(ValueError, match=r"r-max__sample\.npz.*n_seeds=3 there, 4 here"):
        explore.run(options=("r-max",), cell_dir=cells, **{**SMALL, "n_seeds": 4})  # type: ignore[arg-type]
    path.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match=r"r-max__sample\.npz is unreadable"):
        explore.run(options=("r-max",), cell_dir=cells, **SMALL)  # type: ignore[arg-type]


def test_the_cli_resumes_from_the_cells_an_interrupted_run_left(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run stopped after its first cell (simulated: that cell's file, as a stopped run leaves
    it) writes no output folder; the same command then resumes, writes the output of an
    uninterrupted run and removes the finished cells."""
    out = tmp_path / "explore"
    args = ["explore", "--out", str(out), "--envs", "river-swim", "--planners", "sample"]
    args += ["--options", "r-max", "mbie-eb", "--seeds", "3", "--steps", "200", "--no-progress"]
    assert main([*args[:2], str(tmp_path / "whole"), *args[3:]]) == 0
    explore.run(options=("r-max",), cell_dir=explore.resume_folder(out), **SMALL)  # type: ignore[arg-type]
    assert not out.exists()
    capsys.readouterr()
    assert main(args) == 0
    assert "resuming" in capsys.readouterr().out
    assert (out / "explore.csv").read_text() == (tmp_path / "whole" / "explore.csv").read_text()
    assert not explore.resume_folder(out).exists()
