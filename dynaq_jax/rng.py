"""Random numbers for the hot loop: an unrolled Threefry-2x32, uniforms, key splitting, and
inverse-CDF sampling.

JAX's default PRNG is Threefry-2x32 (Salmon et al. 2011). On CPU JAX lowers its hash as a rolled
5-iteration loop over the batch, and ``jax.random.uniform`` spends one 20-round block per 32-bit
output. Here the hash is written out unrolled (``threefry2x32``, bit-identical to
``jax.extend.random.threefry_2x32``) and both words of each block are used (``uniforms``,
``split_key``): the same generator and keys, half the hashing, one fused kernel. Keys of another
PRNG implementation fall back to ``jax.random``.

This module imports only ``numerics`` and ``types`` from the package.
"""

import math

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int, UInt32

from dynaq_jax.numerics import prefix_sum
from dynaq_jax.types import Key

_ROTATIONS = ((13, 15, 26, 6), (17, 29, 16, 24))
_PARITY = 0x1BD11BDA


def _rotl(x: UInt32[Array, "..."], r: int) -> UInt32[Array, "..."]:
    return jnp.left_shift(x, jnp.uint32(r)) | jnp.right_shift(x, jnp.uint32(32 - r))


def threefry2x32(
    key: UInt32[Array, " 2"], x0: UInt32[Array, "..."], x1: UInt32[Array, "..."]
) -> tuple[UInt32[Array, "..."], UInt32[Array, "..."]]:
    """The Threefry-2x32 block function (20 rounds; Salmon et al. 2011), written out unrolled.

    ``(y0, y1) = Threefry2x32_key(x0, x1)`` elementwise: the hash JAX's default PRNG is built on,
    bit for bit (``jax.extend.random.threefry_2x32`` computes the same words). On CPU JAX lowers
    that primitive as a rolled 5-iteration loop over the whole batch, which XLA can neither fuse
    nor vectorise across rounds; unrolled, the 20 rounds become one elementwise kernel.
    """
    k0, k1 = key[0], key[1]
    ks = (k0, k1, k0 ^ k1 ^ jnp.uint32(_PARITY))
    y0, y1 = x0 + ks[0], x1 + ks[1]
    for i in range(5):
        for r in _ROTATIONS[i % 2]:
            y0 = y0 + y1
            y1 = _rotl(y1, r) ^ y0
        y0 = y0 + ks[(i + 1) % 3]
        y1 = y1 + ks[(i + 2) % 3] + jnp.uint32(i + 1)
    return y0, y1


def _threefry_data(key: Key) -> UInt32[Array, " 2"] | None:
    """The two key words of a Threefry key (typed or legacy raw), or ``None`` for another PRNG."""
    typed = jnp.issubdtype(key.dtype, jax.dtypes.prng_key)
    if not typed and (key.shape != (2,) or key.dtype != jnp.uint32):
        return None
    if str(jax.random.key_impl(key)) != "threefry2x32":  # a raw key: JAX's default PRNG
        return None
    data: UInt32[Array, " 2"] = jax.random.key_data(key) if typed else key
    return data


def _words(data: UInt32[Array, " 2"], m: int) -> UInt32[Array, " M"]:
    half = -(-m // 2)
    counts = jnp.arange(half, dtype=jnp.uint32)
    y0, y1 = threefry2x32(data, counts, counts + jnp.uint32(half))
    return jnp.concatenate([y0, y1])[:m]


def random_words(key: Key, m: int) -> UInt32[Array, " M"]:
    """``m`` random 32-bit words from a Threefry ``key``: both outputs of the blocks with counters
    ``(j, j + ceil(m / 2))``, ``j < ceil(m / 2)`` (the counter layout of
    ``jax.extend.random.threefry_2x32``, so the words are that function's)."""
    data = _threefry_data(key)
    if data is None:
        raise ValueError(f"random_words needs a threefry2x32 key, got {jax.random.key_impl(key)}")
    return _words(data, m)


def uniforms(key: Key, shape: tuple[int, ...]) -> Float[Array, "..."]:
    """``U[0, 1)`` float32 samples of ``shape`` from ``key``, two per Threefry block.

    ``jax.random.uniform`` (with JAX's default ``jax_threefry_partitionable``) spends one
    Threefry-2x32 block of 20 rounds on every 32-bit output, and on CPU runs the rounds as a
    loop; here both words of each block are used (``random_words``) and the rounds are unrolled
    (``threefry2x32``): the same generator and key, half the hashing, one fused kernel (planning
    draws ``2 n`` uniforms per real step: this was the largest single cost of the training loop).
    The mantissa construction is ``jax.random.uniform``'s, ``bitcast(bits >> 9 | 0x3F800000) -
    1``: every value is a multiple of ``2**-23`` in ``[0, 1 - 2**-23]``. Keys of another PRNG
    implementation fall back to ``jax.random.uniform``.
    """
    data = _threefry_data(key)
    if data is None:
        return jax.random.uniform(key, shape)
    bits = _words(data, math.prod(shape)).reshape(shape)
    mantissa = jnp.right_shift(bits, jnp.uint32(9)) | jnp.uint32(0x3F800000)
    return jax.lax.bitcast_convert_type(mantissa, jnp.float32) - 1.0


def split_key(key: Key, n: int) -> Key:
    """``n`` new keys derived from ``key`` (as ``jax.random.split``, in one fused Threefry
    kernel: key ``i`` is the words ``2 i, 2 i + 1`` of ``random_words(key, 2 n)``). Keys of
    another PRNG implementation use ``jax.random.split``."""
    data = _threefry_data(key)
    if data is None:
        return jax.random.split(key, n)
    words = _words(data, 2 * n).reshape(n, 2)
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        keys: Key = jax.random.wrap_key_data(words, impl=jax.random.key_impl(key))
        return keys
    return words


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
    "random_words",
    "sample_from_counts",
    "sample_from_cumulative_counts",
    "split_key",
    "threefry2x32",
    "uniforms",
]
