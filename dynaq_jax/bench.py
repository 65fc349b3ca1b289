"""Side-by-side benchmark: the seed notebook's NumPy loop against ``dynaq_jax.train_seeds``.

One run on one machine times

* the NumPy reference (``experiments/reference_numpy.py``): the notebook as written (``"numpy"``:
  dict model of the last-seen ``(s', r)``, ``np.argmax`` tie-break) and its count-model variant
  (``"numpy-count"``: the lecture notes' ``T_c``/``R``), on the notebook's protocol (episodes of
  at most 100 steps), one seed after another. The NumPy loop is sequential, so its rates do not
  depend on the number of seeds: a few seeds give its per-step rates, and ``k`` seeds take ``k``
  times as long;
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

Memory: ``state_bytes_per_seed`` is ``memory_per_seed`` (the agent state; ``T_c`` is ``4 S A S``
bytes); ``result_bytes_per_seed`` is what ``train_seeds`` returns per seed (state plus metrics and
the per-step rewards of step-budget mode). Seed counts whose agent states alone exceed
``--memory-budget`` are skipped and listed.

Devices: on CPU one XLA device runs the loop mostly on one core. ``--devices N`` runs the benchmark
with ``N`` host devices, the seeds sharded over them; because ``XLA_FLAGS`` must be set before JAX
starts, the benchmark then re-runs itself in a child process with
``XLA_FLAGS=--xla_force_host_platform_device_count=N`` (the library itself never sets it).

Usage::

    python experiments/benchmark.py                       # FrozenLake 4x4, 1 .. 10000 seeds
    python experiments/benchmark.py --devices 2           # seeds sharded over 2 host devices
    python experiments/benchmark.py --envs 4x4 8x8 taxi   # also FrozenLake 8x8 and Taxi-v4
    python experiments/benchmark.py --quick               # seconds: small sizes, for tests and CI
"""

import argparse
import dataclasses
import datetime
import functools
import importlib.util
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import jax
import numpy as np

from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import TabularMDP, distinct_outcomes, from_gymnasium
from dynaq_jax.train import memory_per_seed, train_seeds

# -- what is measured -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EnvSpec:
    """A benchmark environment: the gymnasium id and ``make`` kwargs, and the FrozenLake map the
    NumPy reference runs (``None``: no NumPy reference for this env)."""

    gym_id: str
    make_kwargs: tuple[tuple[str, Any], ...]
    numpy_map: str | None


ENVS: dict[str, EnvSpec] = {
    "FrozenLake-v1:4x4": EnvSpec(
        "FrozenLake-v1", (("map_name", "4x4"), ("is_slippery", True)), "4x4"
    ),
    "FrozenLake-v1:8x8": EnvSpec(
        "FrozenLake-v1", (("map_name", "8x8"), ("is_slippery", True)), "8x8"
    ),
    "Taxi-v4": EnvSpec("Taxi-v4", (), None),
}
"""The environments ``--envs`` accepts (also as ``4x4``, ``8x8``, ``taxi``)."""

_ALIASES = {"4x4": "FrozenLake-v1:4x4", "8x8": "FrozenLake-v1:8x8", "taxi": "Taxi-v4"}

PRIMARY_ENV = "FrozenLake-v1:4x4"
"""The environment the targets refer to."""

DEFAULT_SEEDS = (1, 10, 100, 1000, 10000)
QUICK_SEEDS = (1, 8)
NUMPY_MAX_STEPS = 100
"""The notebook's ``max_steps`` per episode."""

JAX_IMPL = "dynaq_jax"
JAX_COMPACT_IMPL = "dynaq_jax-compact"
"""The compact count model (``outcome_slots = distinct_outcomes(env)``: exact for the env)."""
_JAX_IMPLS = (JAX_IMPL, JAX_COMPACT_IMPL)
NUMPY_IMPL = "numpy"
NUMPY_COUNT_IMPL = "numpy-count"
_NUMPY_MODELS = {NUMPY_IMPL: "deterministic", NUMPY_COUNT_IMPL: "count"}


