"""Tests of dynaq_jax.envs: gymnasium tables, sampling, parity, mazes, registration, errors.

Compile budget: ``step`` compiles once per table shape; the shapes used here are few (FrozenLake
4x4 K=3 and K=1, 8x8, 3x3 custom, CliffWalking, Taxi, the 6x9 maze), and hypothesis strategies keep
shapes fixed.
"""

import dataclasses
import re
from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.envs.toy_text.frozen_lake import MAPS, generate_random_map
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings
from hypothesis import strategies as st

from dynaq_jax import envs as E
from dynaq_jax.envs import mazes as M
from dynaq_jax.envs.convert import FROZEN_LAKE_ARROWS
from tests.conftest import Variant

# -- tables equal gymnasium's P ------------------------------------------------------------------

GYM_CASES: list[tuple[str, dict[str, Any]]] = [
    ("FrozenLake-v1", {}),
    ("FrozenLake-v1", {"is_slippery": False}),
    ("FrozenLake-v1", {"map_name": "8x8"}),
    ("FrozenLake-v1", {"desc": ["SFH", "FFF", "HFG"]}),
    ("FrozenLake-v1", {"desc": generate_random_map(size=5, p=0.8, seed=3), "is_slippery": True}),
    ("FrozenLake-v1", {"is_slippery": True, "success_rate": 0.5}),
    ("FrozenLake8x8-v1", {}),
    ("CliffWalking-v1", {}),
    ("CliffWalkingSlippery-v1", {}),
    ("Taxi-v4", {}),
    ("Taxi-v4", {"is_rainy": True}),
]


def assert_tables_equal_p(mdp: E.TabularMDP, raw: Any) -> None:
    """Slot k of (s, a) is P[s][a][k] exactly (float32); slots beyond are zero-probability."""
    probs, ns = np.asarray(mdp.probs), np.asarray(mdp.next_states)
    rew, term = np.asarray(mdp.rewards), np.asarray(mdp.terminated)
    n_s, n_a, n_k = probs.shape
    assert n_s == raw.observation_space.n and n_a == raw.action_space.n
    assert n_k == max(len(raw.P[s][a]) for s in range(n_s) for a in range(n_a))
    for s in range(n_s):
        for a in range(n_a):
            outs = raw.P[s][a]
            for k, (p, s2, r, t) in enumerate(outs):
                assert probs[s, a, k] == np.float32(p)
                assert ns[s, a, k] == s2
                assert rew[s, a, k] == np.float32(r)
                assert term[s, a, k] == bool(t)
            assert np.all(probs[s, a, len(outs) :] == 0)
            assert np.all(~term[s, a, len(outs) :])
    np.testing.assert_array_equal(
        np.asarray(mdp.initial), np.asarray(raw.initial_state_distrib, np.float32)
    )


@pytest.mark.parametrize(("env_id", "kwargs"), GYM_CASES)
def test_tables_equal_gymnasium_p(env_id: str, kwargs: dict[str, Any]) -> None:
    gym_env = gym.make(env_id, **kwargs)
    mdp = E.from_gymnasium(env_id, **kwargs)
    assert_tables_equal_p(mdp, gym_env.unwrapped)
    assert mdp.time_limit == gym_env.spec.max_episode_steps
    assert mdp.name == env_id
    # the inverse drops only the padding
    back = E.to_gymnasium_P(mdp)
    raw_p = gym_env.unwrapped.P
    for s in back:
        for a in back[s]:
            want = [
                (float(np.float32(p)), int(s2), float(r), bool(t)) for p, s2, r, t in raw_p[s][a]
            ]
            assert back[s][a] == want


