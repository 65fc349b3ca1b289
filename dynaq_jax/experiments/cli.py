"""The ``dynaq-jax`` command: the published experiments, reproduced from the command line.

Subcommands (``dynaq-jax SUBCOMMAND --help`` for the options):

- ``frozen-lake``: the seed notebook's protocol (FrozenLake-v1 slippery, 300 episodes of at most
  100 steps, n = 50) over many seeds;
- ``maze`` (also ``dyna-maze``): Sutton & Barto Figure 8.2 (Dyna maze, n = 0, 5, 50);
- ``blocking`` and ``shortcut`` (also ``blocking-maze``, ``shortcut-maze``): Figures 8.4 and 8.5
  (Dyna-Q against Dyna-Q+);
- ``bench``: the benchmark against the seed notebook's NumPy loop (``benchmark``);
- ``sweeping``: Example 8.4 and the planners on FrozenLake (``sweeping``);
- ``expected-vs-sample`` and ``trajectory-sampling``: Figures 8.7 and 8.8 (``expected_vs_sample``,
  ``trajectory_sampling``).

The command is generated with tyro from typed dataclasses: an experiment's options are the fields
of its protocol (``FrozenLakeProtocol``, ...) plus ``--out`` and ``--no-progress``; the benchmark's
and the sweeping experiment's are ``BenchOptions`` and ``SweepingOptions``. Each field holds its
option's default, its help (the field's docstring) and its check (its annotation, see
``options``). Each experiment writes metrics (npz and CSV), ``summary.json`` and PNG plots to
``--out`` (default ``runs/<subcommand>``) and prints a compact summary. User errors print
``dynaq-jax: error: ...`` and exit with status 2.

``--out`` is checked before any training (``output.check_out``: not empty, not the current folder,
creatable and writable, holding only files a run writes). A run writes its files into a hidden
sibling ``.NAME.partial-<pid>-<hex>`` and swaps it in for ``NAME`` once all are written
(``output.staged_output``): the folder is always one complete run, never old files beside new ones.

To split the seeds over both cores of a CPU, start the command with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` in its environment (JAX reads it at start).
To split them over several processes or machines, start the same command in each with
``--coordinator-address HOST:PORT --num-processes N --process-id I`` (or ``--distributed`` on a
cluster that ``jax.distributed`` detects): only process 0 writes ``--out`` (``multiprocess``).
"""

import contextlib
import dataclasses
import io
import re
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Union

import tyro

from dynaq_jax import distributed
from dynaq_jax.experiments import benchmark, sweeping
from dynaq_jax.experiments.benchmark import BenchOptions
from dynaq_jax.experiments.changing_maze import (
    BLOCKING_MAZE,
    SHORTCUT_MAZE,
    ChangingMazeProtocol,
    format_changing_maze,
    run_changing_maze,
    summarize_changing_maze,
    write_changing_maze,
)
from dynaq_jax.experiments.dyna_maze import (
    DYNA_MAZE,
    DynaMazeProtocol,
    format_dyna_maze,
    run_dyna_maze,
    summarize_dyna_maze,
    write_dyna_maze,
)
from dynaq_jax.experiments.expected_vs_sample import (
    EXPECTED_VS_SAMPLE,
    ExpectedVsSampleProtocol,
    format_expected_vs_sample,
    run_expected_vs_sample,
    summarize_expected_vs_sample,
    write_expected_vs_sample,
)
from dynaq_jax.experiments.explore import ENVS as EXPLORE_ENVS
from dynaq_jax.experiments.explore import OPTIONS as EXPLORE_OPTIONS
from dynaq_jax.experiments.explore import PLANNERS as EXPLORE_PLANNERS
from dynaq_jax.experiments.explore import format_explore, resume_folder, write_explore
from dynaq_jax.experiments.explore import run as run_explore
from dynaq_jax.experiments.frozen_lake import (
    FROZEN_LAKE,
    FrozenLakeProtocol,
    format_frozen_lake,
    run_frozen_lake,
    summarize_frozen_lake,
    write_frozen_lake,
)
from dynaq_jax.experiments.multiprocess import (
    JOIN_HELP,
    SINGLE,
    JoinOptions,
    join_run,
    run_as_writer_or_not,
    use_cpu_devices,
    writes,
)
from dynaq_jax.experiments.output import check_out, staged_output
from dynaq_jax.experiments.sweeping import SweepingOptions
from dynaq_jax.experiments.trajectory_sampling import (
    TRAJECTORY_SAMPLING,
    TrajectorySamplingProtocol,
    run_trajectory_sampling,
)
from dynaq_jax.experiments.trajectory_sampling_report import (
    format_trajectory_sampling,
    summarize_trajectory_sampling,
    write_trajectory_sampling,
)
from dynaq_jax.version import __version__

