"""The learned world model: count transitions, smoothed rewards, sampling from ``T``.

Pure array maths with no agent state; ``agent.py`` and ``planning.py`` build on it.
"""

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from dynaq_jax.types import BoolScalar, Counts, FloatScalar, Probs


def transition_probs_from_counts(t_c: Counts) -> Probs:
    """Normalise counts row by row: ``T[s,a,s'] = T_c[s,a,s'] / sum_s'' T_c[s,a,s'']``.

    Every row of ``T_c`` starts at a positive prior, so the sum is never zero.
    """
    return t_c / jnp.sum(t_c, axis=-1, keepdims=True)


def smooth_reward(
    r_sa: FloatScalar, r: FloatScalar, alpha: FloatScalar, active: BoolScalar = True
) -> Float[Array, ""]:
    """The lecture notes' reward model update: ``R'[s,a] = (1 - alpha) * R[s,a] + alpha * r``.

    Each product is rounded on its own (no fused multiply-add, whatever the batch shape) by passing
    through a ``where`` on ``active``; with ``active`` false ``R[s,a]`` comes back unchanged.
    """
    r_sa = jnp.asarray(r_sa, jnp.float32)
    kept = jnp.where(active, (1.0 - alpha) * r_sa, r_sa)
    return kept + jnp.where(active, alpha * jnp.asarray(r, jnp.float32), 0.0)


def sample_from_counts(rows: Float[Array, "N S"], u: Float[Array, " N"]) -> Int[Array, " N"]:
    """Sample ``s' ~ rows[i] / sum(rows[i])`` for each row by inverse CDF.

    ``s'_i = #{j : cumsum(rows[i])[j] <= u_i * sum(rows[i])}`` with ``u_i ~ U[0, 1)``: the smallest
    ``j`` whose cumulative count exceeds ``u_i`` times the row total. Zero-count entries are never
    chosen. One uniform per row replaces a categorical draw with its own key: this is the hot path.
    """
    cdf = jnp.cumsum(rows, axis=-1)
    target = u * cdf[..., -1]
    idx = jnp.sum(cdf <= target[..., None], axis=-1, dtype=jnp.int32)
    return jnp.minimum(idx, rows.shape[-1] - 1)


__all__ = ["sample_from_counts", "smooth_reward", "transition_probs_from_counts"]
