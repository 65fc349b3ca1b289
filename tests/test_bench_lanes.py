"""The benchmark's episode-mode section (dynaq_jax.experiments.benchmark_lanes): its rows, idle
fractions, targets and options; no wall-clock assertions.

- ``test_episode_section_rows_and_idle_fractions``: a tiny run (8 seeds, 3 episodes, n = 0, the
  stream's thresholds lowered so that 8 seeds stream through 2 lanes): the step row, the streamed
  row and the lockstep row, their useful steps (the same seeds, so the same steps) and idle
  fractions from the replayed schedule.
- ``test_report_holds_the_section_when_it_runs``: ``run_benchmark`` with the timings stubbed
  out: no section without episode seed counts; with them, every call timed in each round, in
  turn, and each episode row beside step mode at its seed count.
- ``test_lane_targets_pass_fail_and_not_measured``, ``test_episode_table_and_options``: the
  targets on made-up rows, the table, the options' checks and their command-line round trip.
"""

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from dynaq_jax import lanes
from dynaq_jax.experiments import benchmark as bench
from dynaq_jax.experiments import benchmark_lanes as bl
from dynaq_jax.experiments import benchmark_measure as measure
from dynaq_jax.experiments import cli


def parse(argv: list[str]) -> bench.BenchOptions:
    args = cli.parse_args(["bench", *argv])
    assert isinstance(args, bench.BenchOptions)
    return args


def test_episode_section_rows_and_idle_fractions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lanes, "STREAM_FROM", 4)
    monkeypatch.setattr(lanes, "STREAM_LANES", 2)
    options = measure.Options(
        seeds=(8,),
        episode_seeds=(8,),
        episodes=3,
        planning_steps=0,  # the loop without planning: cheaper to compile, the same schedule
        steps=20,
        repeats=1,
        compact=False,
    )
    rows, targets = bl.episode_section(options, log=lambda _: None)
    step, streamed, lockstep = (r.to_dict() for r in rows)
    assert (step["mode"], step["impl"], step["lanes"]) == ("step", "dynaq_jax", "all 8")
    assert step["idle_fraction"] == 0.0 and step["useful_steps"] == 8 * 20
    assert streamed["impl"] == bl.EPISODES_IMPL and streamed["lanes"] == "2 (every 10 steps)"
    assert lockstep["impl"] == bl.LOCKSTEP_IMPL and lockstep["lanes"] == "all 8"
    # The same seeds take the same steps however they are batched; the stream idles less.
    assert streamed["useful_steps"] == lockstep["useful_steps"] >= 8 * 3
    for row in (streamed, lockstep):
        assert row["mode"] == "episodes" and row["episodes_per_seed"] == 3
        assert row["lane_steps"] >= row["useful_steps"]
        assert row["idle_fraction"] == pytest.approx(1 - row["useful_steps"] / row["lane_steps"])
        assert row["useful_updates_per_s"] == 0.0  # n = 0: no planning updates
        assert row["vs_step_mode"] is None  # nothing to compare with a rate of 0
    assert lockstep["lane_steps"] % (8 * 100) == 0  # whole chunks (the time limit, 100)
    assert streamed["idle_fraction"] < lockstep["idle_fraction"]
    assert [t["status"] for t in targets] == ["n/a", "n/a", "n/a"]


