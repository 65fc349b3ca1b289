"""Profile the Dyna-Q hot loop by timing variants (FrozenLake 4x4 slippery, count model, n = 50).

Three parts (``--parts``):

1. ``scan``: **the planning scan alone**. ``planning.q_updates`` (the ``n`` sequential Q-learning
   updates of one planning call) vmapped over seeds on random simulated batches, against local
   variants of the same scan: unroll factors 2/4/8, a dense one-hot update instead of the
   scatter, and one explicit flat ``[B * S * A]`` table indexed ``b * S * A + sa`` instead of
   ``vmap``'s batched gather/scatter.
2. ``simulate``: **the draw of the n planned transitions alone**. ``planning.simulate`` on agents
   that have tried every pair, against the threefry draw by itself, the same code with its
   uniforms given (no threefry), and a CDF table kept beside ``T_c`` (no per-draw ``cumsum``;
   binary search or compare-count).
3. ``loop``: **the whole loop** (``train_seeds``, step-budget mode) with parts swapped out, to
   split the cost of a real step: ``planning_steps`` 0 (act + env step + direct update + model
   update + bookkeeping), the same without the direct and model updates, planning that only draws
   (the Q-update scan replaced by a one-cell consumer), planning whose batch comes from the visited
   list without random numbers or inverse CDF (the scan, nearly alone), scan unroll factors, the
   PRNG implementation of the keys (``threefry2x32``, ``rbg``, ``unsafe_rbg``), and threefry
   lowered as straight-line code instead of JAX's rolled CPU loop.

The library is not edited: loop variants replace module attributes (``planning.simulate``,
``planning.q_updates``, ``agent._update``, ``agent._model_update``, and for the threefry variant
JAX's own CPU lowering rule) for one call and clear JAX's caches around it. Variants are timed in
rounds, each round taking every variant in turn (a busy spell on a shared machine then hits all of
them alike); the best time of each is reported. Compile time is kept out of every figure
(``dynaq_jax.bench.timed_call``).

    python experiments/profile_hot_loop.py                   # 1000 seeds; the loop also at 1 seed
    python experiments/profile_hot_loop.py --quick           # small sizes, a smoke run
    python experiments/profile_hot_loop.py --parts simulate  # one part
    python experiments/profile_hot_loop.py --out runs/profile   # also write profile.json
"""

import argparse
import dataclasses
import json
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

try:
    import dynaq_jax  # noqa: F401
except ImportError:  # a source checkout that is not installed: use the package next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float

from dynaq_jax import DynaQConfig, from_gymnasium, train_seeds
from dynaq_jax import agent as agent_mod
from dynaq_jax import planning as planning_mod
from dynaq_jax.bench import timed_call
from dynaq_jax.model import sample_from_counts
from dynaq_jax.planning import SimulatedBatch, q_target, simulate, td_step
from dynaq_jax.state import DynaQState, init
from dynaq_jax.types import Key

N = 50
ENV = from_gymnasium("FrozenLake-v1", map_name="4x4", is_slippery=True)

QUpdates = Callable[
    [Float[Array, "S A"], SimulatedBatch, Any, Any, Bool[Array, ""] | bool], Float[Array, "S A"]
]


# -- variants of the planning scan ----------------------------------------------------------------


def q_updates_unrolled(unroll: int) -> QUpdates:
    """``planning.q_updates`` (same body) with ``lax.scan(..., unroll=unroll)``."""

    def q_updates(
        q: Float[Array, "S A"],
        batch: SimulatedBatch,
        learning_rate: Any,
        discount: Any,
        active: Bool[Array, ""] | bool = True,
    ) -> Float[Array, "S A"]:
        n_s, n_a = q.shape

        def body(q_flat: Array, x: SimulatedBatch) -> tuple[Array, None]:
            q_next = jax.lax.dynamic_slice(q_flat, (x.s_next * n_a,), (n_a,))
            target = q_target(x.reward, x.nonterminal, discount, jnp.max(q_next))
            new = td_step(q_flat[x.sa], target, learning_rate, active)
            return q_flat.at[x.sa].set(new), None

        q_flat, _ = jax.lax.scan(body, q.reshape(n_s * n_a), batch, unroll=unroll)
        return q_flat.reshape(n_s, n_a)

    return q_updates


