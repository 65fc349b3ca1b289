"""The ``dynaq-jax`` command: the published experiments, reproduced from the command line.

Subcommands (``dynaq-jax SUBCOMMAND --help`` for the options):

- ``frozen-lake``: the seed notebook's protocol (FrozenLake-v1 slippery, 300 episodes of at most
  100 steps, n = 50) over many seeds;
- ``maze``: Sutton & Barto Figure 8.2 (Dyna maze, n = 0, 5, 50);
- ``blocking`` and ``shortcut``: Figures 8.4 and 8.5 (Dyna-Q against Dyna-Q+);
- ``bench``: the benchmark against the seed notebook's NumPy loop (``dynaq_jax.bench``).
- ``sweeping``: Example 8.4 and the planners on FrozenLake (``dynaq_jax.sweeping_experiment``).

Each writes metrics (npz and CSV), ``summary.json`` and PNG plots to ``--out`` (default
``runs/<subcommand>``) and prints a compact summary. The defaults are the published protocols
(``dynaq_jax.experiments``). User errors print ``dynaq-jax: error: ...`` and exit with status 2.

To split the seeds over both cores of a CPU, start the command with
``XLA_FLAGS=--xla_force_host_platform_device_count=2`` in its environment (JAX reads it at start).
"""

import argparse
import dataclasses
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from dynaq_jax import experiments as ex
from dynaq_jax.config import MODEL_KINDS

PROG = "dynaq-jax"
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


# -- option types: reject bad values with a message that names them -------------------------------


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def positive_int(text: str) -> int:
    """An integer ``>= 1``."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer, got {text!r}")
    return value


def nonnegative_int(text: str) -> int:
    """An integer ``>= 0``."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be an integer >= 0, got {text!r}")
    return value


def learning_rate(text: str) -> float:
    """A number in ``(0, 1]``."""
    value = _float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in (0, 1], got {text!r}")
    return value


def probability(text: str) -> float:
    """A number in ``[0, 1]``."""
    value = _float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie in [0, 1], got {text!r}")
    return value


def nonnegative_float(text: str) -> float:
    """A number ``>= 0``."""
    value = _float(text)
    if value < 0.0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text!r}")
    return value


def positive_float(text: str) -> float:
    """A number ``> 0``."""
    value = _float(text)
    if value <= 0.0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text!r}")
    return value


# -- the parser -----------------------------------------------------------------------------------


class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults in the option help, except for flags (their default is their absence)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0:
            return action.help
        return super()._get_help_string(action)


def _common(
    p: argparse.ArgumentParser,
    name: str,
    *,
    learning_rate_default: float,
    model_default: str,
) -> None:
    """The options every experiment shares: hyperparameters, seed, output, progress."""
    p.add_argument(
        "--learning-rate",
        type=learning_rate,
        default=learning_rate_default,
        metavar="ALPHA",
        help="step size alpha of the Q updates and of the reward model, in (0, 1]",
    )
    p.add_argument(
        "--discount",
        type=probability,
        default=0.95,
        metavar="GAMMA",
        help="discount gamma, in [0, 1]",
    )
    p.add_argument(
        "--epsilon",
        type=probability,
        default=0.1,
        help="exploration rate of epsilon-greedy acting (ties broken at random), in [0, 1]",
    )
    p.add_argument(
        "--model",
        choices=MODEL_KINDS,
        default=model_default,
        help="model of the world: 'count' (counts T_c and smoothed rewards, the lecture notes) or "
        "'deterministic' (the last (s', r) seen, the notebook's and Sutton & Barto's)",
    )
    p.add_argument(
        "--seed",
        type=nonnegative_int,
        default=0,
        help="base PRNG seed; run i uses jax.random.split(jax.random.key(SEED), RUNS)[i]",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("runs") / name,
        help="output folder for metrics (npz, CSV), summary.json and PNG plots",
    )
    p.add_argument(
        "--no-progress",
        dest="progress",
        action="store_false",
        help="no progress bar",
    )


