"""Tests of the benchmark (dynaq_jax.experiments.benchmark, benchmark_measure, benchmark_report):
the report's structure and the helpers; no wall-clock assertions."""

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from dynaq_jax import DynaQConfig, memory_per_seed
from dynaq_jax.experiments import benchmark as bench
from dynaq_jax.experiments import benchmark_measure as measure
from dynaq_jax.experiments import benchmark_report as bench_report
from dynaq_jax.experiments import cli

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ROW_KEYS = {
    "impl",
    "env",
    "model",
    "seeds",
    "devices",
    "real_steps",
    "planning_updates",
    "run_s",
    "env_steps_per_s",
    "planning_updates_per_s",
    "steps_per_seed",
    "episodes_per_seed",
    "compile_s",
    "first_call_s",
    "run_s_all",
    "compile_s_all",
    "state_bytes_per_seed",
    "result_bytes_per_seed",
    "speedup_vs_numpy",
    "speedup_vs_numpy_count",
}


def parse(argv: list[str]) -> bench.BenchOptions:
    """``dynaq-jax bench ARGV``'s options (``SystemExit`` on a usage error, like argparse)."""
    args = cli.parse_args(["bench", *argv])
    assert isinstance(args, bench.BenchOptions)
    return args


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    assert len(np.unique(np.asarray(image[..., :3]).reshape(-1, 3), axis=0)) > 10


def test_main_quick_writes_report_and_plot(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert bench.main(parse(["--quick", "--out", str(tmp_path)])) == 0
    report: dict[str, Any] = json.loads((tmp_path / "bench.json").read_text())
    assert set(report) == {
        "meta",
        "rows",
        "memory",
        "targets",
        "targets_compact",
        "status",
        "notes",
        "plots",
        "markdown",
    }

    rows = report["rows"]
    assert {(r["impl"], r["seeds"]) for r in rows} == {
        ("numpy", 1),
        ("numpy-count", 1),
        *(("dynaq_jax", s) for s in measure.QUICK_SEEDS),
        *(("dynaq_jax-compact", s) for s in measure.QUICK_SEEDS),
    }
    for r in rows:
        assert set(r) == ROW_KEYS
        assert r["env"] == measure.PRIMARY_ENV
        assert r["run_s"] > 0 and r["planning_updates_per_s"] > 0 and r["env_steps_per_s"] > 0
        # Every real step runs n = 50 planning updates, in both implementations.
        assert r["planning_updates"] == 50 * r["real_steps"] > 0
    for r in rows:
        if r["impl"] == "dynaq_jax":
            assert r["real_steps"] == r["seeds"] * r["steps_per_seed"] == r["seeds"] * 100
            assert r["compile_s"] > 0 and r["first_call_s"] >= r["compile_s"]
            assert r["state_bytes_per_seed"] == memory_per_seed(
                measure.make_env("4x4"), DynaQConfig()
            )
            assert r["speedup_vs_numpy"] == pytest.approx(
                r["planning_updates_per_s"]
                / next(x for x in rows if x["impl"] == "numpy")["planning_updates_per_s"]
            )
            assert r["speedup_vs_numpy_count"] > 0
        elif r["impl"] == "dynaq_jax-compact":  # FrozenLake: 3 outcomes per pair at most
            assert r["model"] == "count, compact K=3"
            assert r["real_steps"] == r["seeds"] * 100
            assert r["state_bytes_per_seed"] == memory_per_seed(
                measure.make_env("4x4"), DynaQConfig(outcome_slots=3)
            )
        else:
            assert r["episodes_per_seed"] == 5 and r["compile_s"] is None

    (mem,) = report["memory"]
    assert mem["n_states"] == 16 and mem["n_actions"] == 4
    assert mem["t_c_bytes_per_seed"] == 4 * 16 * 4 * 16
    assert mem["max_seeds_in_budget"] == 8 * 2**30 // mem["state_bytes_per_seed"]
    assert mem["compact_outcome_slots"] == 3
    assert mem["compact_state_bytes_per_seed"] < mem["state_bytes_per_seed"]
    assert [t["impl"] for t in report["targets_compact"]] == ["dynaq_jax-compact"] * 4
    assert [t["name"] for t in report["targets"]] == [t.name for t in bench_report.TARGETS]
    assert report["status"] == "QUICK"
    assert all(t["status"] in {"PASS", "FAIL", "n/a"} for t in report["targets"])
    assert report["meta"]["options"]["seeds"] == list(measure.QUICK_SEEDS)

    assert report["plots"] == ["scaling_FrozenLake-v1-4x4.png"]
    assert_png(tmp_path / report["plots"][0])
    out = capsys.readouterr().out
    assert report["markdown"] in out and "overall:" in out


def test_taxi_memory_budget_skips_seed_counts(tmp_path: Path) -> None:
    # Taxi's dense agent state is about 12 MB per seed (T_c and its running sums): a 0.02 GiB
    # budget holds one seed, not two. The compact model (one slot: Taxi is deterministic) is
    # about 100x smaller, so its two seeds run.
    options = measure.Options(
        envs=("Taxi-v4",), seeds=(2,), memory_budget_gb=0.02, out=tmp_path, repeats=1, steps=50
    )
    report = bench.run_benchmark(options, log=lambda _: None)
    (mem,) = report["memory"]
    assert mem["state_bytes_per_seed"] > 4 * 500 * 6 * 500
    assert mem["max_seeds_in_budget"] == 1 and mem["skipped_seeds"] == ["dynaq_jax: 2"]
    assert mem["compact_outcome_slots"] == 1
    assert mem["compact_state_bytes_per_seed"] * 50 < mem["state_bytes_per_seed"]
    (row,) = report["rows"]
    assert (row["impl"], row["seeds"], row["model"]) == (
        "dynaq_jax-compact",
        2,
        "count, compact K=1",
    )
    assert all(t["status"] == "n/a" for t in report["targets"])


def test_devices_reruns_itself_with_the_host_device_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[list[str], dict[str, str]]] = []

    def fake_run(cmd: list[str], env: dict[str, str], check: bool) -> Any:
        calls.append((cmd, env))
        return subprocess.CompletedProcess(cmd, 0)

    monkeypatch.setattr(bench.subprocess, "run", fake_run)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_foo=1 --xla_force_host_platform_device_count=9")
    monkeypatch.delenv("DYNAQ_JAX_BENCH_CHILD", raising=False)
    devices = len(jax.local_devices()) + 1
    args = parse(["--quick", "--devices", str(devices), "--out", str(tmp_path)])
    assert bench.main(args) == 0
    ((cmd, env),) = calls
    assert cmd == [sys.executable, "-m", "dynaq_jax", "bench", *bench.to_argv(args)]
    assert env["XLA_FLAGS"] == (f"--xla_cpu_foo=1 --xla_force_host_platform_device_count={devices}")
    assert env["DYNAQ_JAX_BENCH_CHILD"] == "1"
    root = str(Path(bench.__file__).resolve().parents[2])  # the folder holding dynaq_jax
    assert env["PYTHONPATH"].split(os.pathsep)[0] == root
    assert not (tmp_path / "bench.json").exists()  # the child writes it, not the parent

    # A child that still lacks the devices reports it instead of re-running again.
    monkeypatch.setenv("DYNAQ_JAX_BENCH_CHILD", "1")
    assert bench.main(args) == 2 and len(calls) == 1


