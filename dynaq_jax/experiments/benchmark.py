"""Side-by-side benchmark: the seed notebook's NumPy loop against ``dynaq_jax.train_seeds``.

One run on one machine times

* the NumPy reference (``dynaq_jax.experiments.reference_numpy``): the notebook as written
  (``"numpy"``: dict model of the last-seen ``(s', r)``, ``np.argmax`` tie-break) and its
  count-model variant (``"numpy-count"``: the lecture notes' ``T_c``/``R``), on the notebook's
  protocol (episodes of at most 100 steps), one seed after another. The NumPy loop is
  sequential, so its rates do not depend on the number of seeds: a few seeds give its per-step
  rates, and ``k`` seeds take ``k`` times as long;
* ``dynaq_jax`` (count model, the library's default): ``train_seeds`` on a **fixed step budget**
  per seed (step-budget mode), at each seed count. A step budget gives every seed the same amount
  of work (in episode mode finished seeds idle, masked, until the slowest seed is done, which
  would measure the spread of episode lengths rather than the loop) and makes the counts exact:
  every real step runs exactly ``n`` planning updates in both implementations (a pair is always
  known by then), so ``planning updates = n * real steps``. The default budget aims at about
  ``1e8`` planning updates per timed call (``--steps`` fixes it).

Reported per row: real env steps/s, planning updates/s, compile time and run time kept apart
(``jax.monitoring`` time spans of tracing, lowering and XLA compilation inside each call; run
time is the call's wall time minus those spans, the best of ``--repeats`` calls), memory per seed
and the speedup over both NumPy loops. Writes ``bench.json`` and one scaling plot per environment
(``plotting.plot_scaling``), prints a markdown table and PASS/FAIL against the targets (FrozenLake
4x4 slippery, ``n = 50``).

The host loop (``gym_loop``) is timed beside the notebook's loop of the same run: one agent
stepping gymnasium's FrozenLake (``gym_loop.train``) and one agent per sub-env of a sync vector env
(``gym_loop.train_vector``, ``--host-envs``), ``--host-steps`` real agent steps per timed run (the
median of three), compile time apart (an untimed first run), reported as wall microseconds per real
step and as the ratio to the NumPy loop's (``bench.json``'s ``host_loop``; ``--no-host-loop``
skips it, ``--quick`` runs it only when ``--host-steps`` is given).

Episode mode, the mode a user runs, is timed beside step-budget mode (``benchmark_lanes``):
``train_seeds(n_episodes=--episodes)`` at each ``--episode-seeds`` count (default 30 episodes at
1000 and 10000 seeds), as it runs by default (streamed through lanes) and, up to 1000 seeds, in
lockstep; useful planning updates only, the idle fraction of the lanes, the ratio to step mode at
the same seed count (``bench.json``'s ``episode_mode``; ``--no-episode-mode`` skips it,
``--quick`` runs it only when ``--episode-seeds`` is given).

Memory: ``state_bytes_per_seed`` is ``memory_per_seed`` (the agent state; ``T_c`` is ``4 S A S``
bytes); ``result_bytes_per_seed`` is what ``train_seeds`` returns per seed (state plus metrics and
the per-step rewards of step-budget mode). Seed counts whose agent states alone exceed
``--memory-budget`` are skipped and listed.

Devices: on CPU one XLA device runs the loop's kernels one after another, mostly on one core, so
the benchmark runs, as the other commands do, with one host device per core (``--devices N``
chooses: ``distributed.use_cpu_devices``), the seeds sharded over them. Called in a process whose
JAX has already started with another count, it re-runs itself in a child process with
``XLA_FLAGS=--xla_force_host_platform_device_count=N``.

The measurements live in ``benchmark_measure``, the targets and tables in ``benchmark_report``;
this module runs them (``run_benchmark``) and is the ``dynaq-jax bench`` command (``main``, with
the options ``BenchOptions``). Usage::

    dynaq-jax bench                       # FrozenLake 4x4, 1 .. 10000 seeds
    dynaq-jax bench --devices 1           # one host device (the default: one per core)
    dynaq-jax bench --envs 4x4 8x8 taxi   # also FrozenLake 8x8 and Taxi-v4
    dynaq-jax bench --quick               # seconds: small sizes, for tests and CI

(``python experiments/benchmark.py`` is the same command.)
"""

