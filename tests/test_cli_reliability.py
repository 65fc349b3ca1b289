"""Reliability of the ``dynaq-jax`` command: output folders written whole, ``--out`` checked before
training, sizes bounded, strict JSON, and every such error a ``dynaq-jax: error: ...`` line with
exit status 2 and no traceback.

Training runs once (a tiny FrozenLake result per seed, module fixture); the CLI runs that write a
folder get it through a stand-in for ``run_frozen_lake``, so they only write.
"""

import errno
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dynaq_jax.experiments import benchmark, cli, frozen_lake, output, sweeping
from dynaq_jax.experiments.frozen_lake import FrozenLakeProtocol, FrozenLakeResult
from dynaq_jax.experiments.options import MAX_COUNT, MAX_PLANNING_DRAW, MAX_PLANNING_STEPS

REPO = Path(__file__).resolve().parents[1]
TINY = ["--seeds", "2", "--episodes", "5", "--planning-steps", "1", "--no-progress"]
"""A tiny frozen-lake run (the fixture's protocol, with ``--seed`` 0 or 1)."""


def tiny(seed: int) -> FrozenLakeProtocol:
    return FrozenLakeProtocol(seeds=2, episodes=5, planning_steps=1, seed=seed)


@pytest.fixture(scope="module")
def results() -> dict[int, FrozenLakeResult]:
    """The tiny protocol trained with seeds 0 and 1 (one compile: the seed is not static)."""
    return {s: frozen_lake.run_frozen_lake(tiny(s)) for s in (0, 1)}


@pytest.fixture
def trained(
    results: dict[int, FrozenLakeResult], monkeypatch: pytest.MonkeyPatch
) -> list[FrozenLakeProtocol]:
    """``cli.run_frozen_lake`` hands out the fixture's results; returns the protocols it ran."""
    calls: list[FrozenLakeProtocol] = []

    def run(protocol: FrozenLakeProtocol, *, progress: bool = False) -> FrozenLakeResult:
        calls.append(protocol)
        assert protocol == tiny(protocol.seed), "use the TINY options"
        return results[protocol.seed]

    monkeypatch.setattr(cli, "run_frozen_lake", run)
    return calls


