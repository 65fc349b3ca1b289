"""What the benchmark measures: its environments and options, JAX's compile time, and the timed
calls of ``train_seeds`` and of the NumPy reference (``benchmark.py`` runs them; see its docstring
for the protocol).
"""

import dataclasses
import functools
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import jax
import numpy as np

from dynaq_jax.config import DynaQConfig
from dynaq_jax.distributed import seed_devices
from dynaq_jax.envs import TabularMDP, distinct_outcomes, from_gymnasium
from dynaq_jax.experiments import reference_numpy
from dynaq_jax.experiments.options import MAX_COUNT, MAX_PLANNING_STEPS, check_planning_draw
from dynaq_jax.gym_loop import train as host_train
from dynaq_jax.train import TrainResult, memory_per_seed, train_seeds

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
JAX_IMPLS = (JAX_IMPL, JAX_COMPACT_IMPL)
NUMPY_IMPL = "numpy"
NUMPY_COUNT_IMPL = "numpy-count"
NUMPY_MODELS: dict[str, reference_numpy.ModelKind] = {
    NUMPY_IMPL: "deterministic",
    NUMPY_COUNT_IMPL: "count",
}


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
    host_steps: int | None = None
    """Host loop section: real agent steps per timed run (``None``: no host-loop section)."""
    host_envs: int = 64
    """Host loop section: sub-envs of the vector-env row (``1``: no vector row). A vector env
    shares each call's fixed cost among its sub-envs: on the development machine 63.5 us per
    agent step with 16 sub-envs, 56.1 with 32 and 43.1 with 64."""
    host_repeats: int = 3
    """Host loop section: timed runs per row, the median reported."""
    sync_dispatch: bool = False
    """CPU computations ran in the calling thread (``jax_cpu_enable_async_dispatch=False``, which
    ``benchmark.main`` sets before JAX starts when asked)."""
    episodes: int | None = None
    """Episode-mode section: episodes per seed (``None``: ``benchmark_lanes.EPISODES``)."""
    episode_seeds: tuple[int, ...] = ()
    """Episode-mode section: seed counts (empty: no episode-mode section)."""

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
            if not math.isfinite(value):
                raise ValueError(f"benchmark option {name} must be finite, got {value}")
        counts = {
            "seeds": max(self.seeds),
            "steps": self.steps or 1,
            "max_steps": self.max_steps,
            "repeats": self.repeats,
            "numpy_seeds": self.numpy_seeds,
            "numpy_episodes": self.numpy_episodes,
        }
        for name, value in counts.items():
            if value > MAX_COUNT:
                raise ValueError(
                    f"benchmark option {name} must be at most {MAX_COUNT} (2**31 - 1: JAX counts "
                    f"in int32), got {value}"
                )
        if self.max_steps < self.min_steps:
            raise ValueError(f"max_steps {self.max_steps} < min_steps {self.min_steps}")
        if self.planning_steps < 0:
            raise ValueError(f"planning_steps must be >= 0, got {self.planning_steps}")
        if self.planning_steps > MAX_PLANNING_STEPS:
            raise ValueError(
                f"planning_steps must be at most {MAX_PLANNING_STEPS} (planned updates per real "
                f"step), got {self.planning_steps}"
            )
        check_planning_draw("benchmark options", self.planning_steps, max(self.seeds))
        if self.episode_seeds:
            # The episode-mode section times step mode at its own seed counts too.
            check_planning_draw(
                "benchmark options (--episode-seeds; --no-episode-mode skips the section)",
                self.planning_steps,
                max(self.episode_seeds),
                "episode seeds",
            )
        check_host_options(self)
        for name, value in (
            ("episodes", 1 if self.episodes is None else self.episodes),
            *(("episode_seeds", n) for n in self.episode_seeds),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
                raise ValueError(
                    f"benchmark option {name} must be an int in [1, {MAX_COUNT}], got {value!r}"
                )


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
        devices=seed_devices(seeds),
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


def time_numpy(impl: str, env_name: str, options: Options) -> Row:
    """Time the notebook loop (``impl`` ``"numpy"``: as written; ``"numpy-count"``: count model)
    on ``options.numpy_seeds`` seeds of ``options.numpy_episodes`` episodes, one after another."""
    spec = ENVS[env_name]
    if spec.numpy_map is None:
        raise ValueError(f"no NumPy reference for {env_name}")
    model = NUMPY_MODELS[impl]
    real_steps = updates = 0
    runs = []
    for seed in range(options.numpy_seeds):
        start = time.perf_counter()
        result = reference_numpy.run_notebook(
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
        if row.impl not in JAX_IMPLS:
            continue
        for impl, field in (
            (NUMPY_IMPL, "speedup_vs_numpy"),
            (NUMPY_COUNT_IMPL, "speedup_vs_numpy_count"),
        ):
            ref = [r for r in rows if r.impl == impl and r.env == row.env]
            if ref:
                setattr(row, field, row.planning_updates_per_s / ref[0].planning_updates_per_s)


# -- the host loop --------------------------------------------------------------------------------

HOST_IMPL = "host-loop"
"""``gym_loop.train``: one agent stepping the real gymnasium env, one device call per real step."""
HOST_VECTOR_IMPL = "host-loop-vector"
"""``gym_loop.train_vector``: one agent per sub-env of a sync vector env, one vmapped call."""
HOST_STEPS = 3000
"""Real steps per timed host-loop run (``--host-steps``; about a second at the targets)."""


def check_host_options(options: Options) -> None:
    """``ValueError`` naming a host-loop option outside its range."""
    for name in ("host_steps", "host_envs", "host_repeats"):
        value = getattr(options, name)
        if value is None and name == "host_steps":
            continue
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
            raise ValueError(
                f"benchmark option {name} must be an int in [1, {MAX_COUNT}], got {value!r}"
            )


@dataclasses.dataclass
class HostRow:
    """One host-loop measurement (or the notebook's loop it is set beside), per real step."""

    impl: str
    env: str
    agents: int
    """Agents stepped together: 1, or the vector env's sub-envs."""
    real_steps: int
    """Real agent steps of one timed run (every agent's steps, summed)."""
    run_s: float
    """Median wall time of the timed runs (compile time excluded)."""
    us_per_step: float
    """``1e6 * run_s / real_steps``: wall microseconds per real agent step."""
    steps_per_s: float
    compile_s: float | None = None
    """Tracing, lowering and compilation in the first (untimed) run."""
    run_s_all: list[float] = dataclasses.field(default_factory=list)
    speedup_vs_numpy: float | None = None
    """The notebook loop's (as written) microseconds per step over this row's."""
    speedup_vs_numpy_count: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The row as a JSON-ready dict."""
        return dataclasses.asdict(self)


def _host_env(env_name: str, n_envs: int | None) -> Any:
    """The gymnasium env (``n_envs``: a sync vector env of that many) of benchmark env
    ``env_name``, with the env's own time limit (FrozenLake: 100, the notebook's)."""
    spec = ENVS[env_name]
    kwargs = dict(spec.make_kwargs)
    if n_envs is None:
        return gym.make(spec.gym_id, **kwargs)
    return gym.make_vec(spec.gym_id, num_envs=n_envs, vectorization_mode="sync", **kwargs)


def time_host(env_name: str, options: Options, n_envs: int | None = None) -> HostRow:
    """Time the host loop on ``env_name`` (``n_envs``: ``train_vector`` on that many sub-envs):
    one untimed run compiles, then ``options.host_repeats`` runs of about
    ``options.host_steps`` real agent steps each (``max_total_steps``), the median reported."""
    config = bench_config(env_name, options)
    steps = options.host_steps or HOST_STEPS
    cap = steps if n_envs is None else max(steps // n_envs, 1)

    def run(total: int) -> tuple[float, float, TrainResult]:
        env = _host_env(env_name, n_envs)
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=r"gym_loop\.train.*max_total_steps")
                # Every episode has a step: the step cap always comes first.
                wall, comp, out = timed_call(
                    lambda: host_train(env, config, total + 1, seed=0, max_total_steps=total)
                )
        finally:
            env.close()
        return wall, comp, cast(TrainResult, out)

    _, compile_s, _ = run(1)
    walls, real_steps = [], 0
    for _ in range(max(options.host_repeats, 1)):
        wall, comp, out = run(cap)
        walls.append(max(wall - comp, 1e-9))
        real_steps = int(np.sum(out.steps_done))
    run_s = float(np.median(walls))
    return HostRow(
        impl=HOST_IMPL if n_envs is None else HOST_VECTOR_IMPL,
        env=env_name,
        agents=1 if n_envs is None else n_envs,
        real_steps=real_steps,
        run_s=run_s,
        us_per_step=1e6 * run_s / real_steps,
        steps_per_s=real_steps / run_s,
        compile_s=compile_s,
        run_s_all=walls,
    )


def numpy_host_row(row: Row) -> HostRow:
    """A NumPy row of the same run as a host-loop row: the notebook's loop per real step."""
    return HostRow(
        impl=row.impl,
        env=row.env,
        agents=1,
        real_steps=row.real_steps,
        run_s=row.run_s,
        us_per_step=1e6 * row.run_s / row.real_steps,
        steps_per_s=row.env_steps_per_s,
        run_s_all=list(row.run_s_all),
    )


def add_host_speedups(rows: Sequence[HostRow]) -> None:
    """Fill ``speedup_vs_numpy*`` of the host-loop rows: the notebook loop's microseconds per
    real step over the row's, in the same env and run."""
    for row in rows:
        if row.impl not in (HOST_IMPL, HOST_VECTOR_IMPL):
            continue
        for impl, field in (
            (NUMPY_IMPL, "speedup_vs_numpy"),
            (NUMPY_COUNT_IMPL, "speedup_vs_numpy_count"),
        ):
            ref = [r for r in rows if r.impl == impl and r.env == row.env]
            if ref:
                setattr(row, field, ref[0].us_per_step / row.us_per_step)


__all__ = [
    "DEFAULT_SEEDS",
    "ENVS",
    "HOST_IMPL",
    "HOST_STEPS",
    "HOST_VECTOR_IMPL",
    "JAX_COMPACT_IMPL",
    "JAX_IMPL",
    "JAX_IMPLS",
    "NUMPY_COUNT_IMPL",
    "NUMPY_IMPL",
    "NUMPY_MAX_STEPS",
    "NUMPY_MODELS",
    "PRIMARY_ENV",
    "QUICK_SEEDS",
    "CompileClock",
    "EnvSpec",
    "HostRow",
    "Options",
    "Row",
    "add_host_speedups",
    "add_speedups",
    "auto_steps",
    "bench_config",
    "check_host_options",
    "make_env",
    "numpy_host_row",
    "resolve_env",
    "time_host",
    "time_jax",
    "time_numpy",
    "timed_call",
    "union_length",
]