@dataclasses.dataclass(frozen=True)
class Target:
    """A performance target on the primary environment."""

    name: str
    threshold: float
    higher_is_better: bool
    unit: str
    """Printed right after the number (with its own leading space where one belongs)."""


TARGETS = (
    Target("planning updates/s at >= 1000 seeds", 30e6, True, " updates/s"),
    Target("speedup over the NumPy notebook loop at >= 1000 seeds", 100.0, True, "x"),
    Target("planning updates/s at 1 seed", 3e6, True, " updates/s"),
    Target("compile time at 1 seed", 5.0, False, " s"),
)


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything a benchmark run depends on (resolved from the command line)."""

    envs: tuple[str, ...] = (PRIMARY_ENV,)
    seeds: tuple[int, ...] = DEFAULT_SEEDS
    planning_steps: int = 50
    steps: int | None = None
    """Real steps per seed per call; ``None``: ``auto_steps``."""
    target_updates: float = 1e8
    min_steps: int = 200
    max_steps: int = 50_000
    repeats: int = 2
    numpy_seeds: int = 3
    numpy_episodes: int = 300
    memory_budget_gb: float = 8.0
    out: Path = Path("runs/bench")
    quick: bool = False
    """Small sizes: the targets are shown but the overall status is ``"QUICK"``."""
    compact: bool = True
    """Also time the compact count model (``JAX_COMPACT_IMPL``)."""

    def __post_init__(self) -> None:
        """Canonical env names (aliases resolved, duplicates dropped); sizes checked."""
        object.__setattr__(self, "envs", tuple(dict.fromkeys(resolve_env(e) for e in self.envs)))
        positive = {
            "seeds": min(self.seeds, default=0),
            "steps": 1 if self.steps is None else self.steps,
            "min_steps": self.min_steps,
            "repeats": self.repeats,
            "numpy_seeds": self.numpy_seeds,
            "numpy_episodes": self.numpy_episodes,
            "memory_budget_gb": self.memory_budget_gb,
            "target_updates": self.target_updates,
        }
        for name, value in positive.items():
            if not value > 0:
                raise ValueError(f"benchmark option {name} must be positive, got {value}")
        if self.max_steps < self.min_steps:
            raise ValueError(f"max_steps {self.max_steps} < min_steps {self.min_steps}")
        if self.planning_steps < 0:
            raise ValueError(f"planning_steps must be >= 0, got {self.planning_steps}")


def resolve_env(name: str) -> str:
    """The canonical ``ENVS`` key for ``name`` (a key or an alias, case-insensitive)."""
    folded = {k.lower(): k for k in ENVS} | {k.lower(): v for k, v in _ALIASES.items()}
    try:
        return folded[name.lower()]
    except KeyError:
        raise ValueError(
            f"unknown benchmark env {name!r}; choose from {sorted(ENVS)} or {sorted(_ALIASES)}"
        ) from None


@functools.cache
def make_env(name: str) -> TabularMDP:
    """The ``TabularMDP`` of benchmark env ``name``."""
    spec = ENVS[resolve_env(name)]
    return from_gymnasium(spec.gym_id, **dict(spec.make_kwargs))


def auto_steps(seeds: int, planning_steps: int, options: Options) -> int:
    """Real steps per seed for one timed call: ``target_updates / (seeds * n)``, clipped to
    ``[min_steps, max_steps]`` (``options.steps`` when given)."""
    if options.steps is not None:
        return options.steps
    per_step = max(planning_steps, 1)
    wanted = round(options.target_updates / (seeds * per_step))
    return int(min(max(wanted, options.min_steps), options.max_steps))


# -- compile time ---------------------------------------------------------------------------------

_COMPILE_EVENTS = frozenset(
    {
        "/jax/core/compile/jaxpr_trace_duration",
        "/jax/core/compile/jaxpr_to_mlir_module_duration",
        "/jax/core/compile/backend_compile_duration",
    }
)


def union_length(spans: Sequence[tuple[float, float]]) -> float:
    """Total length of the union of intervals ``[start, end]`` (nested spans count once)."""
    total, reach = 0.0, -math.inf
    for start, end in sorted(spans):
        if end <= reach:
            continue
        total += end - max(start, reach)
        reach = end
    return total


class CompileClock:
    """Collects JAX's tracing, lowering and compilation time spans while active.

    ``seconds`` is the length of their union: a nested ``jit`` traced inside another is not counted
    twice. Uses ``jax.monitoring`` time-span events, so it sees every compilation a call triggers,
    cached or not.
    """

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    def _listener(
        self, event: str, start_time: float, end_time: float, **kwargs: str | int
    ) -> None:
        if event in _COMPILE_EVENTS:
            self.spans.append((start_time, end_time))

    @property
    def seconds(self) -> float:
        """Seconds spent compiling (union of the recorded spans)."""
        return union_length(self.spans)

    @contextmanager
    def active(self) -> Iterator["CompileClock"]:
        """Record spans inside the ``with`` block."""
        jax.monitoring.register_event_time_span_listener(self._listener)
        try:
            yield self
        finally:
            jax.monitoring.unregister_event_time_span_listener(self._listener)


def timed_call(fn: Callable[[], object]) -> tuple[float, float, object]:
    """``(wall seconds, compile seconds, result)`` of ``fn()`` (its result made ready)."""
    clock = CompileClock()
    with clock.active():
        start = time.perf_counter()
        out = jax.block_until_ready(fn())  # type: ignore[no-untyped-call]
        wall = time.perf_counter() - start
    return wall, clock.seconds, out


# -- rows -----------------------------------------------------------------------------------------


@dataclasses.dataclass
class Row:
    """One measurement: an implementation at a number of seeds in one env."""

    impl: str
    env: str
    model: str
    seeds: int
    devices: int
    real_steps: int
    planning_updates: int
    run_s: float
    """Best run time over the calls (compile time excluded)."""
    env_steps_per_s: float
    planning_updates_per_s: float
    steps_per_seed: int | None = None
    """``dynaq_jax``: the step budget of each seed."""
    episodes_per_seed: int | None = None
    """NumPy: notebook episodes per seed."""
    compile_s: float | None = None
    """``dynaq_jax``: tracing, lowering and compilation inside the first call."""
    first_call_s: float | None = None
    run_s_all: list[float] = dataclasses.field(default_factory=list)
    compile_s_all: list[float] = dataclasses.field(default_factory=list)
    state_bytes_per_seed: int | None = None
    result_bytes_per_seed: int | None = None
    speedup_vs_numpy: float | None = None
    speedup_vs_numpy_count: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _nbytes(tree: object) -> int:
    return int(sum(np.asarray(x).nbytes for x in jax.tree.leaves(tree)))


def bench_config(env_name: str, options: Options, compact: bool = False) -> DynaQConfig:
    """The measured config: the count model with ``options.planning_steps``; ``compact``: with
    ``outcome_slots = distinct_outcomes(env)`` (exact for the env)."""
    slots = distinct_outcomes(make_env(env_name)) if compact else 0
    return DynaQConfig(planning_steps=options.planning_steps, model="count", outcome_slots=slots)


def time_jax(env_name: str, seeds: int, options: Options, compact: bool = False) -> Row:
    """Time ``train_seeds`` (count model, ``options.planning_steps``; ``compact``: the compact
    count model) on a step budget per seed."""
    env = make_env(env_name)
    config = bench_config(env_name, options, compact)
    steps = auto_steps(seeds, options.planning_steps, options)
    keys = jax.random.split(jax.random.key(0), seeds)

    def call() -> object:
        with warnings.catch_warnings():
            # Step-budget mode records only the first episodes; the benchmark does not read them.
            warnings.filterwarnings("ignore", message=r"train: up to \d+ episodes finished")
            return train_seeds(env, config, keys, n_steps=steps)

    walls, compiles = [], []
    out: Any = None
    for _ in range(max(options.repeats, 1)):
        wall, comp, out = timed_call(call)
        walls.append(wall)
        compiles.append(comp)
    runs = [max(w - c, 1e-9) for w, c in zip(walls, compiles, strict=True)]
    run_s = min(runs)
    real_steps = int(np.sum(out.steps_done))
    updates = real_steps * options.planning_steps
    return Row(
        impl=JAX_COMPACT_IMPL if compact else JAX_IMPL,
        env=env_name,
        model=f"count, compact K={config.outcome_slots}" if compact else "count",
        seeds=seeds,
        devices=min(len(jax.local_devices()), seeds),
        real_steps=real_steps,
        planning_updates=updates,
        run_s=run_s,
        env_steps_per_s=real_steps / run_s,
        planning_updates_per_s=updates / run_s,
        steps_per_seed=steps,
        compile_s=compiles[0],
        first_call_s=walls[0],
        run_s_all=runs,
        compile_s_all=compiles,
        state_bytes_per_seed=memory_per_seed(env, config),
        result_bytes_per_seed=_nbytes(out) // seeds,
    )


def load_reference() -> ModuleType:
    """``experiments/reference_numpy.py`` of the source checkout this package lives in (or of the
    working directory). Raises ``FileNotFoundError`` when neither has it."""
    name = "dynaq_jax_bench_reference_numpy"
    if name in sys.modules:
        return sys.modules[name]
    candidates = [
        Path(__file__).resolve().parents[1] / "experiments" / "reference_numpy.py",
        Path.cwd() / "experiments" / "reference_numpy.py",
    ]
    for path in candidates:
        if path.is_file():
            spec = importlib.util.spec_from_file_location(name, path)
            assert spec is not None and spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
            return module
    raise FileNotFoundError(
        "the NumPy reference experiments/reference_numpy.py was not found next to the package or "
        "in the working directory: run from a source checkout, or pass --no-numpy"
    )


def time_numpy(impl: str, env_name: str, options: Options) -> Row:
    """Time the notebook loop (``impl`` ``"numpy"``: as written; ``"numpy-count"``: count model)
    on ``options.numpy_seeds`` seeds of ``options.numpy_episodes`` episodes, one after another."""
    spec = ENVS[env_name]
    if spec.numpy_map is None:
        raise ValueError(f"no NumPy reference for {env_name}")
    reference = load_reference()
    model = _NUMPY_MODELS[impl]
    real_steps = updates = 0
    runs = []
    for seed in range(options.numpy_seeds):
        start = time.perf_counter()
        result = reference.run_notebook(
            seed,
            n_episodes=options.numpy_episodes,
            max_steps=NUMPY_MAX_STEPS,
            n_planning_steps=options.planning_steps,
            model=model,
            map_name=spec.numpy_map,
        )
        runs.append(time.perf_counter() - start)
        real_steps += int(result["real_steps"])
        updates += int(result["planning_updates"])
    total = sum(runs)
    q = result["q_table"]
    n_s, n_a = q.shape
    # float64 arrays: Q (and R and T_c for the count model); the dict model's size varies.
    state_bytes = 8 * n_s * n_a * (2 + n_s) if model == "count" else None
    return Row(
        impl=impl,
        env=env_name,
        model=model,
        seeds=1,
        devices=1,
        real_steps=real_steps,
        planning_updates=updates,
        run_s=total,
        env_steps_per_s=real_steps / total,
        planning_updates_per_s=updates / total,
        episodes_per_seed=options.numpy_episodes,
        run_s_all=runs,
        state_bytes_per_seed=state_bytes,
    )


def add_speedups(rows: Sequence[Row]) -> None:
    """Fill ``speedup_vs_numpy*`` of the ``dynaq_jax`` rows: the ratio of planning updates/s to the
    NumPy loop's in the same env (sequential, so the same at any number of seeds)."""
    for row in rows:
        if row.impl not in _JAX_IMPLS:
            continue
        for impl, field in (
            (NUMPY_IMPL, "speedup_vs_numpy"),
            (NUMPY_COUNT_IMPL, "speedup_vs_numpy_count"),
        ):
            ref = [r for r in rows if r.impl == impl and r.env == row.env]
            if ref:
                setattr(row, field, row.planning_updates_per_s / ref[0].planning_updates_per_s)


