"""Planning: simulated Q-learning updates drawn from the learned model, as one ``lax.scan``.

The model (``T_c``, ``R``, ``terminal``, the candidate pairs, ``tau``) does not change while one
planning call runs: only ``Q`` does. So all ``n`` simulated transitions are drawn up front in one
batched computation, and the sequential scan body is the Q-learning update alone.

Bit-reproducibility: XLA:CPU contracts ``a * b + c`` into a fused multiply-add where it fuses the
two, and whether it does depends on the batch shape (and never happens eagerly). Every product that
feeds a sum therefore passes through a ``where`` on a runtime condition, which the compiler cannot
fuse across: jit, eager and any ``vmap`` batch size give the same bits.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.checks import typed_jit
from dynaq_jax.config import DynaQConfig
from dynaq_jax.model import sample_from_counts
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
) -> Float[Array, "*N"]:
    """The Q-learning target ``r + gamma * (1 - terminated) * max_a' Q[s', a']``.

    Written as ``r + where(nonterminal, gamma * maxQ, 0)``: no bootstrap through a terminal
    transition, and no fused multiply-add (see the module docstring).
    """
    return reward + jnp.where(nonterminal, discount * max_q_next, 0.0)


def td_step(
    q_sa: Float[Array, "*N"],
    target: Float[Array, "*N"],
    learning_rate: Float[Array, ""] | float,
    active: Bool[Array, "*N"] | bool,
) -> Float[Array, "*N"]:
    """``Q[s,a] + alpha * (target - Q[s,a])`` where ``active``, else ``Q[s,a]`` unchanged."""
    return q_sa + jnp.where(active, learning_rate * (target - q_sa), 0.0)


def simulate(state: DynaQState, key: Key, config: DynaQConfig) -> SimulatedBatch:
    """Draw ``config.planning_steps`` simulated transitions from the model.

    ``(s, a) = pairs[floor(u_1 * n_pairs)]`` (uniform over the distinct pairs tried);
    count model ``s' ~ T[s, a, :]`` by inverse CDF with ``u_2``, deterministic model
    ``s' = next_state[s, a]``; ``r = R[s, a] + kappa * sqrt(step - last_visit[s, a])`` (Dyna-Q+
    bonus, zero when ``kappa = 0``); an untried action of a visited state (Dyna-Q+ only) leads to
    ``s' = s`` with ``R = 0``; the update bootstraps from ``s'`` unless ``terminal[s']``.
    """
    n = config.planning_steps
    n_s, n_a = state.q.shape[-2], state.q.shape[-1]
    u = jax.random.uniform(key, (2, n))
    idx = jnp.floor(u[0] * state.n_pairs).astype(jnp.int32)
    sa = state.pairs[jnp.minimum(idx, state.pairs.shape[0] - 1)]
    s = sa // n_a
    if config.model == "count":
        s_model = sample_from_counts(state.t_c.reshape(n_s * n_a, n_s)[sa], u[1])
    else:
        s_model = state.next_state.reshape(-1)[sa]
    tried = state.visits.reshape(-1)[sa] > 0
    s_next = jnp.where(tried, s_model, s)
    tau = (state.step - state.last_visit.reshape(-1)[sa]).astype(jnp.float32)
    bonus = jnp.where(tau > 0, config.kappa * jnp.sqrt(tau), 0.0)
    reward = jnp.where(tried, state.r.reshape(-1)[sa], 0.0) + bonus
    return SimulatedBatch(sa=sa, s_next=s_next, reward=reward, nonterminal=~state.terminal[s_next])


def q_updates(
    q: Float[Array, "S A"],
    batch: SimulatedBatch,
    learning_rate: Float[Array, ""] | float,
    discount: Float[Array, ""] | float,
    active: Bool[Array, ""] | bool = True,
) -> Float[Array, "S A"]:
    """Apply the Q-learning updates of ``batch`` in order, one ``lax.scan`` step each.

    ``Q[s_i,a_i] += alpha * (r_i + gamma * (1 - terminal[s'_i]) * max_a' Q[s'_i, a'] - Q[s_i,a_i])``
    for ``i = 1..n``; nothing changes where ``active`` is false.
    """
    n_s, n_a = q.shape

    def body(q_flat: Float[Array, " SA"], x: SimulatedBatch) -> tuple[Float[Array, " SA"], None]:
        q_next = jax.lax.dynamic_slice(q_flat, (x.s_next * n_a,), (n_a,))
        target = q_target(x.reward, x.nonterminal, discount, jnp.max(q_next))
        new = td_step(q_flat[x.sa], target, learning_rate, active)
        return q_flat.at[x.sa].set(new), None

    q_flat, _ = jax.lax.scan(body, q.reshape(n_s * n_a), batch)
    return q_flat.reshape(n_s, n_a)


@typed_jit
def plan_impl(
    state: DynaQState, key: Key, config: DynaQConfig, active: bool | Bool[Array, ""] = True
) -> DynaQState:
    """``plan`` with an ``active`` flag: ``False`` leaves ``state`` unchanged (loop padding)."""
    if config.planning_steps == 0:
        return state
    batch = simulate(state, key, config)
    on = (state.n_pairs > 0) & active
    return state._replace(q=q_updates(state.q, batch, config.learning_rate, config.discount, on))


def plan(state: DynaQState, key: Key, config: DynaQConfig) -> DynaQState:
    """``planning_steps`` simulated Q-learning updates (Dyna-Q's step (c)), one ``lax.scan``.

    For ``i = 1..n``: ``(s, a)`` uniform among the pairs tried, ``s' ~ T[s,a,:]``, ``r = R[s,a]``
    (plus the Dyna-Q+ bonus), then ``Q[s,a] += alpha (r + gamma (1 - terminal[s']) max Q[s'] -
    Q[s,a])``. A no-op before any pair was tried or with ``planning_steps = 0``.
    """
    return plan_impl(state, key, config, jnp.asarray(True))


__all__ = ["SimulatedBatch", "plan", "plan_impl", "q_target", "q_updates", "simulate", "td_step"]
