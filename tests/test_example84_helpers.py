"""The helpers of Example 8.4 (prioritized sweeping against Dyna-Q on scaled Dyna mazes), in the
application package. (Their import lives here alone: the application modules were moving.)

What each test guards:
- ``test_shortest_path_of_scaled_maze``: the shortest path of the Dyna maze and its 2x scaling.
- ``test_greedy_check_matches_a_rollout``: the compiled check that the greedy path reaches the goal
  within a horizon agrees with a NumPy rollout, for any ``Q``.
"""

import jax.numpy as jnp
import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from dynaq_jax.experiments import shortest_path_length
from dynaq_jax.experiments.sweeping import goal_states, greedy_reaches_goal
from tests.planner_cases import FEW


def test_shortest_path_of_scaled_maze() -> None:
    assert [shortest_path_length(dq.dyna_maze(scale=k)) for k in (1, 2)] == [14, 28]


@FEW
@given(q=hnp.arrays(np.float32, (54, 4), elements=st.floats(0.0, 1.0, width=32)))
def test_greedy_check_matches_a_rollout(q: np.ndarray) -> None:
    env = dq.dyna_maze()
    goal = goal_states(env)
    succ = np.asarray(env.next_states)[..., 0]
    start = int(np.argmax(np.asarray(env.initial)))
    s, reached = start, False
    for _ in range(16):
        s = int(succ[s, int(np.argmax(q[s]))])
        if goal[s]:
            reached = True
            break
    got = greedy_reaches_goal(jnp.asarray(succ), jnp.asarray(goal), jnp.asarray(q), start, 16)
    assert bool(got) == reached