def test_from_env_instance_and_metadata() -> None:
    env = gym.make("FrozenLake-v1", map_name="8x8", is_slippery=False)
    mdp = E.from_gymnasium(env)
    assert mdp.layout == tuple(MAPS["8x8"])
    assert mdp.time_limit == 100  # the id's limit, not the 8x8 map's
    assert mdp.action_arrows == FROZEN_LAKE_ARROWS
    assert E.from_gymnasium("FrozenLake8x8-v1").time_limit == 200
    assert E.from_gymnasium("Taxi-v4").time_limit == 200
    cliff = E.from_gymnasium("CliffWalking-v1")
    assert cliff.time_limit is None
    assert cliff.layout is not None and cliff.layout[-1] == "S" + "C" * 10 + "G"
    # unwrapped env without a spec: explicit initial distribution overrides
    raw = gym.make("FrozenLake-v1").unwrapped
    init = np.zeros(16, np.float32)
    init[4] = 1.0
    assert int(np.argmax(E.from_gymnasium(raw, initial=init).initial)) == 4


# -- sampling ------------------------------------------------------------------------------------


def test_inverse_cdf_thresholds() -> None:
    w = jnp.array([0.25, 0.0, 0.5, 0.25, 0.0])
    u = jnp.array([0.0, 0.2499, 0.25, 0.7499, 0.75, 0.9999999])
    np.testing.assert_array_equal(E.inverse_cdf(jnp.broadcast_to(w, (6, 5)), u), [0, 0, 2, 2, 3, 3])


@pytest.fixture(scope="module")
def slippery() -> E.TabularMDP:
    return E.from_gymnasium("FrozenLake-v1")


@pytest.mark.parametrize(("s", "a"), [(0, 0), (0, 3), (6, 1), (14, 2), (5, 0)])
def test_step_frequencies_match_p(slippery: E.TabularMDP, s: int, a: int) -> None:
    """Empirical next-state / reward / termination frequencies within 5 sigma of P."""
    n = 20_000
    keys = jax.random.split(jax.random.key(s * 4 + a), n)
    s_next, r, term = jax.vmap(E.step, in_axes=(None, 0, None, None))(slippery, keys, s, a)
    raw = gym.make("FrozenLake-v1").unwrapped
    expected: dict[tuple[int, float, bool], float] = {}
    for p, s2, rr, t in raw.P[s][a]:
        key = (int(s2), float(rr), bool(t))
        expected[key] = expected.get(key, 0.0) + p
    got: dict[tuple[int, float, bool], int] = {}
    for triple in zip(np.asarray(s_next), np.asarray(r), np.asarray(term), strict=True):
        key = (int(triple[0]), float(triple[1]), bool(triple[2]))
        got[key] = got.get(key, 0) + 1
    assert set(got) <= set(expected)
    for key, p in expected.items():
        sigma = np.sqrt(p * (1 - p) / n)
        assert abs(got.get(key, 0) / n - p) <= 5 * sigma + 1e-12, (key, got.get(key, 0) / n, p)


def test_reset_matches_initial() -> None:
    taxi = E.from_gymnasium("Taxi-v4")
    n = 30_000
    s0 = jax.vmap(E.reset, in_axes=(None, 0))(taxi, jax.random.split(jax.random.key(1), n))
    counts = np.bincount(np.asarray(s0), minlength=taxi.n_states) / n
    p = np.asarray(taxi.initial, np.float64)
    assert np.all(counts[p == 0] == 0)
    sigma = np.sqrt(p * (1 - p) / n)
    assert np.all(np.abs(counts - p) <= 5 * sigma + 1e-12)


def _random_lakes() -> list[E.TabularMDP]:
    maps = [generate_random_map(size=4, p=0.7, seed=i) for i in range(3)]
    return [E.from_gymnasium("FrozenLake-v1", desc=m) for m in maps]


STEP_KEYS = jax.random.split(jax.random.key(7), 3)
STEP_S = jnp.array([0, 5, 9])
STEP_A = jnp.array([1, 2, 3])


def test_step_variants_agree(variant: Variant) -> None:
    """``step`` eagerly, under ``jit`` and under ``vmap`` equals the plain call."""
    for i, env in enumerate(_random_lakes()):
        args = (env, STEP_KEYS[i], int(STEP_S[i]), int(STEP_A[i]))
        plain = E.step(*args)
        got = variant(E.step)(*args)
        for x, y in zip(plain, got, strict=True):
            assert x == y


