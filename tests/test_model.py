"""The learned model: counts ``T_c``, rewards ``R``, termination, visited pairs, sampling ``s'``.

What each test guards:
- ``test_init``: a fresh agent has ``Q = R = 0``, ``T_c = t_c_prior``, nothing visited and a
  uniform ``T``.
- ``test_transition_probs_are_distributions``: after any sequence of model updates (either model
  kind) every row of ``transition_probs`` lies in ``[0, 1]`` and sums to 1 (float32 tolerance),
  and equals ``T_c`` normalised row by row.
- ``test_model_update_adds_one_count``: each ``model_update`` changes ``T_c`` in exactly one cell,
  ``[s, a, s']``, by exactly ``+1`` (float32 addition), and leaves ``Q`` untouched.
- ``test_count_model_reward_smoothing``: ``R' = (1 - alpha) R + alpha r`` for any reward sequence,
  against a float64 NumPy reference with a float32-aware tolerance; unvisited pairs stay 0.
- ``test_deterministic_model_keeps_last``: the deterministic model's ``R`` and ``next_state`` are
  exactly the last ``r`` and ``s'`` seen; ``T_c`` still counts.
- ``test_visits_step_terminal``: ``visits``, ``step`` and the learned ``terminal`` flags match a
  reference (``terminal[s']`` is true iff some transition into ``s'`` terminated).
- ``test_visited_pairs_dyna_q``: with ``kappa = 0``, ``n_pairs`` is the number of distinct pairs
  tried, ``pairs[:n_pairs]`` lists exactly them in first-visit order without repeats, and equals
  ``model_size``.
- ``test_visited_pairs_dyna_q_plus``: with ``kappa > 0``, ``pairs[:n_pairs]`` lists all ``A``
  actions of each acted-from state, states in first-visit order, without repeats.
- ``test_sample_never_picks_zero_counts``: ``sample_from_counts`` never returns a zero-count
  entry, for any counts and any ``u`` in ``[0, 1)`` including both extremes.
- ``test_sample_edges``: ``u = 0`` picks the first positive entry, the largest float32 uniform
  picks the last positive entry.
- ``test_sample_frequencies``: over many uniform ``u`` the empirical frequencies match the row
  probabilities (binomial 5-sigma bound), for integer counts and for a prior-like tiny count.
- ``test_random_words_are_jax_threefry``: the unrolled Threefry-2x32 of the hot loop equals
  ``jax.extend.random.threefry_2x32`` bit for bit, eagerly and under ``jit``, for any key.
- ``test_uniforms_and_split_key``: ``uniforms`` lies in ``[0, 1 - 2**-23]`` on the ``2**-23``
  grid with the mean, variance and histogram of ``U[0, 1)``; typed and raw keys agree, other
  PRNGs fall back to ``jax.random.uniform``; ``split_key`` gives distinct keys and streams.
- ``test_sample_stratified``: with ``u`` on an even grid the counts of each outcome equal
  ``N * p`` up to grid rounding (exact inverse CDF, no bias at the bin edges).
"""

from collections import Counter

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from dynaq_jax.model import sample_from_counts
from tests.conftest import (
    COUNT,
    DETERMINISTIC,
    U_MAX,
    A,
    S,
    alphas,
    f32,
    kappas,
    q_tables,
    run_model_updates,
    transition_seqs,
    with_q,
)

EPS32 = float(np.finfo(np.float32).eps)

models = st.sampled_from([COUNT, DETERMINISTIC])

SAMPLE = jax.jit(sample_from_counts)


def test_init() -> None:
    state = dq.init(S, A, COUNT)
    assert state.q.shape == (S, A) and state.q.dtype == jnp.float32
    assert state.t_c.shape == (S, A, S)
    np.testing.assert_array_equal(state.t_c, np.float32(COUNT.t_c_prior))
    np.testing.assert_array_equal(state.q, 0.0)
    np.testing.assert_array_equal(state.r, 0.0)
    assert not np.any(state.terminal) and int(state.n_pairs) == 0 and int(state.step) == 0
    assert int(dq.model_size(state)) == 0
    np.testing.assert_allclose(dq.transition_probs(state), 1.0 / S, rtol=1e-6)


@given(transition_seqs, models)
def test_transition_probs_are_distributions(seq: list, config: dq.DynaQConfig) -> None:
    state = run_model_updates(dq.init(S, A, config), seq, config)
    t = np.asarray(dq.transition_probs(state))
    assert t.shape == (S, A, S) and t.dtype == np.float32
    assert np.all(t >= 0.0) and np.all(t <= 1.0)
    np.testing.assert_allclose(t.sum(axis=-1), 1.0, rtol=0, atol=S * EPS32)
    t_c = np.asarray(state.t_c, np.float64)
    np.testing.assert_allclose(t, t_c / t_c.sum(-1, keepdims=True), rtol=4 * EPS32)