import dataclasses
import datetime
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import jax
import numpy as np
import tyro

from dynaq_jax import distributed
from dynaq_jax.experiments.benchmark_lanes import (
    EPISODE_SEEDS,
    EPISODES,
    episode_markdown_table,
    episode_section,
)
from dynaq_jax.experiments.benchmark_measure import (
    DEFAULT_SEEDS,
    ENVS,
    HOST_STEPS,
    JAX_COMPACT_IMPL,
    JAX_IMPL,
    NUMPY_COUNT_IMPL,
    NUMPY_IMPL,
    NUMPY_MAX_STEPS,
    PRIMARY_ENV,
    QUICK_SEEDS,
    HostRow,
    Options,
    Row,
    add_host_speedups,
    add_speedups,
    auto_steps,
    bench_config,
    make_env,
    numpy_host_row,
    resolve_env,
    time_host,
    time_jax,
    time_numpy,
)
from dynaq_jax.experiments.benchmark_report import (
    evaluate_host_targets,
    evaluate_targets,
    format_bytes,
    host_markdown_table,
    markdown_table,
    notes,
    overall_status,
    targets_text,
)
from dynaq_jax.experiments.options import POSITIVE_INT, FieldCheck, check_fields
from dynaq_jax.experiments.output import staged_output, write_json
from dynaq_jax.plotting import plot_scaling
from dynaq_jax.train import memory_per_seed

SEED_COUNTS = dataclasses.replace(POSITIVE_INT, many=True, optional=True)
ENV_NAMES = FieldCheck(str, metavar="ENV", many=True, optional=True)
OPTIONAL_POSITIVE_INT = dataclasses.replace(POSITIVE_INT, optional=True)