def test_vmap_over_stacked_envs() -> None:
    envs = _random_lakes()
    stacked = E.stack_mdps(envs)
    assert stacked.layout is None and stacked.probs.shape == (3, 16, 4, 3)
    batched = jax.vmap(E.step)(stacked, STEP_KEYS, STEP_S, STEP_A)
    for i, env in enumerate(envs):
        eager = E.step(env, STEP_KEYS[i], int(STEP_S[i]), int(STEP_A[i]))
        for x, z in zip(eager, batched, strict=True):
            assert x == z[i]
    s0 = jax.vmap(E.reset)(stacked, STEP_KEYS)
    want = [int(E.reset(e, k)) for e, k in zip(envs, STEP_KEYS, strict=True)]
    np.testing.assert_array_equal(s0, want)
    with pytest.raises(ValueError, match="time_limit"):
        E.stack_mdps([envs[0], dataclasses.replace(envs[0], time_limit=None)])
    with pytest.raises(ValueError, match="shape"):
        E.stack_mdps([envs[0], E.from_gymnasium("FrozenLake8x8-v1")])


# -- parity with gymnasium where deterministic ---------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "kwargs"),
    [("FrozenLake-v1", {"is_slippery": False}), ("CliffWalking-v1", {}), ("Taxi-v4", {})],
)
def test_parity_with_gymnasium(env_id: str, kwargs: dict[str, Any]) -> None:
    gym_env = gym.make(env_id, **kwargs)
    mdp = E.from_gymnasium(env_id, **kwargs)
    rng = np.random.default_rng(0)
    actions = rng.integers(0, mdp.n_actions, size=300)
    key = jax.random.key(0)
    s_gym, _ = gym_env.reset(seed=0)
    s = int(s_gym)
    for t, a in enumerate(actions):
        s_gym, r_gym, term_gym, trunc_gym, _ = gym_env.step(int(a))
        s_next, r, term = E.step(mdp, jax.random.fold_in(key, t), s, int(a))
        assert (int(s_next), float(r), bool(term)) == (int(s_gym), float(r_gym), bool(term_gym))
        s = int(s_next)
        if term_gym or trunc_gym:
            s_gym, _ = gym_env.reset()
            s = int(s_gym)


# -- hypothesis invariants -----------------------------------------------------------------------

_ALL_S = jnp.repeat(jnp.arange(16), 4)
_ALL_A = jnp.tile(jnp.arange(4), 16)


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    p=st.floats(0.5, 0.95),
    slip=st.booleans(),
    key=st.integers(0, 2**16),
)
def test_random_frozen_lake_invariants(seed: int, p: float, slip: bool, key: int) -> None:
    desc = generate_random_map(size=4, p=p, seed=seed)
    mdp = E.from_gymnasium("FrozenLake-v1", desc=desc, is_slippery=slip)
    assert_tables_equal_p(mdp, gym.make("FrozenLake-v1", desc=desc, is_slippery=slip).unwrapped)
    np.testing.assert_allclose(np.asarray(mdp.probs).sum(-1), 1.0, atol=1e-6)
    keys = jax.random.split(jax.random.key(key), 64)
    s_next, r, _ = jax.vmap(E.step, in_axes=(None, 0, 0, 0))(mdp, keys, _ALL_S, _ALL_A)
    assert np.all((np.asarray(s_next) >= 0) & (np.asarray(s_next) < 16))
    assert set(np.unique(np.asarray(r))) <= {0.0, 1.0}
    # the sampled outcome is one that P lists, with positive probability
    probs, ns = np.asarray(mdp.probs), np.asarray(mdp.next_states)
    for i in range(64):
        s, a = int(_ALL_S[i]), int(_ALL_A[i])
        assert int(s_next[i]) in ns[s, a][probs[s, a] > 0]
    prob = E.success_probability(mdp, jnp.zeros(16, jnp.int32), 20)
    assert 0.0 <= float(prob) <= 1.0


