"""Random numbers (``dynaq_jax.rng``): inverse-CDF sampling of ``s'``, the unrolled Threefry, the
uniforms and key splitting of the hot loop.

What each test guards:
- ``test_sample_never_picks_zero_counts``: ``sample_from_counts`` never returns a zero-count
  entry, for any counts and any ``u`` in ``[0, 1)`` including both extremes.
- ``test_sample_edges``: ``u = 0`` picks the first positive entry, the largest float32 uniform
  picks the last positive entry.
- ``test_sample_frequencies``: over many uniform ``u`` the empirical frequencies match the row
  probabilities (binomial 5-sigma bound), for integer counts and for a prior-like tiny count.
- ``test_sample_stratified``: with ``u`` on an even grid the counts of each outcome equal
  ``N * p`` up to grid rounding (exact inverse CDF, no bias at the bin edges).
- ``test_random_words_are_jax_threefry``: the unrolled Threefry-2x32 of the hot loop equals
  ``jax.extend.random.threefry_2x32`` bit for bit, eagerly, under ``jit`` and under ``vmap``, for
  any key.
- ``test_uniforms_and_split_key``: ``uniforms`` lies in ``[0, 1 - 2**-23]`` on the ``2**-23``
  grid with the mean, variance and histogram of ``U[0, 1)``; typed and raw keys agree, other
  PRNGs fall back to ``jax.random.uniform``; ``split_key`` gives distinct keys and streams.
"""

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from jax.extend.random import threefry_2x32

from dynaq_jax.rng import random_words, sample_from_counts, split_key, uniforms
from tests.conftest import U_MAX, S, Variant, f32

SAMPLE = jax.jit(sample_from_counts)

N_ROWS = 8
count_rows = hnp.arrays(np.float32, (N_ROWS, S), elements=st.one_of(st.just(0.0), f32(1e-6, 100.0)))
uniform_rows = hnp.arrays(np.float32, N_ROWS, elements=f32(0.0, U_MAX))


def _ensure_positive(rows: np.ndarray) -> np.ndarray:
    rows = rows.copy()
    for i in np.flatnonzero(rows.sum(-1) == 0):
        rows[i, i % S] = 1.0
    return rows


@given(count_rows, uniform_rows)
def test_sample_never_picks_zero_counts(rows: np.ndarray, u: np.ndarray) -> None:
    rows = _ensure_positive(rows)
    for uu in (u, np.zeros_like(u), np.full_like(u, U_MAX)):
        idx = np.asarray(SAMPLE(jnp.asarray(rows), jnp.asarray(uu)))
        assert idx.dtype == np.int32 and idx.shape == (N_ROWS,)
        assert np.all(rows[np.arange(N_ROWS), idx] > 0), (rows, uu, idx)


def test_sample_edges() -> None:
    rows = np.zeros((N_ROWS, S), np.float32)
    rng = np.random.default_rng(0)
    for i in range(N_ROWS):
        support = rng.choice(S, size=1 + i % S, replace=False)
        rows[i, support] = rng.uniform(0.01, 10.0, size=support.size)
    positive = rows > 0
    first = positive.argmax(-1)
    last = S - 1 - positive[:, ::-1].argmax(-1)
    lo = SAMPLE(jnp.asarray(rows), jnp.zeros(N_ROWS, jnp.float32))
    hi = SAMPLE(jnp.asarray(rows), jnp.full(N_ROWS, U_MAX, jnp.float32))
    np.testing.assert_array_equal(lo, first)
    np.testing.assert_array_equal(hi, last)


