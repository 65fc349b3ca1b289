"""End-to-end tests of the ``dynaq-jax`` command at tiny sizes.

Each subcommand runs once in-process through ``dynaq_jax.experiments.cli.main`` (a module fixture
shared by the checks), and ``python -m dynaq_jax`` runs once in a subprocess for the console entry.
Every training call compiles once, so the sizes are tiny and the runs few.
"""

import contextlib
import csv
import dataclasses
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import matplotlib.image
import numpy as np
import pytest

import dynaq_jax
from dynaq_jax.experiments import benchmark, cli, output
from dynaq_jax.experiments.benchmark import BenchOptions
from dynaq_jax.experiments.sweeping import SweepingOptions

REPO = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path: Path) -> None:
    """A real PNG that matplotlib reads back, not a blank canvas."""
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, path
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 200, path
    rgb = (np.asarray(image[::4, ::4, :3]) * 255).round().astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    assert len(np.unique(packed)) > 10, path


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def run_main(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


# -- one run per subcommand -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, int, str]]:
    """Run every subcommand once: name -> (output folder, exit status, stdout)."""
    base = tmp_path_factory.mktemp("cli")
    commands = {
        "frozen-lake": ["frozen-lake", "--seeds", "3", "--episodes", "20"],
        "maze": ["maze", "--runs", "2", "--episodes", "5", "--planning-steps", "0", "5"],
        "blocking": ["blocking", "--runs", "2", "--steps", "300", "--switch-step", "150"],
        "shortcut": [
            "shortcut",
            *("--runs", "2", "--steps", "200", "--switch-step", "200", "--planning-steps", "5"),
        ],
    }
    out: dict[str, tuple[Path, int, str]] = {}
    for name, argv in commands.items():
        folder = base / name
        stdout = io.StringIO()
        with contextlib.redirect_stdout(stdout):
            code = cli.main([*argv, "--no-progress", "--out", str(folder)])
        out[name] = (folder, code, stdout.getvalue())
    return out


def load_summary(folder: Path) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    # the folder is exactly the run: the files its summary lists, each a known output name, and
    # no partial folder beside it
    assert sorted(summary["files"]) == sorted(p.name for p in folder.iterdir())
    assert all(output.is_output_file(name) for name in summary["files"])
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(f".{folder.name}.")]
    for name in summary["files"]:
        assert (folder / name).is_file(), name
    for png in folder.glob("*.png"):
        assert_png(png)
    return summary


def test_frozen_lake(runs: dict[str, tuple[Path, int, str]]) -> None:
    folder, code, stdout = runs["frozen-lake"]
    assert code == 0
    s = load_summary(folder)
    assert {"learning_curves.png", "policy.png", "policy_optimal.png"} <= set(s["files"])
    assert s["experiment"] == "frozen-lake"
    assert s["seeds"] == 3 and s["episodes"] == 20 and s["env"]["time_limit"] == 100
    assert s["config"]["planning_steps"] == 50 and s["config"]["learning_rate"] == 0.1
    assert s["command"].startswith("dynaq-jax frozen-lake --seeds 3")
    greedy = s["greedy_success_probability"]
    assert 0.0 <= greedy["min"] <= greedy["mean"] <= greedy["max"] <= 1.0
    assert len(s["greedy_success_probability_per_seed"]) == 3
    optimal = s["optimal_success_probability"]
    assert 0.73 <= optimal <= 0.75  # FrozenLake 4x4 slippery within 100 steps: 0.74
    best = s["best_success_probability_within_limit"]
    assert optimal - 1e-6 <= best <= 0.75
    assert greedy["max"] <= best + 1e-6  # no policy beats backward induction
    assert 0.0 <= s["success_rate_last_episodes"]["mean"] <= 1.0
    assert s["success_window"] == 20
    assert 1 <= s["model_size"]["min"] <= s["model_size"]["max"] <= 64
    assert 0 <= s["policy_map_seed"]["index"] < 3
    t = s["timing"]
    assert t["compile_s"] >= 0 and t["run_s"] > 0 and t["real_steps"] >= 20 * 3
    assert t["planning_updates"] == 50 * t["real_steps"]
    # the terminal table reports the same numbers
    assert "success rate, last 20 episodes" in stdout and "optimal policy" in stdout
    assert f"{optimal:.3f}" in stdout and "compile" in stdout

    rows = read_csv(folder / "episodes.csv")
    assert len(rows) == 3 * 20
    assert set(rows[0]) == {
        "seed", "episode", "return", "length", "success", "terminated", "model_size"
    }  # fmt: skip
    assert all(1 <= int(r["length"]) <= 100 for r in rows)
    assert len(read_csv(folder / "seeds.csv")) == 3
    with np.load(folder / "metrics.npz") as m:
        assert m["returns"].shape == (3, 20) and m["greedy_success"].shape == (3,)
        per_seed = m["success"].sum(axis=1)
    csv_per_seed = [sum(int(r["success"]) for r in rows if r["seed"] == str(i)) for i in range(3)]
    assert per_seed.tolist() == csv_per_seed
    loaded = dynaq_jax.load(folder / "agents.npz")
    assert loaded.state.q.shape == (3, 16, 4)
    assert loaded.config.planning_steps == 50


