"""Planners beyond Dyna-Q's sampled update, and R-max-style optimism.

``DynaQConfig.planner`` (static) picks how the ``planning_steps`` simulated updates of a real step
are made; ``planning.plan_impl`` dispatches here for every planner but ``"sample"``:

* ``"expected"``: the pair ``(s, a)`` is drawn uniformly among the tried pairs, as in Dyna-Q
  (``planning.simulate``), but instead of one sampled ``s'`` the update takes the expectation over
  the model, as a *full backup* (learning rate 1: Sutton & Barto's expected update, section 8.5):
  ``Q[s,a] = R_hat[s,a] + gamma * sum_s' T[s,a,s'] (1 - terminal[s']) max_a' Q[s',a']``. The model
  is already an average over what was seen, so there is no sampling noise left for ``alpha`` to
  damp; ``alpha`` still drives the direct update and the count model's reward smoothing.
* ``"sweeping"``: prioritized sweeping (Sutton & Barto section 8.4). The queue is the dense array
  ``DynaQState.priority[S, A]`` (``0``: not queued), so everything is array code inside one
  ``lax.scan`` of ``n`` pops, with no heap and no data-dependent control flow (a vmapped batch
  masks the seeds whose queue ran dry). The real transition is not applied directly:
  ``model_update`` queues ``(s, a)`` with its model error, and the pops apply the updates. The
  predecessors of ``s`` are the pairs ``(sb, ab)`` the model predicts to lead to ``s``: count
  model ``T_c[sb, ab, s] > t_c_prior`` (a real transition into ``s`` was seen; compact model: a
  slot of ``(sb, ab)`` holds ``s``), deterministic
  model ``next_state[sb, ab] = s``. Deterministic model: the book's box, ``alpha``-weighted sample
  updates with the last ``s'``. Count model: the book's extension to stochastic environments, the
  expected update over ``T`` (a full backup, as ``"expected"``).

``R_hat`` is the count model's smoothed reward with the weight of its arbitrary start ``R = 0``
divided out (``reward_estimate``), the deterministic model's last reward otherwise. Dyna-Q+'s
``kappa`` is for ``"sample"`` only.

Optimism (``config.optimism = r_max > 0``, any planner): R-max (Brafman and Tennenholtz 2002) with
``m = 1`` known-ness: a pair is *unknown* until it is tried once, and an unknown pair is worth what
R-max's fictitious absorbing state pays, ``r_max / (1 - gamma)``. Untried pairs are never updated by
any planner (they are never candidates nor predecessors), so the value is written into ``Q`` once,
when their state is first seen in the real world (acted from or reached, unless terminal), and stays
until the pair is tried: acting is then greedy towards the unknown, and planning propagates the
optimistic values back through the learned model. (The direct update of a transition into a state
seen for the first time bootstraps from its old value 0; planning corrects it.)

Bit-reproducibility follows ``planning.py``: every product that feeds a sum passes through
``model.rounded`` (``q_target``, ``td_step``, ``expected_value``, the sweep's target increments),
and sums over states are taken in a fixed order (``row_sum``): jit, eager and any ``vmap``
batch size give the same bits.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.model import rounded, runtime_zero
from dynaq_jax.planning import q_target, simulate, td_step
from dynaq_jax.state import DynaQState
from dynaq_jax.types import BoolScalar, IntScalar, Key, QTable, Values


def bootstrap_values(q: QTable, terminal: Bool[Array, " S"]) -> Values:
    """``v[s'] = (1 - terminal[s']) * max_a' Q[s', a']``: what a target bootstraps from."""
    return jnp.where(terminal, 0.0, jnp.max(q, axis=-1))


def row_sum(x: Float[Array, "*N S"]) -> Float[Array, "*N"]:
    """``sum_j x[..., j]`` in a fixed order: zero-pad the last axis to a power of two, then add
    its two halves until one element is left.

    ``jnp.sum`` leaves the order of the additions to the compiler, which picks a different one for
    a fused reduction inside ``jit`` than for an eager call; elementwise additions it may not
    reorder, so this sum has the same bits eagerly, under ``jit`` and under ``vmap``. (The last
    element of ``model.prefix_sum`` is deterministic too, but computes every prefix: at ``S = 64``
    it is about 8x slower, and the count model's sweeps take one such sum per real step.)
    """
    n = x.shape[-1]
    width = 1 << max(n - 1, 0).bit_length()
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - n)])
    while width > 1:
        width //= 2
        x = x[..., :width] + x[..., width:]
    return x[..., 0]