PROG = "dynaq-jax"
EXIT_USAGE = 2

ALIASES = {"dyna-maze": "maze", "blocking-maze": "blocking", "shortcut-maze": "shortcut"}
"""Other names of subcommands."""


def report(summary_text: str, files: Sequence[Path], out: Path) -> None:
    """Print an experiment's terminal report and the files it wrote."""
    print(summary_text)
    print(f"wrote {len(files)} files to {out}: " + ", ".join(f.name for f in files))


# -- the subcommands: typed dataclasses, one field per option ------------------------------------


PROTOCOL = tyro.conf.arg(
    help="the experiment's settings; the defaults are the published protocol's"
)
"""The help of an experiment's protocol options (otherwise tyro shows the protocol's docstring)."""


OUT_HELP = (
    "output folder for metrics (npz, CSV), summary.json and PNG plots; checked before training; "
    "written as a hidden sibling .NAME.partial-* and swapped in whole once complete (so it must "
    "hold only files a run writes)"
)
"""The help of ``--out``."""

CPU_DEVICES_HELP = (
    "CPU: split the seeds over N host devices, one per core (default: every core this process "
    "may use; 1 per process in a multi-process run); the results are the same bits"
)
"""The help of ``--cpu-devices``."""


@dataclasses.dataclass(frozen=True)
class ExperimentOutput:
    """The options every experiment shares besides its protocol's: output folder, progress."""

    out: Annotated[Path, tyro.conf.arg(help=OUT_HELP)]
    """The output folder (``OUT_HELP``)."""
    no_progress: bool = False
    """no progress bar"""
    cpu_devices: Annotated[int | None, tyro.conf.arg(metavar="N", help=CPU_DEVICES_HELP)] = None
    """The host devices the seeds are split over (``CPU_DEVICES_HELP``)."""
    join: Annotated[JoinOptions, tyro.conf.OmitArgPrefixes, tyro.conf.arg(help=JOIN_HELP)] = SINGLE
    """Joining a multi-process run (``multiprocess.JoinOptions``)."""


@dataclasses.dataclass(frozen=True)
class FrozenLakeCommand(ExperimentOutput):
    """``dynaq-jax frozen-lake``."""

    protocol: Annotated[FrozenLakeProtocol, tyro.conf.OmitArgPrefixes, PROTOCOL] = FROZEN_LAKE

    def run(self, command: str) -> int:
        """Train, evaluate, write the output folder and print the report."""
        result = run_frozen_lake(self.protocol, progress=not self.no_progress)
        with staged_output(self.out) as folder:
            files = write_frozen_lake(result, folder, command=command)
        report(format_frozen_lake(summarize_frozen_lake(result)), files, self.out)
        return 0


@dataclasses.dataclass(frozen=True)
class DynaMazeCommand(ExperimentOutput):
    """``dynaq-jax maze``."""

    protocol: Annotated[DynaMazeProtocol, tyro.conf.OmitArgPrefixes, PROTOCOL] = DYNA_MAZE

    def run(self, command: str) -> int:
        """Train, evaluate, write the output folder and print the report."""
        result = run_dyna_maze(self.protocol, progress=not self.no_progress)
        with staged_output(self.out) as folder:
            files = write_dyna_maze(result, folder, command=command)
        report(format_dyna_maze(summarize_dyna_maze(result)), files, self.out)
        return 0