def test_union_length_counts_nested_spans_once() -> None:
    assert measure.union_length([]) == 0.0
    assert measure.union_length([(0.0, 1.0), (0.2, 0.5), (2.0, 3.0)]) == pytest.approx(2.0)
    assert measure.union_length([(1.0, 3.0), (0.0, 2.0), (2.5, 4.0)]) == pytest.approx(4.0)


def test_compile_clock_sees_a_fresh_compilation_only() -> None:
    def f(x: jax.Array) -> jax.Array:
        return jnp.sin(x) * 3.0 + 1.0

    fn = jax.jit(f)
    x = jnp.arange(7.0)
    _, first, _ = measure.timed_call(lambda: fn(x))
    _, again, _ = measure.timed_call(lambda: fn(x))
    assert first > 0.0
    assert again == 0.0


def make_row(impl: str, seeds: int, rate: float, compile_s: float | None = 1.0) -> measure.Row:
    return measure.Row(
        impl=impl,
        env=measure.PRIMARY_ENV,
        model="count",
        seeds=seeds,
        devices=1,
        real_steps=1,
        planning_updates=50,
        run_s=1.0,
        env_steps_per_s=rate / 50,
        planning_updates_per_s=rate,
        compile_s=compile_s if impl == "dynaq_jax" else None,
    )


