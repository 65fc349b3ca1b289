"""The compact count model (``DynaQConfig.outcome_slots = K > 0``): ``K`` outcome slots per pair.

What each test guards:
- ``test_config_rejects_bad_slots`` / ``test_init_shapes_and_limits``: ``outcome_slots`` is
  validated (the error names the value); ``init`` gives the slots model (``SlotModel``) with
  ``[S, A, K]`` counts starting at 0 and refuses ``K > S``, the dense model keeps no outcome
  slots; memory per agent is ``3 * 4 * S * A * K`` bytes for the model (plus its drop counter).
- ``test_slots_hold_exact_counts``: after any transition sequence, slot ``k`` of a pair holds its
  ``k``-th distinct outcome (in order of first observation) and that outcome's exact count, the
  running sums are the exact prefix sums, empty slots are a zero suffix, and ``dropped`` is the
  number of transitions to a ``(K + 1)``-th outcome (a NumPy reference).
- ``test_other_fields_equal_dense``: the compact model changes nothing but the model: every other
  field equals the dense model's after the same transitions, bit for bit.
- ``test_transition_probs``: rows are distributions, equal ``counts / visits`` for tried pairs
  and ``1 / S`` for untried ones, and match the dense model's ``T`` up to its prior (``K >= S``).
- ``test_simulate_frequencies``: planning samples only stored outcomes, with frequencies
  ``count / visits`` (5-sigma binomial bound over 20k vmapped keys), through the sample
  planner's draw (``planners.base.draw_pairs`` and the slots model's ``sample_next``).
- ``test_batch_invariance_and_no_drops_on_frozenlake``: ``train_seeds`` equals ``train`` bit for
  bit; with ``K = distinct_outcomes(env) = 3`` nothing is dropped on slippery FrozenLake.
- ``test_too_few_slots_warn``: with ``K = 1`` on slippery FrozenLake transitions are dropped and
  the trainers say so (a ``RuntimeWarning`` naming ``outcome_slots``); nothing is silent.
- ``test_distinct_outcomes``: the slots each env needs (FrozenLake 3, Taxi and the mazes 1, a
  changing maze 2: both phases' outcomes).
- ``test_compact_learns_like_dense``: on slippery FrozenLake the compact and dense models reach the
  same success rate (within 4 standard errors over 64 seeds).
"""

from collections import defaultdict

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dynaq_jax as dq
from dynaq_jax.envs import distinct_outcomes
from dynaq_jax.models import DenseModel, SlotModel
from dynaq_jax.models.slots import expand_counts
from tests.conftest import (
    A,
    S,
    assert_trees_identical,
    run_model_updates,
    simulate,
    transition_seqs,
)

DENSE = dq.DynaQConfig(planning_steps=8)
COMPACT = {k: DENSE.replace(outcome_slots=k) for k in range(1, S + 1)}
slot_counts = st.integers(1, S)


def reference(
    seq: list[tuple[int, int, float, int, bool]], k: int
) -> tuple[dict[tuple[int, int], list[int]], dict[tuple[int, int], list[int]], int]:
    """Per pair: its first ``k`` distinct outcomes in order of first observation and their counts;
    and the number of transitions dropped."""
    outcomes: dict[tuple[int, int], list[int]] = defaultdict(list)
    counts: dict[tuple[int, int], list[int]] = defaultdict(list)
    dropped = 0
    for s, a, _, s_next, _ in seq:
        row = outcomes[(s, a)]
        if s_next in row:
            counts[(s, a)][row.index(s_next)] += 1
        elif len(row) < k:
            row.append(s_next)
            counts[(s, a)].append(1)
        else:
            dropped += 1
    return outcomes, counts, dropped


@pytest.mark.parametrize("bad", [-1, 1.5, True, "2", None])
def test_config_rejects_bad_slots(bad: object) -> None:
    with pytest.raises(ValueError, match=rf"outcome_slots must be an int >= 0, got {bad!r}"):
        dq.DynaQConfig(outcome_slots=bad)  # type: ignore[arg-type]


def test_init_shapes_and_limits() -> None:
    state = dq.init(S, A, COMPACT[2])
    assert isinstance(state.model, SlotModel)
    model = state.model
    assert state.t_c.shape == model.t_c_cum.shape == model.outcomes.shape == (S, A, 2)
    assert model.outcomes.dtype == jnp.int32
    np.testing.assert_array_equal(state.t_c, 0.0)
    assert int(state.dropped) == 0
    dense = dq.init(S, A, DENSE)
    assert isinstance(dense.model, DenseModel) and not hasattr(dense.model, "outcomes")
    assert int(dense.dropped) == 0  # the dense model stores every transition
    with pytest.raises(ValueError, match=r"outcome_slots=6 exceeds n_states=5"):
        dq.init(S, A, DENSE.replace(outcome_slots=6))
    # Taxi-sized: the compact model is 3 * 4 * S * A * K bytes (and its 4-byte drop counter),
    # the dense one 2 * 4 * S * A * S
    big_dense = dq.memory_per_seed(dq.from_gymnasium("Taxi-v4"), DENSE)
    big_compact = dq.memory_per_seed(dq.from_gymnasium("Taxi-v4"), DENSE.replace(outcome_slots=1))
    assert big_dense - big_compact == 2 * 4 * 500 * 6 * 500 - (3 * 4 * 500 * 6 * 1 + 4)


