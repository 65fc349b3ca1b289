"""Gymnasium envs as tabular problems, on the host: Discrete spaces as state and action indices,
time limits, and the checks of values an env hands back (JAX would clamp an out-of-range index
silently). Used by the host loop (``dynaq_jax.gym_loop``)."""

import warnings
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit

from dynaq_jax.checks import FLOAT32_MAX, finite_in_float32


def check_count(where: str, name: str, value: object, *, allow_none: bool = False) -> int | None:
    """A positive int (or ``None`` where allowed), else ``ValueError`` naming it."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{where}: {name} must be a positive int, got {value!r}")
    return int(value)


def check_seed(where: str, seed: object) -> int:
    """An int ``>= 0``, else ``ValueError``."""
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"{where}: seed must be an int >= 0, got {seed!r}")
    return int(seed)


def env_label(env: Any) -> str:
    """The env's id, else its class name, for messages."""
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return str(spec.id)
    return type(getattr(env, "unwrapped", env)).__name__


class DiscreteSpaces(NamedTuple):
    """``S``, ``A`` and the offsets (``start``) of an env's Discrete spaces."""

    n_states: int
    n_actions: int
    obs_start: int
    act_start: int


def discrete_spaces(where: str, label: str, obs_space: Any, act_space: Any) -> DiscreteSpaces:
    """``(S, A)`` and the spaces' offsets; ``ValueError`` naming the env for any other space."""
    for which, space in (("observation", obs_space), ("action", act_space)):
        if not isinstance(space, spaces.Discrete):
            raise ValueError(
                f"{where}: {label} has a {type(space).__name__} {which} space ({space}); tabular "
                "Dyna-Q needs Discrete observation and action spaces"
            )
    return DiscreteSpaces(
        int(obs_space.n), int(act_space.n), int(obs_space.start), int(act_space.start)
    )


def _is_int(value: Any) -> bool:
    arr = np.asarray(value) if not isinstance(value, str) else np.asarray(None)
    return not isinstance(value, bool) and np.issubdtype(arr.dtype, np.integer)


def state_index(where: str, label: str, obs: Any, sp: DiscreteSpaces) -> int:
    """``obs - start`` as an int in ``[0, S)`` (JAX would clamp an out-of-range index silently).
    The observation must be an integer (``2.7`` or ``"3"`` are rejected, not coerced)."""
    if not _is_int(obs) or np.ndim(obs) != 0:
        raise ValueError(
            f"{where}: {label} returned observation {obs!r} ({type(obs).__name__}); a Discrete "
            "space gives integers"
        )
    s = int(obs) - sp.obs_start
    if not 0 <= s < sp.n_states:
        raise ValueError(f"{where}: {label} returned observation {obs!r}, outside its space")
    return s


def state_indices(where: str, label: str, obs: Any, sp: DiscreteSpaces) -> np.ndarray:
    """``obs - start`` for a vector of observations, each an integer in ``[0, S)``."""
    if not _is_int(obs):
        raise ValueError(
            f"{where}: {label} returned observations {obs!r}; a Discrete space gives integers"
        )
    s = np.asarray(obs).astype(np.int64) - sp.obs_start
    if s.ndim != 1 or np.any(s < 0) or np.any(s >= sp.n_states):
        raise ValueError(f"{where}: {label} returned observations {obs!r}, outside its space")
    return s.astype(np.int32)


def reward_values(where: str, label: str, reward: Any) -> np.ndarray:
    """The env's reward(s) as float64, each a real number finite in float32 (``1e39`` is finite
    in float64 but ``inf`` in the float32 the agent learns in)."""
    arr = np.asarray(reward) if not isinstance(reward, str) else np.asarray(None)
    if isinstance(reward, bool) or not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{where}: {label} returned reward {reward!r}: not a real number")
    out = arr.astype(np.float64)
    if not finite_in_float32(out):
        raise ValueError(
            f"{where}: {label} returned reward {reward!r}: rewards must be finite in float32 "
            f"(|r| <= {FLOAT32_MAX:.3g})"
        )
    return out


def flag_values(where: str, label: str, name: str, value: Any) -> np.ndarray:
    """The env's ``terminated`` / ``truncated`` flag(s) as bool: a bool (or NumPy bool) only;
    ``"no"`` or ``2`` are rejected, not coerced."""
    arr = np.asarray(value) if not isinstance(value, str) else np.asarray(None)
    if arr.dtype != np.bool_:
        raise ValueError(f"{where}: {label} returned {name}={value!r}: it must be a bool")
    return arr


def env_time_limit(env: Any) -> int | None:
    """The limit of the outermost ``TimeLimit`` wrapper, else the spec's ``max_episode_steps``."""
    e = env
    while isinstance(e, gym.Wrapper):
        if isinstance(e, TimeLimit):
            return int(e._max_episode_steps)
        e = e.env
    spec = getattr(env, "spec", None)
    limit = getattr(spec, "max_episode_steps", None) if spec is not None else None
    return None if limit is None else int(limit)


def warn_if_env_truncates_first(where: str, label: str, env_limit: int | None, limit: int) -> None:
    """Warn when the env's own limit is below the requested one."""
    if env_limit is not None and env_limit < limit:
        warnings.warn(
            f"{where}: {label} has its own time limit {env_limit} < max_episode_steps={limit}; "
            "episodes end at the env's limit (make the env with the larger limit instead)",
            stacklevel=3,
        )


def make_env(where: str, env: Any, max_episode_steps: int | None) -> tuple[Any, bool]:
    """``(env, owned)``: an id is made with ``gym.make`` (with the time-limit override)."""
    if isinstance(env, str):
        return gym.make(env, max_episode_steps=max_episode_steps), True
    if not isinstance(env, gym.Env):
        raise TypeError(
            f"{where}: env must be a gymnasium env, a gymnasium id or a "
            f"gymnasium.vector.VectorEnv, got {type(env).__name__}"
        )
    return env, False


__all__ = [
    "DiscreteSpaces",
    "check_count",
    "check_seed",
    "discrete_spaces",
    "env_label",
    "env_time_limit",
    "flag_values",
    "make_env",
    "reward_values",
    "state_index",
    "state_indices",
    "warn_if_env_truncates_first",
]