def first_argmax(x: Float[Array, "*N M"]) -> Int[Array, "*N"]:
    """``argmax_j x[..., j]``, ties to the lowest ``j`` (as ``jnp.argmax``, without NaNs).

    Written as ``min {j : x[..., j] = max x}``: two plain reductions, which XLA:CPU vectorises;
    ``jnp.argmax``'s variadic reduction runs about 10x slower on the ``S * A`` queue.
    """
    n = x.shape[-1]
    top = jnp.max(x, axis=-1, keepdims=True)
    return jnp.min(jnp.where(x == top, jnp.arange(n, dtype=jnp.int32), n), axis=-1)


def count_probs(t_c: Float[Array, "*N S"]) -> Float[Array, "*N S"]:
    """``T = T_c / sum_s' T_c`` row by row, as ``model.transition_probs_from_counts`` but with the
    row sums taken by ``row_sum`` (the same bits eagerly, under ``jit`` and ``vmap``)."""
    return t_c / row_sum(t_c)[..., None]


def slot_probs(t_c: Float[Array, "*N K"]) -> Float[Array, "*N K"]:
    """The compact model's ``T = t_c / sum_k t_c`` over a pair's outcome slots (integer counts,
    no prior; an untried pair's row is all zeros), row sums by ``row_sum``."""
    return t_c / jnp.maximum(row_sum(t_c), 1.0)[..., None]


def expected_value(
    probs: Float[Array, "*N S"], v: Values, zero: Int[Array, ""]
) -> Float[Array, "*N"]:
    """``sum_s' T[s'] v[s']`` along the last axis: each product ``rounded`` (``zero`` is
    ``model.runtime_zero(step)``), the sum by ``row_sum``."""
    return row_sum(rounded(probs * v, zero))


def reward_estimate(state: DynaQState, config: DynaQConfig) -> Float[Array, "S A"]:
    """The reward the planners back up: ``R_hat[s,a]``.

    Count model: the smoothed ``R = (1 - alpha) R + alpha r``, started at ``0``, is a weighted
    average of the rewards seen *and* of that arbitrary start, whose weight after
    ``N = visits[s,a]`` updates is ``(1 - alpha)^N``; dividing it out (Adam's bias correction)
    leaves the weighted average of the rewards alone:
    ``R_hat = R / (1 - (1 - alpha)^N)`` (``R`` itself where ``N = 0``). With a small ``alpha`` it
    approaches the sample mean. Deterministic model: ``R`` (the last reward seen).
    """
    if config.model != "count":
        return state.r
    n = state.visits.astype(jnp.float32)
    kept = (1.0 - jnp.asarray(config.learning_rate, jnp.float32)) ** n
    return jnp.where(n > 0, state.r / (1.0 - kept), state.r)


def _next_values(
    state: DynaQState, v: Values, sa: Int[Array, "*N"], config: DynaQConfig, zero: Int[Array, ""]
) -> Float[Array, "*N"]:
    """``sum_s' T[s,a,s'] v[s']`` for the flat pairs ``sa = s * A + a`` (deterministic model:
    ``v[next_state[s,a]]``)."""
    n_s = state.q.shape[-2]
    k = config.outcome_slots
    if config.model == "count" and k:
        rows = slot_probs(state.t_c.reshape(-1, k)[sa])
        return expected_value(rows, v[state.outcomes.reshape(-1, k)[sa]], zero)
    if config.model == "count":
        rows = count_probs(state.t_c.reshape(-1, n_s)[sa])
        return expected_value(rows, v, zero)
    return v[state.next_state.reshape(-1)[sa]]