def _add_frozen_lake(sub: Any) -> None:
    d = ex.FROZEN_LAKE
    p = sub.add_parser(
        "frozen-lake",
        help="the seed notebook's Dyna-Q on FrozenLake-v1, over many seeds",
        description=(
            "The seed notebook's protocol: Dyna-Q on FrozenLake-v1 (slippery), 300 episodes of "
            "at most 100 steps, n = 50 planning steps, alpha 0.1, gamma 0.95, epsilon 0.1, over "
            "100 seeds in one compiled call. Reports the notebook's numbers (success rate over "
            "the last 100 episodes, model size) and the exact probability that each final greedy "
            "policy reaches the goal, against the optimal policy's."
        ),
        formatter_class=_Formatter,
    )
    p.add_argument(
        "--map",
        dest="map_name",
        choices=ex.FROZEN_LAKE_MAPS,
        default=d.map_name,
        help="FrozenLake map",
    )
    p.add_argument(
        "--not-slippery",
        dest="slippery",
        action="store_false",
        help="deterministic moves (the notebook's lake is slippery)",
    )
    p.add_argument(
        "--seeds", type=positive_int, default=d.seeds, help="number of seeds (agents) trained"
    )
    p.add_argument("--episodes", type=positive_int, default=d.episodes, help="episodes per seed")
    p.add_argument(
        "--max-steps",
        type=positive_int,
        default=d.max_steps,
        help="time limit: steps per episode at most (also the horizon of the exact evaluation)",
    )
    p.add_argument(
        "--planning-steps",
        type=nonnegative_int,
        default=d.planning_steps,
        metavar="N",
        help="planned updates per real step (n)",
    )
    p.add_argument(
        "--kappa",
        type=nonnegative_float,
        default=d.kappa,
        help="Dyna-Q+ exploration bonus kappa * sqrt(tau) in planning; 0 is plain Dyna-Q",
    )
    _common(p, "frozen-lake", learning_rate_default=d.learning_rate, model_default=d.model)
    p.set_defaults(handler=_run_frozen_lake)


def _add_maze(sub: Any) -> None:
    d = ex.DYNA_MAZE
    p = sub.add_parser(
        "maze",
        help="Sutton & Barto Figure 8.2: steps per episode in the Dyna maze, n = 0, 5, 50",
        description=(
            "Sutton & Barto Figure 8.2: Dyna-Q in the Dyna maze (6 x 9, shortest path 14 steps) "
            "with n = 0, 5 and 50 planning steps; steps per episode over 50 episodes, averaged "
            "over 30 runs; alpha 0.1, gamma 0.95, epsilon 0.1. The book: with n = 50 the agent "
            "finds the optimal path in about 3 episodes, with n = 0 in about 25."
        ),
        formatter_class=_Formatter,
    )
    p.add_argument("--runs", type=positive_int, default=d.runs, help="runs (seeds) per n")
    p.add_argument("--episodes", type=positive_int, default=d.episodes, help="episodes per run")
    p.add_argument(
        "--planning-steps",
        type=nonnegative_int,
        nargs="+",
        default=list(d.planning_steps),
        metavar="N",
        help="the values of n compared (one compiled call each)",
    )
    _common(p, "maze", learning_rate_default=d.learning_rate, model_default=d.model)
    p.set_defaults(handler=_run_maze)


def _add_changing(sub: Any, d: ex.ChangingMazeProtocol) -> None:
    figure = "8.4" if d.maze == "blocking" else "8.5"
    what = (
        "the short way round on the right closes and one opens on the left"
        if d.maze == "blocking"
        else "a shortcut opens on the right"
    )
    p = sub.add_parser(
        d.maze,
        help=f"Sutton & Barto Figure {figure}: Dyna-Q vs Dyna-Q+ in the {d.maze} maze",
        description=(
            f"Sutton & Barto Figure {figure}: cumulative reward against time step of Dyna-Q and "
            f"Dyna-Q+ in the {d.maze} maze: after {d.switch_step} steps {what}. "
            f"{d.steps} steps, n = {d.planning_steps}, alpha {d.learning_rate:g}, gamma "
            f"{d.discount:g}, epsilon {d.epsilon:g}, Dyna-Q+ kappa {d.kappa:g}; both agents run "
            "as one compiled sweep."
        ),
        formatter_class=_Formatter,
    )
    p.add_argument("--runs", type=positive_int, default=d.runs, help="runs (seeds) per agent")
    p.add_argument("--steps", type=positive_int, default=d.steps, help="real steps per run")
    p.add_argument(
        "--switch-step",
        type=nonnegative_int,
        default=d.switch_step,
        help="global step at which the walls move (at most --steps)",
    )
    p.add_argument(
        "--planning-steps",
        type=nonnegative_int,
        default=d.planning_steps,
        metavar="N",
        help="planned updates per real step (n)",
    )
    p.add_argument(
        "--kappa",
        type=positive_float,
        default=d.kappa,
        help="Dyna-Q+'s exploration bonus kappa * sqrt(tau) (Dyna-Q uses 0)",
    )
    _common(p, d.maze, learning_rate_default=d.learning_rate, model_default=d.model)
    p.set_defaults(handler=_run_changing, maze=d.maze)


def _add_bench(sub: Any) -> None:
    from dynaq_jax import bench

    p = sub.add_parser(
        "bench",
        help="the benchmark: dynaq_jax against the seed notebook's NumPy loop",
        description=(
            "Times the NumPy reference and dynaq_jax (FrozenLake 4x4 slippery, n = 50, count "
            "model) at several seed counts; reports env steps/s, planning updates/s, compile "
            "time, memory per seed and the speedup; writes bench.json and a scaling plot."
        ),
        formatter_class=_Formatter,
    )
    bench.add_arguments(p)
    p.set_defaults(handler=_run_bench)


