"""The oracle against an independent NumPy computation from gymnasium's ``P`` dicts."""

from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from dynaq_jax import envs as E
from tests.conftest import Variant

GymP = dict[int, dict[int, list[tuple[float, int, float, bool]]]]


def dense_from_p(p: GymP, n_s: int, n_a: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``P[s,a,s']``, ``R[s,a]`` and the continuing part ``C[s,a,s']``, in float64, from dicts."""
    trans = np.zeros((n_s, n_a, n_s))
    cont = np.zeros((n_s, n_a, n_s))
    rew = np.zeros((n_s, n_a))
    for s in range(n_s):
        for a in range(n_a):
            for prob, s2, r, term in p[s][a]:
                trans[s, a, s2] += prob
                rew[s, a] += prob * r
                if not term:
                    cont[s, a, s2] += prob
    return trans, rew, cont


def numpy_value_iteration(p: GymP, n_s: int, n_a: int, gamma: float) -> np.ndarray:
    _, rew, cont = dense_from_p(p, n_s, n_a)
    q = np.zeros((n_s, n_a))
    for _ in range(100_000):
        q_new = rew + gamma * cont @ q.max(-1)
        if np.max(np.abs(q_new - q)) < 1e-12:
            return q_new
        q = q_new
    raise AssertionError("reference value iteration did not converge")


def numpy_evaluate(
    p: GymP, initial: np.ndarray, policy: np.ndarray, gamma: float, horizon: int
) -> tuple[float, float]:
    """(success probability, discounted return) by explicit propagation over the dicts."""
    d = np.asarray(initial, np.float64)
    success = ret = 0.0
    for t in range(horizon):
        d_next = np.zeros_like(d)
        for s in np.nonzero(d)[0]:
            for prob, s2, r, term in p[int(s)][int(policy[s])]:
                mass = d[s] * prob
                ret += gamma**t * mass * r
                if term:
                    success += mass if r > 0 else 0.0
                else:
                    d_next[s2] += mass
        d = d_next
    return success, ret


CASES: list[tuple[str, dict[str, Any], float]] = [
    ("FrozenLake-v1", {}, 0.95),
    ("FrozenLake-v1", {"map_name": "8x8"}, 0.99),
    ("CliffWalkingSlippery-v1", {}, 0.9),
    ("Taxi-v4", {}, 0.9),
]


@pytest.mark.parametrize(("env_id", "kwargs", "gamma"), CASES)
def test_tables_and_value_iteration_match_numpy(
    env_id: str, kwargs: dict[str, Any], gamma: float
) -> None:
    raw = gym.make(env_id, **kwargs).unwrapped
    mdp = E.from_gymnasium(env_id, **kwargs)
    trans, rew, cont = dense_from_p(raw.P, mdp.n_states, mdp.n_actions)
    np.testing.assert_allclose(E.transition_matrix(mdp), trans, atol=1e-6)
    np.testing.assert_allclose(E.continuation_matrix(mdp), cont, atol=1e-6)
    np.testing.assert_allclose(E.expected_rewards(mdp), rew, rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(np.asarray(E.transition_matrix(mdp)).sum(-1), 1.0, atol=1e-6)

    q_ref = numpy_value_iteration(raw.P, mdp.n_states, mdp.n_actions, gamma)
    info = E.value_iteration_info(mdp, gamma)
    assert int(info.iterations) < 10_000 and float(info.residual) <= 1e-6
    # stopping at residual <= tol leaves |Q - Q*| <= tol gamma / (1 - gamma), plus float32 rounding
    atol = 2 * 1e-6 * gamma / (1 - gamma) + 1e-6 * float(np.abs(q_ref).max())
    np.testing.assert_allclose(info.q, q_ref, atol=atol)


@pytest.mark.parametrize("env_id", ["FrozenLake-v1", "CliffWalkingSlippery-v1"])
def test_policy_evaluation_matches_numpy(env_id: str) -> None:
    raw = gym.make(env_id).unwrapped
    mdp = E.from_gymnasium(env_id)
    rng = np.random.default_rng(0)
    for policy in (
        rng.integers(0, 4, mdp.n_states),
        np.asarray(E.greedy(E.value_iteration(mdp, 0.9))),
    ):
        succ_ref, ret_ref = numpy_evaluate(raw.P, raw.initial_state_distrib, policy, 0.9, 60)
        pol = jnp.asarray(policy, jnp.int32)
        np.testing.assert_allclose(float(E.success_probability(mdp, pol, 60)), succ_ref, atol=1e-5)
        got = float(E.policy_value(mdp, pol, 0.9, 60))
        np.testing.assert_allclose(got, ret_ref, rtol=1e-5, atol=1e-5)
        # a one-hot stochastic policy gives the same numbers
        onehot = jax.nn.one_hot(pol, mdp.n_actions)
        np.testing.assert_allclose(E.policy_value(mdp, onehot, 0.9, 60), got, rtol=1e-6)


def test_stochastic_policy() -> None:
    # start below the goal; up reaches it, down bumps into the border; pi(up) = 1/2
    maze = E.grid_maze(["G", "S"])
    half = jnp.array([[0.5, 0.5, 0.0, 0.0]] * 2)
    assert float(E.policy_value(maze, half, 0.9, 1)) == pytest.approx(0.5)
    assert float(E.success_probability(maze, half, 3)) == pytest.approx(0.875)


def test_frozen_lake_optimal_success_probability() -> None:
    """About 0.74 for 4x4 slippery within 100 steps (gymnasium's registry says optimum 0.74)."""
    raw = gym.make("FrozenLake-v1").unwrapped
    mdp = E.from_gymnasium("FrozenLake-v1")
    opt = float(E.optimal_success_probability(mdp))  # horizon = time_limit = 100
    assert 0.72 < opt < 0.76
    pi = np.asarray(E.greedy(E.value_iteration(mdp, 0.9999, tol=1e-7, max_iters=100_000)))
    succ_ref, _ = numpy_evaluate(raw.P, raw.initial_state_distrib, pi, 1.0, 100)
    assert opt == pytest.approx(succ_ref, abs=1e-5)
    # a short-sighted discount gives a worse success rate
    pi_short = E.greedy(E.value_iteration(mdp, 0.5))
    assert float(E.success_probability(mdp, pi_short)) < opt


def test_discount_one_is_capped_and_vmappable() -> None:
    mdp = E.from_gymnasium("FrozenLake-v1")
    capped = E.value_iteration_info(mdp, 1.0, max_iters=5)
    assert int(capped.iterations) == 5 and float(capped.residual) > 1e-6
    det = E.from_gymnasium("FrozenLake-v1", is_slippery=False)
    info = E.value_iteration_info(det, 1.0)
    assert int(info.iterations) < 20
    np.testing.assert_allclose(info.q.max(-1)[0], 1.0)
    gammas = jnp.array([0.5, 0.9, 0.99])
    batched = jax.vmap(lambda g: E.value_iteration(mdp, g))(gammas)
    for i, g in enumerate(gammas):
        np.testing.assert_allclose(batched[i], E.value_iteration(mdp, float(g)), atol=1e-6)


def test_vmap_over_stacked_maps() -> None:
    descs = [["SFFH", "FHFF", "FFFF", "HFFG"], ["SFFF", "FFHF", "FHFF", "FFFG"]]
    maps = [E.from_gymnasium("FrozenLake-v1", desc=d) for d in descs]
    stacked = E.stack_mdps(maps)
    q = jax.vmap(lambda e: E.value_iteration(e, 0.9))(stacked)
    succ = jax.vmap(lambda e, p: E.success_probability(e, p, 100))(stacked, E.greedy(q))
    for i, m in enumerate(maps):
        np.testing.assert_allclose(q[i], E.value_iteration(m, 0.9), atol=1e-6)
        np.testing.assert_allclose(succ[i], E.success_probability(m, E.greedy(q[i])), atol=1e-6)


def test_jit_equals_eager(variant: Variant) -> None:
    mdp = E.from_gymnasium("FrozenLake-v1")
    pi = E.greedy(E.value_iteration(mdp, 0.95))
    plain = E.success_probability(mdp, pi, 100)
    got = variant(lambda p: E.success_probability(mdp, p, 100))(pi)
    assert float(plain) == pytest.approx(float(got), abs=1e-7)


def test_oracle_errors() -> None:
    maze = E.dyna_maze()
    pi = jnp.zeros(54, jnp.int32)
    with pytest.raises(ValueError, match=r"DynaMaze has no time_limit; pass horizon="):
        E.success_probability(maze, pi)
    with pytest.raises(ValueError, match=r"policy must have shape \(54,\)"):
        E.success_probability(maze, jnp.zeros(3, jnp.int32), 10)
    with pytest.raises(ValueError, match=r"actions must lie in \[0, 4\)"):
        E.success_probability(maze, pi.at[0].set(4), 10)
    with pytest.raises(ValueError, match=r"discount must lie in \[0, 1\]"):
        E.value_iteration(maze, 1.5)
    with pytest.raises(ValueError, match=r"horizon must be an int >= 0"):
        E.policy_value(maze, pi, 0.9, -1)