OptionalPositiveInt = Annotated[
    int | None,
    OPTIONAL_POSITIVE_INT,
    OPTIONAL_POSITIVE_INT.cli(),
    tyro.conf.arg(help_behavior_hint="(default: see above)"),
]
"""An int ``>= 1``, or ``None``: not given, the benchmark picks (``--quick`` picks small)."""


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    """The options of ``dynaq-jax bench`` (each field's docstring is its help). ``None``: not
    given; ``options_from_args`` resolves it, to a small value with ``--quick``."""

    seeds: Annotated[
        tuple[int, ...] | None,
        SEED_COUNTS,
        SEED_COUNTS.cli(),
        tyro.conf.arg(help_behavior_hint="(default: see above)"),
    ] = None
    """seed counts for dynaq_jax (default 1 10 100 1000 10000; --quick: 1 8)"""
    quick: bool = False
    """small sizes (seconds): for tests and CI; the targets are then mostly not measured"""
    out: Path = Path("runs/bench")
    """output folder for bench.json and the plots (replaced whole when the run is done)"""
    envs: Annotated[
        tuple[str, ...] | None,
        ENV_NAMES,
        ENV_NAMES.cli(),
        tyro.conf.arg(help_behavior_hint="(default: FrozenLake-v1:4x4)"),
    ] = None
    """environments: FrozenLake-v1:4x4, FrozenLake-v1:8x8, Taxi-v4 (aliases 4x4, 8x8, taxi)"""
    devices: Annotated[
        OptionalPositiveInt, tyro.conf.arg(help_behavior_hint="(default: one per core)")
    ] = None
    """CPU: run on N host devices, the seeds sharded over them (as --cpu-devices elsewhere)"""
    planning_steps: int = 50
    """n, planning updates per real step"""
    steps: OptionalPositiveInt = None
    """dynaq_jax real steps per seed per call (default: ~1e8 updates per call; --quick: 100)"""
    repeats: OptionalPositiveInt = None
    """timed calls per dynaq_jax row, best run time reported (default 2; --quick: 1)"""
    numpy_seeds: OptionalPositiveInt = None
    """seeds of the NumPy loops, run one after another (default 3; --quick: 1)"""
    numpy_episodes: OptionalPositiveInt = None
    """notebook episodes per NumPy seed (default 300, the notebook's; --quick: 5)"""
    no_numpy: bool = False
    """skip the NumPy reference"""
    no_compact: bool = False
    """skip the compact count model's rows (outcome_slots = the env's distinct outcomes)"""
    memory_budget: float = 8.0
    """GiB: skip seed counts whose agent states exceed it, and report the most seeds that fit"""
    host_steps: OptionalPositiveInt = None
    """host loop: real agent steps per timed run (default 3000; --quick: no host-loop section
    unless given)"""
    host_envs: Annotated[int, POSITIVE_INT, POSITIVE_INT.cli()] = 64
    """host loop: sub-envs of the vector-env row (1: no vector row)"""
    no_host_loop: bool = False
    """skip the host-loop section (gym_loop beside the notebook's loop)"""
    sync_dispatch: bool = False
    """CPU: run each computation in the calling thread (jax_cpu_enable_async_dispatch=False, set
    before JAX starts): one thread hand-off fewer per host-loop step"""
    episodes: OptionalPositiveInt = None
    """episode mode: episodes per seed (default 30)"""
    episode_seeds: Annotated[
        tuple[int, ...] | None,
        SEED_COUNTS,
        SEED_COUNTS.cli(),
        tyro.conf.arg(help_behavior_hint="(default: see above)"),
    ] = None
    """episode mode: seed counts, each beside step mode at the same count (default 1000 10000;
    --quick: no episode-mode section unless given)"""
    no_episode_mode: bool = False
    """skip the episode-mode section (useful throughput and idle lanes beside step mode)"""

    def __post_init__(self) -> None:
        """Check the sizes; resolve the env aliases (``taxi`` -> ``Taxi-v4``)."""
        check_fields(self)
        if self.envs is not None:
            object.__setattr__(self, "envs", tuple(resolve_env(e) for e in self.envs))


# -- the run --------------------------------------------------------------------------------------


def _slug(env_name: str) -> str:
    return re.sub(r"[^A-Za-z0-9.]+", "-", env_name).strip("-")


def _meta(options: Options) -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "numpy": np.__version__,
        "backend": jax.default_backend(),
        "devices": len(jax.local_devices()),
        "device_kind": jax.local_devices()[0].device_kind,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "system": platform.system(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "options": {
            k: (str(v) if isinstance(v, Path) else v)
            for k, v in dataclasses.asdict(options).items()
        },
        "protocol": (
            "dynaq_jax: train_seeds, count model, fixed step budget per seed (step-budget mode), "
            "seeds sharded over the local devices; run time = best call's wall time minus its "
            "tracing/lowering/compilation spans. NumPy: the notebook loop (episodes of at most "
            f"{NUMPY_MAX_STEPS} steps), seeds one after another. Planning updates = n * real steps "
            "in both."
        ),
    }