def q_updates_one_hot(
    q: Float[Array, "S A"],
    batch: SimulatedBatch,
    learning_rate: Any,
    discount: Any,
    active: Bool[Array, ""] | bool = True,
) -> Float[Array, "S A"]:
    """The same updates written densely: ``Q += onehot(sa) * delta`` (no scatter)."""
    n_s, n_a = q.shape
    cells = jnp.arange(n_s * n_a)

    def body(q_flat: Array, x: SimulatedBatch) -> tuple[Array, None]:
        q_next = jax.lax.dynamic_slice(q_flat, (x.s_next * n_a,), (n_a,))
        target = q_target(x.reward, x.nonterminal, discount, jnp.max(q_next))
        new = td_step(q_flat[x.sa], target, learning_rate, active)
        return jnp.where(cells == x.sa, new, q_flat), None

    q_flat, _ = jax.lax.scan(body, q.reshape(n_s * n_a), batch)
    return q_flat.reshape(n_s, n_a)


def q_updates_flat_batched(
    q: Float[Array, "B S A"],
    batch: SimulatedBatch,
    learning_rate: Any,
    discount: Any,
    active: Bool[Array, " B"],
) -> Float[Array, "B S A"]:
    """All seeds at once without ``vmap``: one flat table ``[B * S * A]``, indices ``b*S*A + sa``
    (batch leaves ``[B, n]``), the next row's max by a ``[B, A]`` gather."""
    n_b, n_s, n_a = q.shape
    base = jnp.arange(n_b, dtype=jnp.int32) * (n_s * n_a)
    acts = jnp.arange(n_a, dtype=jnp.int32)

    def body(q_flat: Array, x: SimulatedBatch) -> tuple[Array, None]:
        rows = q_flat[(base + x.s_next * n_a)[:, None] + acts]
        target = q_target(x.reward, x.nonterminal, discount, jnp.max(rows, axis=-1))
        idx = base + x.sa
        new = td_step(q_flat[idx], target, learning_rate, active)
        return q_flat.at[idx].set(new, unique_indices=True), None

    steps = jax.tree.map(lambda a: jnp.moveaxis(a, 1, 0), batch)  # [n, B]
    q_flat, _ = jax.lax.scan(body, q.reshape(-1), steps)
    return q_flat.reshape(n_b, n_s, n_a)


def random_batches(key: Key, calls: int, seeds: int) -> SimulatedBatch:
    """Random simulated transitions, leaves ``[calls, seeds, N]``."""
    n_s, n_a = ENV.n_states, ENV.n_actions
    k1, k2, k3, k4 = jax.random.split(key, 4)
    shape = (calls, seeds, N)
    return SimulatedBatch(
        sa=jax.random.randint(k1, shape, 0, n_s * n_a, jnp.int32),
        s_next=jax.random.randint(k2, shape, 0, n_s, jnp.int32),
        reward=jax.random.uniform(k3, shape),
        nonterminal=jax.random.uniform(k4, shape) < 0.9,
    )


def compile_scan_variant(
    fn: Callable[..., Array], batched: bool, seeds: int, calls: int
) -> tuple[Callable[[], Array], float]:
    """A zero-argument runner of ``calls`` consecutive planning calls (each ``N`` updates per
    seed) with ``fn``, compiled, and its compile seconds."""
    q0 = jnp.zeros((seeds, ENV.n_states, ENV.n_actions), jnp.float32)
    batches = random_batches(jax.random.key(1), calls, seeds)
    alpha = jnp.full((seeds,), 0.1, jnp.float32)
    gamma = jnp.full((seeds,), 0.95, jnp.float32)
    on = jnp.ones((seeds,), jnp.bool_)  # a runtime flag, as in the loop (no constant folding)

    def one_call(q: Array, batch: SimulatedBatch) -> tuple[Array, None]:
        if batched:
            return fn(q, batch, alpha, gamma, on), None
        return jax.vmap(fn)(q, batch, alpha, gamma, on), None

    run = jax.jit(lambda q, b: jax.lax.scan(one_call, q, b)[0])
    _, compile_s, _ = timed_call(lambda: run(q0, batches))
    return (lambda: run(q0, batches)), compile_s


