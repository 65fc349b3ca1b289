"""Prioritized sweeping (``dynaq_jax.planners.sweeping``): the queue, the pops, their count.

What each test guards:
- ``test_sweeping_converges_to_value_iteration``: prioritized sweeping (alpha 1) on a known
  deterministic model (the deterministic model, and the compact count model) empties its queue
  at the value-iteration fixpoint, within ``theta / (1 - gamma)``.
- ``test_priorities_never_negative``: priorities stay finite, ``>= 0``, and only tried pairs queue.
- ``test_theta_above_every_priority_changes_nothing``: then a sweep is the identity.
- ``test_train_seeds_equals_train_for_sweeping``: bit-identical results in the compiled training
  loop, one seed or a batch.
- ``test_step_counted_counts_updates``: ``agent.step_counted`` (Example 8.4's update count) counts
  the direct update and ``n`` planned ones for Dyna-Q, the pops above ``theta`` for sweeping, and
  nothing where ``active`` is false.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from dynaq_jax.models import kind_for
from dynaq_jax.planners.sweeping import model_errors, sweep, with_priorities
from tests.conftest import A, S, assert_trees_identical
from tests.planner_cases import (
    FEW,
    SAMPLE,
    SWEEP,
    TERMINAL,
    learn,
    models,
    q_tables,
    transitions,
)


@jax.jit
def _sweep(state: dq.DynaQState, config: dq.DynaQConfig) -> tuple[dq.DynaQState, jax.Array]:
    return sweep(state, config, kind_for(config))


def value_iteration_q(r: np.ndarray, nxt: np.ndarray, term: np.ndarray, gamma: float) -> np.ndarray:
    q = np.zeros(r.shape)
    for _ in range(2000):
        q = r + gamma * np.where(term[nxt], 0.0, q.max(-1)[nxt])
    return q


@settings(FEW, max_examples=8)
@given(
    nxt=hnp.arrays(np.int32, (S, A), elements=st.integers(0, S - 1)),
    r=hnp.arrays(np.float32, (S, A), elements=st.floats(-1.0, 1.0, width=32)),
    gamma=st.floats(0.0, 0.8),
    model=st.sampled_from(["deterministic", "compact"]),
)
def test_sweeping_converges_to_value_iteration(
    nxt: np.ndarray, r: np.ndarray, gamma: float, model: str
) -> None:
    config = SWEEP[model].replace(learning_rate=1.0, discount=gamma, theta=1e-5)
    term = np.arange(S) == TERMINAL
    seq = [(s, a, float(r[s, a]), int(nxt[s, a])) for s in range(S - 1) for a in range(A)]
    state = learn(config, seq)
    key = jax.random.key(0)
    for _ in range(300):
        if float(jnp.max(state.planner.priority)) <= config.theta:
            break
        state = dq.plan(state, key, config)
    assert float(jnp.max(state.planner.priority)) <= config.theta
    q_star = value_iteration_q(r.astype(np.float64), nxt, term, gamma)
    # every pair is within theta of its target, so |Q - Q*| <= theta / (1 - gamma) (+ rounding)
    atol = 1e-5 / (1 - gamma) + 1e-5
    np.testing.assert_allclose(np.asarray(state.q)[:-1], q_star[:-1], rtol=0, atol=atol)


@FEW
@given(model=models, seq=transitions, seed=st.integers(0, 2**31 - 1))
def test_priorities_never_negative(
    model: str, seq: list[tuple[int, int, float, int]], seed: int
) -> None:
    config = SWEEP[model]
    state = dq.init(S, A, config)
    key = jax.random.key(seed)
    for s, a, r, s_next in seq:
        key, k = jax.random.split(key)
        state = dq.step(state, k, s, a, r, s_next, s_next == TERMINAL, config)
        prio = np.asarray(state.planner.priority)
        assert np.all(prio >= 0) and np.all(np.isfinite(prio))
        assert np.all(prio[np.asarray(state.visits) == 0] == 0)  # only tried pairs are queued


@FEW
@given(model=models, seq=transitions, q=q_tables)
def test_theta_above_every_priority_changes_nothing(
    model: str, seq: list[tuple[int, int, float, int]], q: np.ndarray
) -> None:
    config = SWEEP[model]
    state = learn(config, seq)._replace(q=jnp.asarray(q))
    errors = model_errors(state, config, kind_for(config))
    state = state._replace(planner=with_priorities(state.planner, errors))
    high = config.replace(theta=float(jnp.max(state.planner.priority)) + 1.0)
    assert_trees_identical(dq.plan(state, jax.random.key(0), high), state)
    new, n = _sweep(state, high)
    assert int(n) == 0
    assert_trees_identical(new, state)


def test_train_seeds_equals_train_for_sweeping() -> None:
    env = dq.from_gymnasium("FrozenLake-v1", map_name="4x4")
    config = dq.DynaQConfig(planner="sweeping", planning_steps=5, optimism=1.0)
    keys = jax.random.split(jax.random.key(2), 2)
    many = dq.train_seeds(env, config, keys, n_episodes=5)
    one = dq.train(env, config, keys[1], n_episodes=5)
    assert_trees_identical(jax.tree.map(lambda x: x[1], many), one)


def test_step_counted_counts_updates() -> None:
    on = jnp.asarray(True)
    state = dq.init(S, A, SAMPLE)
    _, n = dq.agent.step_counted(state, jax.random.key(0), 0, 1, 1.0, 2, False, SAMPLE, active=on)
    assert int(n) == 1 + SAMPLE.planning_steps
    config = SWEEP["deterministic"]
    state = dq.init(S, A, config)
    new, n = dq.agent.step_counted(state, jax.random.key(0), 0, 1, 1.0, 2, False, config, active=on)
    assert int(n) == 1 and float(new.q[0, 1]) == pytest.approx(0.1)  # one pop, alpha 0.1
    _, n = dq.agent.step_counted(state, jax.random.key(0), 0, 1, 1.0, 2, False, config, active=~on)
    assert int(n) == 0