def _peak_rss_bytes() -> int | None:
    try:
        import resource
    except ImportError:  # not on POSIX
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def run_benchmark(
    options: Options,
    numpy: bool = True,
    log: Callable[[str], None] = print,
    folder: Path | None = None,
) -> dict[str, Any]:
    """Run every measurement of ``options``, write ``bench.json`` (strict JSON: an undefined
    number is ``null``) and the scaling plots into ``folder`` (default ``options.out``; ``main``
    passes a fresh folder that then replaces ``options.out``), and return the report (the JSON's
    content)."""
    out = options.out if folder is None else Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    budget = int(options.memory_budget_gb * 2**30)
    rows: list[Row] = []
    memory: list[dict[str, Any]] = []
    plots: list[str] = []
    for env_name in options.envs:
        env = make_env(env_name)
        state_bytes = memory_per_seed(env, bench_config(env_name, options))
        compact_config = bench_config(env_name, options, compact=True)
        compact_bytes = memory_per_seed(env, compact_config)
        env_rows: list[Row] = []
        if numpy and ENVS[env_name].numpy_map is not None:
            for impl in (NUMPY_IMPL, NUMPY_COUNT_IMPL):
                log(
                    f"[bench] {env_name} {impl}: {options.numpy_seeds} seed(s) x "
                    f"{options.numpy_episodes} episodes"
                )
                env_rows.append(time_numpy(impl, env_name, options))
        skipped = []
        variants = [(JAX_IMPL, False, state_bytes)]
        if options.compact:
            variants.append((JAX_COMPACT_IMPL, True, compact_bytes))
        for impl, compact, per_seed in variants:
            for seeds in options.seeds:
                if seeds * per_seed > budget:
                    skipped.append(f"{impl}: {seeds}")
                    log(
                        f"[bench] {env_name} {impl}: skip {seeds} seeds "
                        f"({format_bytes(seeds * per_seed)} of agent state > budget "
                        f"{format_bytes(budget)})"
                    )
                    continue
                log(
                    f"[bench] {env_name} {impl}: {seeds} seed(s) x "
                    f"{auto_steps(seeds, options.planning_steps, options)} steps"
                )
                env_rows.append(time_jax(env_name, seeds, options, compact))
        add_speedups(env_rows)
        rows.extend(env_rows)
        memory.append(
            {
                "env": env_name,
                "n_states": env.n_states,
                "n_actions": env.n_actions,
                "state_bytes_per_seed": state_bytes,
                "t_c_bytes_per_seed": 4 * env.n_states * env.n_actions * env.n_states,
                "compact_outcome_slots": compact_config.outcome_slots,
                "compact_state_bytes_per_seed": compact_bytes,
                "budget_bytes": budget,
                "max_seeds_in_budget": budget // state_bytes,
                "compact_max_seeds_in_budget": budget // compact_bytes,
                "skipped_seeds": skipped,
                "peak_rss_bytes": _peak_rss_bytes(),
            }
        )
        plottable = [r.to_dict() for r in env_rows if r.planning_updates_per_s > 0]
        if plottable:
            has_ref = any(r.impl == NUMPY_IMPL for r in env_rows)
            path = plot_scaling(
                plottable,
                out / f"scaling_{_slug(env_name)}.png",
                reference=NUMPY_IMPL if has_ref else None,
                title=f"Dyna-Q planning throughput: {env_name}, n = {options.planning_steps}",
            )
            plots.append(path.name)
    host_rows = _host_section(options, rows, log)
    episode_rows, episode_targets = episode_section(options, log)
    targets = evaluate_targets(rows)
    report = {
        "meta": _meta(options),
        "rows": [r.to_dict() for r in rows],
        "memory": memory,
        "targets": targets,
        "targets_compact": evaluate_targets(rows, impl=JAX_COMPACT_IMPL) if options.compact else [],
        "status": "QUICK" if options.quick else overall_status(targets),
        "notes": notes(rows),
        "plots": plots,
        "markdown": markdown_table(rows),
    }
    if options.host_steps is not None:
        report["host_loop"] = {
            "rows": [r.to_dict() for r in host_rows],
            "targets": evaluate_host_targets(host_rows),
            "markdown": host_markdown_table(host_rows),
        }
    if episode_rows:
        report["episode_mode"] = {
            "episodes": options.episodes or EPISODES,
            "rows": [r.to_dict() for r in episode_rows],
            "targets": episode_targets,
            "markdown": episode_markdown_table(episode_rows),
        }
    write_json(out / "bench.json", report)
    return report


