"""Tests of dynaq_jax.gym_loop and its device call (dynaq_jax.host_call): the host loop on real
gymnasium envs, one agent or one per sub-env.

Compile budget: the packed device call compiles once per (layout, batched); the tests use one
config structure (``CFG``) and four such programs: FrozenLake (16 x 4) unbatched and vmapped over
``N_HOST`` sub-envs, the chain env (7 x 2) and the Dyna maze (54 x 4) unbatched; plus one
compiled ``train_seeds`` on FrozenLake for the distribution check, and the agent's own jitted
``step``/``act`` (16 x 4) for the step-by-step reference.
"""

import math
import warnings
from typing import Any, SupportsFloat, cast

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

from dynaq_jax import DynaQConfig, act, from_gymnasium, model_size, step, train_seeds
from dynaq_jax.agent import init
from dynaq_jax.gym_loop import train, train_vector
from dynaq_jax.host_call import (
    HOST_FIELDS,
    SMALL_BUFFER_BYTES,
    agent_call,
    float32_bits,
    host_matrix,
    host_vector,
    layout_of,
    pack,
    unpack,
)
from dynaq_jax.rng import split_key
from dynaq_jax.train import TrainResult

CFG = DynaQConfig(planning_steps=5)
N_HOST = 40  # sub-envs of the vector runs (= host seeds of the distribution check)


def assert_results_equal(x: TrainResult, y: TrainResult) -> None:
    """Every leaf equal, bit for bit (the agent state included)."""
    leaves_x, leaves_y = jax.tree.leaves(x), jax.tree.leaves(y)
    assert len(leaves_x) == len(leaves_y)
    for lx, ly in zip(leaves_x, leaves_y, strict=True):
        if jnp.issubdtype(lx.dtype, jax.dtypes.prng_key):
            lx, ly = jax.random.key_data(lx), jax.random.key_data(ly)
        np.testing.assert_array_equal(np.asarray(lx), np.asarray(ly))


def row(result: TrainResult, i: int) -> TrainResult:
    """Sub-env ``i`` of a batched result, as NumPy arrays (cheap to slice many times)."""
    out: TrainResult = jax.tree.map(lambda x: np.asarray(x)[i], result)
    return out


def check_metrics(res: TrainResult, n_episodes: int, limit: int | None) -> None:
    """Invariants of one agent's (unbatched) result of a completed run."""
    ep = res.episodes
    lengths = np.asarray(ep.lengths)
    assert lengths.shape == (n_episodes,)
    assert res.step_rewards is None
    assert int(res.episodes_done) == n_episodes
    assert np.all(lengths >= 1)
    if limit is not None:
        assert np.all(lengths <= limit)
    # every real step was learned from, once: real_steps is the sum of lengths
    assert int(res.steps_done) == int(lengths.sum()) == int(res.state.real_steps)
    success, term = np.asarray(ep.success), np.asarray(ep.terminated)
    assert not np.any(success & ~term)  # success implies termination
    if limit is not None:  # an episode that did not terminate was truncated at the limit
        assert np.all(lengths[~term] == limit)
    sizes = np.asarray(ep.model_size)
    assert np.all(np.diff(sizes) >= 0)
    assert sizes[-1] == int(model_size(res.state))


# -- a tiny env without P -------------------------------------------------------------------------


class Grid(gym.Env[int, int]):
    """A deterministic 4 x 4 grid without ``P``, observations and actions offset by ``start``.

    Cells ``s = 4 * row + col``; start 0; actions as FrozenLake's (0 left, 1 down, 2 right, 3 up),
    a move off the grid stays put. Entering ``TRAP`` terminates with reward -1, entering ``GOAL``
    terminates with reward +2, every other move gives +0.25: a truncated episode ends on a
    positive reward, and must still not count as a success. (16 states and 4 actions, as
    FrozenLake: the same compiled agent call.)
    """

    TRAP, GOAL = 5, 10

    def __init__(self, start: int = 0) -> None:
        self.observation_space = cast(spaces.Space[int], spaces.Discrete(16, start=start))
        self.action_space = cast(spaces.Space[int], spaces.Discrete(4, start=start))
        self.start = start
        self.s = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        super().reset(seed=seed)
        self.s = 0
        return self.s + self.start, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        row, col = divmod(self.s, 4)
        dr, dc = {0: (0, -1), 1: (1, 0), 2: (0, 1), 3: (-1, 0)}[int(action) - self.start]
        self.s = 4 * min(max(row + dr, 0), 3) + min(max(col + dc, 0), 3)
        if self.s == self.TRAP:
            return self.s + self.start, -1.0, True, False, {}
        if self.s == self.GOAL:
            return self.s + self.start, 2.0, True, False, {}
        return self.s + self.start, 0.25, False, False, {}