@dataclasses.dataclass(frozen=True)
class ChangingMazeCommand(ExperimentOutput):
    """``dynaq-jax blocking`` and ``dynaq-jax shortcut``."""

    protocol: Annotated[ChangingMazeProtocol, tyro.conf.OmitArgPrefixes, PROTOCOL] = BLOCKING_MAZE

    def run(self, command: str) -> int:
        """Train, evaluate, write the output folder and print the report."""
        result = run_changing_maze(self.protocol, progress=not self.no_progress)
        with staged_output(self.out) as folder:
            files = write_changing_maze(result, folder, command=command)
        report(format_changing_maze(summarize_changing_maze(result)), files, self.out)
        return 0


QUICK_PROTOCOL = tyro.conf.arg(
    help="the experiment's settings; the defaults are a quick run (the description gives the "
    "book's sizes)"
)
"""The help of the protocol options of Figures 8.7 and 8.8, whose defaults are quick runs."""


@dataclasses.dataclass(frozen=True)
class ExpectedVsSampleCommand(ExperimentOutput):
    """``dynaq-jax expected-vs-sample``."""

    protocol: Annotated[ExpectedVsSampleProtocol, tyro.conf.OmitArgPrefixes, QUICK_PROTOCOL] = (
        EXPECTED_VS_SAMPLE
    )

    def run(self, command: str) -> int:
        """Simulate, write the output folder and print the report."""
        result = run_expected_vs_sample(self.protocol, progress=not self.no_progress)
        with staged_output(self.out) as folder:
            files = write_expected_vs_sample(result, folder, command=command)
        report(format_expected_vs_sample(summarize_expected_vs_sample(result)), files, self.out)
        return 0


@dataclasses.dataclass(frozen=True)
class TrajectorySamplingCommand(ExperimentOutput):
    """``dynaq-jax trajectory-sampling``."""

    protocol: Annotated[TrajectorySamplingProtocol, tyro.conf.OmitArgPrefixes, QUICK_PROTOCOL] = (
        TRAJECTORY_SAMPLING
    )

    def run(self, command: str) -> int:
        """Plan on every task, evaluate exactly, write the output folder and print the report."""
        result = run_trajectory_sampling(self.protocol, progress=not self.no_progress)
        with staged_output(self.out) as folder:
            files = write_trajectory_sampling(result, folder, command=command)
        report(format_trajectory_sampling(summarize_trajectory_sampling(result)), files, self.out)
        return 0


@dataclasses.dataclass(frozen=True)
class ExploreCommand(ExperimentOutput):
    """``dynaq-jax explore``. Each finished cell is kept in the hidden sibling ``.NAME.cells`` of
    ``--out`` until the output is written, so the same command after an interruption resumes at
    the first unfinished cell (one process; ``explore.resume_folder``)."""

    envs: tuple[str, ...] = tuple(EXPLORE_ENVS)
    """the envs (river-swim, six-arms, frozen-lake-4x4, frozen-lake-8x8)"""
    options: tuple[str, ...] = tuple(EXPLORE_OPTIONS)
    """the exploration options"""
    planners: tuple[str, ...] = EXPLORE_PLANNERS
    """the planners"""
    seeds: int = 100
    """seeds per (env, option, planner)"""
    seed: int = 0
    """the root seed (every cell uses the same seeds)"""
    steps: int | None = None
    """real steps per seed for every env (default: each env's own: 2000 for RiverSwim and
    SixArms, 5000 for FrozenLake 4x4, 20000 for 8x8)"""

    def run(self, command: str) -> int:
        """Train every cell, evaluate exactly, write the output folder and print the table."""
        steps = None if self.steps is None else dict.fromkeys(self.envs, self.steps)
        cell_dir = None if distributed.is_multi_process() else resume_folder(self.out)
        if cell_dir is not None and cell_dir.is_dir() and any(cell_dir.glob("*.npz")):
            print(f"explore: resuming: reading the finished cells in {cell_dir}")
        rows = run_explore(
            self.envs,
            self.options,
            self.planners,
            n_seeds=self.seeds,
            seed=self.seed,
            steps=steps,
            progress=not self.no_progress,
            cell_dir=cell_dir,
        )
        with staged_output(self.out) as folder:
            files = write_explore(rows, folder, self.seeds, command=command)
        report(format_explore(rows), files, self.out)
        if cell_dir is not None:
            shutil.rmtree(cell_dir, ignore_errors=True)
        return 0


