"""RiverSwim and SixArms (``dynaq_jax.envs.classic``, Strehl & Littman 2008).

What each test guards:
- ``test_tables_are_valid``: both tables pass ``validate_mdp``, never terminate, carry the time
  limit, a one-row layout and one glyph per action.
- ``test_river_swim_matches_paper`` / ``test_six_arms_matches_paper``: every ``P(s' | s, a)`` and
  ``r(s, a, s')`` equals the paper's definition, written out here independently of the builder, and
  a few pairs are spelled out number by number.
- ``test_reward_scale``: ``reward_scale`` multiplies every reward and nothing else.
- ``test_gym_env_steps_like_envs_step``: the registered gymnasium env and ``envs.step`` draw
  ``(s', r)`` with the same distribution (a few thousand seeded draws per pair, within 4 binomial
  standard deviations of the table and of each other).
- ``test_registered_ids``: the ids round-trip through ``from_gymnasium`` (time limit 20 included),
  take their kwargs and truncate after 20 steps.
- ``test_optimal_policies``: the greedy policy of ``value_iteration`` at gamma 0.95 is always right
  for RiverSwim (paper's scale and scaled) and the documented one for SixArms.
- ``test_train_seeds_smoke``: ``train_seeds`` runs a few episodes on both; every episode is
  truncated at the limit.
- ``test_bad_arguments``: clear errors.
"""

from typing import Any

import gymnasium as gym
import jax
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import dynaq_jax as dq
from dynaq_jax import envs as E
from dynaq_jax.envs import classic as C


def dense(mdp: E.TabularMDP) -> tuple[np.ndarray, np.ndarray]:
    """``P[s, a, s']`` and ``R[s, a, s']`` (each ``(s, a)`` lists every ``s'`` at most once)."""
    probs, ns, rew = (np.asarray(x, np.float64) for x in (mdp.probs, mdp.next_states, mdp.rewards))
    n_s, n_a, n_k = probs.shape
    p = np.zeros((n_s, n_a, n_s))
    r = np.zeros((n_s, n_a, n_s))
    for s in range(n_s):
        for a in range(n_a):
            for k in range(n_k):
                if probs[s, a, k] > 0:
                    s2 = int(ns[s, a, k])
                    assert p[s, a, s2] == 0, f"duplicate next state {s2} of ({s}, {a})"
                    p[s, a, s2] = probs[s, a, k]
                    r[s, a, s2] = rew[s, a, k]
    return p, r


def paper_river_swim(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's RiverSwim: ``P``, ``R`` over ``(s, a, s')`` and the start distribution."""
    p = np.zeros((n, 2, n))
    r = np.zeros((n, 2, n))
    for s in range(n):
        p[s, 0, max(s - 1, 0)] = 1.0  # left: with the current
    r[0, 0, 0] = 5.0
    p[0, 1, 0], p[0, 1, 1] = 0.7, 0.3
    for s in range(1, n - 1):
        p[s, 1, s - 1], p[s, 1, s], p[s, 1, s + 1] = 0.1, 0.6, 0.3
    p[n - 1, 1, n - 2], p[n - 1, 1, n - 1] = 0.7, 0.3
    r[n - 1, 1, n - 1] = 10_000.0
    init = np.zeros(n)
    init[1] = init[2] = 0.5
    return p, r, init


def paper_six_arms() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The paper's SixArms: ``P``, ``R`` over ``(s, a, s')`` and the start distribution."""
    enter = [1.0, 0.15, 0.10, 0.05, 0.03, 0.01]
    pay = [50.0, 133.0, 300.0, 800.0, 1660.0, 6000.0]
    p = np.zeros((7, 6, 7))
    r = np.zeros((7, 6, 7))
    for a in range(6):
        p[0, a, a + 1] += enter[a]
        p[0, a, 0] += 1.0 - enter[a]
    stay_actions = {1: {0, 1, 2, 3, 5}, 2: {1}, 3: {2}, 4: {3}, 5: {4}, 6: {5}}
    for arm, stays in stay_actions.items():
        for a in range(6):
            if a in stays:
                p[arm, a, arm] = 1.0
                r[arm, a, arm] = pay[arm - 1]
            else:
                p[arm, a, 0] = 1.0
    init = np.zeros(7)
    init[0] = 1.0
    return p, r, init