class Recorder(gym.Wrapper[int, int, int, int]):
    """Logs every ``(obs, reward, terminated)`` the env returns, split into episodes at reset."""

    def __init__(self, env: gym.Env[int, int]) -> None:
        super().__init__(env)
        self.episodes: list[list[tuple[int, float, bool]]] = []

    def reset(self, **kwargs: Any) -> tuple[int, dict[str, Any]]:
        self.episodes.append([])
        return self.env.reset(**kwargs)

    def step(self, action: int) -> tuple[int, SupportsFloat, bool, bool, dict[str, Any]]:
        out = self.env.step(action)
        self.episodes[-1].append((int(out[0]), float(out[1]), bool(out[2])))
        return out


def test_env_without_p_matches_an_independent_count() -> None:
    env = Recorder(Grid())
    assert not hasattr(env.unwrapped, "P")
    limit, n_ep = 6, 30
    res = train(env, CFG, n_ep, seed=3, max_episode_steps=limit)
    check_metrics(res, n_ep, limit)
    log = env.episodes
    assert len(log) == n_ep
    ep = res.episodes
    np.testing.assert_array_equal(ep.lengths, [len(e) for e in log])
    np.testing.assert_array_equal(ep.returns, [np.float32(sum(x[1] for x in e)) for e in log])
    np.testing.assert_array_equal(ep.terminated, [e[-1][2] for e in log])
    np.testing.assert_array_equal(ep.success, [e[-1][2] and e[-1][1] > 0 for e in log])
    term = np.asarray(ep.terminated)
    assert term.any() and (~term).any()  # both endings occur
    # truncated episodes end on a +0.25 reward: not terminated, not a success
    last_reward = np.array([e[-1][1] for e in log])
    assert np.all(last_reward[~term] == 0.25) and not np.any(np.asarray(ep.success)[~term])
    # truncation bootstraps: the agent marks as terminal only the states entered on termination
    entered_on_termination = sorted({s for e in log for s, _, done in e if done})
    assert set(entered_on_termination) <= {Grid.TRAP, Grid.GOAL}
    np.testing.assert_array_equal(
        np.flatnonzero(np.asarray(res.state.terminal)), entered_on_termination
    )


def test_time_limit_wrapper_equals_host_limit_and_space_offsets_are_handled() -> None:
    host = train(Grid(), CFG, 20, seed=5, max_episode_steps=4)
    wrapped = train(TimeLimit(Grid(), 4), CFG, 20, seed=5)
    assert_results_equal(host, wrapped)
    shifted = train(Grid(start=10), CFG, 20, seed=5, max_episode_steps=4)
    assert_results_equal(host, shifted)
    check_metrics(host, 20, 4)


def test_env_limit_below_override_warns() -> None:
    with pytest.warns(UserWarning, match="own time limit 3"):
        res = train(TimeLimit(Grid(), 3), CFG, 5, seed=0, max_episode_steps=10)
    check_metrics(res, 5, 3)


# -- gymnasium ids --------------------------------------------------------------------------------