Command = (
    ExploreCommand
    | FrozenLakeCommand
    | DynaMazeCommand
    | ChangingMazeCommand
    | BenchOptions
    | SweepingOptions
    | ExpectedVsSampleCommand
    | TrajectorySamplingCommand
)
"""What ``parse_args`` returns: one subcommand's options."""


def _changing(protocol: ChangingMazeProtocol) -> tuple[type, object, str]:
    p = protocol
    figure = "8.4" if p.maze == "blocking" else "8.5"
    what = (
        "the short way round on the right closes and one opens on the left"
        if p.maze == "blocking"
        else "a shortcut opens on the right"
    )
    return (
        ChangingMazeCommand,
        ChangingMazeCommand(out=Path("runs") / p.maze, protocol=p),
        f"Sutton & Barto Figure {figure}: cumulative reward against time step of Dyna-Q and "
        f"Dyna-Q+ in the {p.maze} maze: after {p.switch_step} steps {what}. {p.steps} steps, "
        f"n = {p.planning_steps}, alpha {p.learning_rate:g}, gamma {p.discount:g}, epsilon "
        f"{p.epsilon:g}, Dyna-Q+ kappa {p.kappa:g}; both agents run as one compiled sweep. "
        f"(Also: {p.maze}-maze.)",
    )


SUBCOMMAND_TABLE: dict[str, tuple[type, object, str]] = {
    "frozen-lake": (
        FrozenLakeCommand,
        FrozenLakeCommand(out=Path("runs/frozen-lake")),
        "The seed notebook's protocol: Dyna-Q on FrozenLake-v1 (slippery), 300 episodes of at "
        "most 100 steps, n = 50 planning steps, alpha 0.1, gamma 0.95, epsilon 0.1, over 100 "
        "seeds in one compiled call. Reports the notebook's numbers (success rate over the last "
        "100 episodes, model size) and the exact probability that each final greedy policy "
        "reaches the goal, against the optimal policy's.",
    ),
    "maze": (
        DynaMazeCommand,
        DynaMazeCommand(out=Path("runs/maze")),
        "Sutton & Barto Figure 8.2: Dyna-Q in the Dyna maze (6 x 9, shortest path 14 steps) with "
        "n = 0, 5 and 50 planning steps; steps per episode over 50 episodes, averaged over 30 "
        "runs; alpha 0.1, gamma 0.95, epsilon 0.1. The book: with n = 50 the agent finds the "
        "optimal path in about 3 episodes, with n = 0 in about 25. (Also: dyna-maze.)",
    ),
    "blocking": _changing(BLOCKING_MAZE),
    "shortcut": _changing(SHORTCUT_MAZE),
    "bench": (
        BenchOptions,
        BenchOptions(),
        "The benchmark: times the NumPy reference (the seed notebook's loop) and dynaq_jax "
        "(FrozenLake 4x4 slippery, n = 50, count model) at several seed counts; reports env "
        "steps/s, planning updates/s, compile time, memory per seed and the speedup; writes "
        "bench.json and a scaling plot.",
    ),
    "sweeping": (
        SweepingOptions,
        SweepingOptions(),
        "Sutton & Barto Example 8.4 (prioritized sweeping vs Dyna-Q): updates each planner needs "
        "until its greedy path is near-optimal on the Dyna maze scaled by k; or each planner's "
        "exact success probability on FrozenLake under the notebook's budget "
        "(--experiment frozenlake).",
    ),
    "expected-vs-sample": (
        ExpectedVsSampleCommand,
        ExpectedVsSampleCommand(out=Path("runs/expected-vs-sample")),
        "Sutton & Barto Figure 8.7: RMS error of one estimate against the number of max_a' Q "
        "computations (0 .. 2b), for the expected update (error 1 until its b computations, then "
        "0) and for sample updates with step size 1/t, at b = 2, 10, 100, 1,000, 10,000; "
        "successor values N(0, 1), initial error 1; beside the book's sqrt((b - 1) / (b t)). "
        "The default's 200 runs per b are plenty (the book's curve is that formula).",
    ),
    "explore": (
        ExploreCommand,
        ExploreCommand(out=Path("runs/explore")),
        "Exploration options (epsilon-greedy, Dyna-Q+, R-max with m = 1 and m = 20, MBIE-EB, "
        "posterior sampling) x planners on RiverSwim, SixArms and FrozenLake 4x4 / 8x8: the "
        "fraction of seeds whose greedy policy reaches 0.9 of the optimum's value, and regret "
        "curves, both computed exactly from the env's tables.",
    ),
    "trajectory-sampling": (
        TrajectorySamplingCommand,
        TrajectorySamplingCommand(out=Path("runs/trajectory-sampling")),
        "Sutton & Barto Figure 8.8: the start state's value under the greedy policy, computed "
        "exactly, against computation time in expected updates, for updates spread uniformly over "
        "all pairs and along simulated epsilon-greedy episodes, on random tasks (2 actions, b "
        "next states, rewards N(0, 1), termination 0.1). Default: the upper panel (1,000 states, "
        "b = 1, 3, 10, 20,000 updates) over 20 tasks; the book's sizes: --tasks 200, and --states "
        "10000 --branching 1 --updates 200000 --eval-every 5000 --tasks 200 (the lower panel).",
    ),
}
"""Each subcommand's name -> its options' dataclass, their defaults and its description."""