@given(transition_seqs, q_tables, models)
def test_model_update_adds_one_count(seq: list, q: np.ndarray, config: dq.DynaQConfig) -> None:
    state = with_q(dq.init(S, A, config), q)
    for s, a, r, s_next, terminated in seq:
        new = dq.model_update(state, s, a, r, s_next, terminated, config)
        old_c, new_c = np.asarray(state.t_c), np.asarray(new.t_c)
        changed = np.argwhere(old_c != new_c)
        np.testing.assert_array_equal(changed, [[s, a, s_next]])
        assert new_c[s, a, s_next] == old_c[s, a, s_next] + np.float32(1.0)
        np.testing.assert_array_equal(new.q, q)
        state = new
    # The counts themselves: prior plus the number of times each (s, a, s') was seen.
    expected = np.full((S, A, S), np.float32(config.t_c_prior))
    for s, a, _, s_next, _ in seq:
        expected[s, a, s_next] += np.float32(1.0)
    np.testing.assert_array_equal(state.t_c, expected)
    # The running sums planning samples from: integer prefix sums of the counts, exactly.
    counts = np.zeros((S, A, S))
    for s, a, _, s_next, _ in seq:
        counts[s, a, s_next] += 1
    np.testing.assert_array_equal(state.t_c_cum, np.cumsum(counts, axis=-1))


@given(transition_seqs, alphas)
def test_count_model_reward_smoothing(seq: list, alpha: float) -> None:
    config = COUNT.replace(learning_rate=alpha)
    state = run_model_updates(dq.init(S, A, config), seq, config)
    ref = np.zeros((S, A))
    tol = np.zeros((S, A))
    for s, a, r, _, _ in seq:
        ref[s, a] = (1.0 - alpha) * ref[s, a] + alpha * r
        tol[s, a] += 4 * EPS32 * max(abs(r), abs(ref[s, a]), 1e-30)
    err = np.abs(np.asarray(state.r, np.float64) - ref)
    assert np.all(err <= tol), (err, tol)


@given(transition_seqs)
def test_deterministic_model_keeps_last(seq: list) -> None:
    config = DETERMINISTIC.replace(learning_rate=0.3)
    state = run_model_updates(dq.init(S, A, config), seq, config)
    last_r = np.zeros((S, A), np.float32)
    last_next = np.zeros((S, A), np.int32)
    counts = np.zeros((S, A, S))
    for s, a, r, s_next, _ in seq:
        last_r[s, a], last_next[s, a] = r, s_next
        counts[s, a, s_next] += 1
    np.testing.assert_array_equal(state.r, last_r)
    np.testing.assert_array_equal(state.next_state, last_next)
    np.testing.assert_allclose(state.t_c, counts + config.t_c_prior, rtol=EPS32)


@given(transition_seqs, models)
def test_visits_step_terminal(seq: list, config: dq.DynaQConfig) -> None:
    state = run_model_updates(dq.init(S, A, config), seq, config)
    visits = np.zeros((S, A), np.int32)
    terminal = np.zeros(S, bool)
    for s, a, _, s_next, terminated in seq:
        visits[s, a] += 1
        terminal[s_next] |= terminated
    np.testing.assert_array_equal(state.visits, visits)
    np.testing.assert_array_equal(state.terminal, terminal)
    assert int(state.step) == len(seq)


@given(transition_seqs)
def test_visited_pairs_dyna_q(seq: list) -> None:
    state = run_model_updates(dq.init(S, A, COUNT), seq, COUNT)
    first_seen = list(dict.fromkeys(s * A + a for s, a, *_ in seq))
    n = int(state.n_pairs)
    assert n == len(first_seen) == int(dq.model_size(state))
    assert np.asarray(state.pairs[:n]).tolist() == first_seen


@given(transition_seqs, kappas, models)
def test_visited_pairs_dyna_q_plus(seq: list, kappa: float, config: dq.DynaQConfig) -> None:
    config = config.replace(kappa=kappa)
    state = run_model_updates(dq.init(S, A, config), seq, config)
    states_seen = list(dict.fromkeys(s for s, *_ in seq))
    expected = [s * A + b for s in states_seen for b in range(A)]
    n = int(state.n_pairs)
    assert n == len(expected)
    assert np.asarray(state.pairs[:n]).tolist() == expected
    # model_size still counts pairs actually tried, not the planning candidates.
    assert int(dq.model_size(state)) == len({(s, a) for s, a, *_ in seq})


N_ROWS = 8
count_rows = hnp.arrays(np.float32, (N_ROWS, S), elements=st.one_of(st.just(0.0), f32(1e-6, 100.0)))
uniforms = hnp.arrays(np.float32, N_ROWS, elements=f32(0.0, U_MAX))


def _ensure_positive(rows: np.ndarray) -> np.ndarray:
    rows = rows.copy()
    for i in np.flatnonzero(rows.sum(-1) == 0):
        rows[i, i % S] = 1.0
    return rows


@given(count_rows, uniforms)
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


@given(k0=words, k1=words, m=st.integers(1, 130))
def test_random_words_are_jax_threefry(k0: int, k1: int, m: int) -> None:
    """The unrolled Threefry-2x32 gives JAX's own words bit for bit (same counter layout)."""
    from jax.extend.random import threefry_2x32

    from dynaq_jax.model import random_words

    data = jnp.asarray([k0, k1], jnp.uint32)
    half = -(-m // 2)
    want = np.asarray(threefry_2x32(data, jnp.arange(2 * half, dtype=jnp.uint32)))[:m]
    key = jax.random.wrap_key_data(data, impl="threefry2x32")
    np.testing.assert_array_equal(np.asarray(random_words(key, m)), want)
    np.testing.assert_array_equal(np.asarray(jax.jit(random_words, static_argnums=1)(key, m)), want)


def test_uniforms_and_split_key() -> None:
    from dynaq_jax.model import split_key, uniforms

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