# -- targets and tables ---------------------------------------------------------------------------


def evaluate_targets(
    rows: Sequence[Row], env: str = PRIMARY_ENV, impl: str = JAX_IMPL
) -> list[dict[str, Any]]:
    """Each target's measured value (``None`` when no row measures it) and status
    (``"PASS"``, ``"FAIL"`` or ``"n/a"``), on the ``impl`` rows of ``env`` (default: the dense
    count model, the issue's configuration)."""
    jax_rows = [r for r in rows if r.impl == impl and r.env == env]
    large = [r for r in jax_rows if r.seeds >= 1000]
    one = [r for r in jax_rows if r.seeds == 1]
    speedups = [r.speedup_vs_numpy for r in large if r.speedup_vs_numpy is not None]
    # The issue sets the compile-time target for one seed (larger batches compile longer).
    compiles = [r.compile_s for r in one if r.compile_s is not None]
    values: list[float | None] = [
        max((r.planning_updates_per_s for r in large), default=None),
        max(speedups, default=None),
        max((r.planning_updates_per_s for r in one), default=None),
        max(compiles, default=None),
    ]
    out = []
    for target, value in zip(TARGETS, values, strict=True):
        if value is None:
            status = "n/a"
        else:
            ok = value >= target.threshold if target.higher_is_better else value <= target.threshold
            status = "PASS" if ok else "FAIL"
        out.append(
            {
                "name": target.name,
                "env": env,
                "impl": impl,
                "threshold": target.threshold,
                "comparison": ">=" if target.higher_is_better else "<=",
                "unit": target.unit,
                "value": value,
                "status": status,
            }
        )
    return out