def _backup(
    r_hat: Float[Array, "*N"], e: Float[Array, "*N"], config: DynaQConfig, zero: Int[Array, ""]
) -> Float[Array, "*N"]:
    """``R_hat + gamma * E[v(s')]`` (``e`` already holds the ``(1 - terminal)`` factor)."""
    return q_target(r_hat, jnp.ones(jnp.shape(e), jnp.bool_), config.discount, e, zero)


def model_targets(state: DynaQState, q: QTable, config: DynaQConfig) -> Float[Array, "S A"]:
    """The model's one-step target for every pair (a Bellman backup of ``Q`` through the model).

    Count model: ``target[s,a] = R_hat[s,a] + gamma * sum_s' T[s,a,s'] v[s']`` with
    ``T = T_c / sum_s' T_c``; deterministic model: ``R[s,a] + gamma * v[next_state[s,a]]``; where
    ``v = bootstrap_values(Q, terminal)`` and ``R_hat = reward_estimate``. Untried pairs get the
    targets of their prior model (meaningless: no planner uses them).
    """
    zero = runtime_zero(state.step)
    v = bootstrap_values(q, state.terminal)
    if config.model == "count" and config.outcome_slots:
        e = expected_value(slot_probs(state.t_c), v[state.outcomes], zero)
    elif config.model == "count":
        e = expected_value(count_probs(state.t_c), v, zero)
    else:
        e = v[state.next_state]
    return _backup(reward_estimate(state, config), e, config, zero)


def model_errors(state: DynaQState, config: DynaQConfig) -> Float[Array, "S A"]:
    """``|target[s,a] - Q[s,a]|`` for every pair (``model_targets``): the priority prioritized
    sweeping gives a pair whose error it examines."""
    return jnp.abs(model_targets(state, state.q, config) - state.q)


# -- expected (full-backup) planning -------------------------------------------------------------


def expected_updates(
    state: DynaQState,
    sa: Int[Array, " N"],
    config: DynaQConfig,
    active: Bool[Array, ""] | None = None,
) -> QTable:
    """Full backups of the flat pairs ``sa = s * A + a`` in order, one ``lax.scan`` step each.

    For ``i = 1..N``: ``Q[s_i,a_i] = R_hat[s_i,a_i] + gamma * sum_s' T[s_i,a_i,s'] (1 -
    terminal[s']) max_a' Q[s',a']`` (``model_targets`` of that pair under the current ``Q``; count
    model ``T = T_c / sum T_c``, deterministic model ``s' = next_state[s_i,a_i]``). Returns ``Q``;
    nothing changes where ``active`` is false.
    """
    n_s, n_a = state.q.shape[-2], state.q.shape[-1]
    r_hat = reward_estimate(state, config).reshape(-1)
    zero = runtime_zero(state.step)

    def body(q_flat: Float[Array, " SA"], i: Int[Array, ""]) -> tuple[Float[Array, " SA"], None]:
        v = bootstrap_values(q_flat.reshape(n_s, n_a), state.terminal)
        target = _backup(r_hat[i], _next_values(state, v, i, config, zero), config, zero)
        if active is not None:
            target = jnp.where(active, target, q_flat[i])
        return q_flat.at[i].set(target), None

    q_flat, _ = jax.lax.scan(body, state.q.reshape(n_s * n_a), sa)
    return q_flat.reshape(n_s, n_a)


def plan_expected(
    state: DynaQState, key: Key, config: DynaQConfig, active: Bool[Array, ""] | None = None
) -> DynaQState:
    """The ``"expected"`` planner: ``n`` full backups (``expected_updates``) of pairs drawn
    uniformly among the tried pairs, exactly as ``planning.simulate`` draws them (learning rate
    1). Nothing changes where ``active`` is false or before any pair was tried.
    """
    sa = simulate(state, key, config).sa  # the rest of the batch goes unused (and is DCE'd)
    on = state.n_pairs > 0 if active is None else (state.n_pairs > 0) & active
    return state._replace(q=expected_updates(state, sa, config, on))


# -- prioritized sweeping ------------------------------------------------------------------------


class _Sweep(NamedTuple):
    q: Float[Array, "S A"]
    priority: Float[Array, "S A"]
    targets: Float[Array, "S A"]
    v: Float[Array, " S"]
    updates: Int[Array, ""]


