"""The learned model (``dynaq_jax.models``): counts ``T_c``, rewards ``R``, termination, visited
pairs, through ``model_update`` and the model kinds' read-outs.

What each test guards:
- ``test_init``: a fresh agent has ``Q = R = 0``, ``T_c = t_c_prior``, nothing visited and a
  uniform ``T``; the config selects the model kind (dense counts, last-seen successors).
- ``test_transition_probs_are_distributions``: after any sequence of model updates (either model
  kind) every row of ``transition_probs`` lies in ``[0, 1]`` and sums to 1 (float32 tolerance);
  for the count model it equals ``T_c`` normalised row by row, for the deterministic model it is
  one-hot at the last ``s'`` of a tried pair and uniform for an untried one.
- ``test_model_update_adds_one_count``: each ``model_update`` of a count agent changes ``T_c`` in
  exactly one cell, ``[s, a, s']``, by exactly ``+1`` (float32 addition); the deterministic agent
  changes ``next_state`` at ``[s, a]`` alone, to ``s'``; neither touches ``Q``.
- ``test_count_model_reward_smoothing``: ``R' = (1 - alpha) R + alpha r`` for any reward sequence,
  against a float64 NumPy reference with a float32-aware tolerance; unvisited pairs stay 0.
- ``test_deterministic_model_keeps_last``: the deterministic model's ``R`` and ``next_state`` are
  exactly the last ``r`` and ``s'`` seen, and it keeps no counts; a count agent fed the same
  transitions counts them.
- ``test_visits_step_terminal``: ``visits``, ``real_steps`` and the learned ``terminal`` flags
  match a reference (``terminal[s']`` is true iff some transition into ``s'`` terminated).
- ``test_visited_pairs_dyna_q``: with ``kappa = 0``, ``n_pairs`` is the number of distinct pairs
  tried, ``pairs[:n_pairs]`` lists exactly them in first-visit order without repeats, and equals
  ``model_size``.
- ``test_visited_pairs_dyna_q_plus``: with ``kappa > 0``, ``pairs[:n_pairs]`` lists all ``A``
  actions of each acted-from state, states in first-visit order, without repeats.
"""

import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dynaq_jax as dq
from dynaq_jax.models import DenseModel, LastSeenModel, kind_for, kind_of
from tests.conftest import (
    COUNT,
    DETERMINISTIC,
    A,
    S,
    alphas,
    kappas,
    q_tables,
    run_model_updates,
    transition_seqs,
    with_q,
)

EPS32 = float(np.finfo(np.float32).eps)

models = st.sampled_from([COUNT, DETERMINISTIC])


def test_init() -> None:
    state = dq.init(S, A, COUNT)
    assert state.q.shape == (S, A) and state.q.dtype == jnp.float32
    assert state.t_c.shape == (S, A, S)
    np.testing.assert_array_equal(state.t_c, np.float32(COUNT.t_c_prior))
    np.testing.assert_array_equal(state.q, 0.0)
    np.testing.assert_array_equal(state.r, 0.0)
    assert not np.any(state.terminal) and int(state.n_pairs) == 0 and int(state.real_steps) == 0
    assert int(dq.model_size(state)) == 0
    np.testing.assert_allclose(dq.transition_probs(state), 1.0 / S, rtol=1e-6)
    # the config picks the model kind; the state's model names it back
    assert isinstance(state.model, DenseModel) and kind_of(state.model) is kind_for(COUNT)
    det = dq.init(S, A, DETERMINISTIC)
    assert isinstance(det.model, LastSeenModel) and kind_of(det.model) is kind_for(DETERMINISTIC)
    np.testing.assert_array_equal(dq.transition_probs(det), np.float32(1.0 / S))


@given(transition_seqs, models)
def test_transition_probs_are_distributions(seq: list, config: dq.DynaQConfig) -> None:
    state = run_model_updates(dq.init(S, A, config), seq, config)
    t = np.asarray(dq.transition_probs(state))
    assert t.shape == (S, A, S) and t.dtype == np.float32
    assert np.all(t >= 0.0) and np.all(t <= 1.0)
    np.testing.assert_allclose(t.sum(axis=-1), 1.0, rtol=0, atol=S * EPS32)
    np.testing.assert_array_equal(dq.transition_probs(state, config), t)  # the same kind
    if config.model == "count":
        t_c = np.asarray(state.t_c, np.float64)
        np.testing.assert_allclose(t, t_c / t_c.sum(-1, keepdims=True), rtol=4 * EPS32)
    else:
        tried = np.asarray(state.visits) > 0
        one_hot = np.eye(S, dtype=np.float32)[np.asarray(state.model.next_state)]
        np.testing.assert_array_equal(t[tried], one_hot[tried])
        np.testing.assert_array_equal(t[~tried], np.float32(1.0 / S))


@given(transition_seqs, q_tables, models)
def test_model_update_adds_one_count(seq: list, q: np.ndarray, config: dq.DynaQConfig) -> None:
    state = with_q(dq.init(S, A, config), q)
    count = config.model == "count"
    for s, a, r, s_next, terminated in seq:
        new = dq.model_update(state, s, a, r, s_next, terminated, config)
        if count:
            old_c, new_c = np.asarray(state.t_c), np.asarray(new.t_c)
            changed = np.argwhere(old_c != new_c)
            np.testing.assert_array_equal(changed, [[s, a, s_next]])
            assert new_c[s, a, s_next] == old_c[s, a, s_next] + np.float32(1.0)
        else:
            old_n, new_n = np.asarray(state.model.next_state), np.asarray(new.model.next_state)
            assert np.argwhere(old_n != new_n).tolist() in ([], [[s, a]])
            assert new_n[s, a] == s_next
        np.testing.assert_array_equal(new.q, q)
        state = new
    if not count:
        return
    # The counts themselves: prior plus the number of times each (s, a, s') was seen.
    expected = np.full((S, A, S), np.float32(config.t_c_prior))
    for s, a, _, s_next, _ in seq:
        expected[s, a, s_next] += np.float32(1.0)
    np.testing.assert_array_equal(state.t_c, expected)
    # The running sums planning samples from: integer prefix sums of the counts, exactly.
    counts = np.zeros((S, A, S))
    for s, a, _, s_next, _ in seq:
        counts[s, a, s_next] += 1
    np.testing.assert_array_equal(state.model.t_c_cum, np.cumsum(counts, axis=-1))


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
    np.testing.assert_array_equal(state.model.next_state, last_next)
    # The deterministic agent keeps no counts; a count agent fed the same transitions counts them.
    with pytest.raises(AttributeError, match="keeps no counts"):
        _ = state.t_c
    count_config = COUNT.replace(learning_rate=0.3)
    counted = run_model_updates(dq.init(S, A, count_config), seq, count_config)
    np.testing.assert_allclose(counted.t_c, counts + count_config.t_c_prior, rtol=EPS32)


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
    assert int(state.real_steps) == len(seq)


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
