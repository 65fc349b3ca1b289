"""Prioritized sweeping at a cost that does not grow with S: the sparse predecessor lists, the
queue's tree of maxima, the sweep against a dense reference, the overflow, old files.

What each test guards:
- ``test_sparse_predecessors_and_sweep_equal_dense``: after any model history, the listed pairs
  that still lead to ``s`` are exactly the model's dense predecessors of ``s`` (every model kind),
  and ``rebuild_queue`` (what ``load`` does for a file saved before the lists existed) lists the
  same sets; and ``sweep`` (sparse lists, the tree of maxima, per-pair targets) equals a dense
  sweep written from the book's box (argmax of the dense priorities, the dense predecessor mask,
  every target recomputed) bit for bit.
- ``test_queue_pops_what_a_heap_pops``: ``queue_push``/``queue_pop`` against a reference binary
  heap (``heapq`` with lazy deletion), ties to the lowest flat index; the maxima stay those of
  the priorities.
- ``test_overflow_is_counted_and_warned``: a full list counts the pair in ``overflow`` and the
  trainers' warning text names it.
- ``test_file_saved_before_the_lists_loads_with_them_rebuilt``: a version-3 file without the
  queue's maxima and lists (saved before they existed) loads with them rebuilt from the model,
  and saves and loads again bit for bit.
"""

import heapq
import io
import json
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import dynaq_jax as dq
from dynaq_jax.backups import td_step
from dynaq_jax.exploration import unknown
from dynaq_jax.file_layout import METADATA, NPY, REBUILT_LEAVES, write_npz
from dynaq_jax.models import kind_for
from dynaq_jax.numerics import first_argmax, runtime_zero
from dynaq_jax.planners.sweeping import (
    QUEUE_BRANCHING,
    block_maxima,
    empty_queue,
    model_errors,
    model_targets,
    queue_levels,
    queue_pop,
    queue_push,
    rebuild_queue,
    sweep,
    with_priorities,
)
from dynaq_jax.state import dropped_message
from tests.conftest import A, S
from tests.planner_cases import FEW, SWEEP, learn, models, q_tables, transitions


def listed(state: dq.DynaQState, config: dq.DynaQConfig, s: int) -> set[int]:
    """The pairs of ``s``'s list that the model still predicts to lead to ``s``."""
    queue = state.planner
    pairs = np.asarray(queue.preds[s, : int(queue.n_preds[s])])
    kind = kind_for(config)
    ok = np.asarray(kind.leads_to(state.model, jnp.asarray(pairs), s, state.visits, config))
    return {int(p) for p, k in zip(pairs, ok, strict=True) if k}


@jax.jit
def predecessor_masks(state: dq.DynaQState, config: dq.DynaQConfig) -> tuple[jax.Array, jax.Array]:
    """``[S, S A]`` masks of every state's predecessors: the model's dense ones, and the listed
    pairs that the model still predicts to lead there."""
    kind = kind_for(config)
    queue = state.planner
    every = jnp.arange(S, dtype=jnp.int32)
    slots = jnp.arange(queue.preds.shape[-1])

    def dense(s: jax.Array) -> jax.Array:
        return kind.predecessors(state.model, s, state.visits, config).reshape(-1)

    def valid(s: jax.Array) -> jax.Array:
        ok = kind.leads_to(state.model, queue.preds[s], s, state.visits, config)
        return (slots < queue.n_preds[s]) & ok

    sparse = (
        jnp.zeros((S, S * A), jnp.bool_).at[every[:, None], queue.preds].max(jax.vmap(valid)(every))
    )
    return jax.vmap(dense)(every), sparse


_rebuild = jax.jit(lambda state, config: rebuild_queue(state, config, kind_for(config)))


# -- the queue against a heap --------------------------------------------------------------------

Q_S, Q_A = 45, 27  # 1,215 pairs: two levels of maxima above them (B = 32)
PUSH = 4  # pairs per push