def _host_section(options: Options, rows: list[Row], log: Callable[[str], None]) -> list[HostRow]:
    """The host loop on the primary env (one agent, then ``host_envs`` sub-envs), beside the
    NumPy rows of the same run; nothing when ``options.host_steps`` is ``None``."""
    if options.host_steps is None or PRIMARY_ENV not in options.envs:
        return []
    numpy_impls = (NUMPY_IMPL, NUMPY_COUNT_IMPL)
    out = [numpy_host_row(r) for r in rows if r.impl in numpy_impls and r.env == PRIMARY_ENV]
    log(f"[bench] {PRIMARY_ENV} host loop: 1 agent, {options.host_steps} real steps per run")
    out.append(time_host(PRIMARY_ENV, options))
    if options.host_envs > 1:
        log(
            f"[bench] {PRIMARY_ENV} host loop: {options.host_envs} sub-envs, "
            f"{options.host_steps} real agent steps per run"
        )
        out.append(time_host(PRIMARY_ENV, options, options.host_envs))
    add_host_speedups(out)
    return out


# -- command line ---------------------------------------------------------------------------------

_CHILD_ENV = "DYNAQ_JAX_BENCH_CHILD"


def xla_flags_with_devices(flags: str, devices: int) -> str:
    """``flags`` (an ``XLA_FLAGS`` value) with the host device count set to ``devices``."""
    kept = [f for f in flags.split() if not f.startswith(distributed.DEVICE_FLAG)]
    return " ".join([*kept, f"{distributed.DEVICE_FLAG}={devices}"])


def options_from_args(args: BenchOptions) -> Options:
    """The ``Options`` of parsed arguments (``--quick`` picks small defaults)."""
    quick = bool(args.quick)

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    return Options(
        envs=tuple(args.envs or (PRIMARY_ENV,)),
        seeds=tuple(pick(args.seeds, DEFAULT_SEEDS, QUICK_SEEDS)),
        planning_steps=int(args.planning_steps),
        steps=pick(args.steps, None, 100),
        repeats=pick(args.repeats, 2, 1),
        numpy_seeds=pick(args.numpy_seeds, 3, 1),
        numpy_episodes=pick(args.numpy_episodes, 300, 5),
        memory_budget_gb=float(args.memory_budget),
        out=Path(args.out),
        quick=quick,
        compact=not args.no_compact,
        host_steps=None if args.no_host_loop else pick(args.host_steps, HOST_STEPS, None),
        host_envs=int(args.host_envs),
        sync_dispatch=bool(args.sync_dispatch),
        episodes=args.episodes,
        episode_seeds=()
        if args.no_episode_mode
        else tuple(pick(args.episode_seeds, EPISODE_SEEDS, ())),
    )