@given(transition_seqs, slot_counts)
def test_slots_hold_exact_counts(seq: list, k: int) -> None:
    state = run_model_updates(dq.init(S, A, COMPACT[k]), seq, COMPACT[k])
    outcomes, counts, dropped = reference(seq, k)
    t_c, out = np.asarray(state.t_c), np.asarray(state.model.outcomes)
    for s in range(S):
        for a in range(A):
            n = len(outcomes[(s, a)])
            np.testing.assert_array_equal(out[s, a, :n], outcomes[(s, a)])
            np.testing.assert_array_equal(t_c[s, a, :n], counts[(s, a)])
            np.testing.assert_array_equal(t_c[s, a, n:], 0.0)
    np.testing.assert_array_equal(state.model.t_c_cum, np.cumsum(t_c, axis=-1))
    assert int(state.dropped) == dropped
    if k == S:
        assert dropped == 0


@given(transition_seqs, slot_counts)
def test_other_fields_equal_dense(seq: list, k: int) -> None:
    compact = run_model_updates(dq.init(S, A, COMPACT[k]), seq, COMPACT[k])
    dense = run_model_updates(dq.init(S, A, DENSE), seq, DENSE)
    for field in dq.DynaQState._fields:
        if field != "model":
            assert_trees_identical(getattr(compact, field), getattr(dense, field), field)


@given(transition_seqs)
def test_transition_probs(seq: list) -> None:
    compact = run_model_updates(dq.init(S, A, COMPACT[S]), seq, COMPACT[S])
    dense = run_model_updates(dq.init(S, A, DENSE), seq, DENSE)
    t = np.asarray(dq.transition_probs(compact))
    assert t.shape == (S, A, S)
    np.testing.assert_allclose(t.sum(-1), 1.0, rtol=1e-6)
    counts = np.asarray(expand_counts(compact.t_c, compact.model.outcomes, S, 0.0))
    visits = np.asarray(compact.visits)
    tried = visits > 0
    np.testing.assert_allclose(t[tried], counts[tried] / visits[tried][:, None], rtol=1e-6)
    np.testing.assert_array_equal(t[~tried], np.float32(1.0 / S))
    # the dense model's T differs by its prior alone: at most S * prior / visits per entry
    np.testing.assert_allclose(t, np.asarray(dq.transition_probs(dense)), atol=S * 2e-5)


def test_simulate_frequencies() -> None:
    config = COMPACT[3].replace(planning_steps=1)
    seq = [(0, 0, 0.0, s2, False) for s2 in (3, 1, 1, 4, 1, 4)]  # counts: 3 -> 1, 1 -> 3, 4 -> 2
    state = run_model_updates(dq.init(S, A, config), seq, config)
    keys = jax.random.split(jax.random.key(0), 20_000)
    s_next = np.asarray(jax.vmap(lambda k: simulate(state, k, config).s_next[0])(keys))
    assert set(np.unique(s_next)) <= {1, 3, 4}
    n = len(s_next)
    for outcome, p in ((3, 1 / 6), (1, 3 / 6), (4, 2 / 6)):
        freq = np.mean(s_next == outcome)
        assert abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n), (outcome, freq, p)


FROZEN = dq.from_gymnasium("FrozenLake-v1", map_name="4x4")


def test_batch_invariance_and_no_drops_on_frozenlake() -> None:
    config = dq.DynaQConfig(planning_steps=5, outcome_slots=distinct_outcomes(FROZEN))
    keys = jax.random.split(jax.random.key(3), 3)
    many = dq.train_seeds(FROZEN, config, keys, n_episodes=20)
    one = dq.train(FROZEN, config, keys[2], n_episodes=20)
    assert_trees_identical(jax.tree.map(lambda x: x[2], many), one)
    np.testing.assert_array_equal(many.state.dropped, 0)
    assert int(np.sum(many.state.t_c)) == int(np.sum(many.steps_done))  # every step counted


def test_too_few_slots_warn() -> None:
    config = dq.DynaQConfig(planning_steps=2, outcome_slots=1)
    with pytest.warns(RuntimeWarning, match=r"were not stored.*outcome_slots=1") as record:
        out = dq.train_seeds(FROZEN, config, jax.random.split(jax.random.key(0), 2), n_episodes=20)
    dropped = np.asarray(out.state.dropped)
    assert np.all(dropped > 0)
    assert f"{int(dropped.sum())} real transition(s) in 2 of 2 agent(s)" in str(record[0].message)
    # every real step is either counted or dropped
    assert int(np.sum(out.state.t_c)) + int(dropped.sum()) == int(np.sum(out.steps_done))
    with pytest.warns(RuntimeWarning, match=r"gym_loop.train: .* outcome_slots=1"):
        dq.gym_loop.train("FrozenLake-v1", config, n_episodes=10, seed=0)


def test_distinct_outcomes() -> None:
    assert distinct_outcomes(FROZEN) == 3
    assert distinct_outcomes(dq.from_gymnasium("FrozenLake-v1", is_slippery=False)) == 1
    assert distinct_outcomes(dq.from_gymnasium("Taxi-v4")) == 1
    assert distinct_outcomes(dq.dyna_maze()) == 1
    # the blocking maze moves its wall: some pairs lead to different cells before and after
    assert distinct_outcomes(dq.blocking_maze()) == 2


def test_compact_learns_like_dense() -> None:
    keys = jax.random.split(jax.random.key(7), 64)
    rates = {}
    for slots in (0, 3):
        config = dq.DynaQConfig(planning_steps=10, outcome_slots=slots)
        out = dq.train_seeds(FROZEN, config, keys, n_episodes=150)
        rates[slots] = np.asarray(out.episodes.success[:, -50:], np.float64).mean(-1)
    diff = rates[0].mean() - rates[3].mean()
    se = np.sqrt(rates[0].var(ddof=1) / 64 + rates[3].var(ddof=1) / 64)
    assert rates[3].mean() > 0.05  # it learns at all
    assert abs(diff) < 4 * se + 1e-9, (rates[0].mean(), rates[3].mean(), se)