def scan_variants() -> dict[str, tuple[Callable[..., Array], bool]]:
    """Name -> (function, whether it takes the whole batch itself instead of being vmapped)."""
    out: dict[str, tuple[Callable[..., Array], bool]] = {
        "library q_updates (unroll 1)": (planning_mod.q_updates, False)
    }
    for k in (2, 4, 8):
        out[f"unroll {k}"] = (q_updates_unrolled(k), False)
    out["one-hot dense update"] = (q_updates_one_hot, False)
    out["flat [B*S*A] table, no vmap"] = (q_updates_flat_batched, True)
    return out


# -- variants of simulate --------------------------------------------------------------------------


def simulate_from_uniforms(
    state: DynaQState, u: Float[Array, "2 N"], config: DynaQConfig
) -> SimulatedBatch:
    """``planning.simulate`` (count model) with its uniforms given: the same code after the draw."""
    n_s, n_a = state.q.shape[-2], state.q.shape[-1]
    idx = jnp.floor(u[0] * state.n_pairs).astype(jnp.int32)
    sa = state.pairs[jnp.minimum(idx, state.pairs.shape[0] - 1)]
    s = sa // n_a
    s_model = sample_from_counts(state.t_c.reshape(n_s * n_a, n_s)[sa], u[1])
    tried = state.visits.reshape(-1)[sa] > 0
    s_next = jnp.where(tried, s_model, s)
    tau = (state.step - state.last_visit.reshape(-1)[sa]).astype(jnp.float32)
    bonus = jnp.where(tau > 0, config.kappa * jnp.sqrt(tau), 0.0)
    reward = jnp.where(tried, state.r.reshape(-1)[sa], 0.0) + bonus
    return SimulatedBatch(sa=sa, s_next=s_next, reward=reward, nonterminal=~state.terminal[s_next])