SUBCOMMANDS: Any = Union[  # noqa: UP007 (a union of Annotated types, built at run time)
    tuple(
        Annotated[cls, tyro.conf.subcommand(name, default=default, description=description)]
        for name, (cls, default, description) in SUBCOMMAND_TABLE.items()
    )
]
"""The subcommands as tyro reads them."""

DESCRIPTION = (
    "Typed, purely functional tabular Dyna-Q in JAX: the published experiments. Each experiment "
    "writes metrics (npz, CSV), summary.json and PNG plots to --out, which it replaces whole once "
    "every file is written. Run 'dynaq-jax SUBCOMMAND --help' for a subcommand's options and "
    "defaults; 'dynaq-jax --version' for the version."
)


# -- parsing: tyro's errors become 'dynaq-jax: error: ...' ---------------------------------------


_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERROR_PARSING = re.compile(r"^Error parsing (\S+): ")


def tyro_error_message(text: str) -> tuple[str, str | None]:
    """tyro's error (printed on stderr) as one line, and its help hint (or ``None``).

    tyro draws a box (or, when stdout is not UTF-8, plain lines): a title, the message, then
    sections divided by rules (the argument's help, the hint 'For full helptext, run ...').
    Lines the box wrapped are joined with spaces. ``Error parsing --flag: ...`` becomes
    ``argument --flag: ...``; the prefix is dropped when it names no flag (a check of several
    options together).
    """
    lines = [_ANSI.sub("", raw).strip().strip("│╭╮╰╯").strip() for raw in text.splitlines()]
    boxed = text.lstrip().startswith("╭")
    title = lines[0].strip("─ ") if boxed and lines else ""
    sections: list[list[str]] = [[]]
    for line in lines[1:] if boxed else lines:
        if line and set(line) <= {"─", "-"}:
            sections.append([])
        elif line:
            sections[-1].append(line)
    if not boxed and len(sections) > 1:  # plain lines: the title comes first, above a rule
        title = " ".join(sections.pop(0))
    message = " ".join(sections[0]) or title or "bad command line"
    match = _ERROR_PARSING.match(message)
    if match:
        rest = message[match.end() :]
        message = f"argument {match[1]}: {rest}" if match[1].startswith("-") else rest
    hint = next((" ".join(s) for s in sections[1:] if s and s[0].startswith("For full")), None)
    return message, hint