def test_report_holds_the_section_when_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_time_jax(env: str, seeds: int, options: Any, compact: bool) -> measure.Row:
        return measure.Row(measure.JAX_IMPL, env, "count", seeds, 1, seeds, 50 * seeds, 1.0, 1, 1)

    calls: list[tuple[int, bool, int | None]] = []

    def fake_timed_call(call: Any) -> tuple[float, float, Any]:
        keys, episodes = call.args[2], call.args[3]
        lanes_arg = call.keywords.get("lanes")
        calls.append((keys.shape[0], episodes is not None, lanes_arg))
        steps = 9 if episodes is not None else 10  # episode mode: 0.9 of step mode's rate
        return 2.0, 1.0, SimpleNamespace(steps_done=np.full(keys.shape[0], steps))

    monkeypatch.setattr(bench, "time_jax", fake_time_jax)
    monkeypatch.setattr(bl, "timed_call", fake_timed_call)
    base: dict[str, Any] = {"seeds": (600,), "repeats": 2, "compact": False, "out": tmp_path}
    report = bench.run_benchmark(measure.Options(**base), numpy=False, log=lambda _: None)
    assert "episode_mode" not in report and calls == []
    options = measure.Options(**base, episode_seeds=(600, 7))
    report = bench.run_benchmark(options, numpy=False, log=lambda _: None)
    section = report["episode_mode"]
    # Two rounds through every call: step mode, the stream, lockstep (600 seeds stream; 7 not).
    one_round = [(600, False, None), (600, True, None), (600, True, 600), (7, False, None)]
    one_round.append((7, True, None))
    assert calls == one_round * 2
    assert [(r["mode"], r["seeds"]) for r in section["rows"]] == [
        ("step", 600),
        ("episodes", 600),
        ("episodes", 600),
        ("step", 7),
        ("episodes", 7),
    ]
    assert [r["vs_step_mode"] for r in section["rows"]] == pytest.approx(
        [None, 0.9, 0.9, None, 0.9]
    )
    assert all(r["run_s_all"] == [1.0, 1.0] for r in section["rows"])
    assert section["episodes"] == bl.EPISODES and section["markdown"].count("\n") == 2 + 4


def test_lane_targets_pass_fail_and_not_measured() -> None:
    def row(impl: str, mode: str, seeds: int, rate: float, ratio: float | None) -> bl.EpisodeRow:
        return bl.EpisodeRow(
            impl, measure.PRIMARY_ENV, mode, seeds, "-", 1, 1, 0.0, 1.0, rate, vs_step_mode=ratio
        )

    rows = [
        row("dynaq_jax", "step", 1000, 90e6, None),
        row(bl.EPISODES_IMPL, "episodes", 1000, 75e6, 75 / 90),
        row(bl.LOCKSTEP_IMPL, "episodes", 1000, 30e6, 30 / 90),
        row("dynaq_jax", "step", 10000, 72e6, None),
    ]
    targets = bl.evaluate_lane_targets(rows, bl.EPISODES)
    assert [t["status"] for t in targets] == ["PASS", "FAIL", "PASS"]
    assert [t["value"] for t in targets] == pytest.approx([75 / 90, 0.8, 90e6])
    # Other episode counts do not measure the first target; no 10000 row, no second.
    targets = bl.evaluate_lane_targets(rows[:3], 300)
    assert [t["status"] for t in targets] == ["n/a", "n/a", "PASS"]


def test_episode_table_and_options() -> None:
    plan = lanes.LanePlan((128, 16), 5)
    assert bl.describe(plan, 1000, True) == "128 -> 16 (every 5 steps)"  # the plan's own
    assert bl.describe(lanes.LanePlan((250,), 100), 1000, False) == "4 x 250"
    assert bl.describe(None, 7, True) == "all 7"
    assert bl.describe(None, 1000, False, 2) == "all 500, on each of 2 devices"
    assert bl.describe(lanes.LanePlan((556,), 100), 10000, False, 2) == (
        "9 x 556, on each of 2 devices"
    )
    fields = {f.name for f in dataclasses.fields(bl.EpisodeRow)}
    assert {"useful_steps", "lane_steps", "idle_fraction", "vs_step_mode"} <= fields

    for bad in ({"episodes": 0}, {"episode_seeds": (5, 0)}, {"episode_seeds": (True,)}):
        kwargs: dict[str, Any] = bad
        with pytest.raises(ValueError, match="must be an int in"):
            measure.Options(**kwargs)
    defaults = bench.options_from_args(parse([]))
    assert defaults.episode_seeds == bl.EPISODE_SEEDS and defaults.episodes is None
    assert bench.options_from_args(parse(["--quick"])).episode_seeds == ()
    assert bench.options_from_args(parse(["--no-episode-mode"])).episode_seeds == ()
    argv = ["--episodes", "300", "--episode-seeds", "1000", "10", "--quick"]
    args = parse(argv)
    assert parse(bench.to_argv(args)) == args
    assert bench.options_from_args(args).episode_seeds == (1000, 10)
    assert parse(bench.to_argv(parse(["--no-episode-mode"]))).no_episode_mode
    assert np.isclose(bl.LANE_TARGETS[0].threshold, 0.8)