def test_maze(runs: dict[str, tuple[Path, int, str]]) -> None:
    folder, code, stdout = runs["maze"]
    assert code == 0
    s = load_summary(folder)
    assert "steps_per_episode.png" in s["files"] and "policy.png" in s["files"]
    assert s["env"]["shortest_path"] == 14 and s["runs"] == 2 and s["episodes"] == 5
    assert [a["planning_steps"] for a in s["agents"]] == [0, 5]
    for a in s["agents"]:
        assert len(a["steps_per_episode_mean"]) == 5
        assert min(a["steps_per_episode_mean"]) >= 14
        path = a["greedy_path"]
        assert 0.0 <= path["optimal_fraction"] <= path["reaches_goal_fraction"] <= 1.0
    # the first episode is the same for every n (same keys, nothing to plan from yet)
    first = [a["steps_at_episode"]["1"] for a in s["agents"]]
    assert first[0] == first[1]
    rows = read_csv(folder / "steps_per_episode.csv")
    assert len(rows) == 2 * 2 * 5
    assert all(int(r["steps"]) >= 14 for r in rows)
    assert "mean steps per episode" in stdout


@pytest.mark.parametrize("maze", ["blocking", "shortcut"])
def test_changing_maze(runs: dict[str, tuple[Path, int, str]], maze: str) -> None:
    folder, code, stdout = runs[maze]
    assert code == 0
    s = load_summary(folder)
    assert {"cumulative_reward.png", "policy_dyna_q.png", "policy_dyna_q_plus.png"} <= set(
        s["files"]
    )
    # the shortcut run ends at its switch step: the walls never move, its final maze is "before"
    steps, switch = (300, 150) if maze == "blocking" else (200, 200)
    assert s["experiment"] == maze and s["steps"] == steps and s["env"]["switch_step"] == switch
    assert s["env"]["shortest_path_final"] == 16
    assert [a["agent"] for a in s["agents"]] == ["Dyna-Q", "Dyna-Q+"]
    assert s["plus_ahead_from_step"] is None or 1 <= s["plus_ahead_from_step"] <= steps
    assert 0.0 <= s["plus_ahead_at_end_fraction"] <= 1.0
    assert s["agents"][0]["kappa"] == 0.0 and s["agents"][1]["kappa"] > 0
    for a in s["agents"]:
        at_switch, end = a["cumulative_reward_at_switch"], a["cumulative_reward_at_end"]
        assert 0 <= at_switch["mean"] <= end["mean"] <= steps / 10
        assert a["reward_after_switch"]["mean"] == pytest.approx(end["mean"] - at_switch["mean"])
        if switch == steps:
            assert a["reward_after_switch"]["max"] == 0.0
    rows = read_csv(folder / "cumulative_reward.csv")
    assert len(rows) == steps
    with np.load(folder / "metrics.npz") as m:
        assert m["step_rewards"].shape == (2, 2, steps)
        final = m["step_rewards"].sum(-1).mean(-1)
    assert float(rows[-1]["dyna_q_mean"]) == pytest.approx(final[0], abs=1e-4)
    assert float(rows[-1]["dyna_q_plus_mean"]) == pytest.approx(final[1], abs=1e-4)
    assert "Dyna-Q+" in stdout


