"""Prioritized sweeping (Moore & Atkeson 1993; Sutton & Barto 8.4), at a cost per pop that does
not grow with the number of states for the compact and deterministic models.

The planner's state (``SweepQueue``) holds the queue and the predecessor lists:

* the queue is ``priority[S, A]`` (``0``: not queued) with a tree of maxima above it: every
  ``B = QUEUE_BRANCHING`` consecutive flat pairs have their maximum one level up, and so on until
  a level has at most ``B`` entries (``block_max``; two levels up to 32,768 pairs). A push is a
  scatter-max into the pair and its ancestors (``O(log_B(S A))``), a pop an argmax over the top
  level and then over the ``B`` entries below the chosen one, level by level, and the maxima on
  the way back up recomputed (``O(B log_B(S A))``). Ties go to the lowest flat index
  ``s * A + a``, exactly as an argmax of the dense array;
* the predecessors of ``s'`` are kept sparse: ``preds[s', :n_preds[s']]`` lists the flat pairs
  observed to lead to ``s'``, in order of first observation, at most ``P`` of them
  (``predecessor_capacity``); a pair that does not fit is counted in ``overflow`` (the trainers
  warn, as for the compact model's ``dropped``). An entry is used only while the model still
  predicts the pair to lead to ``s'`` (``ModelKind.leads_to``), so the sweep's predecessors are
  exactly the model's (``ModelKind.predecessors``) as long as nothing overflowed.

Everything is array code inside one ``lax.scan`` of ``n`` pops, with no data-dependent control
flow (a vmapped batch masks the seeds whose queue ran dry). The real transition is not applied
directly: ``model_update`` queues ``(s, a)`` with its model error (``observe``), and the pops apply
the updates. Targets are computed per pair when needed from the model's ``K`` successors
(``ModelKind.successors``): ``O(K A)`` per pair, ``O(P K A)`` per pop. Deterministic model: the
book's box, ``alpha``-weighted sample updates with the last ``s'``. Count models: the book's
extension to stochastic environments, the expected update over ``T`` (a full backup).
"""

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.backups import bootstrap_values, expected_value, full_backup, td_step
from dynaq_jax.config import DynaQConfig
from dynaq_jax.exploration import planned_rewards, unknown, with_count_bonus
from dynaq_jax.models import ModelKind, kind_for
from dynaq_jax.numerics import first_argmax, runtime_zero
from dynaq_jax.planners.base import Planner
from dynaq_jax.planners.expected import check_no_kappa
from dynaq_jax.state import DynaQState
from dynaq_jax.types import Key, QTable

PREDECESSOR_CAPACITY = 16
"""The most predecessors a state's list holds (``P = min(S A, PREDECESSOR_CAPACITY)``): the
most distinct pairs seen to lead to one state. Grid mazes need at most 8 (4 in the Dyna maze),
Taxi 6, slippery FrozenLake 16; CliffWalking's start state has 44 (every fall from the cliff
lands there): its list overflows, counted in ``overflow`` and warned about."""


class SweepQueue(NamedTuple):
    """Prioritized sweeping's state: the queue and the predecessor lists (module docstring).

    Attributes:
        priority: ``priority[s, a] > 0`` is the priority of a queued pair, ``0`` not queued.
        block_max: the queue's maxima above the pairs, level by level (``queue_levels``): at
            level ``k >= 1``, entry ``j`` is the maximum of the ``QUEUE_BRANCHING`` entries
            ``j B .. j B + B - 1`` of level ``k - 1`` (level 0: the flat pairs ``s * A + a``).
        preds: ``preds[s', i]`` for ``i < n_preds[s']``: the flat pairs ``sb * A + ab`` seen
            to lead to ``s'``, in order of first observation (the rest of the row is 0).
        n_preds: the length of each state's list, at most ``P = preds.shape[-1]``.
        overflow: predecessors not stored because their state's list was full.
    """

    priority: Float[Array, "S A"]
    block_max: Float[Array, " M"]
    preds: Int[Array, "S P"]
    n_preds: Int[Array, " S"]
    overflow: Int[Array, ""]


QUEUE_BRANCHING = 32
"""``B``: the entries below one maximum of the queue (a pop reads ``B`` entries per level)."""