def test_frozen_lake_id_same_seed_same_result() -> None:
    a = train("FrozenLake-v1", CFG, 25, seed=11)
    layouts = agent_call.cache_info().currsize
    b = train(gym.make("FrozenLake-v1"), CFG, 25, seed=11)
    c = train("FrozenLake-v1", CFG, 25, seed=12)
    # one compiled program for FrozenLake's layout, reused by every run (no new layout either)
    assert agent_call.cache_info().currsize == layouts
    call = agent_call(layout_of(init(16, 4, CFG), jax.random.key(0), CFG))
    assert call._cache_size() == 1  # type: ignore[attr-defined]
    assert_results_equal(a, b)
    assert not np.array_equal(a.episodes.lengths, c.episodes.lengths)
    for res in (a, c):
        check_metrics(res, 25, 100)
        ep = res.episodes
        # FrozenLake pays 1 only on reaching the goal, which terminates
        np.testing.assert_array_equal(ep.returns, np.asarray(ep.success, np.float32))


def test_registered_maze_id() -> None:
    # The first episodes are near-random walks (about 1700 steps in Sutton & Barto's Figure 8.2):
    # a short limit keeps this quick and exercises truncation on an env without a time limit.
    limit = 150
    res = train("dynaq_jax/DynaMaze-v0", CFG, 3, seed=0, max_episode_steps=limit)
    check_metrics(res, 3, limit)
    ep = res.episodes
    term = np.asarray(ep.terminated)
    np.testing.assert_array_equal(ep.success, term)  # the goal is the only termination, reward 1
    np.testing.assert_array_equal(ep.returns, term.astype(np.float32))
    assert np.all(np.asarray(ep.lengths)[term] >= 14)  # the shortest path
    assert res.state.q.shape == (54, 4)
    assert not np.asarray(res.state.terminal).any() or term.any()


def test_max_total_steps_stops_with_a_warning() -> None:
    with pytest.warns(UserWarning, match="max_total_steps=5"):
        res = train(Grid(), CFG, 100, seed=0, max_total_steps=5)
    assert int(res.steps_done) == 5 == int(res.state.real_steps)
    assert int(res.episodes_done) < 100
    assert np.all(np.asarray(res.episodes.lengths)[int(res.episodes_done) :] == 0)


def test_progress_bar(capsys: pytest.CaptureFixture[str]) -> None:
    train(Grid(), CFG, 3, seed=0, max_episode_steps=4, progress=True)
    assert "3/3" in capsys.readouterr().err


# -- errors ---------------------------------------------------------------------------------------


def test_non_discrete_spaces_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"CartPole-v1 has a Box observation space"):
        train("CartPole-v1", CFG, 1, seed=0)
    with pytest.raises(ValueError, match=r"CartPole-v1 has a Box observation space"):
        train(gym.make("CartPole-v1"), CFG, 1, seed=0)
    vec = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="sync")
    with pytest.raises(ValueError, match=r"CartPole-v1 has a Box observation space"):
        train_vector(vec, CFG, 1, seed=0)
    box_actions = Grid()
    box_actions.action_space = spaces.Box(-1.0, 1.0, (1,))  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"Grid has a Box action space"):
        train(box_actions, CFG, 1, seed=0)