_push = jax.jit(queue_push)
_pop = jax.jit(queue_pop)

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("push"),
            st.lists(st.integers(0, Q_S * Q_A - 1), min_size=PUSH, max_size=PUSH),
            st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0, 3.0]), min_size=PUSH, max_size=PUSH),
        ),
        st.tuples(st.just("pop"), st.sampled_from([0.0, 0.3, 2.0]), st.just([])),
    ),
    min_size=1,
    max_size=40,
)


@settings(FEW, max_examples=15)
@given(ops=ops)
def test_queue_pops_what_a_heap_pops(ops: list[tuple[str, object, object]]) -> None:
    assert len(queue_levels(Q_S * Q_A)) == 2
    queue = empty_queue(Q_S, Q_A)
    current: dict[int, float] = {}
    heap: list[tuple[float, int]] = []
    for op, a, b in ops:
        if op == "push":
            idx, p = list(a), list(b)
            queue = _push(queue, jnp.asarray(idx, jnp.int32), jnp.asarray(p, jnp.float32))
            for i, v in zip(idx, p, strict=True):
                if v > current.get(i, 0.0):
                    current[i] = v
                    heapq.heappush(heap, (-v, i))  # ties: the lowest index first
            continue
        while heap and current.get(heap[0][1], 0.0) != -heap[0][0]:
            heapq.heappop(heap)  # a stale entry, superseded or popped
        want_idx, want_p = (heap[0][1], -heap[0][0]) if heap else (None, 0.0)
        queue, sa, top, popped = _pop(queue, a)
        assert float(top) == want_p
        if want_idx is not None:
            assert int(sa) == want_idx
        assert bool(popped) == (want_p > a)
        if want_p > a:
            heapq.heappop(heap)
            current[want_idx] = 0.0
    prio = np.zeros(Q_S * Q_A, np.float32)
    for i, v in current.items():
        prio[i] = v
    np.testing.assert_array_equal(np.asarray(queue.priority).reshape(-1), prio)
    np.testing.assert_array_equal(
        queue.block_max, block_maxima(jnp.asarray(prio.reshape(Q_S, Q_A)))
    )
    assert QUEUE_BRANCHING == 32


# -- the sweep against a dense reference ---------------------------------------------------------