def test_targets_pass_fail_and_not_measured() -> None:
    rows = [
        make_row("numpy", 1, 0.2e6),
        make_row("numpy-count", 1, 0.05e6),
        make_row("dynaq_jax", 1, 3.5e6, compile_s=6.0),
        make_row("dynaq_jax", 1000, 25e6, compile_s=9.0),  # only the 1-seed compile counts
        make_row("dynaq_jax", 10000, 31e6, compile_s=3.0),
    ]
    measure.add_speedups(rows)
    assert rows[-1].speedup_vs_numpy == pytest.approx(155.0)
    assert rows[-1].speedup_vs_numpy_count == pytest.approx(620.0)
    targets = bench_report.evaluate_targets(rows)
    assert [t["status"] for t in targets] == ["PASS", "PASS", "PASS", "FAIL"]
    assert targets[0]["value"] == 31e6 and targets[3]["value"] == 6.0
    assert bench_report.overall_status(targets) == "FAIL"

    small = bench_report.evaluate_targets(rows[:3])
    assert [t["status"] for t in small] == ["n/a", "n/a", "PASS", "FAIL"]
    assert bench_report.overall_status(small) == "FAIL"
    assert (
        bench_report.overall_status(bench_report.evaluate_targets(rows[:2] + rows[4:])) == "PARTIAL"
    )
    text = bench_report.targets_text(targets)
    assert text.count("PASS") == 3 and text.count("FAIL") == 1


def test_notes_flag_a_recompiling_trainer() -> None:
    row = make_row("dynaq_jax", 10, 1e6)
    assert bench_report.notes([row]) == []
    row.compile_s_all = [3.0, 2.9]
    (note,) = bench_report.notes([row])
    assert "compiled again" in note


def test_markdown_table_has_one_line_per_row() -> None:
    rows = [make_row("numpy", 1, 0.2e6), make_row("dynaq_jax", 100, 8e6)]
    measure.add_speedups(rows)
    lines = bench_report.markdown_table(rows).splitlines()
    assert len(lines) == 2 + len(rows)
    assert all(line.startswith("|") and line.endswith("|") for line in lines)
    assert "40x" in lines[-1] and "8 M" in lines[-1]


def test_auto_steps_aims_at_the_update_budget_within_bounds() -> None:
    options = measure.Options(target_updates=1e6, min_steps=10, max_steps=1000)
    assert measure.auto_steps(100, 50, options) == 200
    assert measure.auto_steps(1, 50, options) == 1000
    assert measure.auto_steps(10**6, 50, options) == 10
    assert measure.auto_steps(100, 0, options) == 1000
    assert measure.auto_steps(100, 50, measure.Options(steps=7)) == 7


def test_env_names_and_aliases() -> None:
    assert measure.resolve_env("taxi") == "Taxi-v4"
    assert measure.resolve_env("8X8") == "FrozenLake-v1:8x8"
    assert measure.resolve_env("FrozenLake-v1:4x4") == measure.PRIMARY_ENV
    with pytest.raises(ValueError, match="unknown benchmark env"):
        measure.resolve_env("CartPole-v1")
    with pytest.raises(SystemExit):
        parse(["--envs", "CartPole-v1"])
    with pytest.raises(SystemExit):
        parse(["--seeds", "0"])


def test_bad_options_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(parse(["--memory-budget", "0"])) == 2
    assert "memory_budget_gb must be positive" in capsys.readouterr().err
    assert bench.main(parse(["--planning-steps", "-1"])) == 2
    assert "planning_steps" in capsys.readouterr().err
    with pytest.raises(ValueError, match="seeds must be positive"):
        measure.Options(seeds=())
    with pytest.raises(ValueError, match="unknown benchmark env"):
        measure.Options(envs=("CartPole-v1",))
    assert measure.Options(envs=("taxi", "Taxi-v4", "4x4")).envs == ("Taxi-v4", measure.PRIMARY_ENV)


def test_argv_round_trip() -> None:
    argv = [
        "--seeds", "1", "5", "--envs", "taxi", "4x4", "--devices", "2", "--steps", "30",
        "--repeats", "3", "--numpy-seeds", "2", "--numpy-episodes", "7", "--no-numpy",
        "--memory-budget", "1.5", "--planning-steps", "5", "--out", "somewhere", "--quick",
    ]  # fmt: skip
    args = parse(argv)
    assert parse(bench.to_argv(args)) == args
    defaults = parse([])
    assert parse(bench.to_argv(defaults)) == defaults


def test_xla_flags_with_devices_replaces_the_count() -> None:
    flag = "--xla_force_host_platform_device_count"
    assert bench.xla_flags_with_devices("", 2) == f"{flag}=2"
    assert bench.xla_flags_with_devices(f"--xla_cpu_x=1 {flag}=8", 4) == f"--xla_cpu_x=1 {flag}=4"