def simulate_from_cdf(
    state: DynaQState,
    cdf: Float[Array, "SA S"],
    u: Float[Array, "2 N"],
    config: DynaQConfig,
    binary_search: bool = True,
) -> SimulatedBatch:
    """The draw with a CDF table kept beside ``T_c`` (``cdf[sa] = cumsum T_c[sa]``, which a model
    update could maintain in ``O(S)`` per real step), so no per-draw ``cumsum``:
    ``s' = searchsorted(cdf[sa], u * total)`` by binary search (``O(log S)`` gathers), or
    ``#{j : cdf[sa, j] <= u * total}`` (``O(S)`` compares); no Dyna-Q+ bonus (``kappa = 0``)."""
    n_a = state.q.shape[-1]
    idx = jnp.floor(u[0] * state.n_pairs).astype(jnp.int32)
    sa = state.pairs[jnp.minimum(idx, state.pairs.shape[0] - 1)]
    n_s = cdf.shape[-1]
    target = u[1] * cdf[sa, n_s - 1]
    if binary_search:
        lo = jnp.zeros_like(sa)  # invariant: cdf[sa, j] <= target for j < lo, > target for j >= hi
        hi = jnp.full_like(sa, n_s)
        for _ in range(max(1, (n_s - 1).bit_length()) + 1):
            mid = (lo + hi) // 2
            below = cdf[sa, jnp.minimum(mid, n_s - 1)] <= target
            lo = jnp.where(below & (mid < hi), mid + 1, lo)
            hi = jnp.where(below, hi, mid)
        s_model = lo
    else:
        s_model = jnp.sum(cdf[sa] <= target[:, None], axis=-1, dtype=jnp.int32)
    s_model = jnp.minimum(s_model, n_s - 1).astype(jnp.int32)
    tried = state.visits.reshape(-1)[sa] > 0
    s_next = jnp.where(tried, s_model, sa // n_a)
    reward = jnp.where(tried, state.r.reshape(-1)[sa], 0.0)
    return SimulatedBatch(sa=sa, s_next=s_next, reward=reward, nonterminal=~state.terminal[s_next])


def random_states(key: Key, seeds: int, config: DynaQConfig) -> DynaQState:
    """Agents that have tried every pair: random counts (0..3 per cell) over the prior."""
    n_s, n_a = ENV.n_states, ENV.n_actions
    base = init(n_s, n_a, config)

    def one(k: Key) -> DynaQState:
        ka, kb, kc = jax.random.split(k, 3)
        counts = jax.random.randint(ka, (n_s, n_a, n_s), 0, 4).astype(jnp.float32)
        pairs = jnp.argsort(jax.random.uniform(kb, (n_s * n_a,))).astype(jnp.int32)
        return base._replace(
            t_c=base.t_c + counts,
            r=jax.random.uniform(kc, (n_s, n_a)),
            visits=jnp.ones((n_s, n_a), jnp.int32),
            pairs=base.pairs.at[: n_s * n_a].set(pairs),
            n_pairs=jnp.asarray(n_s * n_a, jnp.int32),
            step=jnp.asarray(1000, jnp.int32),
            last_visit=jnp.full((n_s, n_a), 500, jnp.int32),
        )

    return jax.jit(jax.vmap(one))(jax.random.split(key, seeds))  # type: ignore[no-any-return]


def _consume(batch: SimulatedBatch) -> Array:
    return (
        jnp.sum(batch.sa)
        + jnp.sum(batch.s_next)
        + jnp.sum(batch.nonterminal)
        + jnp.sum(batch.reward).astype(jnp.int32)
    )


def simulate_variants(seeds: int, calls: int) -> dict[str, tuple[Callable[[], Array], float]]:
    """Name -> (compiled runner of ``calls`` planning draws per seed, compile seconds)."""
    config = DynaQConfig(planning_steps=N)
    states = random_states(jax.random.key(2), seeds, config)
    keys = jax.random.split(jax.random.key(3), (calls, seeds))
    n_s, n_a = ENV.n_states, ENV.n_actions
    cdf = jnp.cumsum(states.t_c.reshape(seeds, n_s * n_a, n_s), axis=-1)

    def per_call(draw: Callable[[DynaQState, Key, Array], Array]) -> Callable[[], Array]:
        def body(acc: Array, ks: Key) -> tuple[Array, None]:
            return acc + jnp.sum(jax.vmap(draw)(states, ks, cdf)), None

        run = jax.jit(lambda: jax.lax.scan(body, jnp.zeros((), jnp.int32), keys)[0])
        return run

    def library(st: DynaQState, k: Key, _: Array) -> Array:
        return _consume(simulate(st, k, config))

    def uniforms_only(st: DynaQState, k: Key, _: Array) -> Array:
        return jnp.sum(jax.random.uniform(k, (2, N))).astype(jnp.int32) + st.n_pairs

    def no_rng(st: DynaQState, k: Key, _: Array) -> Array:
        # Uniforms from a cheap hash of the step counter instead of threefry.
        i = jnp.arange(2 * N, dtype=jnp.uint32).reshape(2, N) * jnp.uint32(2654435761)
        u = ((i + st.step.astype(jnp.uint32)) >> 8).astype(jnp.float32) / 2.0**24
        return _consume(simulate_from_uniforms(st, u, config))

    def cdf_search(st: DynaQState, k: Key, c: Array) -> Array:
        return _consume(simulate_from_cdf(st, c, jax.random.uniform(k, (2, N)), config))

    def cdf_count(st: DynaQState, k: Key, c: Array) -> Array:
        u = jax.random.uniform(k, (2, N))
        return _consume(simulate_from_cdf(st, c, u, config, binary_search=False))

    out = {}
    for name, draw in (
        ("library simulate", library),
        ("threefry uniforms (2, n) only", uniforms_only),
        ("simulate without RNG (hash uniforms)", no_rng),
        ("CDF table + binary search (threefry)", cdf_search),
        ("CDF table + compare-count (threefry)", cdf_count),
    ):
        run = per_call(draw)
        _, comp, _ = timed_call(run)
        out[name] = (run, comp)
    return out


# -- variants of the whole loop -------------------------------------------------------------------


@contextmanager
def patched(module: Any, **attrs: Any) -> Iterator[None]:
    """Replace ``module``'s attributes for the duration (JAX caches cleared on both sides)."""
    old = {name: getattr(module, name) for name in attrs}
    for name, value in attrs.items():
        setattr(module, name, value)
    jax.clear_caches()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        for name, value in old.items():
            setattr(module, name, value)
        jax.clear_caches()  # type: ignore[no-untyped-call]


def consume_only(
    q: Float[Array, "S A"],
    batch: SimulatedBatch,
    learning_rate: Any,
    discount: Any,
    active: Bool[Array, ""] | bool = True,
) -> Float[Array, "S A"]:
    """Stand-in for ``q_updates``: reads every field of the batch (so ``simulate`` is not dead
    code) and changes one cell of ``Q`` at most; no scan."""
    used = jnp.sum(batch.sa) + jnp.sum(batch.s_next) + jnp.sum(batch.nonterminal)
    bump = jnp.where(used < 0, jnp.sum(batch.reward), 0.0)
    return q.at[0, 0].add(jnp.where(active, bump, 0.0))


def cheap_simulate(state: DynaQState, key: Key, config: DynaQConfig) -> SimulatedBatch:
    """Stand-in for ``simulate``: pairs from the visited list in a fixed stride, ``s' = s``; no
    random numbers, no ``T_c`` rows, no inverse CDF."""
    n_a = state.q.shape[-1]
    i = jnp.arange(config.planning_steps, dtype=jnp.int32) * 7 + state.step
    sa = state.pairs[i % jnp.maximum(state.n_pairs, 1)]
    s_next = sa // n_a
    return SimulatedBatch(
        sa=sa,
        s_next=s_next,
        reward=state.r.reshape(-1)[sa],
        nonterminal=~state.terminal[s_next],
    )


def keep_state(state: DynaQState, *args: Any, **kwargs: Any) -> DynaQState:
    """Stand-in for ``_update``/``_model_update``: the state unchanged."""
    return state


@dataclasses.dataclass(frozen=True)
class LoopVariant:
    """One variant of the whole loop."""

    name: str
    planning_steps: int = N
    patches: tuple[tuple[Any, dict[str, Any]], ...] = ()
    key_impl: str | None = None
    threefry_unrolled: bool = False


def loop_variants() -> list[LoopVariant]:
    """The variants of the loop part, the library's own loop first."""
    return [
        LoopVariant("full (library, n = 50)"),
        LoopVariant("n = 0: act + env + direct + model + bookkeeping", planning_steps=0),
        LoopVariant(
            "n = 0, no direct/model update: act + env + bookkeeping",
            planning_steps=0,
            patches=((agent_mod, {"_update": keep_state, "_model_update": keep_state}),),
        ),
        LoopVariant(
            "simulate only (Q-update scan removed)",
            patches=((planning_mod, {"q_updates": consume_only}),),
        ),
        LoopVariant(
            "scan only (batch without RNG/inverse CDF)",
            patches=((planning_mod, {"simulate": cheap_simulate}),),
        ),
        *(
            LoopVariant(
                f"full, scan unroll {k}",
                patches=((planning_mod, {"q_updates": q_updates_unrolled(k)}),),
            )
            for k in (2, 4, 8)
        ),
        LoopVariant("full, key impl rbg", key_impl="rbg"),
        LoopVariant("full, key impl unsafe_rbg", key_impl="unsafe_rbg"),
        LoopVariant("full, threefry lowered unrolled (JAX override)", threefry_unrolled=True),
    ]


def time_loop_variant(v: LoopVariant, seeds: int, steps: int) -> tuple[float, float]:
    """``(run seconds, compile seconds)`` of one ``train_seeds`` call under variant ``v``."""
    config = DynaQConfig(planning_steps=v.planning_steps)
    root = jax.random.key(0) if v.key_impl is None else jax.random.key(0, impl=v.key_impl)
    keys = jax.random.split(root, seeds)
    unrolled = threefry_unrolled() if v.threefry_unrolled else nullcontext()
    with unrolled, _all_patched(v.patches):
        wall, comp, _ = timed_call(lambda: train_seeds(ENV, config, keys, n_steps=steps))
    return wall - comp, comp


def time_loop_variants(seeds: int, steps: int, repeats: int) -> list[dict[str, Any]]:
    """Every loop variant, ``repeats`` rounds in turn (round-robin, so that a busy spell on a
    shared machine hits every variant alike); the best run of each."""
    variants = loop_variants()
    runs: list[list[float]] = [[] for _ in variants]
    compiles: list[float] = []
    for r in range(repeats):
        for i, v in enumerate(variants):
            run_s, comp = time_loop_variant(v, seeds, steps)
            runs[i].append(run_s)
            if r == 0:
                compiles.append(comp)
    real = seeds * steps
    out = []
    for v, rs, comp in zip(variants, runs, compiles, strict=True):
        best = min(rs)
        out.append(
            {
                "variant": v.name,
                "seeds": seeds,
                "steps_per_seed": steps,
                "run_s": best,
                "run_s_all": rs,
                "compile_s": comp,
                "env_steps_per_s": real / best,
                "planning_updates_per_s": real * N / best if v.planning_steps else 0.0,
                "ns_per_seed_step": best / real * 1e9,
            }
        )
    return out


@contextmanager
def threefry_unrolled() -> Iterator[None]:
    """Lower ``threefry2x32`` on CPU as straight-line code, as on GPU/TPU (JAX lowers it on CPU as
    a rolled ``while`` loop of 5 iterations, i.e. a small loop per random draw inside the step).
    Overrides a JAX internal for this measurement only."""
    from jax._src.interpreters import mlir
    from jax._src.random import threefry2x32 as tf

    prim = tf.threefry2x32_p
    mlir.register_lowering(prim, tf._threefry2x32_lowering_rule, platform="cpu")
    jax.clear_caches()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        mlir.register_lowering(prim, tf._threefry2x32_cpu_lowering_rule, platform="cpu")
        jax.clear_caches()  # type: ignore[no-untyped-call]


@contextmanager
def _all_patched(patches: tuple[tuple[Any, dict[str, Any]], ...]) -> Iterator[None]:
    if not patches:
        yield
        return
    (module, attrs), *rest = patches
    with patched(module, **attrs), _all_patched(tuple(rest)):
        yield


def breakdown(results: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """Nanoseconds per seed-step of each part of a real step, from the loop variants' timings."""
    t = {r["variant"]: r["ns_per_seed_step"] for r in results}
    full = t["full (library, n = 50)"]
    n0 = t["n = 0: act + env + direct + model + bookkeeping"]
    bare = t["n = 0, no direct/model update: act + env + bookkeeping"]
    sim = t["simulate only (Q-update scan removed)"] - n0
    scan = t["scan only (batch without RNG/inverse CDF)"] - n0
    return [
        ("act + env step + bookkeeping", bare),
        ("direct update + model update", n0 - bare),
        ("simulate (draw the n planned transitions)", sim),
        ("scan of n Q-updates", scan),
        ("rest (interaction, not additive)", full - n0 - sim - scan),
        ("total (full loop)", full),
    ]


# -- main -----------------------------------------------------------------------------------------


def _table(rows: list[dict[str, Any]], cols: list[tuple[str, str, str]]) -> str:
    head = "| " + " | ".join(c[1] for c in cols) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(cols))) + "|"
    body = [
        "| "
        + " | ".join(format(r[key], fmt) if fmt else str(r[key]) for key, _, fmt in cols)
        + " |"
        for r in rows
    ]
    return "\n".join([head, rule, *body])