def sweep(
    state: DynaQState, config: DynaQConfig, active: Bool[Array, ""] | None = None
) -> tuple[DynaQState, Int[Array, ""]]:
    """Prioritized sweeping: up to ``n`` pops of the queue, one ``lax.scan`` step each.

    Each step: ``(s, a) = argmax priority`` (ties to the lowest flat index); if
    ``priority[s,a] <= theta`` (or not ``active``) nothing happens. Otherwise
    ``priority[s,a] = 0`` and ``(s, a)`` is updated towards its model target
    (``model_targets``): the count model by the expected update ``Q[s,a] = target[s,a]`` (Sutton &
    Barto 8.4's extension to stochastic environments), the deterministic model by the book's
    ``Q[s,a] += alpha (target[s,a] - Q[s,a])``. Then for every predecessor ``(sb, ab)`` of ``s``
    with ``P = |target[sb,ab] - Q[sb,ab]| > theta``: ``priority[sb,ab] = max(priority[sb,ab], P)``.
    The predecessors are the pairs the model predicts to lead to ``s``: count model
    ``T_c[sb, ab, s] > t_c_prior`` (a real transition into ``s`` was seen), deterministic model
    ``next_state[sb, ab] = s`` for a tried pair (in a deterministic world the same pairs).

    ``target`` is computed densely once per call and then kept current in ``O(S A)`` per pop: an
    update of ``Q[s, .]`` moves ``v[s]`` alone, so ``target += gamma T[:, :, s] dv[s]``.

    Returns the new state and the number of updates made (pops above ``theta``).
    """
    n_s, n_a = state.q.shape[-2], state.q.shape[-1]
    on = jnp.asarray(True) if active is None else active
    zero = runtime_zero(state.step)
    count = config.model == "count"
    compact = config.outcome_slots > 0
    probs = None if not count else slot_probs(state.t_c) if compact else count_probs(state.t_c)
    start = _Sweep(
        q=state.q,
        priority=state.priority,
        targets=model_targets(state, state.q, config),
        v=bootstrap_values(state.q, state.terminal),
        updates=jnp.zeros((), jnp.int32),
    )

    def body(c: _Sweep, _: None) -> tuple[_Sweep, None]:
        flat = c.priority.reshape(-1)
        idx = first_argmax(flat)
        top = flat[idx]
        go = on & (top > config.theta)
        s = idx // n_a
        priority = flat.at[idx].set(jnp.where(go, 0.0, top)).reshape(n_s, n_a)
        q_flat = c.q.reshape(-1)
        target = c.targets.reshape(-1)[idx]
        if count:
            q_new = jnp.where(go, target, q_flat[idx])
        else:
            q_new = td_step(q_flat[idx], target, config.learning_rate, go, zero)
        q = q_flat.at[idx].set(q_new).reshape(n_s, n_a)
        v_s = jnp.where(state.terminal[s], 0.0, jnp.max(q[s]))
        dv = jnp.where(go, rounded(config.discount * (v_s - c.v[s]), zero), 0.0)
        # T[:, :, s] and the predecessors of s (the pairs the model predicts to lead to s)
        if probs is not None and compact:  # at most one slot of a pair holds s
            held = (state.outcomes == s) & (state.t_c > 0)
            targets = c.targets + rounded(jnp.sum(jnp.where(held, probs, 0.0), -1) * dv, zero)
            pred = jnp.any(held, axis=-1)
        elif probs is not None:
            targets = c.targets + rounded(probs[:, :, s] * dv, zero)
            pred = state.t_c[:, :, s] > config.t_c_prior
        else:  # deterministic model: no need to touch T_c
            leads = state.next_state == s
            targets = c.targets + jnp.where(leads, dv, 0.0)
            pred = leads & (state.visits > 0)
        err = jnp.abs(targets - q)
        insert = go & pred & (err > config.theta)
        priority = jnp.where(insert, jnp.maximum(priority, err), priority)
        return _Sweep(q, priority, targets, c.v.at[s].set(v_s), c.updates + go), None

    end, _ = jax.lax.scan(body, start, None, length=config.planning_steps)
    return state._replace(q=end.q, priority=end.priority), end.updates


