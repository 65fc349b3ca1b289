"""Tests of the benchmark's host-loop section (benchmark_measure.time_host, the host rows, targets
and table of benchmark_report, the options of benchmark.py): structure and arithmetic, no
wall-clock assertions. One small run of the section: FrozenLake, 1 agent and 40 sub-envs,
``planning_steps=5``, the programs ``tests/test_gym_loop.py`` compiles too."""

import json
from pathlib import Path
from typing import Any

import pytest

from dynaq_jax.experiments import benchmark as bench
from dynaq_jax.experiments import benchmark_measure as measure
from dynaq_jax.experiments import benchmark_report as bench_report
from dynaq_jax.experiments import cli

HOST_ROW_KEYS = {
    "impl",
    "env",
    "agents",
    "real_steps",
    "run_s",
    "us_per_step",
    "steps_per_s",
    "compile_s",
    "run_s_all",
    "speedup_vs_numpy",
    "speedup_vs_numpy_count",
}


def parse(argv: list[str]) -> bench.BenchOptions:
    args = cli.parse_args(["bench", *argv])
    assert isinstance(args, bench.BenchOptions)
    return args


def test_host_section_beside_the_notebook_loop(tmp_path: Path) -> None:
    options = measure.Options(
        seeds=(1,),
        steps=20,
        repeats=1,
        numpy_seeds=1,
        numpy_episodes=2,
        planning_steps=5,
        compact=False,
        out=tmp_path,
        host_steps=80,
        host_envs=40,
        host_repeats=2,
    )
    report = bench.run_benchmark(options, log=lambda _: None)
    json.loads((tmp_path / "bench.json").read_text())  # strict JSON
    host = report["host_loop"]
    rows = {r["impl"]: r for r in host["rows"]}
    assert list(rows) == ["numpy", "numpy-count", "host-loop", "host-loop-vector"]
    for r in rows.values():
        assert set(r) == HOST_ROW_KEYS
        assert r["env"] == measure.PRIMARY_ENV
        assert r["us_per_step"] == pytest.approx(1e6 * r["run_s"] / r["real_steps"])
        assert r["steps_per_s"] == pytest.approx(r["real_steps"] / r["run_s"])
    one, vec = rows["host-loop"], rows["host-loop-vector"]
    assert (one["agents"], one["real_steps"]) == (1, 80)  # exactly the step cap
    assert len(one["run_s_all"]) == 2 and one["compile_s"] >= 0
    # 40 sub-envs, 2 vector steps: no FrozenLake episode ends on its first step
    assert (vec["agents"], vec["real_steps"]) == (40, 80)
    # the notebook rows are the same run's NumPy rows, per real step
    numpy_row = next(r for r in report["rows"] if r["impl"] == "numpy")
    assert rows["numpy"]["real_steps"] == numpy_row["real_steps"]
    for r in (one, vec):
        assert r["speedup_vs_numpy"] == pytest.approx(
            rows["numpy"]["us_per_step"] / r["us_per_step"]
        )
        assert r["speedup_vs_numpy_count"] == pytest.approx(
            rows["numpy-count"]["us_per_step"] / r["us_per_step"]
        )
    assert [t["name"] for t in host["targets"]] == [t.name for t in bench_report.HOST_TARGETS]
    assert all(t["status"] in {"PASS", "FAIL"} for t in host["targets"])
    assert len(host["markdown"].splitlines()) == 2 + 4


def test_no_host_section_unless_asked() -> None:
    assert measure.Options().host_steps is None
    assert bench.options_from_args(parse(["--quick"])).host_steps is None
    assert bench.options_from_args(parse([])).host_steps == measure.HOST_STEPS
    assert bench.options_from_args(parse(["--no-host-loop"])).host_steps is None
    quick = bench.options_from_args(parse(["--quick", "--host-steps", "50", "--host-envs", "3"]))
    assert (quick.host_steps, quick.host_envs) == (50, 3)


