"""The compiled loop's env protocol: a table-free env trains in train, train_seeds and train_sweep;
TabularMDP and ChangingMDP implement the protocol; bad envs get errors naming what is wrong; what
needs tables says so.

Compile budget: one batched program (8 agents, 30 episodes on the slippery chain:
``chain_env.chain_seeds``, shared with the multi-process tests' reference) reused by
``train_sweep`` (2 configs x 4 seeds: the same 8 agents), one unbatched ``train``; everything
else traces or runs eagerly.
"""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynaq_jax as dq
from dynaq_jax.envs import blocking_maze, dyna_maze, step_changing
from dynaq_jax.envs.mdp import distinct_outcomes
from dynaq_jax.envs.protocol import JaxEnv, check_env, first_state, require_tables, transition
from tests.chain_env import N_EPISODES, SlipperyChain, chain, chain_seeds, config, keys

CFG = config()
N_EP = N_EPISODES
KEYS = keys()


def leaves_equal(x: Any, y: Any) -> None:
    for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_table_free_env_learns_the_optimal_policy_on_most_seeds() -> None:
    out = chain_seeds()
    q = np.asarray(out.state.q)
    assert q.shape == (8, 6, 2)
    right_everywhere = (q[:, :5].argmax(-1) == 1).all(-1)  # state 5 is the goal
    assert right_everywhere.sum() >= 6, right_everywhere
    # the same metrics as a table env: episodes recorded, success on termination with reward 1
    ep = out.episodes
    assert ep.lengths.shape == (8, N_EP) and bool(jnp.all(out.episodes_done == N_EP))
    assert bool(jnp.all(ep.success == ep.terminated))
    assert bool(jnp.all(ep.lengths[:, -5:] < 20))  # near the 5-step optimum at the end
    assert bool(jnp.all(ep.lengths <= 40))  # the time limit


def test_train_sweep_and_train_on_a_table_free_env_equal_train_seeds() -> None:
    out = chain_seeds()
    sweep = dq.train_sweep(
        chain(), dq.DynaQConfig.stack([CFG, CFG.replace(epsilon=0.3)]), KEYS[:4], N_EP
    )
    assert sweep.state.q.shape == (2, 4, 6, 2)
    leaves_equal(jax.tree.map(lambda x: x[0], sweep), jax.tree.map(lambda x: x[:4], out))
    one = dq.train(chain(), CFG, KEYS[5], N_EP)
    leaves_equal(one, jax.tree.map(lambda x: x[5], out))


def test_tabular_and_changing_mdps_implement_the_protocol() -> None:
    maze, changing, lake = (
        dyna_maze(),
        blocking_maze(switch_step=3),
        dq.from_gymnasium("FrozenLake-v1"),
    )
    key = jax.random.key(3)
    for env in (maze, changing, lake, chain()):
        assert isinstance(env, JaxEnv)
        assert check_env(env) is env
    assert (changing.n_states, changing.n_actions, changing.time_limit) == (54, 4, None)
    assert (lake.n_states, lake.n_actions, lake.time_limit) == (16, 4, 100)
    assert int(lake.reset(key)) == int(dq.envs.reset(lake, key)) == 0
    for s, a in ((0, 1), (5, 2), (14, 2)):
        leaves_equal(lake.step(key, s, a), dq.envs.step(lake, key, s, a))
    # the changing maze: step_at follows the global step, step is the world at step 0
    s_gap, up = 3 * 9 + 8, 0  # below the gap that closes: (3, 8) is a wall after the switch
    s_below = 4 * 9 + 8
    assert int(changing.step(key, s_below, up)[0]) == s_gap
    assert int(changing.step_at(key, 2, s_below, up)[0]) == s_gap
    assert int(changing.step_at(key, 3, s_below, up)[0]) == s_below
    leaves_equal(changing.step_at(key, 5, 0, 3), step_changing(changing, key, 5, 0, 3))
    assert int(first_state(changing, key)) == 5 * 9 + 3
    leaves_equal(transition(changing, key, 7, s_below, up), changing.step_at(key, 7, s_below, up))
    s, r, term = transition(chain(), key, 0, 4, 1)
    assert (s.dtype, r.dtype, term.dtype) == (jnp.int32, jnp.float32, jnp.bool_)