# -- hooks for agent.py and planning.py ----------------------------------------------------------


def optimistic_value(config: DynaQConfig) -> Float[Array, ""]:
    """R-max's value of an unknown pair, ``r_max / (1 - gamma)`` with ``r_max = optimism``
    (``0`` when ``optimism = 0``)."""
    opt = jnp.asarray(config.optimism, jnp.float32)
    return jnp.where(opt > 0, opt / (1.0 - jnp.asarray(config.discount, jnp.float32)), 0.0)


def mark_optimistic(
    state: DynaQState, s: IntScalar, s_next: IntScalar, config: DynaQConfig, on: BoolScalar
) -> DynaQState:
    """R-max optimism after a real transition ``s -> s'`` (``model_update`` calls it).

    For ``x`` in ``{s, s'}`` unless ``terminal[x]``, and every action ``b`` with
    ``visits[x, b] = 0``: ``Q[x, b] = optimism / (1 - gamma)``. A no-op when ``optimism = 0`` or
    ``on`` is false.
    """
    lit = jnp.asarray(on) & (jnp.asarray(config.optimism) > 0)
    vmax = optimistic_value(config)
    q = state.q
    for x in (s, s_next):
        mark = lit & (state.visits[x] == 0) & ~state.terminal[x]
        q = q.at[x].set(jnp.where(mark, vmax, q[x]))
    return state._replace(q=q)


def queue_pair(
    state: DynaQState, s: IntScalar, a: IntScalar, config: DynaQConfig, on: BoolScalar
) -> DynaQState:
    """Queue a really tried pair (prioritized sweeping's steps (e)-(f)).

    ``P = |target[s,a] - Q[s,a]|`` with the model target (``model_targets``; for the deterministic
    model just after ``model_update`` this is exactly the book's ``|r + gamma max_a' Q[s',a'] -
    Q[s,a]|``, with no bootstrap through a terminal ``s'``); if ``P > theta``:
    ``priority[s,a] = max(priority[s,a], P)``.
    """
    on = jnp.asarray(on)
    zero = runtime_zero(state.step)
    sa = jnp.asarray(s * state.q.shape[-1] + a, jnp.int32)
    v = bootstrap_values(state.q, state.terminal)
    r_hat = reward_estimate(state, config)[s, a]
    target = _backup(r_hat, _next_values(state, v, sa, config, zero), config, zero)
    p = jnp.abs(target - state.q[s, a])
    old = state.priority[s, a]
    new = jnp.where(on & (p > config.theta), jnp.maximum(old, p), old)
    return state._replace(priority=state.priority.at[s, a].set(new))


def after_model_update(
    state: DynaQState,
    s: IntScalar,
    a: IntScalar,
    s_next: IntScalar,
    config: DynaQConfig,
    on: BoolScalar,
) -> DynaQState:
    """What the planners add to ``model_update``: ``mark_optimistic``, then (``"sweeping"``)
    ``queue_pair``."""
    state = mark_optimistic(state, s, s_next, config, on)
    if config.planner == "sweeping":
        state = queue_pair(state, s, a, config, on)
    return state


def run_planner(
    state: DynaQState, key: Key, config: DynaQConfig, active: Bool[Array, ""] | None = None
) -> DynaQState:
    """``plan`` for ``config.planner`` in ``("expected", "sweeping")`` (see the module docstring);
    ``active=None``: always active."""
    if config.planner == "expected":
        return plan_expected(state, key, config, active)
    if config.planner == "sweeping":
        return sweep(state, config, active)[0]
    raise ValueError(f"run_planner: no planner {config.planner!r} here")


__all__ = [
    "after_model_update",
    "bootstrap_values",
    "count_probs",
    "expected_updates",
    "expected_value",
    "first_argmax",
    "mark_optimistic",
    "model_errors",
    "model_targets",
    "optimistic_value",
    "plan_expected",
    "queue_pair",
    "reward_estimate",
    "row_sum",
    "run_planner",
    "slot_probs",
    "sweep",
]