def queue_levels(n: int) -> tuple[tuple[int, int], ...]:
    """``(offset, length)`` in ``block_max`` of each level above the ``n`` flat pairs, bottom up:
    level ``k`` holds ``ceil(n / B^k)`` maxima, zero-padded to a multiple of ``B``, until one
    level has at most ``B`` (none when ``n <= B``). ``ceil(log_B n) - 1`` levels: 2 for up to
    ``B^3 = 32,768`` pairs."""
    b = QUEUE_BRANCHING
    levels: list[tuple[int, int]] = []
    size, offset = n, 0
    while size > b:
        size = -(-size // b)
        length = -(-size // b) * b
        levels.append((offset, length))
        offset += length
    return tuple(levels)


def predecessor_capacity(n_states: int, n_actions: int) -> int:
    """``P = min(S A, PREDECESSOR_CAPACITY)``: with ``S A <= 16`` no list can overflow."""
    return min(n_states * n_actions, PREDECESSOR_CAPACITY)


def block_maxima(priority: Float[Array, "*B S A"]) -> Float[Array, "*B M"]:
    """Every level of maxima above ``priority`` (``queue_levels``), concatenated: ``O(S A)``, to
    build a queue from a dense table (never per pop)."""
    b = QUEUE_BRANCHING
    n = priority.shape[-2] * priority.shape[-1]
    batch = priority.shape[:-2]
    x = priority.reshape(*batch, n)
    out = []
    for _, length in queue_levels(n):
        size = -(-x.shape[-1] // b)
        x = jnp.pad(x, [(0, 0)] * len(batch) + [(0, size * b - x.shape[-1])])
        x = jnp.max(x.reshape(*batch, size, b), axis=-1)
        out.append(jnp.pad(x, [(0, 0)] * len(batch) + [(0, length - size)]))
    if not out:
        return jnp.zeros((*batch, 0), jnp.float32)
    return jnp.concatenate(out, axis=-1)


def empty_queue(n_states: int, n_actions: int, capacity: int | None = None) -> SweepQueue:
    """An empty queue and empty predecessor lists of ``capacity`` entries per state (default
    ``predecessor_capacity``)."""
    p = predecessor_capacity(n_states, n_actions) if capacity is None else capacity
    if isinstance(p, bool) or not isinstance(p, int) or p < 1:
        raise ValueError(f"empty_queue: capacity must be an int >= 1, got {capacity!r}")
    priority = jnp.zeros((n_states, n_actions), jnp.float32)
    return SweepQueue(
        priority=priority,
        block_max=block_maxima(priority),
        preds=jnp.zeros((n_states, p), jnp.int32),
        n_preds=jnp.zeros((n_states,), jnp.int32),
        overflow=jnp.zeros((), jnp.int32),
    )


def with_priorities(queue: SweepQueue, priority: Float[Array, "S A"]) -> SweepQueue:
    """The queue with the dense priorities ``priority`` (``>= 0``) and their maxima."""
    priority = jnp.asarray(priority, jnp.float32)
    return queue._replace(priority=priority, block_max=block_maxima(priority))


def queue_push(queue: SweepQueue, sa: Int[Array, "*N"], p: Float[Array, "*N"]) -> SweepQueue:
    """``priority[sa] = max(priority[sa], p)`` for each flat pair (``p = 0``: no change), and
    the maxima above it at every level: ``O(log_B(S A))`` per pair, one scatter per array."""
    n_s, n_a = queue.priority.shape
    b = QUEUE_BRANCHING
    flat = queue.priority.reshape(-1).at[sa].max(p)
    block_max = queue.block_max
    levels = queue_levels(n_s * n_a)
    if levels:
        sa = jnp.asarray(sa, jnp.int32)
        at = jnp.stack([off + sa // b ** (k + 1) for k, (off, _) in enumerate(levels)])
        block_max = block_max.at[at].max(jnp.broadcast_to(p, at.shape))
    return queue._replace(priority=flat.reshape(n_s, n_a), block_max=block_max)


def queue_pop(
    queue: SweepQueue, threshold: Float[Array, ""] | float
) -> tuple[SweepQueue, Int[Array, ""], Float[Array, ""], Bool[Array, ""]]:
    """The pair of largest priority, ties to the lowest flat index, removed (priority set to 0)
    if its priority exceeds ``threshold``.

    From the top level down, the first maximal entry of the ``B`` below the current one
    (``numerics.first_argmax``), so the lowest flat index holding the maximum; then the maxima
    on the way back up are recomputed from the rows just read. ``O(B log_B(S A))``. Returns
    ``(queue, sa, priority, popped)``; the queue is unchanged where ``popped`` is false.
    """
    n_s, n_a = queue.priority.shape
    n, b = n_s * n_a, QUEUE_BRANCHING
    flat = queue.priority.reshape(-1)
    levels = queue_levels(n)
    if not levels:
        sa = first_argmax(flat).astype(jnp.int32)
        top = flat[sa]
        popped = top > threshold
        flat = flat.at[sa].set(jnp.where(popped, 0.0, top))
        return queue._replace(priority=flat.reshape(n_s, n_a)), sa, top, popped
    block = queue.block_max
    pos = jnp.arange(b, dtype=jnp.int32)
    off, _ = levels[-1]
    row = block[off : off + b]
    node = first_argmax(row).astype(jnp.int32)
    rows = [(row, node)]  # each row read, and the position taken in it (top level first)
    for k in range(len(levels) - 1, -1, -1):  # from level k + 1 down to level k
        lo = node * b
        if k == 0:  # the pairs: the last block is read from n - B, the one before it masked
            start = jnp.minimum(lo, n - b)
            row = jnp.where(start + pos >= lo, jax.lax.dynamic_slice(flat, (start,), (b,)), -1.0)
        else:
            start = lo
            row = jax.lax.dynamic_slice(block, (levels[k - 1][0] + lo,), (b,))
        c = first_argmax(row).astype(jnp.int32)
        rows.append((row, c))
        node = start + c
    sa = node
    leaf_row, leaf_c = rows[-1]
    top = leaf_row[leaf_c]
    popped = top > threshold
    flat = flat.at[sa].set(jnp.where(popped, 0.0, top))
    new = jnp.zeros((), jnp.float32)
    at, values = [], []
    for k, (off, _) in enumerate(levels):  # level k + 1: the maximum over the row below
        row, c = rows[-1 - k]
        new = jnp.max(jnp.where(pos == c, new, row))
        parent_row, parent_c = rows[-2 - k]
        at.append(off + sa // b ** (k + 1))
        values.append(jnp.where(popped, new, parent_row[parent_c]))
    block = block.at[jnp.stack(at)].set(jnp.stack(values))
    return queue._replace(priority=flat.reshape(n_s, n_a), block_max=block), sa, top, popped


def record_predecessors(
    queue: SweepQueue,
    sa: Int[Array, ""],
    states: Int[Array, " K"],
    seen: Bool[Array, " K"],
    on: Bool[Array, ""],
) -> SweepQueue:
    """Append the pair ``sa`` to the list of every state ``states[k]`` it was ``seen`` to lead
    to, unless listed there already; a full list counts the pair in ``overflow`` instead.
    ``O(K P)``; nothing where ``on`` is false."""
    p = queue.preds.shape[-1]
    rows = queue.preds[states]
    count = queue.n_preds[states]
    listed = jnp.any((rows == sa) & (jnp.arange(p) < count[..., None]), axis=-1)
    add = on & seen & ~listed
    put = add & (count < p)
    preds = queue.preds.at[states, jnp.where(put, count, p)].set(sa, mode="drop")
    return queue._replace(
        preds=preds,
        n_preds=queue.n_preds.at[states].add(put.astype(jnp.int32)),
        overflow=queue.overflow + jnp.sum(add & ~put, dtype=jnp.int32),
    )


def rebuild_queue(state: DynaQState, config: DynaQConfig, kind: ModelKind) -> DynaQState:
    """The queue's derived parts rebuilt from one agent's state: the block maxima from
    ``priority``, the predecessor lists from the model (every pair listed under each state it
    was seen to lead to, by increasing flat index) and ``overflow`` as what did not fit. For a
    state saved before these existed; ``O(S A K log)``."""
    queue: SweepQueue = state.planner
    n_s, n_a = state.q.shape
    n, p = n_s * n_a, queue.preds.shape[-1]
    pairs = jnp.arange(n, dtype=jnp.int32)
    nxt = kind.successors(state.model, pairs, state.visits, config)
    k = nxt.states.shape[-1]
    key = jnp.where(nxt.seen, nxt.states * n + pairs[:, None], n_s * n).reshape(-1)
    key = jnp.sort(key)
    target, pair = key // n, key % n
    count = jnp.zeros((n_s + 1,), jnp.int32).at[target].add(1)
    first = jnp.cumsum(count) - count
    rank = jnp.arange(n * k, dtype=jnp.int32) - first[target]
    put = (target < n_s) & (rank < p)
    preds = jnp.zeros((n_s, p), jnp.int32)
    preds = preds.at[jnp.where(put, target, n_s), rank].set(pair, mode="drop")
    full = jnp.minimum(count[:n_s], p)
    return state._replace(
        planner=SweepQueue(
            priority=queue.priority,
            block_max=block_maxima(queue.priority),
            preds=preds,
            n_preds=full,
            overflow=jnp.sum(count[:n_s] - full, dtype=jnp.int32),
        )
    )


def rebuild_queues(state: DynaQState, config: DynaQConfig) -> DynaQState:
    """``rebuild_queue`` for a state of any batch shape (``state.batch_shape``; what ``load``
    does for a file saved before the queue kept its maxima and predecessor lists)."""
    batch = state.batch_shape
    kind = kind_for(config)
    size = math.prod(batch)
    flat = jax.tree.map(lambda x: x.reshape(size, *x.shape[len(batch) :]), state)
    out = jax.jit(jax.vmap(lambda one: rebuild_queue(one, config, kind)))(flat)
    rebuilt: DynaQState = jax.tree.map(lambda x: x.reshape(*batch, *x.shape[1:]), out)
    return rebuilt


def pair_targets(
    state: DynaQState,
    q: QTable,
    sa: Int[Array, "*N"],
    config: DynaQConfig,
    kind: ModelKind,
    zero: Int[Array, ""],
) -> Float[Array, "*N"]:
    """The model's one-step target of the flat pairs ``sa`` (a Bellman backup of ``Q`` through
    the model, Sutton & Barto 8.4-8.5): ``target = R_hat[s,a] + gamma sum_k T_k v[s'_k]`` over
    the pair's successors (``ModelKind.successors``), ``v[s'] = (1 - terminal[s']) max_a' Q``
    (``R_hat`` with MBIE-EB's bonus, ``exploration.with_count_bonus``). ``O(K A)`` per pair for
    a model with bounded outcomes; the same bits as ``model_targets`` at those pairs."""
    nxt = kind.successors(state.model, sa, state.visits, config)
    if kind.bounded_outcomes:
        v = jnp.where(state.terminal[nxt.states], 0.0, jnp.max(q[nxt.states], axis=-1))
    else:
        v = bootstrap_values(q, state.terminal)[nxt.states]
    visits = state.visits.reshape(-1)[sa]
    r_hat = kind.reward_estimate(state.r.reshape(-1)[sa], visits, config)
    r_hat = with_count_bonus(r_hat, visits, config, zero)
    return full_backup(r_hat, expected_value(nxt.probs, v, zero), config.discount, zero)


def model_targets(
    state: DynaQState, q: QTable, config: DynaQConfig, kind: ModelKind
) -> Float[Array, "S A"]:
    """The model's one-step target for every pair (a Bellman backup of ``Q`` through the model):
    ``target[s,a] = R_hat[s,a] + gamma * sum_s' T[s,a,s'] v[s']`` with
    ``v = bootstrap_values(Q, terminal)`` (``R_hat`` with MBIE-EB's bonus,
    ``exploration.planned_rewards``). Untried pairs get the targets of their empty model
    (meaningless: no planner uses them). Dense, ``O(S A K)``: the sweep computes
    ``pair_targets`` of the pairs it needs instead."""
    zero = runtime_zero(state.real_steps)
    v = bootstrap_values(q, state.terminal)
    e = kind.all_next_values(state.model, v, config, zero)
    r_hat = planned_rewards(state, config, kind, zero)
    return full_backup(r_hat, e, config.discount, zero)


def model_errors(state: DynaQState, config: DynaQConfig, kind: ModelKind) -> Float[Array, "S A"]:
    """``|target[s,a] - Q[s,a]|`` for every pair (``model_targets``): the priority prioritized
    sweeping gives a pair whose error it examines."""
    return jnp.abs(model_targets(state, state.q, config, kind) - state.q)


PREDECESSOR_CHUNK = 8
"""Predecessors examined together: a pop examines ``ceil(n_preds[s] / 8)`` chunks of a list
(the most any seed of a vmapped batch needs), not its whole capacity."""


def predecessor_errors(
    state: DynaQState,
    q_flat: Float[Array, " SA"],
    s: Int[Array, ""],
    cand: Int[Array, " P"],
    n_listed: Int[Array, ""],
    go: Bool[Array, ""],
    config: DynaQConfig,
    kind: ModelKind,
    zero: Int[Array, ""],
) -> Float[Array, " P"]:
    """The priorities the predecessors ``cand`` of ``s`` get after a pop (Sutton & Barto 8.4,
    the box's inner loop): ``P = |target[sb,ab] - Q[sb,ab]|`` (``pair_targets``) where the
    entry is listed (``i < n_listed``), still leads to ``s`` (``ModelKind.leads_to``), is known
    (not R-max's ``unknown``), ``P > theta`` and ``go``; else 0.

    The list is examined ``PREDECESSOR_CHUNK`` entries at a time in a loop of
    ``ceil(n_listed / chunk)`` steps (0 where not ``go``), so the cost follows the listed
    predecessors, not the capacity; the loop carries only these ``P`` values."""
    p = cand.shape[-1]
    width = min(PREDECESSOR_CHUNK, p)
    q = q_flat.reshape(state.q.shape)
    slots = jnp.arange(width, dtype=jnp.int32)

    def chunk(i: Int[Array, ""], err: Float[Array, " P"]) -> Float[Array, " P"]:
        lo = i * width
        start = jnp.minimum(lo, p - width)  # the last chunk is read from P - width
        pos = start + slots
        sa = jax.lax.dynamic_slice(cand, (start,), (width,))
        ok = (pos >= lo) & (pos < n_listed) & ~unknown(state.visits.reshape(-1)[sa], config)
        ok = ok & kind.leads_to(state.model, sa, s, state.visits, config)
        e = jnp.abs(pair_targets(state, q, sa, config, kind, zero) - q_flat[sa])
        return err.at[pos].max(jnp.where(ok & (e > config.theta), e, 0.0))

    n_chunks = jnp.where(go, -(-n_listed // width), 0)
    out: Float[Array, " P"] = jax.lax.fori_loop(0, n_chunks, chunk, jnp.zeros((p,), jnp.float32))
    return out


class _SweepCarry(NamedTuple):
    q: Float[Array, " SA"]
    queue: SweepQueue
    updates: Int[Array, ""]


def sweep(
    state: DynaQState, config: DynaQConfig, kind: ModelKind, active: Bool[Array, ""] | None = None
) -> tuple[DynaQState, Int[Array, ""]]:
    """Up to ``n`` pops of the queue, one ``lax.scan`` step each (Sutton & Barto 8.4's box,
    step (g)).

    R-max's unknown pairs (``exploration.unknown``) are never queued: their value stays
    ``r_max / (1 - gamma)`` until they are known.

    Each step: ``(s, a) = argmax priority`` (ties to the lowest flat index, ``queue_pop``); if
    ``priority[s,a] <= theta`` (or not ``active``) nothing happens. Otherwise
    ``priority[s,a] = 0`` and ``(s, a)`` is updated towards its model target
    (``pair_targets``): the count models by the expected update ``Q[s,a] = target``, the
    deterministic model by the book's ``Q[s,a] += alpha (target - Q[s,a])``. Then for every
    listed predecessor ``(sb, ab)`` of ``s`` that still leads to ``s`` (``ModelKind.leads_to``)
    with ``P = |target[sb,ab] - Q[sb,ab]| > theta``: ``priority[sb,ab] = max(priority[sb,ab],
    P)`` (``queue_push``), its target computed now. ``O(sqrt(S A) + P K A)`` per pop.

    Returns the new state and the number of updates made (pops above ``theta``).
    """
    n_s, n_a = state.q.shape[-2], state.q.shape[-1]
    on = jnp.asarray(True) if active is None else active
    zero = runtime_zero(state.real_steps)
    full = kind.stochastic
    queue: SweepQueue = state.planner
    threshold = jnp.where(on, config.theta, jnp.inf)  # inactive: nothing pops

    def body(c: _SweepCarry, _: None) -> tuple[_SweepCarry, None]:
        q_queue, idx, _top, go = queue_pop(c.queue, threshold)
        target = pair_targets(state, c.q.reshape(n_s, n_a), idx, config, kind, zero)
        if full:
            q_new = jnp.where(go, target, c.q[idx])
        else:
            q_new = td_step(c.q[idx], target, config.learning_rate, go, zero)
        q_flat = c.q.at[idx].set(q_new)
        s = idx // n_a
        cand = queue.preds[s]
        err = predecessor_errors(state, q_flat, s, cand, queue.n_preds[s], go, config, kind, zero)
        pushed = queue_push(q_queue, cand, err)
        return _SweepCarry(q_flat, pushed, c.updates + go), None

    start = _SweepCarry(state.q.reshape(-1), queue, jnp.zeros((), jnp.int32))
    end, _ = jax.lax.scan(body, start, None, length=config.planning_steps)
    return state._replace(q=end.q.reshape(n_s, n_a), planner=end.queue), end.updates


class SweepingPlanner(Planner):
    """``planner="sweeping"``: prioritized sweeping (module docstring)."""

    name = "sweeping"
    direct_update = False
    draws_rows = False

    def check_config(self, config: DynaQConfig) -> None:
        """``planning_steps >= 1`` (the real transition is applied through the queue) and
        ``kappa = 0``."""
        if config.planning_steps == 0:
            raise ValueError(
                "DynaQConfig.planning_steps must be >= 1 with planner='sweeping' (the real "
                "transition is applied through the queue), got 0"
            )
        check_no_kappa(config)

    def init(self, n_states: int, n_actions: int, config: DynaQConfig) -> SweepQueue:
        """An empty queue and empty predecessor lists (``empty_queue``)."""
        return empty_queue(n_states, n_actions)

    def observe(
        self,
        state: DynaQState,
        s: Int[Array, ""],
        a: Int[Array, ""],
        config: DynaQConfig,
        kind: ModelKind,
        on: Bool[Array, ""],
    ) -> DynaQState:
        """Queue the really tried pair (the book's steps (d)-(e)): ``P = |target[s,a] - Q[s,a]|``
        with the model target (for the deterministic model just after ``model_update`` exactly
        the book's ``|r + gamma max_a' Q[s',a'] - Q[s,a]|``, no bootstrap through a terminal
        ``s'``); if ``P > theta``: ``priority[s,a] = max(priority[s,a], P)``. Then list
        ``(s, a)`` among the predecessors of every ``s'`` the model has seen it lead to
        (``record_predecessors``). ``O(K A + K P)``."""
        zero = runtime_zero(state.real_steps)
        sa = jnp.asarray(s * state.q.shape[-1] + a, jnp.int32)
        target = pair_targets(state, state.q, sa, config, kind, zero)
        p = jnp.where(unknown(state.visits[s, a], config), 0.0, jnp.abs(target - state.q[s, a]))
        queue = queue_push(state.planner, sa, jnp.where(on & (p > config.theta), p, 0.0))
        nxt = kind.successors(state.model, sa, state.visits, config)
        queue = record_predecessors(queue, sa, nxt.states, nxt.seen, on)
        return state._replace(planner=queue)

    def plan(
        self,
        state: DynaQState,
        key: Key,
        config: DynaQConfig,
        kind: ModelKind,
        active: Bool[Array, ""] | None,
    ) -> tuple[DynaQState, Int[Array, ""]]:
        """``sweep``; the pops above ``theta`` counted."""
        return sweep(state, config, kind, active)


SWEEPING = SweepingPlanner()

__all__ = [
    "PREDECESSOR_CAPACITY",
    "PREDECESSOR_CHUNK",
    "QUEUE_BRANCHING",
    "SWEEPING",
    "SweepQueue",
    "SweepingPlanner",
    "block_maxima",
    "empty_queue",
    "model_errors",
    "model_targets",
    "pair_targets",
    "predecessor_capacity",
    "predecessor_errors",
    "queue_levels",
    "queue_pop",
    "queue_push",
    "rebuild_queue",
    "rebuild_queues",
    "record_predecessors",
    "sweep",
    "with_priorities",
]