def bfs_distances(mdp: E.TabularMDP, start: int) -> dict[int, int]:
    """Steps from ``start`` to every reachable state, over positive-probability outcomes."""
    probs, ns = np.asarray(mdp.probs), np.asarray(mdp.next_states)
    dist = {start: 0}
    queue = deque([start])
    while queue:
        s = queue.popleft()
        for a in range(mdp.n_actions):
            for k in np.nonzero(probs[s, a] > 0)[0]:
                s2 = int(ns[s, a, k])
                if s2 not in dist:
                    dist[s2] = dist[s] + 1
                    queue.append(s2)
    return dist


@settings(max_examples=15, deadline=None)
@given(cells=st.lists(st.sampled_from(".#"), min_size=20, max_size=20), seed=st.integers(0, 19))
def test_random_grid_maze_value_matches_bfs(cells: list[str], seed: int) -> None:
    """On a 4x5 maze, ``V*(s) = gamma^(d(s) - 1)`` for the BFS distance ``d`` to the goal."""
    start, goal = seed, (seed + 7) % 20
    cells[start], cells[goal] = "S", "G"
    rows = ["".join(cells[r * 5 : r * 5 + 5]) for r in range(4)]
    mdp = E.grid_maze(rows)
    v = np.asarray(E.value_iteration(mdp, 0.9)).max(-1)
    for s in range(20):
        if cells[s] in "#G":
            continue
        d = bfs_distances(mdp, s).get(goal)
        want = 0.0 if d is None else 0.9 ** (d - 1)
        assert abs(v[s] - want) < 1e-5, (rows, s, d, v[s])


# -- the Sutton & Barto mazes --------------------------------------------------------------------


def test_dyna_maze_layout() -> None:
    maze = E.dyna_maze()
    assert maze.n_states == 54 and maze.n_actions == 4 and maze.max_outcomes == 1
    assert maze.time_limit is None
    walls = {
        (r, c) for r, row in enumerate(maze.layout or ()) for c, ch in enumerate(row) if ch == "#"
    }
    assert walls == set(M.DYNA_MAZE_WALLS)
    assert maze.layout is not None and maze.layout[2][0] == "S" and maze.layout[0][8] == "G"
    assert int(np.argmax(maze.initial)) == 2 * 9 + 0
    # conventions: up from (2,0) -> (1,0); left stays; right into the wall at (2,2) from (2,1)
    key = jax.random.key(0)
    assert int(E.step(maze, key, 18, 0)[0]) == 9
    assert int(E.step(maze, key, 18, 2)[0]) == 18
    assert int(E.step(maze, key, 19, 3)[0]) == 19
    s_next, r, term = E.step(maze, key, 17, 0)  # (1,8) up -> goal (0,8)
    assert (int(s_next), float(r), bool(term)) == (8, 1.0, True)
    # terminated exactly on reaching the goal; reward 1 on entering it; the goal is absorbing
    ns = np.asarray(maze.next_states)
    np.testing.assert_array_equal(maze.terminated, ns == 8)
    entering = (ns == 8) & (np.arange(54) != 8)[:, None, None]
    np.testing.assert_array_equal(maze.rewards, entering.astype(np.float32))
    assert np.all(ns[8] == 8)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_dyna_maze_shortest_path(k: int) -> None:
    maze = E.dyna_maze(k)
    assert maze.probs.shape == (54 * k * k, 4, 1)
    start = int(np.argmax(maze.initial))
    assert start == (2 * k) * (9 * k)  # top-left cell of the start block (2k, 0)
    goal = 8 * k  # top-left cell of the goal block (0, 8k)
    assert maze.layout is not None and maze.layout[0][goal] == "G"
    assert bfs_distances(maze, start)[goal] == 14 * k
    v = E.value_iteration(maze, 0.95).max(-1)
    np.testing.assert_allclose(float(v[start]), 0.95 ** (14 * k - 1), rtol=1e-5)
    if k == 1:
        pi = E.greedy(E.value_iteration(maze, 0.95))
        np.testing.assert_allclose(float(E.policy_value(maze, pi, 0.95, 100)), 0.95**13, rtol=1e-5)
        assert float(E.success_probability(maze, pi, 14)) == pytest.approx(1.0)
        assert float(E.success_probability(maze, pi, 13)) == 0.0