def test_console_entry(tmp_path: Path) -> None:
    """``python -m dynaq_jax`` (what the ``dynaq-jax`` script runs), progress bar on."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    out = tmp_path / "fl"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "dynaq_jax",
            "frozen-lake",
            "--seeds",
            "2",
            "--episodes",
            "20",
            "--planning-steps",
            "5",
            "--map",
            "8x8",
            "--out",
            str(out),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "episode" in proc.stderr  # the progress bar
    assert "greedy policy: P(goal)" in proc.stdout
    s = load_summary(out)
    assert s["env"]["map"] == "8x8" and s["env"]["n_states"] == 64 and s["seeds"] == 2
    assert 0.0 <= s["optimal_success_probability"] <= s["best_success_probability_within_limit"]
    assert (
        max(s["greedy_success_probability_per_seed"]) <= s["best_success_probability_within_limit"]
    )
    assert len(read_csv(out / "episodes.csv")) == 2 * 20


# -- user errors: a message naming the bad value, exit status 2, no traceback ----------------------


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["frozen-lake", "--map", "5x5"], "5x5"),
        (["frozen-lake", "--seeds", "-3"], "-3"),
        (["frozen-lake", "--seeds", "0"], "'0'"),
        (["frozen-lake", "--learning-rate", "0"], "--learning-rate"),
        (["frozen-lake", "--learning-rate", "1.5"], "1.5"),
        (["frozen-lake", "--epsilon", "nan"], "nan"),
        (["frozen-lake", "--model", "tabular"], "tabular"),
        (["maze", "--planning-steps", "-1"], "-1"),
        (["blocking", "--kappa", "0"], "--kappa"),
        (["blocking", "--steps", "ten"], "ten"),
        (["frozen-lake", "--bogus"], "--bogus"),
        (["nosuch"], "nosuch"),
        ([], "required"),
    ],
)
def test_bad_options(argv: list[str], needle: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_main(argv, capsys)
    assert code == 2
    assert needle in err and "error" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["blocking", "--steps", "100", "--switch-step", "500"], "got 500"),
        (["maze", "--planning-steps", "5", "5"], "repeated values: [5, 5]"),
    ],
)
def test_values_the_library_rejects(
    argv: list[str], needle: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = run_main([*argv, "--out", str(tmp_path)], capsys)
    assert code == 2
    assert err.startswith("dynaq-jax: error: ") and needle in err


@pytest.mark.parametrize("encoding", ["utf-8", "ascii"])
def test_errors_are_one_line_whatever_tyro_draws(
    encoding: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """tyro draws its error boxes with UTF-8 characters or, when stdout is not UTF-8, as plain
    lines; either way the error is one line (and the help hint one more)."""
    monkeypatch.setattr(sys, "stdout", io.TextIOWrapper(io.BytesIO(), encoding=encoding))
    for argv, line in [
        (["frozen-lake", "--seeds", "0"], "argument --seeds: must be a positive int, got '0'"),
        (["maze", "--planning-steps", "5", "5"], "planning_steps has repeated values: [5, 5]"),
        (["frozen-lake", "--bogus"], "Unrecognized options: --bogus"),
    ]:
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.splitlines()
        assert len(err) == 2 and err[0].startswith("dynaq-jax: error: ") and err[0].endswith(line)
        assert err[1].startswith("For full helptext")


def test_out_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "file"
    target.write_text("")
    code, _, err = run_main(
        [
            "blocking",
            "--runs",
            "2",
            "--steps",
            "300",
            "--switch-step",
            "150",
            "--no-progress",
            "--out",
            str(target),
        ],
        capsys,
    )
    assert code == 2 and str(target) in err


def option_helps(help_text: str) -> dict[str, str]:
    """Each option of a tyro help page (its flags, e.g. ``--seeds INT``) -> its help text (boxes
    drawn with UTF-8 characters or plain lines, as tyro picks)."""
    helps: dict[str, str] = {}
    flags = ""
    for raw in help_text.splitlines():
        line = raw.strip().strip("│").rstrip() if raw.strip().startswith("│") else raw.rstrip()
        content = line.strip()
        indent = len(line) - len(line.lstrip())
        if content.startswith("-") and not set(content) <= {"-", "─"} and indent <= 3:
            flags, _, rest = content.partition("  ")
            helps[flags] = rest.strip()
        elif flags and content and indent > 3:
            helps[flags] = (helps[flags] + " " + content).strip()
        else:
            flags = ""
    return helps


def test_help_and_defaults(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--help"], capsys)
    assert code == 0
    for name in ("frozen-lake", "maze", "blocking", "shortcut", "bench"):
        assert name in out
    for sub in ("frozen-lake", "maze", "blocking", "shortcut", "bench", "sweeping"):
        code, out, _ = run_main([sub, "--help"], capsys)
        assert code == 0 and "--out" in out
        # --out's help says the folder is replaced whole
        out_help = next(t for f, t in option_helps(out).items() if f.startswith("--out"))
        assert "replaced" in out_help or "swapped in" in out_help, (sub, out_help)
        # every option of every subcommand has a help text (its field's docstring), not only
        # the default
        helps = option_helps(out)
        assert len(helps) >= 5, (sub, helps)
        for flags, text in helps.items():
            assert re.sub(r"\(default: [^)]*\)", "", text).strip(), f"{sub} {flags} has no help"
    # the published protocols are the defaults, with the progress bar on
    fl = cli.parse_args(["frozen-lake"])
    assert isinstance(fl, cli.FrozenLakeCommand)
    p = fl.protocol
    assert (p.map_name, p.seeds, p.episodes, p.max_steps, p.planning_steps) == (
        "4x4", 100, 300, 100, 50
    )  # fmt: skip
    assert (p.learning_rate, p.discount, p.epsilon, p.kappa) == (0.1, 0.95, 0.1, 0.0)
    assert p.slippery is True and p.model == "count" and p.seed == 0
    assert fl.no_progress is False and fl.out == Path("runs/frozen-lake")
    no_progress = cli.parse_args(["frozen-lake", "--no-progress"])
    assert isinstance(no_progress, cli.FrozenLakeCommand) and no_progress.no_progress is True
    mz = cli.parse_args(["maze"])
    assert isinstance(mz, cli.DynaMazeCommand)
    m = mz.protocol
    assert (m.runs, m.episodes, m.planning_steps, m.learning_rate) == (30, 50, (0, 5, 50), 0.1)
    bl, sc = cli.parse_args(["blocking"]), cli.parse_args(["shortcut"])
    assert isinstance(bl, cli.ChangingMazeCommand) and isinstance(sc, cli.ChangingMazeCommand)
    b, s = bl.protocol, sc.protocol
    assert (b.maze, b.steps, b.switch_step, b.planning_steps, b.kappa, b.learning_rate) == (
        "blocking", 3000, 1000, 10, 1e-4, 1.0
    )  # fmt: skip
    assert (s.maze, s.steps, s.switch_step, s.planning_steps, s.kappa, s.learning_rate) == (
        "shortcut", 6000, 3000, 50, 1e-3, 1.0
    )  # fmt: skip
    assert bl.out == Path("runs/blocking") and sc.out == Path("runs/shortcut")
    assert cli.parse_args(["sweeping"]) == SweepingOptions()
    assert cli.parse_args(["bench"]) == BenchOptions()


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(["--version"], capsys)
    assert code == 0 and out.strip() == f"dynaq-jax {dynaq_jax.__version__}"


# Every option of the argparse command line this one replaced, each with a value other than its
# default: the same flag names parse to the same settings.
ARGPARSE_OPTIONS = {
    "frozen-lake": [
        *("--map", "8x8", "--not-slippery", "--seeds", "7", "--episodes", "11"),
        *("--max-steps", "33", "--planning-steps", "4", "--kappa", "0.01"),
        *("--learning-rate", "0.5", "--discount", "0.9", "--epsilon", "0.2"),
        *("--model", "deterministic", "--seed", "3", "--out", "o", "--no-progress"),
    ],
    "maze": [
        *("--runs", "4", "--episodes", "6", "--planning-steps", "1", "2", "3"),
        *("--learning-rate", "0.5", "--discount", "0.9", "--epsilon", "0.2"),
        *("--model", "count", "--seed", "3", "--out", "o", "--no-progress"),
    ],
    "blocking": [
        *("--runs", "4", "--steps", "500", "--switch-step", "100", "--planning-steps", "3"),
        *("--kappa", "0.5", "--learning-rate", "0.5", "--discount", "0.9", "--epsilon", "0.2"),
        *("--model", "count", "--seed", "3", "--out", "o", "--no-progress"),
    ],
    "bench": [
        *("--seeds", "1", "5", "--quick", "--out", "o", "--envs", "taxi", "8x8"),
        *("--devices", "2", "--planning-steps", "5", "--steps", "30", "--repeats", "3"),
        *("--numpy-seeds", "2", "--numpy-episodes", "7", "--no-numpy", "--no-compact"),
        *("--memory-budget", "1.5"),
    ],
    "sweeping": [
        *("--experiment", "frozenlake", "--seeds", "3", "--seed", "4"),
        *("--planners", "sample", "expected", "--scales", "1", "2", "--max-steps", "99"),
        *("--learning-rate", "0.25", "--map", "8x8", "--episodes", "12", "--out", "o"),
    ],
}


def test_every_argparse_option_still_parses() -> None:
    fl = cli.parse_args(["frozen-lake", *ARGPARSE_OPTIONS["frozen-lake"]])
    assert isinstance(fl, cli.FrozenLakeCommand)
    assert fl.protocol == dataclasses.replace(
        fl.protocol,
        map_name="8x8", slippery=False, seeds=7, episodes=11, max_steps=33, planning_steps=4,
        kappa=0.01, learning_rate=0.5, discount=0.9, epsilon=0.2, model="deterministic", seed=3,
    )  # fmt: skip
    assert fl.protocol != cli.FrozenLakeCommand(out=Path("o")).protocol
    assert (fl.out, fl.no_progress) == (Path("o"), True)
    mz = cli.parse_args(["maze", *ARGPARSE_OPTIONS["maze"]])
    assert isinstance(mz, cli.DynaMazeCommand)
    assert (mz.protocol.runs, mz.protocol.episodes, mz.protocol.planning_steps) == (4, 6, (1, 2, 3))
    assert (mz.protocol.learning_rate, mz.protocol.discount, mz.protocol.epsilon) == (0.5, 0.9, 0.2)
    assert (mz.protocol.model, mz.protocol.seed, mz.out, mz.no_progress) == (
        "count", 3, Path("o"), True
    )  # fmt: skip
    for name in ("blocking", "shortcut"):
        cm = cli.parse_args([name, *ARGPARSE_OPTIONS["blocking"]])
        assert isinstance(cm, cli.ChangingMazeCommand)
        p = cm.protocol
        assert (p.maze, p.runs, p.steps, p.switch_step, p.planning_steps, p.kappa) == (
            name, 4, 500, 100, 3, 0.5
        )  # fmt: skip
        assert (p.learning_rate, p.discount, p.epsilon, p.model, p.seed) == (
            0.5, 0.9, 0.2, "count", 3
        )  # fmt: skip
        assert (cm.out, cm.no_progress) == (Path("o"), True)
    assert cli.parse_args(["bench", *ARGPARSE_OPTIONS["bench"]]) == BenchOptions(
        seeds=(1, 5), quick=True, out=Path("o"), envs=("Taxi-v4", "FrozenLake-v1:8x8"),
        devices=2, planning_steps=5, steps=30, repeats=3, numpy_seeds=2, numpy_episodes=7,
        no_numpy=True, no_compact=True, memory_budget=1.5,
    )  # fmt: skip
    assert cli.parse_args(["sweeping", *ARGPARSE_OPTIONS["sweeping"]]) == SweepingOptions(
        experiment="frozenlake", seeds=3, seed=4, planners=("sample", "expected"), scales=(1, 2),
        max_steps=99, learning_rate=0.25, map_name="8x8", episodes=12, out=Path("o"),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("alias", "name"),
    [("dyna-maze", "maze"), ("blocking-maze", "blocking"), ("shortcut-maze", "shortcut")],
)
def test_subcommand_aliases(alias: str, name: str) -> None:
    assert cli.parse_args([alias, "--runs", "3"]) == cli.parse_args([name, "--runs", "3"])


# -- bench: hands over to the benchmark with its own options --------------------------------------


def test_bench_hands_over(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: list[Any] = []
    monkeypatch.setattr(benchmark, "main", lambda args: seen.append(args) or 3)
    code, _, _ = run_main(["bench", "--seeds", "1", "10", "--quick", "--out", "x"], capsys)
    assert code == 3
    (args,) = seen
    assert args.seeds == (1, 10) and args.quick is True and args.out == Path("x")
    defaults = cli.parse_args(["bench"])
    assert isinstance(defaults, BenchOptions)
    assert defaults.quick is False and defaults.out == Path("runs/bench")
    assert defaults.seeds is None  # the benchmark resolves its default seed counts itself


def test_sweeping_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``dynaq-jax sweeping`` (Example 8.4) at a tiny size: it runs and writes its outputs."""
    out = tmp_path / "sweeping"
    code, _, _ = run_main(
        ["sweeping", "--scales", "1", "--seeds", "2", "--max-steps", "3000", "--out", str(out)],
        capsys,
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["example84.json", "example84.png"]
    rows = json.loads(
        (out / "example84.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON")
    )
    assert [(r["planner"], r["seeds"]) for r in rows] == [("sample", 2), ("sweeping", 2)]