def dense_sweep(
    state: dq.DynaQState, config: dq.DynaQConfig
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Sutton & Barto 8.4's loop on dense arrays: pop the first maximal priority; update towards
    the target recomputed for every pair; queue every predecessor (the model's dense mask) whose
    error exceeds theta. Returns ``(Q, priority, updates)``."""
    kind = kind_for(config)
    zero = runtime_zero(state.real_steps)
    n_a = state.q.shape[-1]
    known = ~unknown(state.visits, config)

    def body(c: tuple[jax.Array, jax.Array, jax.Array], _: None) -> tuple[tuple, None]:
        q, prio, n = c
        flat = prio.reshape(-1)
        idx = first_argmax(flat)
        top = flat[idx]
        go = top > config.theta
        prio = flat.at[idx].set(jnp.where(go, 0.0, top)).reshape(prio.shape)
        target = model_targets(state, q, config, kind).reshape(-1)[idx]
        old = q.reshape(-1)[idx]
        if kind.stochastic:
            new = jnp.where(go, target, old)
        else:
            new = td_step(old, target, config.learning_rate, go, zero)
        q = q.reshape(-1).at[idx].set(new).reshape(q.shape)
        pred = kind.predecessors(state.model, idx // n_a, state.visits, config)
        err = jnp.abs(model_targets(state, q, config, kind) - q)
        insert = go & pred & known & (err > config.theta)
        return (q, jnp.where(insert, jnp.maximum(prio, err), prio), n + go), None

    start = (state.q, state.planner.priority, jnp.zeros((), jnp.int32))
    out, _ = jax.lax.scan(body, start, None, length=config.planning_steps)
    return out


_dense = jax.jit(dense_sweep)
_sparse = jax.jit(lambda state, config: sweep(state, config, kind_for(config)))


@settings(FEW, max_examples=8)
@given(
    model=models,
    seq=transitions,
    q=q_tables,
    theta=st.sampled_from([0.0, 1e-3, 0.5]),
    alpha=st.sampled_from([0.5, 1.0]),
)
def test_sparse_predecessors_and_sweep_equal_dense(
    model: str, seq: list[tuple[int, int, float, int]], q: np.ndarray, theta: float, alpha: float
) -> None:
    config = SWEEP[model].replace(theta=theta, learning_rate=alpha)
    state = learn(config, seq)._replace(q=jnp.asarray(q))
    # the listed predecessors (and those rebuilt from the model) are the model's dense ones
    rebuilt = _rebuild(state, config)
    assert int(state.planner.overflow) == 0 == int(rebuilt.planner.overflow)
    want, got = predecessor_masks(state, config)
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(predecessor_masks(rebuilt, config)[1], want)
    # the sweep from a queue of every pair's error equals the dense sweep bit for bit
    errors = model_errors(state, config, kind_for(config))
    state = state._replace(planner=with_priorities(state.planner, errors))
    q_ref, prio_ref, n_ref = _dense(state, config)
    new, n = _sparse(state, config)
    assert int(n) == int(n_ref)
    bits = np.asarray(new.q).view(np.uint32)
    np.testing.assert_array_equal(bits, np.asarray(q_ref).view(np.uint32))
    np.testing.assert_array_equal(new.planner.priority, prio_ref)
    np.testing.assert_array_equal(new.planner.block_max, block_maxima(prio_ref))


# -- overflow and rebuilding ---------------------------------------------------------------------


def test_overflow_is_counted_and_warned() -> None:
    config = SWEEP["deterministic"]
    state = dq.init(S, A, config)._replace(planner=empty_queue(S, A, capacity=2))
    learn_one = jax.jit(lambda st, s, a: dq.model_update(st, s, a, 1.0, 1, False, config))
    for s, a in ((0, 0), (0, 1), (2, 2), (0, 1)):  # three distinct pairs into state 1
        state = learn_one(state, s, a)
    assert int(state.planner.n_preds[1]) == 2 and int(state.overflow) == 1
    assert listed(state, config, 1) == {0, 1}  # the first two, in order of observation
    message = dropped_message("train", state, config.outcome_slots)
    assert message is not None and "1 predecessor(s)" in message and "overflow" in message
    assert dropped_message("train", dq.init(S, A, config), 0) is None


def test_file_saved_before_the_lists_loads_with_them_rebuilt(tmp_path: Path) -> None:
    config = SWEEP["compact"]
    state = learn(config, [(0, 0, 1.0, 1), (1, 2, 0.0, 2), (2, 1, 0.5, 1), (3, 0, 0.0, 4)])
    path = dq.save(tmp_path / "new.npz", state, config)
    with zipfile.ZipFile(path) as zf:  # the same file without the leaves added since
        meta = json.loads(zf.read(METADATA))
        arrays = {
            n.removesuffix(NPY): np.load(io.BytesIO(zf.read(n)))
            for n in zf.namelist()
            if n.endswith(NPY) and n.removeprefix("state/").removesuffix(NPY) not in REBUILT_LEAVES
        }
    for leaf in REBUILT_LEAVES:
        del meta["state"][leaf]
    old = tmp_path / "old.npz"
    with open(old, "wb") as fh:
        write_npz(fh, json.dumps(meta).encode(), arrays, compress=False)
    loaded = dq.load(old).state
    for leaf in ("priority", "block_max", "n_preds", "overflow"):
        np.testing.assert_array_equal(getattr(loaded.planner, leaf), getattr(state.planner, leaf))
    np.testing.assert_array_equal(
        predecessor_masks(loaded, config), predecessor_masks(state, config)
    )
    again = dq.load(dq.save(tmp_path / "again.npz", loaded, config)).state
    for a, b in zip(jax.tree.leaves(again), jax.tree.leaves(loaded), strict=True):
        np.testing.assert_array_equal(a, b)