# -- bad envs -------------------------------------------------------------------------------------


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class SizeLeaf:
    """n_states is a pytree leaf: traced inside jit."""

    n_states: Any
    n_actions: int = dataclasses.field(default=2, metadata={"static": True})
    time_limit: int | None = dataclasses.field(default=None, metadata={"static": True})

    def reset(self, key: Any) -> Any:
        return jnp.zeros((), jnp.int32)

    def step(self, key: Any, s: Any, a: Any) -> Any:
        return jnp.asarray(s), jnp.float32(0), jnp.bool_(False)


class NotAPytree:
    n_states, n_actions, time_limit = 3, 2, None

    def reset(self, key: Any) -> Any:
        return jnp.zeros((), jnp.int32)

    def step(self, key: Any, s: Any, a: Any) -> Any:
        return jnp.asarray(s), jnp.float32(0), jnp.bool_(False)


def with_methods(**methods: Any) -> SlipperyChain:
    """A chain whose methods are replaced (a subclass, still a registered pytree)."""
    cls = type("Broken", (SlipperyChain,), methods)
    cls = jax.tree_util.register_dataclass(cls)
    env: SlipperyChain = cls(jnp.float32(0.1))
    return env


def test_env_missing_methods_or_attributes_is_named() -> None:
    @dataclasses.dataclass(frozen=True)
    class NoStep:
        n_states: int = 3

        def reset(self, key: Any) -> Any:
            return 0

    with pytest.raises(TypeError, match="NoStep has no n_actions, time_limit, step"):
        check_env(NoStep())
    with pytest.raises(TypeError, match="env must be a TabularMDP"):
        dq.train_seeds(NoStep(), CFG, KEYS, 2)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"env.step must be a method"):
        check_env(with_methods(step=3))


def test_traced_or_array_sizes_are_refused() -> None:
    with pytest.raises(TypeError, match=r"env.n_states is an array .* static Python int"):
        check_env(SizeLeaf(jnp.int32(3)))

    @jax.jit
    def inside(env: SizeLeaf) -> Any:
        check_env(env)
        return env.n_states

    with pytest.raises(TypeError, match=r"env.n_states is an array"):
        inside(SizeLeaf(jnp.int32(3)))
    with pytest.raises(TypeError, match=r"env.n_states must be an int, got 3.0"):
        check_env(SizeLeaf(3.0))
    with pytest.raises(ValueError, match=r"env.n_states=0 must lie in \[1, "):
        check_env(SizeLeaf(0))
    with pytest.raises(ValueError, match=r"env.time_limit=0 must lie"):
        check_env(chain(time_limit=0))
    with pytest.raises(TypeError, match=r"env.time_limit must be an int or None, got True"):
        check_env(chain(time_limit=True))


def test_non_pytree_envs_and_wrong_outputs_are_refused() -> None:
    with pytest.raises(TypeError, match="NotAPytree is not a JAX pytree"):
        check_env(NotAPytree())
    bad_reset = with_methods(reset=lambda self, key: jnp.float32(0))
    with pytest.raises(TypeError, match=r"env.reset\(key\) must be an integer scalar"):
        check_env(bad_reset)
    two = with_methods(step=lambda self, key, s, a: (s, jnp.float32(0)))
    with pytest.raises(TypeError, match=r"must return \(s_next, reward, terminated\)"):
        check_env(two)
    vector = with_methods(step=lambda self, key, s, a: (jnp.zeros(2, jnp.int32), 0.0, False))
    with pytest.raises(TypeError, match="s_next must be an integer scalar, got shape \\(2,\\)"):
        check_env(vector)
    flag = with_methods(step=lambda self, key, s, a: (s, jnp.float32(0), jnp.float32(0)))
    with pytest.raises(TypeError, match="terminated must be a bool scalar"):
        check_env(flag)
    crash = with_methods(step=lambda self, key, s: s)
    with pytest.raises(TypeError, match=r"env.step\(key, s, a\) failed while tracing"):
        check_env(crash)


def test_what_needs_tables_says_so() -> None:
    env = chain()
    with pytest.raises(TypeError, match="value_iteration needs the env's transition tables"):
        dq.value_iteration(env, 0.9)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"success_probability needs .* table-free env"):
        dq.success_probability(env, jnp.zeros(6, jnp.int32), 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="optimal_success_probability needs"):
        dq.optimal_success_probability(env)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="distinct_outcomes needs the env's transition tables"):
        distinct_outcomes(env)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"pass env.before or env.after"):
        require_tables("value_iteration", blocking_maze())
    assert require_tables("x", dyna_maze()).n_states == 54
