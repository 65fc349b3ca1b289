"""Validation of the trainers' arguments: the env, the run length, the keys, the config.

Every check runs on the host before anything is compiled, so a bad argument fails fast with a
message naming it.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from dynaq_jax.checks import check_int
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import ChangingMDP, TabularMDP
from dynaq_jax.envs.protocol import JaxEnv, check_env
from dynaq_jax.types import Key

Env = JaxEnv
"""What the compiled loop trains in: any env of the protocol (``dynaq_jax.envs.protocol``), e.g.
a ``TabularMDP``, a ``ChangingMDP`` or an adapter of a gymnax or gymnasium functional env."""


def base_mdp(env: TabularMDP | ChangingMDP) -> TabularMDP:
    """The MDP in force at the start (a changing maze's ``before``)."""
    return env.before if isinstance(env, ChangingMDP) else env


class RunPlan(NamedTuple):
    """The static run-length plan of a training call (part of the compile cache key)."""

    n_episodes: int | None
    n_steps: int | None
    capacity: int
    time_limit: int | None
    chunk: int


def resolve_run(
    env: Env,
    n_episodes: int | None,
    n_steps: int | None,
    max_episode_steps: int | None,
    chunk: int | None,
) -> RunPlan:
    """Validate the env (``check_env``: the protocol, and ``validate_mdp`` for tables, once per
    env object) and the run-length arguments."""
    env = check_env(env, "train")
    if n_episodes is None and n_steps is None:
        raise ValueError("train: give n_episodes (episode mode) or n_steps (step-budget mode)")
    for name, v in (
        ("n_episodes", n_episodes),
        ("n_steps", n_steps),
        ("max_episode_steps", max_episode_steps),
        ("chunk", chunk),
    ):
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1):
            raise ValueError(f"train: {name} must be a positive int, got {v!r}")
    time_limit = env.time_limit if max_episode_steps is None else int(max_episode_steps)
    if chunk is None:
        chunk = 64 if time_limit is None else min(time_limit, 128)
        if n_steps is not None:
            chunk = min(chunk, int(n_steps))
    if n_steps is not None:
        capacity = int(n_episodes) if n_episodes is not None else min(int(n_steps), 4096)
        return RunPlan(None, int(n_steps), capacity, time_limit, int(chunk))
    assert n_episodes is not None
    return RunPlan(int(n_episodes), None, int(n_episodes), time_limit, int(chunk))


def as_keys(keys: Key) -> Key:
    if isinstance(keys, int | np.integer):
        raise ValueError(
            f"keys must be a batch of PRNG keys (jax.random.split(key, n)), got the int {keys!r}"
        )
    keys = jnp.asarray(keys)
    typed = jnp.issubdtype(keys.dtype, jax.dtypes.prng_key)
    if (typed and keys.ndim != 1) or (not typed and (keys.ndim != 2 or keys.shape[-1] != 2)):
        raise ValueError(
            f"keys must be a batch of PRNG keys (jax.random.split(key, n)), got shape {keys.shape}"
        )
    if keys.shape[0] == 0:
        raise ValueError("keys is empty: give at least one PRNG key (jax.random.split(key, n))")
    return keys


def check_run(config: object, max_total_steps: object) -> int:
    """The config's type and ``max_total_steps`` (an int in ``[1, 2**31 - 1]``)."""
    if not isinstance(config, DynaQConfig):
        raise TypeError(f"train: config must be a DynaQConfig, got {type(config).__name__}")
    return check_int("train", "max_total_steps", max_total_steps, 1)


__all__ = ["Env", "RunPlan", "as_keys", "base_mdp", "check_run", "resolve_run"]