def _add_sweeping(sub: Any) -> None:
    from dynaq_jax import sweeping_experiment

    p = sub.add_parser(
        "sweeping",
        help="Example 8.4 (prioritized sweeping vs Dyna-Q) and the planners on FrozenLake",
        description=(
            "Sutton & Barto Example 8.4: updates each planner needs until its greedy path is "
            "near-optimal on the Dyna maze scaled by k; or each planner's exact success "
            "probability on FrozenLake under the notebook's budget (--experiment frozenlake)."
        ),
        formatter_class=_Formatter,
    )
    sweeping_experiment.add_arguments(p)
    p.set_defaults(handler=_run_sweeping)


def build_parser() -> argparse.ArgumentParser:
    """The ``dynaq-jax`` argument parser with its subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Typed, purely functional tabular Dyna-Q in JAX: the published experiments. "
            "Each subcommand writes metrics (npz, CSV), summary.json and PNG plots to --out."
        ),
        epilog="Run 'dynaq-jax SUBCOMMAND --help' for a subcommand's options and defaults.",
    )
    from dynaq_jax import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(title="subcommands", dest="command", metavar="SUBCOMMAND")
    sub.required = True
    _add_frozen_lake(sub)
    _add_maze(sub)
    _add_changing(sub, ex.BLOCKING_MAZE)
    _add_changing(sub, ex.SHORTCUT_MAZE)
    _add_bench(sub)
    _add_sweeping(sub)
    return parser


# -- handlers -------------------------------------------------------------------------------------


def _common_fields(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "learning_rate": args.learning_rate,
        "discount": args.discount,
        "epsilon": args.epsilon,
        "model": args.model,
        "seed": args.seed,
    }


def _report(summary_text: str, files: Sequence[Path], out: Path) -> None:
    print(summary_text)
    print(f"wrote {len(files)} files to {out}: " + ", ".join(f.name for f in files))


def _command(args: argparse.Namespace) -> str:
    return " ".join([PROG, *(shlex.quote(a) for a in args.argv)])


def _run_frozen_lake(args: argparse.Namespace) -> int:
    protocol = ex.FrozenLakeProtocol(
        map_name=args.map_name,
        seeds=args.seeds,
        episodes=args.episodes,
        max_steps=args.max_steps,
        planning_steps=args.planning_steps,
        kappa=args.kappa,
        slippery=args.slippery,
        **_common_fields(args),
    )
    result = ex.run_frozen_lake(protocol, progress=args.progress)
    files = ex.write_frozen_lake(result, args.out, command=_command(args))
    _report(ex.format_frozen_lake(ex.summarize_frozen_lake(result)), files, args.out)
    return 0


def _run_maze(args: argparse.Namespace) -> int:
    protocol = ex.DynaMazeProtocol(
        runs=args.runs,
        episodes=args.episodes,
        planning_steps=tuple(args.planning_steps),
        **_common_fields(args),
    )
    result = ex.run_dyna_maze(protocol, progress=args.progress)
    files = ex.write_dyna_maze(result, args.out, command=_command(args))
    _report(ex.format_dyna_maze(ex.summarize_dyna_maze(result)), files, args.out)
    return 0


def _run_changing(args: argparse.Namespace) -> int:
    base = ex.BLOCKING_MAZE if args.maze == "blocking" else ex.SHORTCUT_MAZE
    protocol = dataclasses.replace(
        base,
        runs=args.runs,
        steps=args.steps,
        switch_step=args.switch_step,
        planning_steps=args.planning_steps,
        kappa=args.kappa,
        **_common_fields(args),
    )
    result = ex.run_changing_maze(protocol, progress=args.progress)
    files = ex.write_changing_maze(result, args.out, command=_command(args))
    _report(ex.format_changing_maze(ex.summarize_changing_maze(result)), files, args.out)
    return 0


def _run_sweeping(args: argparse.Namespace) -> int:
    from dynaq_jax import sweeping_experiment

    return int(sweeping_experiment.main(args))


def _run_bench(args: argparse.Namespace) -> int:
    from dynaq_jax import bench

    return int(bench.main(args))


# -- entry point ----------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dynaq-jax`` with ``argv`` (default ``sys.argv[1:]``); return the exit status.

    0 on success; 2 for a user error (a bad option or value: argparse's message, or
    ``dynaq-jax: error: ...`` for a value the library rejects), with no traceback; 130 when
    interrupted.
    """
    args_list = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:  # --help, --version, or argparse's usage error
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    args.argv = args_list
    handler: Handler = args.handler
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        print(f"{PROG}: error: --out {out} exists and is not a folder", file=sys.stderr)
        return EXIT_USAGE
    try:
        return handler(args)
    except ValueError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130


__all__ = ["build_parser", "main"]