@pytest.fixture
def no_run(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """``cli.run`` (every subcommand's work) only records that it was called."""
    calls: list[Any] = []
    monkeypatch.setattr(cli, "run", lambda command, argv: calls.append(command) or 0)
    return calls


def main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(argv)
    return code, capsys.readouterr().err


def assert_usage_error(code: int, err: str, *needles: str) -> None:
    """Exit status 2, ``dynaq-jax: error: ...`` naming each needle, no traceback."""
    assert code == 2, err
    assert err.startswith("dynaq-jax: error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    assert "Traceback" not in err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def siblings(folder: Path) -> list[str]:
    """The hidden working folders of runs to ``folder`` (partial, replaced or probe)."""
    return sorted(p.name for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}."))


def assert_complete_run(folder: Path, seed: int) -> dict[str, Any]:
    """``folder`` holds exactly one run: the files its summary lists, of the run with ``seed``."""
    summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    assert sorted(summary["files"]) == sorted(p.name for p in folder.iterdir())
    assert summary["protocol"]["seed"] == seed
    with np.load(folder / "metrics.npz") as m:
        assert m["greedy_success"].tolist() == summary["greedy_success_probability_per_seed"]
    assert len((folder / "episodes.csv").read_text().splitlines()) == 1 + 2 * 5
    return summary


# -- 1. an output folder is one complete run or visibly incomplete, never a mix -----------------


def test_interrupted_write_leaves_the_earlier_run(
    tmp_path: Path,
    trained: list[FrozenLakeProtocol],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Ctrl-C halfway through writing ``episodes.csv`` (after ``metrics.npz`` and ``agents.npz``)
    over an earlier run's folder: the folder is still the earlier run, byte for byte, and no
    partial folder is left."""
    out = tmp_path / "fl"
    assert cli.main(["frozen-lake", *TINY, "--seed", "0", "--out", str(out)]) == 0
    before = snapshot(out)
    assert_complete_run(out, seed=0)

    write_csv = output.write_csv

    def interrupted(path: Path, header: Any, rows: Any) -> Path:
        if path.name != "episodes.csv":
            return write_csv(path, header, rows)
        rows = list(rows)
        write_csv(path, header, rows[: len(rows) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(frozen_lake, "write_csv", interrupted)
    capsys.readouterr()
    code, err = main(["frozen-lake", *TINY, "--seed", "1", "--out", str(out)], capsys)
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert [p.seed for p in trained] == [0, 1]  # the second run trained, then was interrupted
    assert snapshot(out) == before
    assert siblings(out) == []

    # Uninterrupted, the same command replaces the folder whole.
    monkeypatch.setattr(frozen_lake, "write_csv", write_csv)
    assert cli.main(["frozen-lake", *TINY, "--seed", "1", "--out", str(out)]) == 0
    assert_complete_run(out, seed=1)
    assert siblings(out) == []


def test_a_run_replaces_the_whole_folder(
    tmp_path: Path, trained: list[FrozenLakeProtocol], capsys: pytest.CaptureFixture[str]
) -> None:
    """Files of an earlier run that this run does not write (another subcommand's, an older
    summary) do not survive beside the new files."""
    out = tmp_path / "fl"
    out.mkdir()
    (out / "summary.json").write_text('{"experiment": "maze"}\n')
    (out / "steps_per_episode.csv").write_text("planning_steps,run,episode,steps\n")
    (out / "policy.png").write_bytes(b"old")
    assert cli.main(["frozen-lake", *TINY, "--seed", "0", "--out", str(out)]) == 0
    assert_complete_run(out, seed=0)
    assert (out / "policy.png").read_bytes() != b"old"
    assert "wrote 8 files to" in capsys.readouterr().out


KILLED_WRITER = """
import os, signal, sys, time
# Python turns SIGINT into KeyboardInterrupt only where its parent left SIGINT alone; a suite
# started in the background (SIGINT ignored) would otherwise wait here for the timeout.
signal.signal(signal.SIGINT, signal.default_int_handler)
from dynaq_jax.experiments.output import staged_output
with staged_output(sys.argv[1]) as folder:
    (folder / "metrics.npz").write_bytes(b"new")
    print(folder.name, flush=True)
    time.sleep(120)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["SIGINT", "SIGKILL"])
def test_signal_during_the_writes(
    sig: signal.Signals,
    tmp_path: Path,
    trained: list[FrozenLakeProtocol],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A process writing a run's folder gets a real signal in the middle of its writes. SIGINT: it
    removes its partial folder. SIGKILL: it leaves ``.NAME.partial-<pid>-<hex>``, which
    ``output.leftovers`` names and the next run to the same ``--out`` removes. Either way the
    earlier run is untouched."""
    out = tmp_path / "fl"
    assert cli.main(["frozen-lake", *TINY, "--seed", "0", "--out", str(out)]) == 0
    before = snapshot(out)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(KILLED_WRITER), str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        partial = proc.stdout.readline().strip()  # the writes have begun
        assert partial.startswith(f".fl{output.PARTIAL_TAG}{proc.pid}-"), partial
        assert (out.parent / partial / "metrics.npz").read_bytes() == b"new"
        proc.send_signal(sig)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert snapshot(out) == before
    if sig == signal.SIGINT:
        assert proc.returncode != 0 and siblings(out) == []
        return
    assert siblings(out) == [partial]
    assert output.leftovers(out) == [out.parent / partial]
    assert cli.main(["frozen-lake", *TINY, "--seed", "1", "--out", str(out)]) == 0
    assert siblings(out) == []
    assert_complete_run(out, seed=1)


def test_staged_output_keeps_only_what_it_is_told(tmp_path: Path) -> None:
    """``keep`` carries files of the replaced folder over (``dynaq-jax sweeping`` keeps the JSON
    of its other experiments); a file the run writes again is the new one; an error leaves the
    folder as it was."""
    out = tmp_path / "sweeping"
    out.mkdir()
    (out / "frozenlake_4x4_300.json").write_text("[1]\n")
    (out / "example84.json").write_text("[2]\n")
    (out / "example84.png").write_bytes(b"old")
    with output.staged_output(out, keep=sweeping._is_own) as folder:
        output.write_json(folder / "frozenlake_8x8_300.json", [3])
        output.write_json(folder / "frozenlake_4x4_300.json", [4])
    assert {p.name: json.loads(p.read_text()) for p in out.glob("*.json")} == {
        "frozenlake_4x4_300.json": [4],
        "frozenlake_8x8_300.json": [3],
        "example84.json": [2],
    }
    assert (out / "example84.png").read_bytes() == b"old"
    before = snapshot(out)
    with pytest.raises(RuntimeError), output.staged_output(out) as folder:
        (folder / "example84.json").write_text("[5]\n")
        raise RuntimeError("the run fails while writing")
    assert snapshot(out) == before and siblings(out) == []


# -- 2. an unusable --out is found before training: exit 2, no traceback ---------------------------

SUBCOMMANDS = ["frozen-lake", "maze", "blocking", "shortcut", "bench", "sweeping"]


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_out_under_a_regular_file(
    sub: str, tmp_path: Path, no_run: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("")
    target = tmp_path / "file" / "sub"
    code, err = main([sub, "--out", str(target)], capsys)
    assert_usage_error(code, err, f"--out {target}: ", "is a file, not a folder")
    assert no_run == []  # found before any training


@pytest.mark.parametrize(
    ("out", "needle"),
    [("", "--out '': empty"), (".", "--out .: is the current folder"), ("..", "one above it")],
)
def test_out_empty_or_the_current_folder(
    out: str,
    needle: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_run: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``--out ''`` used to write into the current folder; a run now replaces its folder whole,
    so neither the current folder nor one above it is an output folder."""
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    for argv in (["frozen-lake", "--out", out], ["sweeping", f"--out={out}"]):
        code, err = main(argv, capsys)
        assert_usage_error(code, err, needle)
    assert no_run == [] and list(tmp_path.rglob("*")) == [tmp_path / "work"]


def test_out_holding_other_files_is_refused(
    tmp_path: Path, no_run: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """A run never deletes files it did not write: a folder holding any is refused, untouched."""
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    (out / "summary.json").write_text("{}")
    code, err = main(["maze", "--out", str(out)], capsys)
    assert_usage_error(code, err, f"--out {out}: ", "notes.txt")
    assert no_run == [] and (out / "notes.txt").read_text() == "keep me"
    assert output.is_output_file("summary.json") and output.is_output_file("scaling_Taxi-v4.png")
    assert output.is_output_file(".summary.json.tmp-123")  # write_json's, if killed mid-rename
    assert not output.is_output_file("notes.txt") and not output.is_output_file(".notes.tmp-1")


def test_out_not_writable(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_run: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The probe write that ``check_out`` makes before training fails (as in a read-only folder,
    which root can write to anyway, so the failure is injected here)."""

    def denied(folder: Path, name: str) -> None:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(folder / name))

    monkeypatch.setattr(output, "_probe", denied)
    out = tmp_path / "runs" / "fl"
    code, err = main(["frozen-lake", "--out", str(out)], capsys)
    assert_usage_error(code, err, f"--out {out}: cannot write in ", os.strerror(errno.EACCES))
    assert no_run == []


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root writes into read-only folders: test_out_not_writable injects the failure instead",
)
def test_out_in_a_read_only_folder(
    tmp_path: Path, no_run: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    parent = tmp_path / "ro"
    parent.mkdir()
    parent.chmod(0o500)
    try:
        code, err = main(["frozen-lake", "--out", str(parent / "fl")], capsys)
    finally:
        parent.chmod(0o700)
    assert_usage_error(code, err, "cannot write in")
    assert no_run == []


def test_out_of_memory_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Sizes within the bounds can still exceed the machine's memory: one line, no traceback."""

    def exhausted(protocol: FrozenLakeProtocol, *, progress: bool = False) -> Any:
        raise MemoryError("Unable to allocate 84.0 GiB")

    monkeypatch.setattr(cli, "run_frozen_lake", exhausted)
    code, err = main(["frozen-lake", "--out", str(tmp_path / "fl")], capsys)
    assert_usage_error(code, err, "out of memory", "84.0 GiB")
    assert siblings(tmp_path / "fl") == []


# -- 3. sizes: every count >= 1 and bounded; the planning draw bounded; JSON strict ----------------

HUGE = "99999999999999999999"
COUNT_OPTIONS = [
    *(("frozen-lake", o) for o in ("--seeds", "--episodes", "--max-steps")),
    *((m, o) for m in ("maze", "blocking", "shortcut") for o in ("--runs",)),
    ("maze", "--episodes"),
    *((m, "--steps") for m in ("blocking", "shortcut")),
    *(("bench", o) for o in ("--seeds", "--devices", "--steps", "--repeats")),
    *(("bench", o) for o in ("--numpy-seeds", "--numpy-episodes")),
    *(("sweeping", o) for o in ("--seeds", "--max-steps", "--episodes", "--scales")),
]
"""Every count option of every subcommand."""


@pytest.mark.parametrize(("sub", "option"), COUNT_OPTIONS)
@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("0", "must be a positive int, got '0'"),
        (HUGE, f"must be at most {MAX_COUNT} (2**31 - 1"),
    ],
    ids=["zero", "huge"],
)
def test_count_options(
    sub: str,
    option: str,
    value: str,
    needle: str,
    no_run: list[Any],
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, err = main([sub, option, value], capsys)
    assert_usage_error(code, err, f"argument {option}: {needle}", value)
    assert no_run == []


@pytest.mark.parametrize("sub", ["frozen-lake", "maze", "blocking", "shortcut", "sweeping"])
def test_seed_is_bounded(sub: str, no_run: list[Any], capsys: pytest.CaptureFixture[str]) -> None:
    """``--seed`` used to reach ``jax.random.key`` (an overflow, or seed 2**32 silently equal to
    seed 0)."""
    for value, needle in ((HUGE, "at most 4294967295"), ("4294967296", "at most 4294967295")):
        code, err = main([sub, "--seed", value], capsys)
        assert_usage_error(code, err, "argument --seed: ", needle, value)
    assert no_run == []


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["frozen-lake", "--planning-steps", "1000000000"], [f"at most {MAX_PLANNING_STEPS}"]),
        (["maze", "--planning-steps", "0", "1000000000"], [f"at most {MAX_PLANNING_STEPS}"]),
        (["blocking", "--planning-steps", "1000000000"], [f"at most {MAX_PLANNING_STEPS}"]),
        (
            ["frozen-lake", "--planning-steps", "1000000", "--seeds", "101"],
            ["1000000 x 101 = 101000000", str(MAX_PLANNING_DRAW)],
        ),
        (
            ["maze", "--planning-steps", "5", "1000000", "--runs", "101"],
            ["1000000 x 101", str(MAX_PLANNING_DRAW)],
        ),
        (
            ["shortcut", "--planning-steps", "1000000", "--runs", "51"],
            ["1000000 x 102", str(MAX_PLANNING_DRAW)],
        ),
        (["sweeping", "--seeds", "20000001"], ["5 x 20000001", str(MAX_PLANNING_DRAW)]),
        (
            ["sweeping", "--experiment", "frozenlake", "--seeds", "1000000"],
            ["50 x 3000000", str(MAX_PLANNING_DRAW)],
        ),
        (["frozen-lake", "--episodes", "30000000"], ["30000000 x 100", str(MAX_COUNT)]),
    ],
)
def test_the_planning_draw_is_bounded(
    argv: list[str], needles: list[str], no_run: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """``--planning-steps 1000000000`` made an 84 GB allocation fail inside JAX; now the value,
    or the planned updates of one real step over all agents, is checked before any JAX work."""
    code, err = main(argv, capsys)
    assert_usage_error(code, err, *needles)
    assert no_run == []


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--planning-steps", "1000000000"], f"at most {MAX_PLANNING_STEPS}"),
        (["--planning-steps", "1000000", "--seeds", "101"], "1000000 x 101 = 101000000"),
        (
            ["--planning-steps", "100000", "--seeds", "2", "--episode-seeds", "2000"],
            "episode seeds = 100000 x 2000",
        ),
        (["--planning-steps", "-1"], "planning_steps must be >= 0"),
        (["--memory-budget", "inf"], "memory_budget_gb must be finite"),
    ],
)
def test_bench_sizes(
    argv: list[str],
    needle: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``bench`` checks its resolved sizes itself, before any JAX work, in the same format."""
    calls: list[Any] = []
    monkeypatch.setattr(benchmark, "run_benchmark", lambda *a, **k: calls.append(a))
    code, err = main(["bench", *argv, "--out", str(tmp_path / "b")], capsys)
    assert_usage_error(code, err, "dynaq-jax: error: bench: ", needle)
    assert calls == []


def strict_json(path: Path) -> Any:
    """``path``'s JSON, refusing NaN and infinities (``json.loads`` accepts them by default)."""

    def refuse(name: str) -> None:
        raise ValueError(f"{path.name}: {name} is not JSON")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_json_is_strict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Example 8.4 with no seed solved: its statistics are NaN in memory and ``null`` in
    ``example84.json`` (which used to hold ``NaN``). The loop is replaced by a result of unsolved
    seeds, so nothing compiles."""

    def unsolved(env: Any, config: Any, keys: Any, **kwargs: Any) -> sweeping.UpdatesResult:
        n = len(keys)
        zeros = np.zeros(n, np.int32)
        return sweeping.UpdatesResult(zeros + 6, zeros + 1, zeros, np.zeros(n, bool))

    monkeypatch.setattr(sweeping, "updates_until_optimal", unsolved)
    out = tmp_path / "sweeping"
    assert cli.main(["sweeping", "--scales", "1", "--seeds", "2", "--out", str(out)]) == 0
    rows = strict_json(out / "example84.json")
    assert [r["solved"] for r in rows] == [0, 0]
    assert all(v is None for r in rows for v in r["updates"].values())
    assert (out / "example84.png").is_file()
    # The shared writer: undefined numbers are null, nested or not.
    path = output.write_json(tmp_path / "x.json", {"rate": math.nan, "s": [math.inf, 1.0]})
    assert strict_json(path) == {"rate": None, "s": [None, 1.0]}


def test_library_entry_points_check_sizes() -> None:
    """The experiments' functions check what the command line checks (a zero seed count used to
    give NaN statistics)."""
    with pytest.raises(ValueError, match="n_seeds must be a positive int, got 0"):
        sweeping.example_8_4([1], ["sample"], 0)
    with pytest.raises(ValueError, match="n_seeds must be a positive int, got 0"):
        sweeping.frozenlake_table("4x4", 10, 0, ["sample"])
    with pytest.raises(ValueError, match="max_steps must be at most"):
        sweeping.example_8_4([1], ["sample"], 1, max_steps=2**31)
    with pytest.raises(ValueError, match="seeds must be at most 2147483647"):
        FrozenLakeProtocol(seeds=2**31)
    with pytest.raises(ValueError, match="seed must be at most 4294967295"):
        FrozenLakeProtocol(seed=2**32)


# -- 4. the errors in a real process: one line, exit 2, no traceback -------------------------------


def test_errors_in_a_subprocess(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    (tmp_path / "file").write_text("")
    script = textwrap.dedent(
        """
        import sys
        from dynaq_jax.experiments.cli import main
        codes = [main(argv) for argv in [
            ["frozen-lake", "--seeds", "99999999999999999999"],
            ["frozen-lake", "--planning-steps", "1000000000"],
            ["sweeping", "--out", "file/sub"],
            ["frozen-lake", "--out", ""],
        ]]
        print(codes)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[2, 2, 2, 2]"
    errors = [line for line in proc.stderr.splitlines() if not line.startswith("For full")]
    assert len(errors) == 4 and all(e.startswith("dynaq-jax: error: ") for e in errors), errors
    assert "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]