# -- the tables -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mdp", "shape"),
    [
        (C.river_swim(), (6, 2, 3)),
        (C.river_swim(n_states=3, time_limit=None), (3, 2, 3)),
        (C.six_arms(time_limit=7), (7, 6, 2)),
    ],
    ids=["river_swim", "river_swim_3", "six_arms"],
)
def test_tables_are_valid(mdp: E.TabularMDP, shape: tuple[int, int, int]) -> None:
    assert E.validate_mdp(mdp, atol=1e-6) is mdp
    assert tuple(mdp.probs.shape) == shape
    assert not np.any(np.asarray(mdp.terminated))  # continuing tasks
    assert mdp.layout == ("." * shape[0],) and len(mdp.action_arrows or ()) == shape[1]
    # the constructor's time limit, or the default of 20
    assert mdp.time_limit in (None, 7, 20)
    assert C.river_swim().time_limit == C.six_arms().time_limit == 20
    assert E.distinct_outcomes(mdp) <= shape[2]


@pytest.mark.parametrize("n", [3, 6, 9])
def test_river_swim_matches_paper(n: int) -> None:
    mdp = C.river_swim(n_states=n)
    p, r = dense(mdp)
    want_p, want_r, want_init = paper_river_swim(n)
    np.testing.assert_allclose(p, want_p, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(r, want_r)
    np.testing.assert_array_equal(np.asarray(mdp.initial), want_init)
    assert mdp.name == ("RiverSwim" if n == 6 else f"RiverSwim-n{n}")
    if n != 6:
        return
    # spelled out: (slot order: upstream, stay, downstream for "right")
    probs, ns, rew = (np.asarray(x) for x in (mdp.probs, mdp.next_states, mdp.rewards))
    f32 = np.float32
    assert (probs[0, 0, 0], ns[0, 0, 0], rew[0, 0, 0]) == (1.0, 0, 5.0)
    assert (probs[3, 0, 0], ns[3, 0, 0], rew[3, 0, 0]) == (1.0, 2, 0.0)
    assert list(probs[0, 1]) == [f32(0.3), f32(0.7), 0.0] and list(ns[0, 1][:2]) == [1, 0]
    assert list(probs[2, 1]) == [f32(0.3), f32(0.6), f32(0.1)] and list(ns[2, 1]) == [3, 2, 1]
    assert list(rew[2, 1]) == [0.0, 0.0, 0.0]
    assert list(probs[5, 1]) == [0.0, f32(0.3), f32(0.7)] and list(ns[5, 1][1:]) == [5, 4]
    assert list(rew[5, 1]) == [0.0, 10_000.0, 0.0]


def test_six_arms_matches_paper() -> None:
    mdp = C.six_arms()
    p, r = dense(mdp)
    want_p, want_r, want_init = paper_six_arms()
    np.testing.assert_allclose(p, want_p, rtol=0, atol=1e-7)
    np.testing.assert_array_equal(r, want_r)
    np.testing.assert_array_equal(np.asarray(mdp.initial), want_init)
    probs, ns, rew = (np.asarray(x) for x in (mdp.probs, mdp.next_states, mdp.rewards))
    f32 = np.float32
    assert list(probs[0, 0]) == [1.0, 0.0] and ns[0, 0, 0] == 1
    assert list(probs[0, 5]) == [f32(0.01), f32(0.99)] and list(ns[0, 5]) == [6, 0]
    assert (ns[1, 3, 0], rew[1, 3, 0]) == (1, 50.0) and (ns[1, 4, 0], rew[1, 4, 0]) == (0, 0.0)
    assert (ns[6, 5, 0], rew[6, 5, 0]) == (6, 6000.0) and (ns[6, 0, 0], rew[6, 0, 0]) == (0, 0.0)
    assert (ns[3, 2, 0], rew[3, 2, 0]) == (3, 300.0) and (ns[3, 3, 0], rew[3, 3, 0]) == (0, 0.0)


def test_reward_scale() -> None:
    for base, scaled, c in (
        (C.river_swim(), C.river_swim(reward_scale=1e-4), 1e-4),
        (C.six_arms(), C.six_arms(reward_scale=1 / 6000), 1 / 6000),
    ):
        np.testing.assert_allclose(
            np.asarray(scaled.rewards), np.asarray(base.rewards) * c, rtol=1e-6
        )
        for field in ("probs", "next_states", "terminated", "initial"):
            np.testing.assert_array_equal(getattr(scaled, field), getattr(base, field))
    assert float(C.river_swim(reward_scale=1e-4).rewards.max()) == pytest.approx(1.0)
    assert float(C.six_arms(reward_scale=1 / 6000).rewards.max()) == pytest.approx(1.0)


# -- gymnasium ------------------------------------------------------------------------------------

N_DRAWS = 4000
PARITY_CASES: list[tuple[str, Any, list[tuple[int, int]]]] = [
    ("dynaq_jax/RiverSwim-v0", C.river_swim, [(0, 1), (3, 1), (5, 1), (0, 0)]),
    ("dynaq_jax/SixArms-v0", C.six_arms, [(0, 1), (0, 5), (2, 1)]),
]


def _frequencies(draws: np.ndarray, outcomes: list[tuple[int, float]]) -> np.ndarray:
    """Share of draws ``(s', r)`` equal to each outcome; ``draws`` is ``[N, 2]``."""
    return np.array([np.mean((draws[:, 0] == s) & (draws[:, 1] == r)) for s, r in outcomes])


@pytest.mark.parametrize(("env_id", "builder", "pairs"), PARITY_CASES)
def test_gym_env_steps_like_envs_step(
    env_id: str, builder: Any, pairs: list[tuple[int, int]]
) -> None:
    mdp = builder()
    env = gym.make(env_id)
    raw = env.unwrapped
    raw.reset(seed=1234)
    keys = jax.random.split(jax.random.key(99), N_DRAWS)
    many = jax.vmap(E.step, in_axes=(None, 0, None, None))
    probs, ns, rew = (np.asarray(x) for x in (mdp.probs, mdp.next_states, mdp.rewards))
    for s, a in pairs:
        gym_draws = np.empty((N_DRAWS, 2))
        for i in range(N_DRAWS):
            raw.s = s  # step from (s, a) every time; the raw env has no time limit
            s2, r, term, trunc, _ = raw.step(a)
            assert not term and not trunc
            gym_draws[i] = s2, r
        s_next, r_jax, term_jax = many(mdp, keys, s, a)
        assert not bool(np.any(np.asarray(term_jax)))
        jax_draws = np.stack([np.asarray(s_next), np.asarray(r_jax)], axis=1).astype(np.float64)
        live = probs[s, a] > 0
        outcomes = [
            (int(x), float(y)) for x, y in zip(ns[s, a][live], rew[s, a][live], strict=True)
        ]
        p = probs[s, a][live].astype(np.float64)
        f_gym, f_jax = _frequencies(gym_draws, outcomes), _frequencies(jax_draws, outcomes)
        assert f_gym.sum() == f_jax.sum() == 1.0  # nothing outside the table
        sd = np.sqrt(p * (1 - p) / N_DRAWS)
        assert np.all(np.abs(f_gym - p) <= 4 * sd + 1e-12), (s, a, f_gym, p)
        assert np.all(np.abs(f_jax - p) <= 4 * sd + 1e-12), (s, a, f_jax, p)
        assert np.all(np.abs(f_gym - f_jax) <= 4 * np.sqrt(2) * sd + 1e-12), (s, a)
    env.close()


@pytest.mark.parametrize(
    ("env_id", "kwargs", "builder"),
    [
        ("dynaq_jax/RiverSwim-v0", {}, C.river_swim),
        ("dynaq_jax/RiverSwim-v0", {"n_states": 8, "reward_scale": 1e-4}, None),
        ("dynaq_jax/SixArms-v0", {}, C.six_arms),
        ("dynaq_jax/SixArms-v0", {"reward_scale": 0.5}, None),
    ],
)
def test_registered_ids(env_id: str, kwargs: dict[str, Any], builder: Any) -> None:
    E.register_envs()  # idempotent
    assert env_id in E.ENV_IDS
    env = gym.make(env_id, **kwargs)
    assert env.spec is not None and env.spec.max_episode_steps == 20
    check_env(env.unwrapped, skip_render_check=True)
    mdp = E.from_gymnasium(env)
    want = (
        builder()
        if builder is not None
        else (C.river_swim(8, reward_scale=1e-4) if "n_states" in kwargs else C.six_arms(20, 0.5))
    )
    for field in ("probs", "next_states", "rewards", "terminated", "initial"):
        np.testing.assert_array_equal(getattr(mdp, field), getattr(want, field))
    assert mdp.time_limit == want.time_limit == 20
    assert mdp.layout == want.layout and mdp.action_arrows == want.action_arrows
    assert E.to_gymnasium_P(mdp) == env.unwrapped.P
    # a continuing task: only the time limit ends an episode
    env.reset(seed=0)
    for t in range(20):
        _, _, term, trunc, _ = env.step(int(env.action_space.sample()))
        assert not term and trunc == (t == 19)
    short = gym.make(env_id, max_episode_steps=3, **kwargs)
    short.reset(seed=0)
    assert [short.step(0)[3] for _ in range(3)] == [False, False, True]


# -- the oracle and the agent ---------------------------------------------------------------------


def test_optimal_policies() -> None:
    for c in (1.0, 1e-4):
        swim = C.river_swim(reward_scale=c)
        pi = E.greedy(E.value_iteration(swim, 0.95, tol=1e-6 * c))
        np.testing.assert_array_equal(pi, np.ones(6, np.int32))  # always right (upstream)
        assert E.render_policy(swim, pi) == "→" * 6
    long = C.river_swim(n_states=12)
    np.testing.assert_array_equal(E.greedy(E.value_iteration(long, 0.95)), np.ones(12))
    arms = C.six_arms()
    q = E.value_iteration(arms, 0.95)
    pi = E.greedy(q)
    np.testing.assert_array_equal(pi, [5, 4, 0, 0, 0, 4, 5])
    assert E.render_policy(arms, pi) == "6511156"
    v = np.asarray(q).max(-1)
    assert v[6] == pytest.approx(6000 / 0.05, rel=1e-4)
    assert v[5] == pytest.approx(1660 / 0.05, rel=1e-4)
    # the hub's value: keep trying arm 6, V = 0.95 (0.01 V6 + 0.99 V)
    assert v[0] == pytest.approx(0.95 * 0.01 * 120_000 / (1 - 0.95 * 0.99), rel=1e-4)


@pytest.mark.parametrize("builder", [C.river_swim, C.six_arms])
def test_train_seeds_smoke(builder: Any) -> None:
    env = builder(time_limit=10)
    keys = jax.random.split(jax.random.key(0), 2)
    res = dq.train_seeds(env, dq.DynaQConfig(planning_steps=3), keys, n_episodes=3)
    lengths = np.asarray(res.episodes.lengths)
    assert lengths.shape == (2, 3) and np.all(lengths == 10)  # truncated, never terminated
    assert not np.any(np.asarray(res.episodes.success))
    assert np.all(np.isfinite(np.asarray(res.episodes.returns)))
    assert np.all(np.asarray(res.steps_done) == 30)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"river_swim: n_states must be an int >= 3"):
        C.river_swim(n_states=2)
    with pytest.raises(ValueError, match=r"river_swim: time_limit must be an int >= 1"):
        C.river_swim(time_limit=0)
    with pytest.raises(ValueError, match=r"six_arms: reward_scale must be finite and > 0"):
        C.six_arms(reward_scale=0.0)
    with pytest.raises(ValueError, match=r"six_arms: reward_scale must be finite and > 0"):
        C.six_arms(reward_scale=float("inf"))
    with pytest.raises(ValueError, match=r"river_swim: reward_scale must be a number"):
        C.river_swim(reward_scale=True)