def _binomial_ok(hits: np.ndarray, n: int, p: np.ndarray, sigmas: float = 5.0) -> bool:
    return bool(np.all(np.abs(hits - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1))


def test_sample_frequencies() -> None:
    n = 40_000
    prior = 1e-2
    rows_list = [
        [0.0, 2.0, 0.0, 1.0, 1.0],
        [5.0, 0.0, 0.0, 0.0, 0.0],
        [1.0 + prior, prior, prior, prior, prior],
        [3.0, 0.0, 3.0, 0.0, 3.0],
    ]
    rows = jnp.asarray(rows_list, jnp.float32)
    u = jax.random.uniform(jax.random.key(1), (n,))
    sample_rows = jax.jit(jax.vmap(sample_from_counts, in_axes=(None, 0)))
    idx = np.asarray(sample_rows(rows, u[:, None] * jnp.ones(len(rows_list))))
    for i, row in enumerate(rows_list):
        p = np.asarray(row) / np.sum(row)
        hits = np.bincount(idx[:, i], minlength=S)
        assert np.all(hits[p == 0] == 0)
        assert _binomial_ok(hits, n, p), (i, hits, n * p)


def test_sample_stratified() -> None:
    counts = np.asarray([0.0, 2.0, 0.0, 1.0, 1.0], np.float32)
    n = 4000
    u = (np.arange(n, dtype=np.float64) + 0.5) / n
    rows = jnp.broadcast_to(jnp.asarray(counts), (n, S))
    idx = np.asarray(SAMPLE(rows, jnp.asarray(u, jnp.float32)))
    got = Counter(idx.tolist())
    for j in range(S):
        assert abs(got.get(j, 0) - n * counts[j] / counts.sum()) <= 1


# -- the random words the hot loop draws ----------------------------------------------------------

words = st.integers(0, 2**32 - 1)


@settings(max_examples=5)  # per variant (each new length m recompiles the eager and vmap runs)
@given(k0=words, k1=words, m=st.integers(1, 130))
def test_random_words_are_jax_threefry(variant: Variant, k0: int, k1: int, m: int) -> None:
    """The unrolled Threefry-2x32 gives JAX's own words bit for bit (same counter layout)."""
    data = jnp.asarray([k0, k1], jnp.uint32)
    half = -(-m // 2)
    want = np.asarray(threefry_2x32(data, jnp.arange(2 * half, dtype=jnp.uint32)))[:m]
    key = jax.random.wrap_key_data(data, impl="threefry2x32")
    np.testing.assert_array_equal(np.asarray(random_words(key, m)), want)
    got = variant(random_words, static_argnums=(1,))(key, m)
    np.testing.assert_array_equal(np.asarray(got), want)


def test_uniforms_and_split_key() -> None:
    key = jax.random.key(3)
    u32 = uniforms(key, (400, 500))
    assert u32.dtype == jnp.float32 and u32.shape == (400, 500)
    u = np.asarray(u32, np.float64)
    assert u.min() >= 0.0 and u.max() <= U_MAX
    assert np.all(np.asarray(uniforms(key, (400, 500))) * 2**23 % 1 == 0)  # multiples of 2**-23
    n = u.size  # mean and variance of U[0, 1) within 5 standard errors
    assert abs(u.mean() - 0.5) < 5 * np.sqrt(1 / 12 / n)
    assert abs(u.var() - 1 / 12) < 5 * np.sqrt(1 / 180 / n)
    # 10 bins: chi-square with 9 degrees of freedom far below its 1e-6 quantile (about 45)
    counts = np.bincount((u * 10).astype(int).ravel(), minlength=10)
    assert ((counts - n / 10) ** 2 / (n / 10)).sum() < 45
    # the same key gives the same bits; typed and raw keys agree; other PRNGs fall back
    np.testing.assert_array_equal(uniforms(key, (7,)), uniforms(key, (7,)))
    raw = jax.random.key_data(key)
    np.testing.assert_array_equal(uniforms(key, (7,)), uniforms(raw, (7,)))
    rbg = jax.random.key(3, impl="rbg")
    np.testing.assert_array_equal(uniforms(rbg, (7,)), jax.random.uniform(rbg, (7,)))
    # split keys: distinct, of the input's kind, and their streams differ
    keys = split_key(key, 5)
    assert keys.shape == (5,) and keys.dtype == key.dtype
    data = np.asarray(jax.random.key_data(keys))
    assert len({tuple(row) for row in data}) == 5
    np.testing.assert_array_equal(np.asarray(split_key(raw, 5)), data)
    streams = np.asarray(jax.vmap(lambda k: uniforms(k, (3,)))(keys))
    assert len({tuple(row) for row in streams}) == 5
    assert split_key(rbg, 2).shape == (2,)