def _walls(mdp: E.TabularMDP) -> set[tuple[int, int]]:
    rows = mdp.layout or ()
    return {(r, c) for r, row in enumerate(rows) for c, ch in enumerate(row) if ch == "#"}


def test_changing_maze_layouts() -> None:
    blocking, shortcut = E.blocking_maze(), E.shortcut_maze()
    assert blocking.switch_step == 1000 and shortcut.switch_step == 3000
    assert _walls(blocking.before) == {(3, c) for c in range(8)}
    assert _walls(blocking.after) == {(3, c) for c in range(1, 9)}
    assert _walls(shortcut.before) == {(3, c) for c in range(1, 9)}
    assert _walls(shortcut.after) == {(3, c) for c in range(1, 8)}
    for m in (blocking, shortcut):
        for mdp in (m.before, m.after):
            assert int(np.argmax(mdp.initial)) == 5 * 9 + 3
            assert mdp.layout is not None and mdp.layout[0][8] == "G"
    assert blocking.at(999) is blocking.before and blocking.at(1000) is blocking.after


def test_step_changing_switches_at_switch_step() -> None:
    key = jax.random.key(0)
    below_gap, gap = 4 * 9 + 8, 3 * 9 + 8  # (4,8) and (3,8)
    blocking = E.blocking_maze()
    assert int(E.step_changing(blocking, key, 999, below_gap, 0)[0]) == gap
    assert int(E.step_changing(blocking, key, 1000, below_gap, 0)[0]) == below_gap
    shortcut = E.shortcut_maze()
    assert int(E.step_changing(shortcut, key, 2999, below_gap, 0)[0]) == below_gap
    assert int(E.step_changing(shortcut, key, 3000, below_gap, 0)[0]) == gap
    ts = jnp.arange(995, 1005)
    out = jax.jit(jax.vmap(E.step_changing, in_axes=(None, None, 0, None, None)))(
        blocking, key, ts, below_gap, 0
    )
    np.testing.assert_array_equal(out[0], np.where(np.asarray(ts) >= 1000, below_gap, gap))
    # an agent standing on the blocking maze's old gap when it closes can walk out
    assert int(E.step(blocking.after, key, gap, 1)[0]) == below_gap


def test_grid_maze_and_maze_from_walls() -> None:
    mdp = E.maze_from_walls(2, 3, (0, 0), (1, 2), [(0, 1)], name="tiny", time_limit=7)
    assert mdp.layout == ("S#.", "..G") and mdp.time_limit == 7 and mdp.name == "tiny"
    assert bfs_distances(mdp, 0)[5] == 3
    scaled = E.scale_layout(("S#", ".G"), 2)
    assert scaled == ("S.##", "..##", "..G.", "....")


# -- errors --------------------------------------------------------------------------------------


class NoTableEnv(gym.Env[int, int]):
    """Discrete spaces but no ``P``."""

    def __init__(self, action_space: spaces.Space[Any] | None = None) -> None:
        self.observation_space = spaces.Discrete(3)
        self.action_space = action_space or spaces.Discrete(2)


class BoxActionEnv(NoTableEnv):
    """Discrete observations, Box actions, and a ``P``."""

    def __init__(self) -> None:
        super().__init__(spaces.Box(-1.0, 1.0, (1,)))
        self.P = {s: {0: [(1.0, s, 0.0, False)]} for s in range(3)}
        self.initial_state_distrib = np.array([1.0, 0.0, 0.0])


