"""Bad input at the core's host boundary: each gets a clear error naming the bad value.

One test per item of the reliability issue that the core owns (the CLI's and io's items have their
own files): batched states and stacked configs given to functions of one agent, a hand-built MDP
that breaks the axioms, values finite in float64 but not in float32, zero seeds, the step cap, and
unclear messages (a state of another model kind, a bare int as key, ``config=None``, absurd
``planning_steps``, gymnasium observations and flags that are not what a Discrete env returns).
"""

import warnings
from typing import Any

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynaq_jax as dq
from dynaq_jax import gym_loop

C = dq.DynaQConfig(planning_steps=3)
LAKE = dq.from_gymnasium("FrozenLake-v1")
KEY = jax.random.key(0)


def one() -> dq.DynaQState:
    return dq.init(16, 4, C)


def batch(n: int = 8) -> dq.DynaQState:
    return jax.vmap(lambda _: dq.init(16, 4, C))(jnp.arange(n))


# -- item 3: batched states and stacked configs --------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda st, c: dq.act(st, KEY, 1, c),
        lambda st, c: dq.update(st, 0, 1, 0.0, 2, False, c),
        lambda st, c: dq.model_update(st, 0, 1, 0.0, 2, False, c),
        lambda st, c: dq.plan(st, KEY, c),
        lambda st, c: dq.step(st, KEY, 0, 1, 0.0, 2, False, c),
    ],
)
def test_a_batched_state_is_rejected_with_a_pointer_to_vmap(call: Any) -> None:
    with pytest.raises(ValueError, match=r"batch of agents.*\(8, 16, 4\).*jax\.vmap"):
        call(batch(), C)
    stacked = dq.DynaQConfig.stack([C, C.replace(learning_rate=0.5)])
    with pytest.raises(ValueError, match=r"stacked sweep.*\(2,\).*jax\.vmap"):
        call(one(), stacked)


def test_act_on_a_batch_no_longer_returns_an_impossible_action() -> None:
    # before: an index check passed and JAX clamped: action 22 with 4 actions
    with pytest.raises(ValueError, match="batch of agents"):
        dq.act(batch(), KEY, 3, C)
    actions = jax.vmap(lambda st, k: dq.act(st, k, 3, C))(batch(), jax.random.split(KEY, 8))
    assert np.all((np.asarray(actions) >= 0) & (np.asarray(actions) < 4))


# -- item 4: a hand-built TabularMDP is validated ------------------------------------------------


def broken(**change: Any) -> dq.TabularMDP:
    tables = {
        "probs": LAKE.probs,
        "next_states": LAKE.next_states,
        "rewards": LAKE.rewards,
        "terminated": LAKE.terminated,
        "initial": LAKE.initial,
    }
    tables.update(change)
    return dq.TabularMDP(**tables, name="hand-built")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"probs": LAKE.probs * 0.5}, r"probs\[0, 0\] sums to 0\.5"),
        ({"rewards": LAKE.rewards.at[1, 2, 0].set(jnp.nan)}, r"rewards\[1, 2, 0\] = nan"),
        ({"next_states": LAKE.next_states.at[0, 0, 0].set(99)}, r"next_states\[0, 0, 0\] = 99"),
    ],
)
def test_a_broken_mdp_is_rejected_by_the_trainers_and_the_env_step(
    change: dict[str, Any], message: str
) -> None:
    env = broken(**change)
    with pytest.raises(ValueError, match=message):
        dq.train(env, C, KEY, n_episodes=2)
    with pytest.raises(ValueError, match=message):
        dq.train_seeds(env, C, jax.random.split(KEY, 2), n_episodes=2)
    with pytest.raises(ValueError, match=message):
        dq.envs.step(env, KEY, 0, 0)
    with pytest.raises(ValueError, match=message):
        dq.envs.reset(env, KEY)


def test_a_valid_mdp_still_steps_eagerly_and_under_vmap() -> None:
    s, _, _ = dq.envs.step(LAKE, KEY, 0, 0)
    assert 0 <= int(s) < 16
    out = jax.vmap(lambda k: dq.envs.step(LAKE, k, 0, 0)[0])(jax.random.split(KEY, 4))
    assert out.shape == (4,)


# -- item 5: finite in float64, infinite in float32 ----------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("optimism", 1e39),
        ("kappa", 1e300),
        ("t_c_prior", 1e-50),
        ("learning_rate", 1e39),
        ("theta", 1e39),
    ],
)
def test_config_values_that_overflow_or_underflow_float32(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=rf"DynaQConfig\.{field}"):
        dq.DynaQConfig(**{field: value})


def test_optimistic_value_and_dyna_q_plus_bonus_stay_finite() -> None:
    with pytest.raises(ValueError, match=r"optimism / \(1 - discount\) beyond float32"):
        dq.DynaQConfig(optimism=1e37, discount=0.999)
    with pytest.raises(ValueError, match=r"kappa \* sqrt\(tau\) overflows float32"):
        dq.DynaQConfig(kappa=1e35)
    dq.DynaQConfig(optimism=1e30, discount=0.9)  # large but representable: fine


