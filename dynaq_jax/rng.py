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

from dynaq_jax.numerics import prefix_sum, rounded
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


def _keys_like(key: Key, words: UInt32[Array, "*N 2"]) -> Key:
    """Threefry key words as keys of ``key``'s kind: typed keys for a typed key, else raw."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        keys: Key = jax.random.wrap_key_data(words, impl=jax.random.key_impl(key))
        return keys
    return words


def split_key(key: Key, n: int) -> Key:
    """``n`` new keys derived from ``key`` (as ``jax.random.split``, in one fused Threefry
    kernel: key ``i`` is the words ``2 i, 2 i + 1`` of ``random_words(key, 2 n)``). Keys of
    another PRNG implementation use ``jax.random.split``."""
    data = _threefry_data(key)
    if data is None:
        return jax.random.split(key, n)
    return _keys_like(key, _words(data, 2 * n).reshape(n, 2))


def fold_in(key: Key, data: Int[Array, "*N"]) -> Key:
    """One key per element of ``data``: ``jax.random.fold_in(key, data[i])`` for each ``i``, bit
    for bit, in one fused Threefry kernel (the new key's words are the block of the counter
    ``(0, data[i])`` under ``key``, JAX's ``threefry_fold_in``). Keys of another PRNG
    implementation use ``jax.random.fold_in`` elementwise."""
    flat = jnp.asarray(data).reshape(-1)
    raw = _threefry_data(key)
    if raw is None:
        folded: Key = jax.vmap(lambda d: jax.random.fold_in(key, d))(flat)
        return folded.reshape(*jnp.shape(data), *folded.shape[1:])
    x1 = flat.astype(jnp.uint32)
    y0, y1 = threefry2x32(raw, jnp.zeros_like(x1), x1)
    return _keys_like(key, jnp.stack([y0, y1], axis=-1).reshape(*jnp.shape(data), 2))


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


GAMMA_TRIES = 4
"""Proposals per gamma variate (``gamma_variates``): Marsaglia and Tsang's acceptance rate is at
least 0.95 for shape ``>= 1``, so all four are rejected with probability below ``10^-5``."""


def normal_pairs(
    u1: Float[Array, "*N"], u2: Float[Array, "*N"]
) -> tuple[Float[Array, "*N"], Float[Array, "*N"]]:
    """Two independent standard normals per pair of uniforms (Box and Muller 1958):
    ``r = sqrt(-2 log(1 - u1))``, ``(r cos(2 pi u2), r sin(2 pi u2))`` (``1 - u1`` lies in
    ``(0, 1]`` for ``u1`` from ``uniforms``)."""
    r = jnp.sqrt(-2.0 * jnp.log1p(-u1))
    angle = jnp.float32(2.0 * math.pi) * u2
    return r * jnp.cos(angle), r * jnp.sin(angle)


def gamma_variates(
    key: Key, shape_param: Float[Array, "*N"], zero: Int[Array, ""]
) -> Float[Array, "*N"]:
    """Independent ``Gamma(k, 1)`` variates, one per element of ``shape_param = k >= 0``
    (``0`` where ``k = 0``).

    Marsaglia and Tsang (2000), "A simple method for generating gamma variables": with
    ``d = k - 1/3``, ``c = 1 / sqrt(9 d)``, a standard normal ``x`` and ``v = (1 + c x)^3``, the
    proposal ``d v`` is accepted when ``v > 0`` and ``log u < x^2 / 2 + d - d v + d log v``. For
    ``k < 1`` the variate is ``Gamma(k + 1) * u^(1/k)`` (their boosting identity). Branch-free
    for ``vmap``: ``GAMMA_TRIES`` proposals are made at once and the first accepted one is kept
    (when all are rejected, probability ``< 10^-5``, the value is ``d``, the mode). Products are
    ``rounded`` with ``zero`` (``numerics.runtime_zero``) so eager, ``jit`` and ``vmap`` give the
    same bits. ``2 * GAMMA_TRIES + 1`` uniforms per variate.
    """
    k = jnp.asarray(shape_param, jnp.float32)
    n = GAMMA_TRIES
    u = uniforms(key, (2 * n + 1, *k.shape))
    boost = k < 1.0
    d = jnp.where(boost, k + 1.0, k) - jnp.float32(1.0 / 3.0)
    c = 1.0 / rounded(jnp.sqrt(rounded(9.0 * d, zero)), zero)
    z = jnp.concatenate(normal_pairs(u[: n // 2], u[n // 2 : n]))
    w = 1.0 + rounded(c * z, zero)
    v = rounded(rounded(w * w, zero) * w, zero)
    log_v = jnp.log(jnp.where(v > 0, v, 1.0))
    bound = rounded(0.5 * rounded(z * z, zero), zero) + d - rounded(d * v, zero)
    ok = (v > 0) & (jnp.log1p(-u[n : 2 * n]) < bound + rounded(d * log_v, zero))
    first = jnp.argmax(ok, axis=0)
    v_kept = jnp.where(jnp.any(ok, axis=0), jnp.take_along_axis(v, first[None], 0)[0], 1.0)
    g = rounded(d * v_kept, zero)
    inv_k = rounded(1.0 / jnp.where(k > 0, k, 1.0), zero)
    scale = jnp.exp(rounded(jnp.log1p(-u[2 * n]) * inv_k, zero))
    g = jnp.where(boost, rounded(g * scale, zero), g)
    return jnp.where(k > 0, g, 0.0)


__all__ = [
    "GAMMA_TRIES",
    "fold_in",
    "gamma_variates",
    "normal_pairs",
    "random_words",
    "sample_from_counts",
    "sample_from_cumulative_counts",
    "split_key",
    "threefry2x32",
    "uniforms",
]