def _round_robin(runners: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Best wall time of each runner over ``rounds`` rounds, the runners taken in turn."""
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, run in runners.items():
            best[name] = min(best.get(name, float("inf")), timed_call(run)[0])
    return best


def run_scan_part(seeds: int, quick: bool, repeats: int) -> list[dict[str, Any]]:
    """Part ``scan``: every scan variant; prints its table."""
    calls = max(2, round((2e5 if quick else 2e7) / (seeds * N)))
    compiled = {
        name: compile_scan_variant(fn, batched, seeds, calls)
        for name, (fn, batched) in scan_variants().items()
    }
    best = _round_robin({k: v[0] for k, v in compiled.items()}, max(repeats, 3))
    updates = calls * seeds * N
    rows = [
        {
            "variant": name,
            "seeds": seeds,
            "updates": updates,
            "run_s": best[name],
            "compile_s": comp,
            "planning_updates_per_s": updates / best[name],
            "ns_per_update": best[name] / updates * 1e9,
        }
        for name, (_, comp) in compiled.items()
    ]
    cols = [
        ("variant", "variant", ""),
        ("planning_updates_per_s", "updates/s", ".3g"),
        ("ns_per_update", "ns/update", ".2f"),
        ("compile_s", "compile s", ".2f"),
    ]
    print(_table(rows, cols))
    return rows


def run_simulate_part(seeds: int, quick: bool, repeats: int) -> list[dict[str, Any]]:
    """Part ``simulate``: every simulate variant; prints its table."""
    calls = max(2, round((2e4 if quick else 2e6) / (seeds * N)))
    compiled = simulate_variants(seeds, calls)
    best = _round_robin({k: v[0] for k, v in compiled.items()}, max(repeats, 3))
    rows = [
        {
            "variant": name,
            "seeds": seeds,
            "draws": calls * seeds * N,
            "run_s": best[name],
            "compile_s": comp,
            "ns_per_seed_step": best[name] / (calls * seeds) * 1e9,
            "ns_per_draw": best[name] / (calls * seeds * N) * 1e9,
        }
        for name, (_, comp) in compiled.items()
    ]
    cols = [
        ("variant", "variant", ""),
        ("ns_per_seed_step", "ns per seed-step (n draws)", ".0f"),
        ("ns_per_draw", "ns/draw", ".2f"),
        ("compile_s", "compile s", ".2f"),
    ]
    print(_table(rows, cols))
    return rows


def run_loop_part(seeds: int, steps: int, repeats: int) -> list[dict[str, Any]]:
    """Part ``loop`` at one seed count: every loop variant and the breakdown; prints both."""
    start = time.perf_counter()
    rows = time_loop_variants(seeds, steps, repeats)
    cols = [
        ("variant", "variant", ""),
        ("ns_per_seed_step", "ns per seed-step", ".0f"),
        ("env_steps_per_s", "real steps/s", ".3g"),
        ("planning_updates_per_s", "planning updates/s", ".3g"),
        ("compile_s", "compile s", ".2f"),
    ]
    print(_table(rows, cols))
    print("\nBreakdown of one real step (ns per seed-step):\n")
    for part, ns in breakdown(rows):
        print(f"- {part}: {ns:.0f}")
    print(f"\n({time.perf_counter() - start:.0f} s for the loop part at {seeds} seeds)")
    return rows


def main(argv: list[str] | None = None) -> int:
    """Run the parts, print markdown tables (and write JSON with ``--out``)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=None, help="default 1 1000")
    parser.add_argument(
        "--scan-seeds", type=int, default=None, help="seeds of the scan and simulate parts (1000)"
    )
    parser.add_argument("--steps", type=int, default=None, help="real steps per seed (auto)")
    parser.add_argument(
        "--repeats",
        type=int,
        default=None,
        help="rounds of timed calls, best reported (3; --quick 1)",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=("scan", "simulate", "loop"),
        default=("scan", "simulate", "loop"),
        help="which parts to run (default all)",
    )
    parser.add_argument("--out", type=Path, default=None, help="folder for profile.json")
    args = parser.parse_args(argv)
    seeds_list = args.seeds or ([16] if args.quick else [1, 1000])
    scan_seeds = args.scan_seeds or (16 if args.quick else 1000)
    repeats = args.repeats or (1 if args.quick else 3)
    print(f"jax {jax.__version__}, {jax.default_backend()}, {len(jax.local_devices())} device(s)")

    report: dict[str, Any] = {
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": len(jax.local_devices()),
    }
    if "scan" in args.parts:
        print(f"\n## Part 1 (scan): the planning scan alone, {scan_seeds} seeds, n = {N}\n")
        report["scan"] = run_scan_part(scan_seeds, args.quick, repeats)
    if "simulate" in args.parts:
        print(f"\n## Part 2 (simulate): simulate alone, {scan_seeds} seeds, n = {N}\n")
        report["simulate"] = run_simulate_part(scan_seeds, args.quick, repeats)
    if "loop" in args.parts:
        report["loop"], report["breakdown"] = {}, {}
        for seeds in seeds_list:
            steps = args.steps or min(
                20_000, max(200, round((2e5 if args.quick else 2e7) / (seeds * N)))
            )
            print(
                f"\n## Part 3 (loop): the whole loop, train_seeds ({seeds} seeds x {steps} steps)\n"
            )
            rows = run_loop_part(seeds, steps, repeats)
            report["loop"][str(seeds)] = rows
            report["breakdown"][str(seeds)] = dict(breakdown(rows))
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "profile.json").write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.out / 'profile.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