@pytest.mark.parametrize("fn", [dq.update, dq.model_update])
def test_a_reward_of_1e39_is_rejected(fn: Any) -> None:
    with pytest.raises(ValueError, match=r"r=1e\+39 overflows float32"):
        fn(one(), 0, 1, 1e39, 2, False, C)
    with pytest.raises(ValueError, match=r"r=1e\+39 overflows float32"):
        dq.step(one(), KEY, 0, 1, 1e39, 2, False, C)


class Returns(gym.Wrapper[Any, Any, Any, Any]):
    """FrozenLake whose step returns the given reward / observation / flags instead."""

    def __init__(self, **override: Any) -> None:
        super().__init__(gym.make("FrozenLake-v1", is_slippery=False))
        self.override = override

    def step(self, action: Any) -> Any:
        obs, r, term, trunc, info = self.env.step(action)
        o = self.override
        return (
            o.get("obs", obs),
            o.get("reward", r),
            o.get("terminated", term),
            o.get("truncated", trunc),
            info,
        )


def test_a_gymnasium_reward_of_1e39_is_rejected() -> None:
    with pytest.raises(ValueError, match=r"reward 1e\+39.*finite in float32"):
        gym_loop.train(Returns(reward=1e39), C, n_episodes=1, seed=0)


# -- item 6: zero seeds --------------------------------------------------------------------------


@pytest.mark.parametrize("trainer", ["train_seeds", "train_sweep"])
def test_zero_keys_is_a_clear_error(trainer: str) -> None:
    keys = jax.random.split(KEY, 0)
    with pytest.raises(ValueError, match="keys is empty"):
        if trainer == "train_seeds":
            dq.train_seeds(LAKE, C, keys, n_episodes=2)
        else:
            dq.train_sweep(LAKE, dq.DynaQConfig.stack([C, C]), keys, n_episodes=2)


# -- item 7: max_total_steps ---------------------------------------------------------------------


@pytest.mark.parametrize("cap", [0, -5, 2**40, 2.5, True])
def test_max_total_steps_out_of_range_is_rejected(cap: Any) -> None:
    with pytest.raises(ValueError, match="max_total_steps"):
        dq.train(LAKE, C, KEY, n_episodes=2, max_total_steps=cap)


def test_a_run_stopped_by_max_total_steps_warns() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = dq.train(LAKE, C, KEY, n_episodes=50, max_total_steps=3)
    messages = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any("stopped at max_total_steps=3" in m for m in messages), messages
    assert int(result.episodes_done) < 50


# -- item 10: clearer messages -------------------------------------------------------------------


def test_a_state_of_another_model_kind_names_both_layouts() -> None:
    compact = C.replace(outcome_slots=2)
    with pytest.raises(ValueError, match=r"does not match the config.*SlotModel.*DenseModel"):
        dq.step(one(), KEY, 0, 1, 0.0, 2, False, compact)
    with pytest.raises(ValueError, match=r"does not match the config.*DenseModel.*SlotModel"):
        dq.step(dq.init(16, 4, compact), KEY, 0, 1, 0.0, 2, False, C)
    sweeping = C.replace(planner="sweeping")
    with pytest.raises(ValueError, match=r"does not match the config.*SweepQueue"):
        dq.plan(one(), KEY, sweeping)


def test_one_int_as_the_key_of_train() -> None:
    with pytest.raises(ValueError, match=r"key must be one PRNG key.*got 0.*train_seeds"):
        dq.train(LAKE, C, 0, n_episodes=2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "call",
    [
        lambda: dq.act(one(), KEY, 0, None),
        lambda: dq.step(one(), KEY, 0, 1, 0.0, 2, False, None),
        lambda: dq.train(LAKE, None, KEY, n_episodes=2),
        lambda: dq.train_seeds(LAKE, None, jax.random.split(KEY, 2), n_episodes=2),
        lambda: dq.init(16, 4, None),
    ],
)
def test_config_none_is_a_type_error(call: Any) -> None:
    with pytest.raises(TypeError, match="config must be a DynaQConfig, got NoneType"):
        call()


@pytest.mark.parametrize("steps", [10**30, 10**9])
def test_absurd_planning_steps_are_bounded(steps: int) -> None:
    with pytest.raises(ValueError, match=rf"planning_steps={steps} exceeds 1000000"):
        dq.DynaQConfig(planning_steps=steps)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"obs": 2.7}, r"observation 2\.7 \(float\)"),
        ({"obs": "3"}, r"observation '3' \(str\)"),
        ({"terminated": "no"}, r"terminated='no': it must be a bool"),
        ({"truncated": 1}, r"truncated=1: it must be a bool"),
        ({"reward": "1"}, r"reward '1': not a real number"),
    ],
)
def test_gym_loop_rejects_values_it_used_to_coerce(override: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        gym_loop.train(Returns(**override), C, n_episodes=1, seed=0)