def parse_args(argv: Sequence[str]) -> Command:
    """The subcommand's options for ``argv`` (without the program name).

    Like ``argparse``'s ``parse_args``: raises ``SystemExit`` (0) after printing ``--help`` or
    ``--version``, and ``SystemExit`` (2) after printing ``dynaq-jax: error: ...`` on stderr.
    """
    args = list(argv)
    if args[:1] == ["--version"]:
        print(f"{PROG} {__version__}")
        raise SystemExit(0)
    if not args:
        _usage_error("the following arguments are required: SUBCOMMAND", f"run '{PROG} --help'")
    args[0] = ALIASES.get(args[0], args[0])
    if args[0] not in SUBCOMMAND_TABLE and not args[0].startswith("-"):
        choices = ", ".join([*SUBCOMMAND_TABLE, *ALIASES])
        _usage_error(
            f"argument SUBCOMMAND: invalid choice: {args[0]!r} (choose from {choices})",
            f"run '{PROG} --help'",
        )
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            command: Command = tyro.cli(
                SUBCOMMANDS,
                args=args,
                prog=PROG,
                description=DESCRIPTION,
                config=(tyro.conf.FlagCreatePairsOff,),
            )
    except SystemExit as exit_:
        if exit_.code not in (0, None):
            _usage_error(*tyro_error_message(captured.getvalue()))
        sys.stderr.write(captured.getvalue())
        raise
    sys.stderr.write(captured.getvalue())
    return command


def _usage_error(message: str, hint: str | None = None) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
    if hint:
        print(hint, file=sys.stderr)
    raise SystemExit(EXIT_USAGE)


def out_argument(argv: Sequence[str]) -> str | None:
    """The text of the last ``--out`` in ``argv`` (``None``: not given). ``--out ''`` parses to
    the path ``.``; the text tells an empty value apart."""
    text = None
    for i, arg in enumerate(argv):
        if arg == "--out" and i + 1 < len(argv):
            text = argv[i + 1]
        elif arg.startswith("--out="):
            text = arg[len("--out=") :]
    return text


def _out_of_memory(err: BaseException) -> bool:
    return isinstance(err, MemoryError) or "RESOURCE_EXHAUSTED" in str(err)


def _command_line(argv: Sequence[str]) -> str:
    return " ".join([PROG, *(shlex.quote(a) for a in argv)])


def run(command: Command, argv: Sequence[str]) -> int:
    """Run a parsed subcommand (``argv``: its command line, recorded in ``summary.json``)."""
    if isinstance(command, BenchOptions):
        return int(benchmark.main(command))
    if isinstance(command, SweepingOptions):
        return int(sweeping.main(command))
    return command.run(_command_line(argv))


# -- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dynaq-jax`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0 on success; 2 for a user error (a bad option or value, an unusable ``--out``, sizes too
    large for memory: ``dynaq-jax: error: ...``, with no traceback); 130 when interrupted (the
    output folder is then left as it was).
    """
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        command = parse_args(args)
    except SystemExit as exit_:  # --help, --version, or a usage error (already printed)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    text = out_argument(args)
    try:
        join = getattr(command, "join", SINGLE)
        join_run(join)  # before any JAX work; process 0 writes
        if isinstance(command, ExperimentOutput):
            use_cpu_devices(command.cpu_devices, join.wanted)
        # (the benchmark sets its own devices, before JAX starts: nothing here starts it)
        if writes(join.wanted):
            check_out(command.out if text is None else text)
        return run_as_writer_or_not(
            command, command.out, lambda c: run(c, args), joined=join.wanted
        )
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        if not _out_of_memory(err):
            raise
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(
            f"{PROG}: error: out of memory ({first[:300]}); use fewer seeds, runs, episodes or "
            "planning steps",
            file=sys.stderr,
        )
        return EXIT_USAGE


__all__ = [
    "ALIASES",
    "OUT_HELP",
    "PROG",
    "PROTOCOL",
    "QUICK_PROTOCOL",
    "SUBCOMMANDS",
    "SUBCOMMAND_TABLE",
    "ChangingMazeCommand",
    "Command",
    "DynaMazeCommand",
    "ExpectedVsSampleCommand",
    "ExperimentOutput",
    "ExploreCommand",
    "FrozenLakeCommand",
    "TrajectorySamplingCommand",
    "main",
    "out_argument",
    "parse_args",
    "report",
    "run",
    "tyro_error_message",
]
