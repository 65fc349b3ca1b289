"""The adapters: gymnax and gymnasium functional envs as envs of the protocol, and any protocol env
as an ordinary gymnasium env.

Without the optional packages (CI installs only ``.[dev]``), the adapters run on small stand-ins
written in gymnax's and gymnasium's functional conventions: the slippery chain, whose every
outcome must equal ``tests.chain_env.SlipperyChain``'s for the same key. With gymnax (the
``gymnax`` extra) and flax (which ``gymnasium.envs.tabular`` imports), the real envs are checked
against gymnasium's own tables and trained compiled, in distribution against the host loop.
"""

import dataclasses
import math
from typing import Any, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnasium import spaces
from gymnasium.experimental.functional import FuncEnv
from gymnasium.utils.env_checker import check_env as gym_check_env
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers import TimeLimit

import dynaq_jax as dq
from dynaq_jax.envs import blocking_maze
from dynaq_jax.envs.adapters import (
    FunctionalEnv,
    GymnaxEnv,
    ProtocolGymEnv,
    as_gymnasium,
    from_functional,
    from_gymnax,
)
from dynaq_jax.envs.protocol import check_env
from dynaq_jax.gym_loop import train as host_train
from dynaq_jax.gym_loop import train_vector
from tests.chain_env import chain

CFG = dq.DynaQConfig(planning_steps=3)


def chain_outcome(key: Any, pos: Any, a: Any, slip: Any, n: int) -> tuple[Any, Any, Any]:
    """The slippery chain's step, as ``SlipperyChain.step`` computes it."""
    flip = jax.random.uniform(key) < slip
    d = jnp.where((jnp.asarray(a) == 1) ^ flip, 1, -1)
    s_next = jnp.clip(jnp.asarray(pos, jnp.int32) + d, 0, n - 1).astype(jnp.int32)
    goal = s_next == n - 1
    return s_next, goal.astype(jnp.float32), goal


# -- stand-ins in gymnax's and gymnasium's functional conventions ---------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GxState:
    time: Any
    pos: Any


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GxParams:
    slip: Any = 0.1
    max_steps_in_episode: int = 40