def test_gymnasium_errors() -> None:
    with pytest.raises(ValueError, match=r"unknown map_name '5x5'"):
        E.from_gymnasium("FrozenLake-v1", map_name="5x5")
    with pytest.raises(ValueError, match=r"ragged: row 1 'FF'"):
        E.from_gymnasium("FrozenLake-v1", desc=["SFF", "FF"])
    with pytest.raises(ValueError, match=r"invalid character 'X'"):
        E.from_gymnasium("FrozenLake-v1", desc=["SFF", "FXG"])
    with pytest.raises(ValueError, match=r"NoTableEnv has no transition table P"):
        E.from_gymnasium(NoTableEnv())
    with pytest.raises(
        ValueError, match=r"CartPole-v1 needs a Discrete observation space, got Box"
    ):
        E.from_gymnasium("CartPole-v1")
    with pytest.raises(ValueError, match=r"BoxActionEnv needs a Discrete action space, got Box"):
        E.from_gymnasium(BoxActionEnv())
    with pytest.raises(ValueError, match=r"need an env id"):
        E.from_gymnasium(gym.make("FrozenLake-v1"), is_slippery=False)
    with pytest.raises(ValueError, match=r"fickle_passenger"):
        E.from_gymnasium("Taxi-v4", fickle_passenger=True)
    with pytest.raises(ValueError, match=r"gymnasium.make\('NoSuchEnv-v0'\) failed"):
        E.from_gymnasium("NoSuchEnv-v0")
    no_init = NoTableEnv()
    no_init.P = {s: {a: [(1.0, s, 0.0, False)] for a in range(2)} for s in range(3)}
    with pytest.raises(ValueError, match=r"no initial_state_distrib; pass initial="):
        E.from_gymnasium(no_init)
    assert E.from_gymnasium(no_init, initial=[0.5, 0.5, 0.0]).n_states == 3


def test_maze_errors() -> None:
    walls = M.DYNA_MAZE_WALLS
    with pytest.raises(ValueError, match=r"start \(1, 2\) is inside a wall"):
        E.maze_from_walls(6, 9, (1, 2), (0, 8), walls)
    with pytest.raises(ValueError, match=r"goal \(0, 7\) is inside a wall"):
        E.maze_from_walls(6, 9, (2, 0), (0, 7), walls)
    with pytest.raises(ValueError, match=r"goal \(6, 0\) is off the 6 x 9 grid"):
        E.maze_from_walls(6, 9, (2, 0), (6, 0), walls)
    with pytest.raises(ValueError, match=r"ragged: row 1 '\.G'"):
        E.grid_maze(["S..", ".G"])
    with pytest.raises(ValueError, match=r"row 0 'S\.x' has invalid character 'x' at column 2"):
        E.grid_maze(["S.x", "..G"])
    with pytest.raises(ValueError, match=r"exactly one 'S', found 2"):
        E.grid_maze(["S.S", "..G"])
    with pytest.raises(ValueError, match=r"at least one 'G'"):
        E.grid_maze(["S..", "..."])
    with pytest.raises(ValueError, match=r"scale must be an int >= 1"):
        E.dyna_maze(0)


def test_out_of_range_indices(slippery: E.TabularMDP) -> None:
    key = jax.random.key(0)
    with pytest.raises(ValueError, match=r"s=16 is out of range \[0, 16\)"):
        E.step(slippery, key, 16, 0)
    with pytest.raises(ValueError, match=r"a=4 is out of range \[0, 4\)"):
        E.step(slippery, key, 0, 4)
    with pytest.raises(ValueError, match=r"s=-1 is out of range"):
        E.step(slippery, key, -1, 0)
    with pytest.raises(ValueError, match=r"scalar integer"):
        E.step(slippery, key, 1.5, 0)
    with pytest.raises(ValueError, match=r"s=54 is out of range"):
        E.step_changing(E.blocking_maze(), key, 0, 54, 0)


