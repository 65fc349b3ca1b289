"""Tests of the NumPy copy of the seed notebook (dynaq_jax.experiments.reference_numpy)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from dynaq_jax.experiments.reference_numpy import (
    T_C_PRIOR,
    CountDynaQAgent,
    DynaQAgent,
    greedy_success_probability,
    policy_success_probability,
    run_many,
    run_notebook,
)

# A standard optimal policy for FrozenLake 4x4 slippery (actions: 0 left, 1 down, 2 right, 3 up).
OPTIMAL_4X4 = np.array([0, 3, 3, 3, 0, 0, 0, 0, 3, 1, 0, 0, 0, 2, 1, 0])


def _frozen_lake_tables() -> tuple[Any, np.ndarray]:
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)
    unwrapped: Any = env.unwrapped
    transitions, initial = unwrapped.P, np.asarray(unwrapped.initial_state_distrib)
    env.close()
    return transitions, initial


@pytest.mark.parametrize("model", ["deterministic", "count"])
def test_runs_are_reproducible_for_a_seed(model: str) -> None:
    a = run_notebook(7, n_episodes=25, n_planning_steps=5, model=model)  # type: ignore[arg-type]
    b = run_notebook(7, n_episodes=25, n_planning_steps=5, model=model)  # type: ignore[arg-type]
    c = run_notebook(8, n_episodes=25, n_planning_steps=5, model=model)  # type: ignore[arg-type]
    np.testing.assert_array_equal(a["rewards"], b["rewards"])
    np.testing.assert_array_equal(a["lengths"], b["lengths"])
    np.testing.assert_array_equal(a["q_table"], b["q_table"])
    assert a["model_size"] == b["model_size"]
    assert a["planning_updates"] == b["planning_updates"]
    # A different seed gives a different run.
    assert not np.array_equal(a["lengths"], c["lengths"]) or not np.array_equal(
        a["q_table"], c["q_table"]
    )


def test_argmax_tie_break_goes_to_action_zero() -> None:
    agent = DynaQAgent(16, 4, epsilon=0.0)
    assert all(agent.select_action(s) == 0 for s in range(16))


def test_as_written_greedy_policy_never_reaches_the_goal() -> None:
    """seeds/README.md: as written, the final greedy policy succeeds with probability 0.000."""
    for run in run_many([0, 1, 2], model="deterministic"):
        assert run["successes"].shape == (300,)
        assert greedy_success_probability(run["q_table"]) == 0.0
        # The greedy policy is all "left" wherever Q is still tied.
        assert run["successes"][-100:].mean() == 0.0


def test_random_tie_break_finds_the_goal() -> None:
    """The one fix (random tie-breaking) is enough for the agent to reach the goal sometimes."""
    run = run_notebook(0, tie_break="random")
    assert run["successes"].sum() > 0
    assert run["model_size"] > 30


def test_exact_evaluation_matches_simulation() -> None:
    transitions, initial = _frozen_lake_tables()
    exact = policy_success_probability(OPTIMAL_4X4, transitions, initial, horizon=100)
    assert 0.70 < exact < 0.80  # the optimal 4x4 slippery success rate is about 0.74
    env = gym.make("FrozenLake-v1", map_name="4x4", is_slippery=True)  # TimeLimit 100
    n_episodes, wins = 1000, 0
    env.reset(seed=123)
    for _ in range(n_episodes):
        s, _ = env.reset()
        done = False
        while not done:
            s, r, terminated, truncated, _ = env.step(int(OPTIMAL_4X4[s]))
            done = terminated or truncated
        wins += float(r) > 0
    env.close()
    stderr = np.sqrt(exact * (1 - exact) / n_episodes)
    assert abs(wins / n_episodes - exact) < 4 * stderr
    # All-left (the as-written greedy policy on a zero Q table) never succeeds.
    assert policy_success_probability(np.zeros(16, int), transitions, initial) == 0.0


def test_count_model_rows_sum_to_one_and_rewards_are_smoothed() -> None:
    run = run_notebook(3, n_episodes=20, n_planning_steps=5, model="count")
    assert run["T"] is not None and run["R"] is not None
    assert run["T"].shape == (16, 4, 16)
    np.testing.assert_allclose(run["T"].sum(axis=-1), 1.0, rtol=1e-12)
    assert np.all(run["T"] > 0)

    agent = CountDynaQAgent(3, 2, learning_rate=0.25)
    np.testing.assert_allclose(agent.T, 1.0 / 3)
    agent.update_model(0, 1, 1.0, 2)
    agent.update_model(0, 1, 0.0, 1)
    agent.update_model(0, 1, 1.0, 2)
    expected_row = np.array([T_C_PRIOR, 1 + T_C_PRIOR, 2 + T_C_PRIOR])
    np.testing.assert_allclose(agent.T[0, 1], expected_row / expected_row.sum())
    r = 0.0
    for reward in (1.0, 0.0, 1.0):
        r = (1 - 0.25) * r + 0.25 * reward
    assert agent.R[0, 1] == pytest.approx(r)
    assert agent.visited_pairs == [(0, 1)]
    assert agent.model_size == 1


@pytest.mark.parametrize("model", ["deterministic", "count"])
def test_planning_updates_are_n_per_real_step(model: str) -> None:
    n = 7
    run = run_notebook(5, n_episodes=15, n_planning_steps=n, model=model)  # type: ignore[arg-type]
    assert run["real_steps"] == int(run["lengths"].sum())
    # update_model runs before planning, so visited_pairs is never empty when planning runs.
    assert run["planning_updates"] == n * run["real_steps"]


def test_planning_with_empty_model_does_nothing() -> None:
    agent = DynaQAgent(4, 2, n_planning_steps=5)
    agent.planning()
    assert agent.n_planning_updates == 0
    assert not agent.q_table.any()


def test_rejects_unknown_model() -> None:
    with pytest.raises(ValueError, match="model"):
        run_notebook(0, n_episodes=1, model="tabular")  # type: ignore[arg-type]
