"""The expected-updates planner (``dynaq_jax.planners.expected``) and the model's one-step targets.

What each test guards:
- ``test_model_targets_match_numpy``: the backup ``R_hat + gamma sum_s' T (1 - terminal) max Q``
  (``planners.sweeping.model_targets``, through the model kind) against float64 NumPy, for every
  tried pair of each model kind.
- ``test_expected_update_is_the_full_backup``: the expected planner replaces each pair it draws
  (``planners.base.draw_pairs``, as the sample planner draws them) by its full backup under the
  current ``Q``, in order.
- ``test_expected_counts_its_updates``: ``plan_counted`` reports ``planning_steps`` updates once a
  pair was tried, none before.
"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import dynaq_jax as dq
from dynaq_jax.models import kind_for
from dynaq_jax.planners.base import draw_pairs
from dynaq_jax.planners.sweeping import model_targets
from tests.conftest import A, S
from tests.planner_cases import EXPECTED, FEW, learn, models, numpy_targets, q_tables, transitions


@FEW
@given(model=models, seq=transitions, q=q_tables, alpha=st.floats(0.05, 1.0))
def test_model_targets_match_numpy(
    model: str, seq: list[tuple[int, int, float, int]], q: np.ndarray, alpha: float
) -> None:
    config = EXPECTED[model].replace(learning_rate=alpha)
    state = learn(config, seq)._replace(q=jnp.asarray(q))
    got = np.asarray(model_targets(state, state.q, config, kind_for(config)))
    tried = np.asarray(state.visits) > 0
    np.testing.assert_allclose(
        got[tried], numpy_targets(state, config)[tried], rtol=2e-5, atol=2e-5
    )


@FEW
@given(model=models, seq=transitions, q=q_tables, seed=st.integers(0, 2**31 - 1))
def test_expected_update_is_the_full_backup(
    model: str, seq: list[tuple[int, int, float, int]], q: np.ndarray, seed: int
) -> None:
    config = EXPECTED[model]
    state = learn(config, seq)._replace(q=jnp.asarray(q))
    key = jax.random.key(seed)
    got = np.asarray(dq.plan(state, key, config).q)
    # Replay the drawn pairs in NumPy: each is set to its full backup under the current Q.
    want = np.asarray(state.q, np.float64).copy()
    for sa in np.asarray(draw_pairs(state, key, config.planning_steps)[0]):
        s, a = divmod(int(sa), A)
        want[s, a] = numpy_targets(state._replace(q=jnp.asarray(want, jnp.float32)), config)[s, a]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


def test_expected_counts_its_updates() -> None:
    config = EXPECTED["count"]
    state = dq.init(S, A, config)
    key = jax.random.key(0)
    assert int(dq.plan_counted(state, key, config)[1]) == 0  # nothing tried yet
    state = learn(config, [(0, 1, 1.0, 2)])
    assert int(dq.plan_counted(state, key, config)[1]) == config.planning_steps
