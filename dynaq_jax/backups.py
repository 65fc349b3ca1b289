"""Q-learning targets and backups: the update every Dyna agent makes, real or simulated.

Bit-reproducibility: every product that feeds a sum passes through ``numerics.rounded`` (``zero``
is ``numerics.runtime_zero(real_steps)``) and sums over states are taken by ``numerics.row_sum``,
so jit, eager and any ``vmap`` batch size give the same bits.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.numerics import rounded, row_sum
from dynaq_jax.types import QTable, Values


def q_target(
    reward: Float[Array, "*N"],
    nonterminal: Bool[Array, "*N"],
    discount: Float[Array, ""] | float,
    max_q_next: Float[Array, "*N"],
    zero: Int[Array, ""],
) -> Float[Array, "*N"]:
    """The Q-learning target ``r + gamma * (1 - terminated) * max_a' Q[s', a']`` (Watkins 1989;
    Sutton & Barto eq. 6.8).

    Written as ``r + where(nonterminal, gamma * maxQ, 0)``: no bootstrap through a terminal
    transition; ``zero`` keeps the product out of a fused multiply-add.
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


def bootstrap_values(q: QTable, terminal: Bool[Array, " S"]) -> Values:
    """``v[s'] = (1 - terminal[s']) * max_a' Q[s', a']``: what a target bootstraps from."""
    return jnp.where(terminal, 0.0, jnp.max(q, axis=-1))


def expected_value(
    probs: Float[Array, "*N S"], v: Float[Array, "*N S"] | Values, zero: Int[Array, ""]
) -> Float[Array, "*N"]:
    """``sum_s' T[s'] v[s']`` along the last axis: each product ``rounded``, the sum by
    ``row_sum`` (the same bits eagerly, under ``jit`` and ``vmap``)."""
    return row_sum(rounded(probs * v, zero))


def full_backup(
    r_hat: Float[Array, "*N"],
    next_value: Float[Array, "*N"],
    discount: Float[Array, ""] | float,
    zero: Int[Array, ""],
) -> Float[Array, "*N"]:
    """The expected update's target ``R_hat[s,a] + gamma * E[v(s')]`` (Sutton & Barto 8.5;
    ``next_value`` already holds the ``(1 - terminal)`` factor)."""
    return q_target(r_hat, jnp.ones(jnp.shape(next_value), jnp.bool_), discount, next_value, zero)


def sampled_updates(
    q: Float[Array, "S A"],
    sa: Int[Array, " N"],
    reward: Float[Array, " N"],
    s_next: Int[Array, " N"],
    nonterminal: Bool[Array, " N"],
    learning_rate: Float[Array, ""] | float,
    discount: Float[Array, ""] | float,
    active: Bool[Array, ""] | None,
    zero: Int[Array, ""],
) -> Float[Array, "S A"]:
    """Apply Q-learning updates to the flat pairs ``sa = s * A + a`` in order, one ``lax.scan``
    step each (Dyna-Q's planning step (c), Sutton & Barto 8.2):

    ``Q[s_i,a_i] += alpha * (r_i + gamma * (1 - terminal_i) * max_a' Q[s'_i, a'] - Q[s_i,a_i])``
    for ``i = 1..N``; nothing changes where ``active`` is false.
    """
    n_s, n_a = q.shape

    def body(
        q_flat: Float[Array, " SA"],
        x: tuple[Int[Array, ""], Float[Array, ""], Int[Array, ""], Bool[Array, ""]],
    ) -> tuple[Float[Array, " SA"], None]:
        sa_i, r_i, s_next_i, nonterminal_i = x
        q_next = jax.lax.dynamic_slice(q_flat, (s_next_i * n_a,), (n_a,))
        target = q_target(r_i, nonterminal_i, discount, jnp.max(q_next), zero)
        new = td_step(q_flat[sa_i], target, learning_rate, active, zero)
        return q_flat.at[sa_i].set(new), None

    q_flat, _ = jax.lax.scan(body, q.reshape(n_s * n_a), (sa, reward, s_next, nonterminal))
    return q_flat.reshape(n_s, n_a)


__all__ = [
    "bootstrap_values",
    "expected_value",
    "full_backup",
    "q_target",
    "sampled_updates",
    "td_step",
]
