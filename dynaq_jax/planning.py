"""Planning: simulated Q-learning updates drawn from the learned model, as one ``lax.scan``.

The model (``T_c``, ``R``, ``terminal``, the candidate pairs, ``tau``) does not change while one
planning call runs: only ``Q`` does. So all ``n`` simulated transitions are drawn up front in one
batched computation, and the sequential scan body is the Q-learning update alone.

Bit-reproducibility: every product that feeds a sum passes through ``model.rounded`` so that no
fused multiply-add changes the last bit: jit, eager and any ``vmap`` batch size give the same bits.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.checks import typed_jit
from dynaq_jax.config import DynaQConfig
from dynaq_jax.model import rounded, runtime_zero, sample_from_cumulative_counts, uniforms
from dynaq_jax.state import DynaQState
from dynaq_jax.types import Key


class SimulatedBatch(NamedTuple):
    """``n`` simulated transitions: flat pair ``s * A + a``, ``s'``, reward, and whether ``s'`` is
    non-terminal (the update bootstraps from it)."""

    sa: Int[Array, " N"]
    s_next: Int[Array, " N"]
    reward: Float[Array, " N"]
    nonterminal: Bool[Array, " N"]


def q_target(
    reward: Float[Array, "*N"],
    nonterminal: Bool[Array, "*N"],
    discount: Float[Array, ""] | float,
    max_q_next: Float[Array, "*N"],
    zero: Int[Array, ""],
) -> Float[Array, "*N"]:
    """The Q-learning target ``r + gamma * (1 - terminated) * max_a' Q[s', a']``.

    Written as ``r + where(nonterminal, gamma * maxQ, 0)``: no bootstrap through a terminal
    transition; ``zero = runtime_zero(step)`` keeps the product out of a fused multiply-add.
    """
    return reward + jnp.where(nonterminal, rounded(discount * max_q_next, zero), 0.0)


def td_step(
    q_sa: Float[Array, "*N"],
    target: Float[Array, "*N"],
    learning_rate: Float[Array, ""] | float,
    active: Bool[Array, "*N"] | None,
    zero: Int[Array, ""],
) -> Float[Array, "*N"]:
    """``Q[s,a] + alpha * (target - Q[s,a])``; unchanged where ``active`` is false.

    ``active=None``: always active (no masking code at all).
    """
    increment = rounded(learning_rate * (target - q_sa), zero)
    if active is not None:
        increment = jnp.where(active, increment, 0.0)
    return q_sa + increment


def simulate(state: DynaQState, key: Key, config: DynaQConfig) -> SimulatedBatch:
    """Draw ``config.planning_steps`` simulated transitions from the model.

    ``(s, a) = pairs[floor(u_1 * n_pairs)]`` (uniform over the distinct pairs tried);
    count model ``s' ~ T[s, a, :]`` by inverse CDF with ``u_2`` (compact model: a slot ``k`` with
    probability ``t_c[s,a,k] / sum_k t_c[s,a,k]``, then ``s' = outcomes[s,a,k]``), deterministic
    model ``s' = next_state[s, a]``; ``r = R[s, a] + kappa * sqrt(tau)`` (Dyna-Q+ bonus, zero when
    ``kappa = 0``) with ``tau = step - 1 - last_visit[s, a]`` the real steps since ``(s, a)`` was
    last tried (0 right after it); an untried action of a visited state (Dyna-Q+ only) leads to
    ``s' = s`` with ``R = 0``; the update bootstraps from ``s'`` unless ``terminal[s']``.
    """
    n = config.planning_steps
    n_s, n_a = state.q.shape[-2], state.q.shape[-1]
    u = uniforms(key, (2, n))
    idx = jnp.floor(u[0] * state.n_pairs).astype(jnp.int32)
    sa = state.pairs[jnp.minimum(idx, state.pairs.shape[0] - 1)]
    s = sa // n_a
    if config.model == "count" and config.outcome_slots:
        k = config.outcome_slots
        rows = state.t_c_cum.reshape(n_s * n_a, k)[sa]
        slot = sample_from_cumulative_counts(rows, u[1], 0.0)
        s_model = state.outcomes.reshape(n_s * n_a * k)[sa * k + slot]
    elif config.model == "count":
        rows = state.t_c_cum.reshape(n_s * n_a, n_s)[sa]
        s_model = sample_from_cumulative_counts(rows, u[1], config.t_c_prior)
    else:
        s_model = state.next_state.reshape(-1)[sa]
    tried = state.visits.reshape(-1)[sa] > 0
    s_next = jnp.where(tried, s_model, s)
    # ``last_visit`` is the index of the real step that last tried the pair and ``step`` counts the
    # real steps seen, so the steps elapsed since are ``step - 1 - last_visit`` (clipped for the
    # empty model, where nothing is planned anyway).
    tau = jnp.maximum(state.step - 1 - state.last_visit.reshape(-1)[sa], 0).astype(jnp.float32)
    bonus = jnp.where(tau > 0, rounded(config.kappa * jnp.sqrt(tau), runtime_zero(state.step)), 0.0)
    reward = jnp.where(tried, state.r.reshape(-1)[sa], 0.0) + bonus
    return SimulatedBatch(sa=sa, s_next=s_next, reward=reward, nonterminal=~state.terminal[s_next])


def q_updates(
    q: Float[Array, "S A"],
    batch: SimulatedBatch,
    learning_rate: Float[Array, ""] | float,
    discount: Float[Array, ""] | float,
    active: Bool[Array, ""] | None,
    zero: Int[Array, ""],
) -> Float[Array, "S A"]:
    """Apply the Q-learning updates of ``batch`` in order, one ``lax.scan`` step each.

    ``Q[s_i,a_i] += alpha * (r_i + gamma * (1 - terminal[s'_i]) * max_a' Q[s'_i, a'] - Q[s_i,a_i])``
    for ``i = 1..n``; nothing changes where ``active`` is false. ``zero`` is
    ``runtime_zero(step)`` (see ``model.rounded``).
    """
    n_s, n_a = q.shape

    def body(q_flat: Float[Array, " SA"], x: SimulatedBatch) -> tuple[Float[Array, " SA"], None]:
        q_next = jax.lax.dynamic_slice(q_flat, (x.s_next * n_a,), (n_a,))
        target = q_target(x.reward, x.nonterminal, discount, jnp.max(q_next), zero)
        new = td_step(q_flat[x.sa], target, learning_rate, active, zero)
        return q_flat.at[x.sa].set(new), None

    q_flat, _ = jax.lax.scan(body, q.reshape(n_s * n_a), batch)
    return q_flat.reshape(n_s, n_a)


@typed_jit
def plan_impl(
    state: DynaQState, key: Key, config: DynaQConfig, active: Bool[Array, ""] | None = None
) -> DynaQState:
    """``plan`` with an ``active`` flag: ``False`` leaves ``state`` unchanged (loop padding)."""
    if config.planning_steps == 0:
        return state
    if config.planner != "sample":
        from dynaq_jax.planners import run_planner  # lazily: planners builds on this module

        return run_planner(state, key, config, active)
    batch = simulate(state, key, config)
    on = state.n_pairs > 0 if active is None else (state.n_pairs > 0) & active
    zero = runtime_zero(state.step)
    q = q_updates(state.q, batch, config.learning_rate, config.discount, on, zero)
    return state._replace(q=q)


def plan(state: DynaQState, key: Key, config: DynaQConfig) -> DynaQState:
    """``planning_steps`` simulated Q-learning updates (Dyna-Q's step (c)), one ``lax.scan``.

    For ``i = 1..n``: ``(s, a)`` uniform among the pairs tried, ``s' ~ T[s,a,:]``, ``r = R[s,a]``
    (plus the Dyna-Q+ bonus), then ``Q[s,a] += alpha (r + gamma (1 - terminal[s']) max Q[s'] -
    Q[s,a])``. A no-op before any pair was tried or with ``planning_steps = 0``. Other
    ``config.planner`` values: see ``dynaq_jax.planners``.
    """
    return plan_impl(state, key, config)


__all__ = [
    "SimulatedBatch",
    "plan",
    "plan_impl",
    "q_target",
    "q_updates",
    "simulate",
    "td_step",
]