def test_render_policy() -> None:
    maze = E.dyna_maze()
    pi = E.greedy(E.value_iteration(maze, 0.95))
    text = E.render_policy(maze, pi)
    lines = text.split("\n")
    assert len(lines) == 6 and all(len(line) == 9 for line in lines)
    assert lines[2][0] == "S" and lines[0][8] == "G" and lines[1][2] == "#"
    assert set(text) <= set("↑↓←→SG#\n")
    fl = E.from_gymnasium("FrozenLake-v1")
    text = E.render_policy(fl, jnp.array([0, 1, 2, 3] * 4))
    assert text.split("\n") == ["S↓→↑", "←H→H", "←↓→H", "H↓→G"]
    with pytest.raises(ValueError, match=r"Taxi-v4 has no grid layout"):
        E.render_policy(E.from_gymnasium("Taxi-v4"), jnp.zeros(500, jnp.int32))
    with pytest.raises(ValueError, match=r"policy has 3 entries"):
        E.render_policy(fl, jnp.zeros(3, jnp.int32))


# -- gymnasium registration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env_id", "builder"),
    [
        ("dynaq_jax/DynaMaze-v0", E.dyna_maze),
        ("dynaq_jax/BlockingMaze-v0", lambda: E.blocking_maze().before),
        ("dynaq_jax/ShortcutMaze-v0", lambda: E.shortcut_maze().before),
    ],
)
def test_registered_mazes_round_trip(env_id: str, builder: Any) -> None:
    E.register_envs()  # idempotent
    env = gym.make(env_id)
    assert env.spec is not None and env.spec.max_episode_steps is None
    check_env(env.unwrapped, skip_render_check=True)
    mdp = E.from_gymnasium(env)
    want = builder()
    for field in ("probs", "next_states", "rewards", "terminated", "initial"):
        np.testing.assert_array_equal(getattr(mdp, field), getattr(want, field))
    assert mdp.layout == want.layout and mdp.action_arrows == want.action_arrows
    assert E.to_gymnasium_P(mdp) == env.unwrapped.P


def test_registered_maze_kwargs_and_time_limit() -> None:
    env = gym.make("dynaq_jax/DynaMaze-v0", scale=2, max_episode_steps=3)
    assert env.observation_space.n == 216
    s, _ = env.reset(seed=0)
    assert s == 4 * 18
    for _ in range(3):
        s, r, term, trunc, _ = env.step(2)  # left into the border: stays
    assert (s, r, term, trunc) == (4 * 18, 0.0, False, True)
    grid = gym.make("dynaq_jax/GridMaze-v0", layout=["SG"], render_mode="ansi")
    grid.reset(seed=1)
    assert grid.render() == "@G\n"
    assert grid.step(3)[:4] == (1, 1.0, True, False)


def _run(env: gym.Env[Any, Any], actions: list[int]) -> int:
    s = -1
    for a in actions:
        s = env.step(a)[0]
    return int(s)


def test_registered_blocking_maze_switches_at_global_step() -> None:
    to_below_gap = [3] * 5 + [0]  # (5,3) -> (5,8) -> (4,8): 6 steps
    for switch, want in ((6, 4 * 9 + 8), (7, 3 * 9 + 8)):
        env = gym.make("dynaq_jax/BlockingMaze-v0", switch_step=switch)
        env.reset(seed=0)
        # the 7th step (t = 6) goes up from (4,8): blocked iff t >= switch_step
        assert _run(env, [*to_below_gap, 0]) == want
    env = gym.make("dynaq_jax/BlockingMaze-v0", switch_step=8)
    raw = env.unwrapped
    env.reset(seed=0)
    _run(env, [2] * 5)
    assert raw.global_step == 5
    env.reset()  # the global count persists across episodes
    assert raw.global_step == 5 and raw.P[44][0] == [(1.0, 35, 0.0, False)]
    _run(env, [2] * 3)
    assert raw.global_step == 8 and raw.P[44][0] == [(1.0, 44, 0.0, False)]
    env.reset(options={"global_step": 0})
    assert raw.global_step == 0 and raw.P[44][0] == [(1.0, 35, 0.0, False)]


# -- the documentation's example runs ------------------------------------------------------------


def test_docs_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).resolve().parent.parent / "docs" / "envs.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)
    assert blocks
    for block in blocks:
        exec(compile(block, "docs/envs.md", "exec"), {})
    out = capsys.readouterr().out
    assert "(16, 4, 3)" in out and "0.74" in out and "S↑↑↑" in out
