"""The learned world model: count transitions, smoothed rewards, sampling from ``T``.

Pure array maths with no agent state; ``agent.py`` and ``planning.py`` build on it.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from dynaq_jax.types import Counts, FloatScalar, Probs


def transition_probs_from_counts(t_c: Counts) -> Probs:
    """Normalise counts row by row: ``T[s,a,s'] = T_c[s,a,s'] / sum_s'' T_c[s,a,s'']``.

    Every row of ``T_c`` starts at a positive prior, so the sum is never zero.
    """
    return t_c / jnp.sum(t_c, axis=-1, keepdims=True)


def outcome_slot(
    counts: Float[Array, " K"], outcomes: Int[Array, " K"], s_next: Int[Array, ""]
) -> Int[Array, ""]:
    """The compact model's slot for ``s'`` in one pair's row: the slot holding ``s'``
    (``counts[k] > 0`` and ``outcomes[k] = s'``), else the first empty slot (``counts[k] = 0``),
    else ``K`` (all slots hold other outcomes: the transition does not fit).

    Slots fill in order of first observation, so the held ones are a prefix and
    ``min(held slot, first empty slot)`` is the answer.
    """
    k = counts.shape[-1]
    idx = jnp.arange(k, dtype=jnp.int32)
    held = (counts > 0) & (outcomes == s_next)
    usable = held | (counts == 0)
    return jnp.min(jnp.where(usable, idx, k)).astype(jnp.int32)


def expand_counts(
    t_c: Float[Array, "*B K"], outcomes: Int[Array, "*B K"], n_states: int, prior: float
) -> Float[Array, "*B S"]:
    """The compact model's counts as the dense ``T_c``: ``prior + sum_k t_c[k] [outcomes[k] = s']``
    for every ``s'`` (what the dense model holds after the same transitions, up to rounding)."""
    hit = outcomes[..., None] == jnp.arange(n_states, dtype=outcomes.dtype)
    return prior + jnp.sum(jnp.where(hit, t_c[..., None], 0.0), axis=-2)


def runtime_zero(step: Int[Array, "*B"]) -> Int[Array, "*B"]:
    """``step >> 31``: zero for any step count, but a value the compiler cannot know."""
    return jnp.right_shift(jnp.asarray(step, jnp.int32), 31)


def rounded(x: Float[Array, "*B"], zero: Int[Array, "*B"]) -> Float[Array, "*B"]:
    """``x`` itself, as a float32 the compiler cannot fuse into a following add.

    Bit-reproducibility: XLA:CPU contracts ``a * b + c`` into one fused multiply-add (rounded once)
    where it fuses the two, and whether it does depends on the batch shape, the enclosing ``jit``
    and loop unswitching; eager execution never does. XOR-ing the product's bits with a runtime
    zero (``runtime_zero``) hides it from that rewrite, so jit, eager and every ``vmap`` batch size
    compute ``round(round(a * b) + c)`` alike. Every product that feeds a sum goes through here.
    """
    bits = jax.lax.bitcast_convert_type(jnp.asarray(x, jnp.float32), jnp.int32)
    return jax.lax.bitcast_convert_type(bits ^ zero, jnp.float32)


def smooth_reward(
    r_sa: FloatScalar, r: FloatScalar, alpha: FloatScalar, zero: Int[Array, ""]
) -> Float[Array, ""]:
    """The lecture notes' reward model update: ``R'[s,a] = (1 - alpha) * R[s,a] + alpha * r``.

    Each product is rounded on its own (see ``rounded``; ``zero`` is ``runtime_zero(step)``).
    """
    kept = rounded((1.0 - alpha) * jnp.asarray(r_sa, jnp.float32), zero)
    return kept + rounded(alpha * jnp.asarray(r, jnp.float32), zero)


_SEQUENTIAL_PREFIX_MAX = 32


def prefix_sum(x: Float[Array, "... K"]) -> Float[Array, "... K"]:
    """``cumsum(x, axis=-1)``, fast and bit-deterministic on every backend and batch shape.

    XLA:CPU lowers ``jnp.cumsum`` to a reduce-window that does ``O(K^2)`` work: with ``K = S``
    in planning it dominated the whole training loop. Short rows use ``K - 1`` sequential adds;
    long rows a log-depth ``associative_scan``. Both are elementwise adds whose order depends
    only on ``K``, so results do not depend on the batch shape (unlike a matmul formulation).
    """
    k = x.shape[-1]
    if k > _SEQUENTIAL_PREFIX_MAX:
        scanned: Float[Array, "... K"] = jax.lax.associative_scan(jnp.add, x, axis=-1)
        return scanned
    parts = [x[..., 0]]
    for j in range(1, k):
        parts.append(parts[-1] + x[..., j])
    return jnp.stack(parts, axis=-1)


def sample_from_counts(rows: Float[Array, "... K"], u: Float[Array, "..."]) -> Int[Array, "..."]:
    """Sample ``s' ~ rows[i] / sum(rows[i])`` for each row by inverse CDF.

    ``s'_i = #{j : cumsum(rows[i])[j] <= u_i * sum(rows[i])}`` with ``u_i ~ U[0, 1)``: the smallest
    ``j`` whose cumulative count exceeds ``u_i`` times the row total. Zero-count entries are never
    chosen. One uniform per row replaces a categorical draw with its own key: this is the hot path.
    """
    cdf = prefix_sum(rows)
    target = u * cdf[..., -1]
    idx = jnp.sum(cdf <= target[..., None], axis=-1, dtype=jnp.int32)
    return jnp.minimum(idx, rows.shape[-1] - 1)


def sample_from_cumulative_counts(
    cum: Float[Array, "N S"], u: Float[Array, " N"], prior: float
) -> Int[Array, " N"]:
    """Sample ``s' ~ T[s, a, :] = T_c[s, a, :] / sum T_c[s, a, :]`` from running count sums.

    With ``T_c = prior + c`` and ``cum_j = sum_{i<=j} c_i`` (``DynaQState.t_c_cum``), the CDF is
    ``cdf_j = cum_j + prior * (j + 1)``; ``s' = #{j : cdf_j <= u * cdf_{S-1}}`` for ``u ~ U[0,1)``.
    The counts are integers, so ``cum`` is exact and the draw is bit-reproducible.
    """
    n_s = cum.shape[-1]
    cdf = cum + prior * jnp.arange(1, n_s + 1, dtype=jnp.float32) if prior else cum
    target = u * cdf[..., -1]
    idx = jnp.sum(cdf <= target[..., None], axis=-1, dtype=jnp.int32)
    return jnp.minimum(idx, n_s - 1)


__all__ = [
    "expand_counts",
    "outcome_slot",
    "prefix_sum",
    "rounded",
    "runtime_zero",
    "sample_from_counts",
    "sample_from_cumulative_counts",
    "smooth_reward",
    "transition_probs_from_counts",
]