class GymnaxChain:
    """The slippery chain as a gymnax ``Environment`` (reset_env/step_env, params)."""

    n = 6

    @property
    def default_params(self) -> GxParams:
        return GxParams()

    def reset_env(self, key: Any, params: GxParams) -> tuple[Any, GxState]:
        state = GxState(time=0, pos=jnp.zeros((), jnp.int32))
        return state.pos, state

    def step_env(self, key: Any, state: GxState, action: Any, params: GxParams) -> Any:
        s_next, r, term = chain_outcome(key, state.pos, action, params.slip, self.n)
        new = GxState(time=state.time + 1, pos=s_next)
        return s_next, new, r, term, {}

    def observation_space(self, params: GxParams) -> spaces.Discrete:
        return spaces.Discrete(self.n)

    def action_space(self, params: GxParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(2)


class FState(NamedTuple):
    pos: Any


class FunctionalChain(FuncEnv):  # type: ignore[misc]
    """The slippery chain as a gymnasium ``FuncEnv`` (slip 0.1, no params)."""

    observation_space = spaces.Box(low=0, high=5, shape=(1,), dtype=np.int32)
    action_space = spaces.Discrete(2)

    def initial(self, rng: Any, params: Any = None) -> FState:
        return FState(pos=jnp.zeros((1,), jnp.int32))

    def transition(self, state: FState, action: Any, rng: Any, params: Any = None) -> FState:
        s_next, _, _ = chain_outcome(rng, state.pos[0], action, 0.1, 6)
        return FState(pos=s_next.reshape(1))

    def observation(self, state: FState, rng: Any, params: Any = None) -> Any:
        return state.pos

    def reward(self, state: FState, action: Any, nxt: FState, rng: Any, params: Any = None) -> Any:
        return (nxt.pos[0] == 5).astype(jnp.float32)

    def terminal(self, state: FState, rng: Any, params: Any = None) -> Any:
        return state.pos[0] == 5


def all_outcomes(env: Any, n_keys: int = 64) -> tuple[np.ndarray, ...]:
    """``env.step(key_i, s, a)`` for every state, action and key (one vmapped call)."""
    keys = jax.random.split(jax.random.key(5), n_keys)
    s = jnp.arange(env.n_states, dtype=jnp.int32)
    a = jnp.arange(env.n_actions, dtype=jnp.int32)
    f = jax.vmap(jax.vmap(jax.vmap(env.step, (None, None, 0)), (None, 0, None)), (0, None, None))
    return tuple(np.asarray(x) for x in jax.jit(f)(keys, s, a))


def test_gymnax_convention_adapter_equals_the_chain() -> None:
    env = from_gymnax(GymnaxChain())
    assert isinstance(env, GymnaxEnv) and check_env(env) is env
    assert (env.n_states, env.n_actions, env.time_limit, env.state_field) == (6, 2, 40, "pos")
    assert len(jax.tree.leaves(env)) == 2  # the params are the leaves
    assert int(env.reset(jax.random.key(0))) == 0
    for got, want in zip(all_outcomes(env), all_outcomes(chain()), strict=True):
        np.testing.assert_array_equal(got, want)
    assert from_gymnax(GymnaxChain(), time_limit=None).time_limit is None
    slippery = from_gymnax(GymnaxChain(), GxParams(slip=jnp.float32(1.0)))
    s_next, _, _ = slippery.step(jax.random.key(1), 2, 1)
    assert int(s_next) == 1  # always slips


def test_functional_convention_adapter_equals_the_chain() -> None:
    env = from_functional(FunctionalChain(), time_limit=40)
    assert isinstance(env, FunctionalEnv) and check_env(env) is env
    assert (env.n_states, env.n_actions, env.time_limit, env.state_field) == (6, 2, 40, "pos")
    for got, want in zip(all_outcomes(env), all_outcomes(chain()), strict=True):
        np.testing.assert_array_equal(got, want)


def test_adapters_refuse_what_they_cannot_wrap() -> None:
    with pytest.raises(TypeError, match="not a gymnax Environment: it has no reset_env, step_env"):
        from_gymnax(object())
    with pytest.raises(TypeError, match="not a gymnasium FuncEnv: it has no initial"):
        from_functional(object())

    class BoxObs(GymnaxChain):
        def observation_space(self, params: GxParams) -> Any:
            return spaces.Box(0.0, 1.0, (2,))

    with pytest.raises(TypeError, match=r"the observation space .* is not discrete"):
        from_gymnax(BoxObs())

    class TwoFields(GymnaxChain):
        def reset_env(self, key: Any, params: GxParams) -> Any:
            return jnp.int32(0), FState2(jnp.int32(0), jnp.int32(0))

    with pytest.raises(ValueError, match=r"fields \['a', 'b'\]\); pass state_field=NAME"):
        from_gymnax(TwoFields())
    with pytest.raises(TypeError, match=r"env.time_limit must be an int or None"):
        from_gymnax(GymnaxChain(), time_limit="never")


class FState2(NamedTuple):
    a: Any
    b: Any


# -- the reverse direction ------------------------------------------------------------------------


def test_protocol_env_as_gymnasium_env() -> None:
    env = as_gymnasium(chain(slip=0.0))
    assert isinstance(env, TimeLimit) and isinstance(env.unwrapped, ProtocolGymEnv)
    gym_check_env(env.unwrapped, skip_render_check=True)
    assert env.observation_space == spaces.Discrete(6) and env.action_space == spaces.Discrete(2)
    assert env.reset(seed=3) == (0, {})
    for t in range(1, 41):  # always left: stays at 0 until the time limit truncates
        s, r, term, trunc, _ = env.step(0)
        assert (s, r, term) == (0, 0.0, False) and trunc == (t == 40)
    env.reset(seed=3)
    path = [env.step(1)[:3] for _ in range(5)]
    assert path[-1] == (5, 1.0, True) and [p[0] for p in path] == [1, 2, 3, 4, 5]
    no_limit = as_gymnasium(chain(time_limit=None))
    assert isinstance(no_limit, ProtocolGymEnv)
    with pytest.raises(ValueError, match="action 2 not in Discrete"):
        no_limit.reset(seed=0)
        no_limit.step(2)
    with pytest.raises(TypeError, match="env must be a TabularMDP"):
        as_gymnasium("chain")


def test_changing_maze_as_gymnasium_env_follows_the_global_step() -> None:
    env = as_gymnasium(blocking_maze(switch_step=2))
    s_below, up = 4 * 9 + 8, 0
    env.reset(seed=0, options={"global_step": 0})
    raw = env.unwrapped
    assert isinstance(raw, ProtocolGymEnv)
    raw.s = s_below
    assert env.step(up)[0] == 3 * 9 + 8  # before the switch (3, 8) is open
    raw.s = s_below
    env.step(up)
    raw.s = s_below
    assert env.step(up)[0] == s_below and raw.global_step == 3  # after it, a wall


def test_host_loop_runs_a_protocol_env() -> None:
    """The host loop on the chain as a gymnasium env: the time limit truncates (never terminates)
    and the agent mostly reaches the goal. (Against the compiled loop, 40 host seeds x 30 episodes
    agreed with 400 compiled seeds within 1.1 SE on mean length and success; not run here: the
    host loop steps the env from Python.)"""
    out = host_train(as_gymnasium(chain()), CFG, 15, seed=0)
    lengths = np.asarray(out.episodes.lengths)
    success, term = np.asarray(out.episodes.success), np.asarray(out.episodes.terminated)
    assert lengths.shape == (15,) and np.all(lengths <= 40)
    np.testing.assert_array_equal(lengths[~term], 40)  # truncated exactly at the limit
    assert np.array_equal(success, term) and success.mean() >= 0.5


# -- the real packages (optional) -----------------------------------------------------------------


def agree_in_distribution(host: dq.TrainResult, compiled: dq.TrainResult) -> None:
    """Per-seed means of success, episode length, return and final model size: ``|mean_host -
    mean_compiled| < 4 SE`` (``SE`` from the per-seed sample variances)."""

    def stats(res: dq.TrainResult) -> dict[str, np.ndarray]:
        ep = res.episodes
        return {
            "success": np.asarray(ep.success, np.float64).mean(-1),
            "length": np.asarray(ep.lengths, np.float64).mean(-1),
            "return": np.asarray(ep.returns, np.float64).mean(-1),
            "model_size": np.asarray(ep.model_size, np.float64)[:, -1],
        }

    sh, sc = stats(host), stats(compiled)
    for name in sh:
        h, c = sh[name], sc[name]
        se = math.sqrt(h.var(ddof=1) / h.size + c.var(ddof=1) / c.size) + 1e-9
        diff = abs(h.mean() - c.mean())
        assert diff < 4 * se, f"{name}: host {h.mean():.4f} compiled {c.mean():.4f} se {se:.4f}"


def test_gymnax_frozen_lake_dynamics_and_parity_with_the_host_loop() -> None:
    gymnax = pytest.importorskip("gymnax")
    gx_env, params = gymnax.make("FrozenLake-misc")
    env = from_gymnax(gx_env, params)
    assert (env.n_states, env.n_actions, env.time_limit, env.state_field) == (
        16,
        4,
        100,
        "position",
    )
    # dynamics: outcome frequencies against gymnasium's FrozenLake tables (non-terminal states)
    table = dq.from_gymnasium("FrozenLake-v1")
    probs = np.asarray(dq.envs.transition_matrix(table))
    n_keys = 3000
    s_next, reward, term = all_outcomes(env, n_keys)
    assert table.layout is not None
    frozen = [s for s, cell in enumerate("".join(table.layout)) if cell in "SF"]
    for s in frozen:
        for a in range(4):
            freq = np.bincount(s_next[:, s, a], minlength=16) / n_keys
            bound = 5 * np.sqrt(probs[s, a] * (1 - probs[s, a]) / n_keys) + 1e-9
            assert np.all(np.abs(freq - probs[s, a]) <= bound), (s, a, freq, probs[s, a])
            goal = s_next[:, s, a] == 15
            hole = np.isin(s_next[:, s, a], [5, 7, 11, 12])
            np.testing.assert_array_equal(term[:, s, a], goal | hole)
            np.testing.assert_array_equal(reward[:, s, a], goal.astype(np.float32))
    # training: compiled on the adapter against the host loop on the same env as a gymnasium env
    n_host, n_ep = 24, 30
    vec = SyncVectorEnv(
        [lambda: as_gymnasium(env) for _ in range(n_host)], autoreset_mode=AutoresetMode.NEXT_STEP
    )
    host = train_vector(vec, CFG, n_ep, seed=500)
    compiled = dq.train_seeds(env, CFG, jax.random.split(jax.random.key(1), 200), n_ep)
    agree_in_distribution(host, compiled)
    for res in (host, compiled):  # some episodes reach the goal in each
        assert float(np.asarray(res.episodes.success).mean()) > 0.0


def test_gymnasium_functional_cliff_walking_tables_and_parity_with_the_host_loop() -> None:
    pytest.importorskip("flax")  # gymnasium.envs.tabular imports it
    from gymnasium.envs.tabular.cliffwalking import CliffWalkingFunctional

    env = from_functional(CliffWalkingFunctional(), time_limit=200)
    assert (env.n_states, env.n_actions, env.time_limit, env.action_shape) == (48, 4, 200, (1,))
    assert int(env.reset(jax.random.key(0))) == 36
    # deterministic: every outcome from a standing cell equals gymnasium's toy-text tables
    table = dq.from_gymnasium("CliffWalking-v1")
    s_next, reward, term = all_outcomes(env, 1)
    standing = [s for s in range(48) if s == 36 or s < 36]
    for s in standing:
        for a in range(4):
            assert int(np.asarray(table.probs)[s, a, 0]) == 1
            want = (
                int(np.asarray(table.next_states)[s, a, 0]),
                float(np.asarray(table.rewards)[s, a, 0]),
                bool(np.asarray(table.terminated)[s, a, 0]),
            )
            assert (int(s_next[0, s, a]), float(reward[0, s, a]), bool(term[0, s, a])) == want
    # training: compiled on the functional env against the host loop on gymnasium's CliffWalking
    n_host, n_ep = 16, 15
    vec = gym.make_vec(
        "CliffWalking-v1",
        num_envs=n_host,
        vectorization_mode="sync",
        vector_kwargs={"autoreset_mode": AutoresetMode.NEXT_STEP},
        max_episode_steps=200,
    )
    host = train_vector(vec, CFG, n_ep, seed=900)
    compiled = dq.train_seeds(env, CFG, jax.random.split(jax.random.key(2), 200), n_ep)
    agree_in_distribution(host, compiled)