def to_argv(args: BenchOptions) -> list[str]:
    """Command-line arguments that parse back to ``args`` (for the child process)."""
    argv = ["--out", str(args.out), "--planning-steps", str(args.planning_steps)]
    argv += ["--memory-budget", repr(float(args.memory_budget))]
    if args.quick:
        argv.append("--quick")
    if args.no_numpy:
        argv.append("--no-numpy")
    if args.no_compact:
        argv.append("--no-compact")
    if args.no_host_loop:
        argv.append("--no-host-loop")
    if args.sync_dispatch:
        argv.append("--sync-dispatch")
    if args.no_episode_mode:
        argv.append("--no-episode-mode")
    if args.episode_seeds is not None:
        argv += ["--episode-seeds", *map(str, args.episode_seeds)]
    if args.host_envs != BenchOptions.host_envs:
        argv += ["--host-envs", str(args.host_envs)]
    if args.seeds is not None:
        argv += ["--seeds", *map(str, args.seeds)]
    if args.envs is not None:
        argv += ["--envs", *args.envs]
    for flag, value in (
        ("--devices", args.devices),
        ("--steps", args.steps),
        ("--repeats", args.repeats),
        ("--numpy-seeds", args.numpy_seeds),
        ("--numpy-episodes", args.numpy_episodes),
        ("--host-steps", args.host_steps),
        ("--episodes", args.episodes),
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def _rerun_with_devices(args: BenchOptions, devices: int) -> int:
    """Run the benchmark in a child process whose JAX starts with ``devices`` host devices."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = xla_flags_with_devices(env.get("XLA_FLAGS", ""), devices)
    env[_CHILD_ENV] = "1"
    # The child imports this package from the same place, installed or not.
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    print(f"[bench] re-running with XLA_FLAGS={env['XLA_FLAGS']!r}", flush=True)
    cmd = [sys.executable, "-m", "dynaq_jax", "bench", *to_argv(args)]
    return subprocess.run(cmd, env=env, check=False).returncode


def main(args: BenchOptions) -> int:
    """Run the benchmark for parsed ``args`` ; returns the exit status
    (0 once the benchmark ran, whatever the targets; 2 on a usage error, printed as
    ``dynaq-jax: error: ...``). The files are written into a fresh folder that replaces
    ``args.out`` once they all are (``output.staged_output``)."""
    try:
        options = options_from_args(args)
    except ValueError as err:
        print(f"dynaq-jax: error: bench: {err}", file=sys.stderr)
        return 2
    if args.sync_dispatch:
        # Read when JAX starts its CPU client, which nothing has done yet.
        jax.config.update("jax_cpu_enable_async_dispatch", False)  # type: ignore[no-untyped-call]
    try:
        distributed.use_cpu_devices(args.devices)  # before JAX starts: no child process needed
    except ValueError as err:  # JAX has started (in-process call), or XLA_FLAGS says otherwise
        if os.environ.get(_CHILD_ENV):
            print(f"dynaq-jax: error: bench: {err}", file=sys.stderr)
            return 2
        assert args.devices is not None  # use_cpu_devices(None) keeps what JAX has
        return _rerun_with_devices(args, args.devices)
    with staged_output(options.out) as folder:
        report = run_benchmark(options, numpy=not args.no_numpy, folder=folder)
    print()
    print(report["markdown"])
    print()
    print(targets_text(report["targets"]))
    if report["targets_compact"]:
        print("the same targets for the compact count model (exact for this env; not the overall):")
        print(targets_text(report["targets_compact"]))
    if args.quick:
        print("overall: QUICK (--quick: sizes too small for the targets to mean much)")
    else:
        print(f"overall: {report['status']}")
    for note in report["notes"]:
        print(f"note: {note}")
    if "host_loop" in report:
        print()
        print(report["host_loop"]["markdown"])
        print()
        print("the host loop (gym_loop) beside the notebook's loop, same run:")
        print(targets_text(report["host_loop"]["targets"]))
    if "episode_mode" in report:
        section = report["episode_mode"]
        print()
        print(section["markdown"])
        print()
        print(f"episode mode ({section['episodes']} episodes per seed) beside step mode, same run:")
        print(targets_text(section["targets"]))
    b = format_bytes
    for m in report["memory"]:
        line = (
            f"memory {m['env']}: {b(m['state_bytes_per_seed'])} of agent state per seed; "
            f"{m['max_seeds_in_budget']} seeds fit in {b(m['budget_bytes'])}; compact model "
            f"(K = {m['compact_outcome_slots']}): {b(m['compact_state_bytes_per_seed'])}, "
            f"{m['compact_max_seeds_in_budget']} seeds"
        )
        if m["skipped_seeds"]:
            line += f" (skipped: {', '.join(map(str, m['skipped_seeds']))} seeds)"
        print(line)
    print(f"wrote {options.out / 'bench.json'} and {', '.join(report['plots'])}")
    return 0


__all__ = [
    "BenchOptions",
    "main",
    "options_from_args",
    "run_benchmark",
    "to_argv",
    "xla_flags_with_devices",
]
