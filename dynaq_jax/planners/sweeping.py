"""Prioritized sweeping (Moore & Atkeson 1993; Sutton & Barto 8.4).

The queue is the dense array ``SweepQueue.priority[S, A]`` (``0``: not queued), so everything is
array code inside one ``lax.scan`` of ``n`` pops, with no heap and no data-dependent control flow
(a vmapped batch masks the seeds whose queue ran dry). The real transition is not applied
directly: ``model_update`` queues ``(s, a)`` with its model error (``observe``), and the pops apply
the updates. The predecessors of ``s`` are the pairs the model predicts to lead to ``s``
(``ModelKind.predecessors``). Deterministic model: the book's box, ``alpha``-weighted sample
updates with the last ``s'``. Count models: the book's extension to stochastic environments, the
expected update over ``T`` (a full backup).
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.backups import bootstrap_values, full_backup, td_step
from dynaq_jax.config import DynaQConfig
from dynaq_jax.exploration import planned_rewards, unknown, with_count_bonus
from dynaq_jax.models import ModelKind
from dynaq_jax.numerics import first_argmax, rounded, runtime_zero
from dynaq_jax.planners.base import Planner
from dynaq_jax.planners.expected import check_no_kappa
from dynaq_jax.state import DynaQState
from dynaq_jax.types import Key, QTable


class SweepQueue(NamedTuple):
    """Prioritized sweeping's queue.

    Attributes:
        priority: ``priority[s, a] > 0`` is the priority of a queued pair, ``0`` not queued.
    """

    priority: Float[Array, "S A"]


def model_targets(
    state: DynaQState, q: QTable, config: DynaQConfig, kind: ModelKind
) -> Float[Array, "S A"]:
    """The model's one-step target for every pair (a Bellman backup of ``Q`` through the model):
    ``target[s,a] = R_hat[s,a] + gamma * sum_s' T[s,a,s'] v[s']`` with
    ``v = bootstrap_values(Q, terminal)`` (``R_hat`` with MBIE-EB's bonus,
    ``exploration.planned_rewards``). Untried pairs get the targets of their empty model
    (meaningless: no planner uses them)."""
    zero = runtime_zero(state.real_steps)
    v = bootstrap_values(q, state.terminal)
    e = kind.all_next_values(state.model, v, config, zero)
    r_hat = planned_rewards(state, config, kind, zero)
    return full_backup(r_hat, e, config.discount, zero)


def model_errors(state: DynaQState, config: DynaQConfig, kind: ModelKind) -> Float[Array, "S A"]:
    """``|target[s,a] - Q[s,a]|`` for every pair (``model_targets``): the priority prioritized
    sweeping gives a pair whose error it examines."""
    return jnp.abs(model_targets(state, state.q, config, kind) - state.q)


class _SweepCarry(NamedTuple):
    q: Float[Array, "S A"]
    priority: Float[Array, "S A"]
    targets: Float[Array, "S A"]
    v: Float[Array, " S"]
    updates: Int[Array, ""]


def sweep(
    state: DynaQState, config: DynaQConfig, kind: ModelKind, active: Bool[Array, ""] | None = None
) -> tuple[DynaQState, Int[Array, ""]]:
    """Up to ``n`` pops of the queue, one ``lax.scan`` step each.

    R-max's unknown pairs (``exploration.unknown``) are never queued: their value stays
    ``r_max / (1 - gamma)`` until they are known.

    Each step: ``(s, a) = argmax priority`` (ties to the lowest flat index); if
    ``priority[s,a] <= theta`` (or not ``active``) nothing happens. Otherwise ``priority[s,a] = 0``
    and ``(s, a)`` is updated towards its model target (``model_targets``): the count models by
    the expected update ``Q[s,a] = target[s,a]``, the deterministic model by the book's
    ``Q[s,a] += alpha (target[s,a] - Q[s,a])``. Then for every predecessor ``(sb, ab)`` of ``s``
    with ``P = |target[sb,ab] - Q[sb,ab]| > theta``: ``priority[sb,ab] = max(priority[sb,ab], P)``.

    ``target`` is computed densely once per call and then kept current in ``O(S A)`` per pop: an
    update of ``Q[s, .]`` moves ``v[s]`` alone, so ``target += gamma T[:, :, s] dv[s]``.

    Returns the new state and the number of updates made (pops above ``theta``).
    """
    n_s, n_a = state.q.shape[-2], state.q.shape[-1]
    on = jnp.asarray(True) if active is None else active
    zero = runtime_zero(state.real_steps)
    full = kind.stochastic
    into = kind.into(state.model, config)
    known = ~unknown(state.visits, config)
    start = _SweepCarry(
        q=state.q,
        priority=state.planner.priority,
        targets=model_targets(state, state.q, config, kind),
        v=bootstrap_values(state.q, state.terminal),
        updates=jnp.zeros((), jnp.int32),
    )

    def body(c: _SweepCarry, _: None) -> tuple[_SweepCarry, None]:
        flat = c.priority.reshape(-1)
        idx = first_argmax(flat)
        top = flat[idx]
        go = on & (top > config.theta)
        s = idx // n_a
        priority = flat.at[idx].set(jnp.where(go, 0.0, top)).reshape(n_s, n_a)
        q_flat = c.q.reshape(-1)
        target = c.targets.reshape(-1)[idx]
        if full:
            q_new = jnp.where(go, target, q_flat[idx])
        else:
            q_new = td_step(q_flat[idx], target, config.learning_rate, go, zero)
        q = q_flat.at[idx].set(q_new).reshape(n_s, n_a)
        v_s = jnp.where(state.terminal[s], 0.0, jnp.max(q[s]))
        dv = jnp.where(go, rounded(config.discount * (v_s - c.v[s]), zero), 0.0)
        targets = c.targets + kind.value_change(state.model, into, s, dv, zero)
        pred = kind.predecessors(state.model, s, state.visits, config)
        err = jnp.abs(targets - q)
        insert = go & pred & known & (err > config.theta)
        priority = jnp.where(insert, jnp.maximum(priority, err), priority)
        return _SweepCarry(q, priority, targets, c.v.at[s].set(v_s), c.updates + go), None

    end, _ = jax.lax.scan(body, start, None, length=config.planning_steps)
    return state._replace(q=end.q, planner=SweepQueue(end.priority)), end.updates


class SweepingPlanner(Planner):
    """``planner="sweeping"``: prioritized sweeping (module docstring)."""

    name = "sweeping"
    direct_update = False

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
        """An empty queue."""
        return SweepQueue(priority=jnp.zeros((n_states, n_actions), jnp.float32))

    def observe(
        self,
        state: DynaQState,
        s: Int[Array, ""],
        a: Int[Array, ""],
        config: DynaQConfig,
        kind: ModelKind,
        on: Bool[Array, ""],
    ) -> DynaQState:
        """Queue the really tried pair (the book's steps (e)-(f)): ``P = |target[s,a] - Q[s,a]|``
        with the model target (for the deterministic model just after ``model_update`` exactly
        the book's ``|r + gamma max_a' Q[s',a'] - Q[s,a]|``, no bootstrap through a terminal
        ``s'``); if ``P > theta``: ``priority[s,a] = max(priority[s,a], P)``."""
        zero = runtime_zero(state.real_steps)
        sa = jnp.asarray(s * state.q.shape[-1] + a, jnp.int32)
        v = bootstrap_values(state.q, state.terminal)
        r_hat = kind.reward_estimate(state.r, state.visits, config)[s, a]
        r_hat = with_count_bonus(r_hat, state.visits[s, a], config, zero)
        e = kind.next_values(state.model, v, sa, config, zero)
        target = full_backup(r_hat, e, config.discount, zero)
        p = jnp.where(unknown(state.visits[s, a], config), 0.0, jnp.abs(target - state.q[s, a]))
        old = state.planner.priority[s, a]
        new = jnp.where(on & (p > config.theta), jnp.maximum(old, p), old)
        return state._replace(planner=SweepQueue(state.planner.priority.at[s, a].set(new)))

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

__all__ = ["SWEEPING", "SweepQueue", "SweepingPlanner", "model_errors", "model_targets", "sweep"]