def test_host_options_round_trip_and_bounds() -> None:
    for argv in (["--host-steps", "7", "--host-envs", "1"], ["--no-host-loop"], []):
        args = parse(argv)
        assert parse(bench.to_argv(args)) == args
    for bad in (["--host-steps", "0"], ["--host-envs", "0"], ["--host-envs", "x"]):
        with pytest.raises(SystemExit):
            parse(bad)
    with pytest.raises(ValueError, match="host_repeats must be an int in"):
        measure.Options(host_repeats=0)
    with pytest.raises(ValueError, match="host_steps must be an int in"):
        measure.Options(host_steps=2**31)


def host_row(impl: str, us: float, agents: int = 1) -> measure.HostRow:
    return measure.HostRow(
        impl=impl,
        env=measure.PRIMARY_ENV,
        agents=agents,
        real_steps=1000,
        run_s=us * 1e-3,
        us_per_step=us,
        steps_per_s=1e6 / us,
    )


def test_host_targets_pass_fail_and_not_measured() -> None:
    rows = [
        host_row("numpy", 200.0),
        host_row("numpy-count", 800.0),
        host_row("host-loop", 45.0),
        host_row("host-loop-vector", 60.0, agents=8),
    ]
    measure.add_host_speedups(rows)
    assert rows[2].speedup_vs_numpy == pytest.approx(200 / 45)
    assert rows[3].speedup_vs_numpy_count == pytest.approx(800 / 60)
    assert rows[0].speedup_vs_numpy is None
    targets = bench_report.evaluate_host_targets(rows)
    assert [t["status"] for t in targets] == ["PASS", "PASS", "FAIL", "FAIL"]
    assert [t["impl"] for t in targets] == ["host-loop"] * 2 + ["host-loop-vector"] * 2
    assert targets[0]["value"] == 45.0 and targets[2]["value"] == 60.0
    text = bench_report.targets_text(targets)
    assert text.count("PASS") == 2 and "45 us" in text and "4.44x" in text
    without_numpy = bench_report.evaluate_host_targets([host_row("host-loop", 45.0)])
    assert [t["status"] for t in without_numpy] == ["PASS", "n/a", "n/a", "n/a"]
    table = bench_report.host_markdown_table(rows).splitlines()
    assert len(table) == 2 + len(rows) and "| 45.0 |" in table[4] and "4.44x" in table[4]


def test_numpy_row_as_host_row() -> None:
    row = measure.Row(
        impl="numpy",
        env=measure.PRIMARY_ENV,
        model="deterministic",
        seeds=1,
        devices=1,
        real_steps=500,
        planning_updates=25000,
        run_s=0.1,
        env_steps_per_s=5000.0,
        planning_updates_per_s=250000.0,
        run_s_all=[0.1],
    )
    host: Any = measure.numpy_host_row(row)
    assert (host.impl, host.real_steps, host.us_per_step, host.steps_per_s) == (
        "numpy",
        500,
        pytest.approx(200.0),
        5000.0,
    )


def test_sync_dispatch_is_set_before_the_run(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    calls: list[tuple[str, object]] = []
    seen: list[measure.Options] = []

    def fake_run(options: measure.Options, numpy: bool, folder: Path) -> dict[str, Any]:
        seen.append(options)
        return {
            "markdown": "",
            "targets": [],
            "targets_compact": [],
            "status": "QUICK",
            "notes": [],
            "memory": [],
            "plots": [],
        }

    monkeypatch.setattr(bench.jax.config, "update", lambda *a: calls.append(a))
    monkeypatch.setattr(bench, "run_benchmark", fake_run)
    args = parse(["--quick", "--sync-dispatch", "--out", str(tmp_path / "b")])
    assert parse(bench.to_argv(args)) == args
    assert bench.main(args) == 0
    # (use_cpu_devices sets the devices' count too: one per core)
    dispatch = [c for c in calls if c[0] != "jax_num_cpu_devices"]
    assert dispatch == [("jax_cpu_enable_async_dispatch", False)]
    assert seen[0].sync_dispatch
    assert bench.main(parse(["--quick", "--out", str(tmp_path / "c")])) == 0
    assert [c for c in calls if c[0] != "jax_num_cpu_devices"] == dispatch
    assert not seen[1].sync_dispatch