@pytest.mark.parametrize("bad", [0, -2, 1.5, True, None, "3"])
def test_bad_n_episodes(bad: Any) -> None:
    with pytest.raises(ValueError, match="n_episodes must be a positive int"):
        train(Grid(), CFG, bad, seed=0)
    vec = SyncVectorEnv([Grid, Grid])
    with pytest.raises(ValueError, match="n_episodes must be a positive int"):
        train_vector(vec, CFG, bad, seed=0)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="max_episode_steps must be a positive int"):
        train(Grid(), CFG, 1, seed=0, max_episode_steps=0)
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        train(Grid(), CFG, 1, seed=-1)
    with pytest.raises(TypeError, match="env must be a gymnasium env"):
        train(42, CFG, 1, seed=0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"vec_env must be a gymnasium\.vector\.VectorEnv"):
        train_vector(Grid(), CFG, 1, seed=0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the host loop trains one config"):
        train(Grid(), DynaQConfig.stack([CFG, CFG]), 1, seed=0)


# -- vector envs ----------------------------------------------------------------------------------


def lake_vec(mode: AutoresetMode = AutoresetMode.NEXT_STEP) -> Any:
    return gym.make_vec(
        "FrozenLake-v1",
        num_envs=N_HOST,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": mode},
    )


@pytest.fixture(scope="module")
def lake_vec_short() -> TrainResult:
    """``N_HOST`` FrozenLake agents, 8 episodes each, gymnasium's default NEXT_STEP autoreset."""
    return train_vector(lake_vec(), CFG, 8, seed=100)


def test_vector_shapes_and_sub_env_i_is_train_with_seed_plus_i(
    lake_vec_short: TrainResult,
) -> None:
    res = lake_vec_short
    assert res.episodes.lengths.shape == (N_HOST, 8)
    assert res.state.q.shape == (N_HOST, 16, 4)
    np.testing.assert_array_equal(res.episodes_done, 8)
    assert res.step_rewards is None
    for i in range(N_HOST):
        check_metrics(row(res, i), 8, 100)
    for i in range(3):
        assert_results_equal(row(res, i), train("FrozenLake-v1", CFG, 8, seed=100 + i))


def test_vector_autoreset_step_is_not_a_transition(lake_vec_short: TrainResult) -> None:
    st = lake_vec_short.state
    # real_steps counts the real transitions: the sum of episode lengths
    np.testing.assert_array_equal(
        st.real_steps, np.asarray(lake_vec_short.episodes.lengths).sum(-1)
    )
    # no transition out of a hole or the goal was learned (the reset step would be one)
    lake = from_gymnasium("FrozenLake-v1")
    ends = np.unique(np.asarray(lake.next_states)[np.asarray(lake.terminated)])
    assert np.asarray(st.visits)[:, ends].sum() == 0
    assert np.all(np.asarray(st.t_c)[:, ends] == CFG.t_c_prior)


@pytest.mark.parametrize("mode", [AutoresetMode.SAME_STEP, AutoresetMode.DISABLED])
def test_vector_autoreset_modes_agree(lake_vec_short: TrainResult, mode: AutoresetMode) -> None:
    assert_results_equal(train_vector(lake_vec(mode), CFG, 8, seed=100), lake_vec_short)


def test_vector_host_time_limit_resets_with_mask() -> None:
    res = train_vector(lake_vec(), CFG, 8, seed=7, max_episode_steps=5)
    for i in range(N_HOST):
        check_metrics(row(res, i), 8, 5)
    for i in range(2):
        assert_results_equal(
            row(res, i), train("FrozenLake-v1", CFG, 8, seed=7 + i, max_episode_steps=5)
        )


def test_vector_of_one_and_train_dispatch() -> None:
    single = train(Grid(), CFG, 6, seed=2, max_episode_steps=4)
    one = train(SyncVectorEnv([Grid]), CFG, 6, seed=2, max_episode_steps=4)
    assert one.episodes.lengths.shape == (1, 6)
    assert_results_equal(row(one, 0), single)


def test_vector_sub_envs_stop_learning_after_their_episodes() -> None:
    # sub-envs finish at different times; each stops at exactly n_episodes
    res = train_vector(lake_vec(AutoresetMode.SAME_STEP), CFG, 3, seed=1)
    lengths = np.asarray(res.episodes.lengths)
    assert len(set(lengths.sum(-1).tolist())) > 1
    np.testing.assert_array_equal(res.steps_done, lengths.sum(-1))
    np.testing.assert_array_equal(res.state.real_steps, lengths.sum(-1))


# -- host loop vs compiled loop -------------------------------------------------------------------


def test_host_and_compiled_loops_agree_in_distribution() -> None:
    """Per-seed means over a run of ``E`` episodes: success rate, episode length, final model size.

    Host: ``N_HOST`` seeds in gymnasium's FrozenLake (as one vector env: sub-env ``i`` equals
    ``train(seed + i)`` exactly, tested above). Compiled: 400 seeds of ``train_seeds`` on
    ``from_gymnasium("FrozenLake-v1")``. Bound: ``|mean_host - mean_compiled| < 4 * SE`` with
    ``SE = sqrt(var_host / n_host + var_compiled / n_compiled)`` (per-seed sample variances).
    """
    n_ep, n_compiled = 40, 400
    host = train_vector(lake_vec(), CFG, n_ep, seed=1000)
    lake = from_gymnasium("FrozenLake-v1")
    compiled = train_seeds(lake, CFG, jax.random.split(jax.random.key(0), n_compiled), n_ep)
    assert compiled.episodes.lengths.shape == (n_compiled, n_ep)
    assert host.episodes.lengths.shape == (N_HOST, n_ep)

    def stats(res: TrainResult) -> dict[str, np.ndarray]:
        ep = res.episodes
        return {
            "success": np.asarray(ep.success, np.float64).mean(-1),
            "length": np.asarray(ep.lengths, np.float64).mean(-1),
            "model_size": np.asarray(ep.model_size, np.float64)[:, -1],
        }

    sh, sc = stats(host), stats(compiled)
    for name in sh:
        h, c = sh[name], sc[name]
        se = math.sqrt(h.var(ddof=1) / h.size + c.var(ddof=1) / c.size)
        diff = abs(h.mean() - c.mean())
        assert diff < 4 * se, f"{name}: host {h.mean():.4f} compiled {c.mean():.4f} se {se:.4f}"
    assert sc["success"].mean() > 0.0 and sh["success"].mean() > 0.0


def test_no_warnings_on_a_plain_run() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        train(Grid(), CFG, 2, seed=0, max_episode_steps=4)


# -- the packed device call -----------------------------------------------------------------------


def reference_train(env: gym.Env[int, int], n_episodes: int, seed: int, limit: int) -> Any:
    """The host loop written out with the public agent functions, one jitted call each:
    ``key -> (key', k_plan, k_act)``, ``step`` on the transition, ``act`` on the next state."""
    split3 = jax.jit(lambda k: split_key(k, 3))
    sp = env.observation_space
    start = int(sp.start)  # type: ignore[attr-defined]
    agent = init(16, 4, CFG)
    key = jax.random.key(seed)
    obs, _ = env.reset(seed=seed)
    s = int(obs) - start
    key, _, k_act = split3(key)
    a = int(act(agent, k_act, s, CFG))
    lengths = []
    for _ in range(n_episodes):
        t = 0
        while True:
            obs, r, term, trunc, _ = env.step(a + start)
            s_next, t = int(obs) - start, t + 1
            s_act = s_next
            done = term or trunc or t >= limit
            if done:
                obs, _ = env.reset()
                s_act = int(obs) - start
            key_next, k_plan, k_act = split3(key)
            agent = step(agent, k_plan, s, a, np.float32(r), s_next, bool(term), CFG)
            a, s, key = int(act(agent, k_act, s_act, CFG)), s_act, key_next
            if done:
                lengths.append(t)
                break
    return agent, lengths


def test_host_loop_is_the_agent_functions_step_by_step() -> None:
    res = train(Grid(start=2), CFG, 6, seed=9, max_episode_steps=5)
    agent, lengths = reference_train(Grid(start=2), 6, seed=9, limit=5)
    np.testing.assert_array_equal(res.episodes.lengths, lengths)
    for x, y in zip(jax.tree.leaves(res.state), jax.tree.leaves(agent), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


@pytest.mark.parametrize(
    ("config", "n_states", "n_actions", "batch"),
    [
        (CFG, 16, 4, N_HOST),  # FrozenLake's layout: the loop tests' compiled pack and unpack
        (DynaQConfig(outcome_slots=2), 5, 3, 0),
        (DynaQConfig(planner="sweeping", model="deterministic"), 5, 3, 0),
    ],
)
def test_pack_unpack_is_exact(
    config: DynaQConfig, n_states: int, n_actions: int, batch: int
) -> None:
    agent = init(n_states, n_actions, config)
    # every leaf its own bit pattern: random bits of the leaf's dtype (bools too)
    leaves, treedef = jax.tree.flatten(agent)
    rng = np.random.default_rng(0)
    filled = [
        np.asarray(rng.integers(0, 2, x.shape), x.dtype)
        if x.dtype == np.bool_
        else rng.integers(-(2**31), 2**31, x.shape, np.int64).astype(np.int32).view(x.dtype)
        for x in leaves
    ]
    agent = jax.tree.unflatten(treedef, [jnp.asarray(x) for x in filled])
    key = jax.random.key(12345)
    layout = layout_of(agent, key, config)
    assert set(layout.buffer_dtypes) == {np.dtype(np.float32), np.dtype(np.int32)}
    assert sum(layout.buffer_sizes) == sum(x.size for x in filled) + 2  # + the key's two words
    # buffers of at most SMALL_BUFFER_BYTES, unless one leaf alone is larger
    for b, (dtype, size) in enumerate(zip(layout.buffer_dtypes, layout.buffer_sizes, strict=True)):
        held = [s for s in layout.slots if s.buffer == b]
        assert size * dtype.itemsize <= SMALL_BUFFER_BYTES or len(held) == 1
        assert sum(s.size for s in held) == size
    one_each = layout_of(agent, key, config, buffer_bytes=None)
    assert len(one_each.buffer_sizes) == 2 <= len(layout.buffer_sizes)
    back, key_back = unpack(layout, pack(layout, agent, key))
    for x, y in zip(jax.tree.leaves(back), filled, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        np.testing.assert_array_equal(
            np.asarray(x).reshape(-1).view(np.uint8), y.reshape(-1).view(np.uint8)
        )
    np.testing.assert_array_equal(jax.random.key_data(key_back), jax.random.key_data(key))
    if not batch:
        return
    # batched: agent i of the stack comes back as row i
    keys = jax.random.split(key, batch)
    stacked = jax.tree.map(lambda x: jnp.stack([x] * batch), agent)
    back3, keys3 = unpack(layout, pack(layout, stacked, keys, batched=True), batched=True)
    for x, y in zip(jax.tree.leaves(back3), jax.tree.leaves(stacked), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    np.testing.assert_array_equal(jax.random.key_data(keys3), jax.random.key_data(keys))


@pytest.mark.parametrize(
    "r", [0.0, -0.0, 1.0, -1.5, 0.1, 1 / 3, 1e-45, 1e-40, -3.4028234663852886e38, 2.5e-8]
)
def test_reward_bits_are_float32s(r: float) -> None:
    bits = float32_bits(r)
    assert bits == int(np.float32(r).view(np.int32))
    host = host_vector(3, 1, r, 4, True, False, 2, True)
    assert host.dtype == np.int32 and host.shape == (len(HOST_FIELDS),)
    np.testing.assert_array_equal(host, [3, 1, 4, 1, 0, 2, 1, bits])
    rows = host_matrix(*(np.array([v, v]) for v in (3, 1, r, 4, True, False, 2, True)))
    np.testing.assert_array_equal(rows, [host, host])


class Hands(gym.Wrapper[Any, Any, Any, Any]):
    """The grid, its step's values replaced by ``values``."""

    def __init__(self, **values: Any) -> None:
        super().__init__(Grid())
        self.values = values

    def step(self, action: Any) -> Any:
        obs, r, term, trunc, info = self.env.step(action)
        v = self.values
        return v.get("obs", obs), v.get("r", r), v.get("term", term), v.get("trunc", trunc), info


def test_the_boundary_takes_numpy_values_as_python_ones() -> None:
    numpy_values = Hands(obs=np.int64(3), r=np.float32(0.5), term=np.bool_(False))
    python_values = Hands(obs=3, r=0.5, term=False)
    assert_results_equal(
        train(numpy_values, CFG, 2, seed=1, max_episode_steps=3),
        train(python_values, CFG, 2, seed=1, max_episode_steps=3),
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"obs": 16}, r"observation 16, outside its space"),
        ({"obs": -1}, r"observation -1, outside its space"),
        ({"obs": True}, r"observation True \(bool\)"),
        ({"r": math.nan}, r"reward nan: rewards must be finite in float32"),
        ({"r": -1e39}, r"reward -1e\+39: rewards must be finite in float32"),
        ({"r": True}, r"reward True: not a real number"),
        ({"term": 0}, r"terminated=0: it must be a bool"),
        ({"trunc": None}, r"truncated=None: it must be a bool"),
    ],
)
def test_the_boundary_rejects_what_the_env_should_not_return(
    values: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        train(Hands(**values), CFG, 1, seed=0)