def _si(x: float | None, digits: int = 3) -> str:
    if x is None:
        return "-"
    for scale, suffix in ((1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(x) >= scale:
            return f"{x / scale:.{digits}g}{suffix}"
    return f"{x:.{digits}g}"


def _bytes(x: int | None) -> str:
    if x is None:
        return "-"
    for scale, suffix in ((2**30, " GiB"), (2**20, " MiB"), (2**10, " KiB")):
        if x >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x} B"


def markdown_table(rows: Sequence[Row]) -> str:
    """The rows as a markdown table for the README."""
    head = (
        "| env | impl | seeds | devices | env steps/s | planning updates/s | compile (s) | "
        "memory/seed | vs NumPy (as written) | vs NumPy (count) |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    )
    lines = [head]
    for r in rows:
        ratio = f"{r.speedup_vs_numpy:.3g}x" if r.speedup_vs_numpy is not None else "-"
        ratio_c = (
            f"{r.speedup_vs_numpy_count:.3g}x" if r.speedup_vs_numpy_count is not None else "-"
        )
        compile_s = f"{r.compile_s:.2f}" if r.compile_s is not None else "-"
        lines.append(
            f"| {r.env} | {r.impl} | {r.seeds} | {r.devices} | {_si(r.env_steps_per_s)} | "
            f"{_si(r.planning_updates_per_s)} | {compile_s} | {_bytes(r.state_bytes_per_seed)} | "
            f"{ratio} | {ratio_c} |"
        )
    return "\n".join(lines)


def targets_text(targets: Sequence[dict[str, Any]]) -> str:
    """One line per target: status, name, measured value and threshold."""
    lines = []
    for t in targets:
        value = "not measured" if t["value"] is None else f"{_si(t['value'])}{t['unit']}"
        lines.append(
            f"{t['status']:>4}  {t['name']} ({t['env']}, {t.get('impl', JAX_IMPL)}): {value} "
            f"(target {t['comparison']} {_si(t['threshold'])}{t['unit']})"
        )
    return "\n".join(lines)


def overall_status(targets: Sequence[dict[str, Any]]) -> str:
    """``"FAIL"`` if any target fails, ``"PASS"`` if every target was measured and passes, else
    ``"PARTIAL"`` (none failed, some not measured: e.g. no run at 1000 seeds or more)."""
    statuses = {t["status"] for t in targets}
    if "FAIL" in statuses:
        return "FAIL"
    return "PASS" if statuses == {"PASS"} else "PARTIAL"


# -- the run --------------------------------------------------------------------------------------


def notes(rows: Sequence[Row]) -> list[str]:
    """Observations worth a reader's attention, e.g. a trainer that recompiles on every call."""
    out = []
    again = [r for r in rows if len(r.compile_s_all) > 1 and r.compile_s_all[1] > 0.1]
    if again:
        worst = max(again, key=lambda r: r.compile_s_all[1])
        out.append(
            f"train_seeds compiled again on a repeated identical call ({len(again)} of "
            f"{sum(r.impl in _JAX_IMPLS for r in rows)} rows; up to {worst.compile_s_all[1]:.2f} s "
            f"at {worst.seeds} seeds in {worst.env}): its jitted trainer is not cached between "
            "calls, so every call pays the compile time"
        )
    return out


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
    options: Options, numpy: bool = True, log: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run every measurement of ``options``, write ``bench.json`` and the scaling plots into
    ``options.out``, and return the report (the JSON's content)."""
    from dynaq_jax.plotting import plot_scaling

    options.out.mkdir(parents=True, exist_ok=True)
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
                        f"({_bytes(seeds * per_seed)} of agent state > budget {_bytes(budget)})"
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
                options.out / f"scaling_{_slug(env_name)}.png",
                reference=NUMPY_IMPL if has_ref else None,
                title=f"Dyna-Q planning throughput: {env_name}, n = {options.planning_steps}",
            )
            plots.append(path.name)
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
    (options.out / "bench.json").write_text(json.dumps(report, indent=2) + "\n")
    return report


# -- command line ---------------------------------------------------------------------------------

_CHILD_ENV = "DYNAQ_JAX_BENCH_CHILD"
_DEVICE_FLAG = "--xla_force_host_platform_device_count"


def xla_flags_with_devices(flags: str, devices: int) -> str:
    """``flags`` (an ``XLA_FLAGS`` value) with the host device count set to ``devices``."""
    kept = [f for f in flags.split() if not f.startswith(_DEVICE_FLAG)]
    return " ".join([*kept, f"{_DEVICE_FLAG}={devices}"])


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _env_arg(text: str) -> str:
    try:
        return resolve_env(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark's options to ``parser`` (``dynaq-jax bench`` and
    ``experiments/benchmark.py`` share them)."""
    parser.add_argument(
        "--seeds",
        type=_positive_int,
        nargs="+",
        default=None,
        help=f"seed counts for dynaq_jax (default {' '.join(map(str, DEFAULT_SEEDS))}; "
        f"--quick: {' '.join(map(str, QUICK_SEEDS))})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes (seconds): for tests and CI; the targets are then mostly not measured",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("runs/bench"),
        help="output folder for bench.json and the plots (default runs/bench)",
    )
    parser.add_argument(
        "--envs",
        type=_env_arg,
        nargs="+",
        default=None,
        help="environments: FrozenLake-v1:4x4 (default), FrozenLake-v1:8x8, Taxi-v4 "
        "(aliases 4x4, 8x8, taxi)",
    )
    parser.add_argument(
        "--devices",
        type=_positive_int,
        default=None,
        help="CPU: run on N host devices with the seeds sharded over them (re-runs the benchmark "
        "in a child process with XLA_FLAGS=--xla_force_host_platform_device_count=N); default: "
        "the devices JAX already has",
    )
    parser.add_argument(
        "--planning-steps", type=int, default=50, help="n, planning updates per real step (50)"
    )
    parser.add_argument(
        "--steps",
        type=_positive_int,
        default=None,
        help="dynaq_jax real steps per seed per call (default: about 1e8 planning updates per "
        "call, between 200 and 50000 steps; --quick: 100)",
    )
    parser.add_argument(
        "--repeats",
        type=_positive_int,
        default=None,
        help="timed calls per dynaq_jax row, best run time reported (default 2; --quick: 1)",
    )
    parser.add_argument(
        "--numpy-seeds",
        type=_positive_int,
        default=None,
        help="seeds of the NumPy loops, run one after another (default 3; --quick: 1)",
    )
    parser.add_argument(
        "--numpy-episodes",
        type=_positive_int,
        default=None,
        help="notebook episodes per NumPy seed (default 300, the notebook's; --quick: 5)",
    )
    parser.add_argument("--no-numpy", action="store_true", help="skip the NumPy reference")
    parser.add_argument(
        "--no-compact",
        action="store_true",
        help="skip the compact count model's rows (outcome_slots = the env's distinct outcomes)",
    )
    parser.add_argument(
        "--memory-budget",
        type=float,
        default=8.0,
        help="GiB: skip seed counts whose agent states exceed it, and report the most seeds "
        "that fit (default 8)",
    )


def options_from_args(args: argparse.Namespace) -> Options:
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
    )


def to_argv(args: argparse.Namespace) -> list[str]:
    """Command-line arguments that parse back to ``args`` (for the child process)."""
    argv = ["--out", str(args.out), "--planning-steps", str(args.planning_steps)]
    argv += ["--memory-budget", repr(float(args.memory_budget))]
    if args.quick:
        argv.append("--quick")
    if args.no_numpy:
        argv.append("--no-numpy")
    if args.no_compact:
        argv.append("--no-compact")
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
    ):
        if value is not None:
            argv += [flag, str(value)]
    return argv


def _rerun_with_devices(args: argparse.Namespace) -> int:
    """Run the benchmark in a child process whose JAX starts with ``args.devices`` host devices."""
    env = dict(os.environ)
    env["XLA_FLAGS"] = xla_flags_with_devices(env.get("XLA_FLAGS", ""), args.devices)
    env[_CHILD_ENV] = "1"
    # The child imports this package from the same place, installed or not.
    root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    print(f"[bench] re-running with XLA_FLAGS={env['XLA_FLAGS']!r}", flush=True)
    cmd = [sys.executable, "-m", "dynaq_jax.bench", *to_argv(args)]
    return subprocess.run(cmd, env=env, check=False).returncode


def main(args: argparse.Namespace) -> int:
    """Run the benchmark for parsed ``args`` (see ``add_arguments``); returns the exit status
    (0 once the benchmark ran, whatever the targets; 2 on a usage error)."""
    try:
        options = options_from_args(args)
    except ValueError as err:
        print(f"dynaq-jax bench: error: {err}", file=sys.stderr)
        return 2
    if args.devices is not None and jax.default_backend() == "cpu":
        have = len(jax.local_devices())
        if have != args.devices:
            if os.environ.get(_CHILD_ENV):
                print(
                    f"dynaq-jax bench: error: asked for {args.devices} host devices, JAX has "
                    f"{have} despite XLA_FLAGS={os.environ.get('XLA_FLAGS', '')!r}",
                    file=sys.stderr,
                )
                return 2
            return _rerun_with_devices(args)
    try:
        report = run_benchmark(options, numpy=not args.no_numpy)
    except FileNotFoundError as err:
        print(f"dynaq-jax bench: error: {err}", file=sys.stderr)
        return 2
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
    for m in report["memory"]:
        line = (
            f"memory {m['env']}: {_bytes(m['state_bytes_per_seed'])} of agent state per seed; "
            f"{m['max_seeds_in_budget']} seeds fit in {_bytes(m['budget_bytes'])}; compact model "
            f"(K = {m['compact_outcome_slots']}): {_bytes(m['compact_state_bytes_per_seed'])}, "
            f"{m['compact_max_seeds_in_budget']} seeds"
        )
        if m["skipped_seeds"]:
            line += f" (skipped: {', '.join(map(str, m['skipped_seeds']))} seeds)"
        print(line)
    print(f"wrote {options.out / 'bench.json'} and {', '.join(report['plots'])}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser with the benchmark's options."""
    parser = argparse.ArgumentParser(
        prog="dynaq-jax bench",
        description="Benchmark dynaq_jax against the seed notebook's NumPy loop.",
    )
    add_arguments(parser)
    return parser


__all__ = [
    "ENVS",
    "TARGETS",
    "CompileClock",
    "Options",
    "Row",
    "add_arguments",
    "auto_steps",
    "bench_config",
    "build_parser",
    "evaluate_targets",
    "main",
    "markdown_table",
    "run_benchmark",
    "time_jax",
    "time_numpy",
    "xla_flags_with_devices",
]


if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
