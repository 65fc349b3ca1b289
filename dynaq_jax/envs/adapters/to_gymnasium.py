"""The reverse direction: any env of the compiled loop's protocol as an ordinary gymnasium env.

``as_gymnasium(env)`` gives a ``gymnasium.Env`` with ``Discrete`` spaces that calls the env's pure
``reset``/``step`` (jitted, one device call per step) with a JAX key it carries; its time limit
becomes gymnasium's ``TimeLimit`` wrapper (truncation, kept apart from termination). So a table-free
JAX env runs in the host loop (``dynaq_jax.gym_loop``) and any gymnasium tooling, with the same
dynamics the compiled loop samples.
"""

from typing import Any, cast

import gymnasium as gym
import jax
import numpy as np
from gymnasium import spaces
from gymnasium.wrappers import TimeLimit
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.envs.protocol import JaxEnv, check_env, first_state, transition
from dynaq_jax.types import IntScalar, Key


def _reset_impl(env: JaxEnv, key: Key) -> tuple[Key, Int[Array, ""]]:
    key, k = jax.random.split(key)
    return key, first_state(env, k)


def _step_impl(
    env: JaxEnv, key: Key, t: IntScalar, s: IntScalar, a: IntScalar
) -> tuple[Key, Int[Array, ""], Float[Array, ""], Bool[Array, ""]]:
    key, k = jax.random.split(key)
    return (key, *transition(env, k, t, s, a))


_reset = jax.jit(_reset_impl)
_step = jax.jit(_step_impl)


class ProtocolGymEnv(gym.Env[int, int]):
    """A gymnasium env driven by an env of the protocol (build it with ``as_gymnasium``).

    ``reset(seed=n)`` makes the JAX key ``jax.random.key(n)`` (without a seed the first reset
    draws one from ``np_random``); every reset and step splits it: ``(key, k) = split(key)``,
    ``s_0 = env.reset(k)`` or ``(s', r, terminated) = env.step(k, s, a)`` (``step_at(k, t, s,
    a)`` with the global step ``t``, counted across episodes, when the env has it). ``truncated``
    is always False here: ``as_gymnasium`` adds the time limit.
    """

    metadata = {"render_modes": []}  # noqa: RUF012 (gymnasium's name)

    def __init__(self, env: object) -> None:
        self.env = check_env(env, "as_gymnasium")
        self.observation_space = cast(spaces.Space[int], spaces.Discrete(self.env.n_states))
        self.action_space = cast(spaces.Space[int], spaces.Discrete(self.env.n_actions))
        self.key: Key | None = None
        self.s: int | None = None
        self.global_step = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """``s_0 = env.reset(k)``; ``seed`` restarts the key; ``options={"global_step": t}``
        sets the global step count (which otherwise persists across episodes)."""
        super().reset(seed=seed)
        if seed is not None:
            self.key = jax.random.key(seed)
        elif self.key is None:
            self.key = jax.random.key(int(self.np_random.integers(0, 2**32 - 1)))
        if options and "global_step" in options:
            t = options["global_step"]
            if isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 0:
                raise ValueError(
                    f"ProtocolGymEnv.reset: global_step must be an int >= 0, got {t!r}"
                )
            self.global_step = int(t)
        self.key, s = _reset(self.env, self.key)
        self.s = int(s)
        return self.s, {}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """``(s', r, terminated) = env.step(k, s, a)``; returns ``(s', r, terminated, False,
        {})``."""
        if self.s is None or self.key is None:
            raise RuntimeError("ProtocolGymEnv.step called before reset")
        if not self.action_space.contains(action):
            raise ValueError(f"ProtocolGymEnv.step: action {action!r} not in {self.action_space}")
        t = np.int32(self.global_step)
        self.key, s_next, reward, terminated = _step(
            self.env, self.key, t, np.int32(self.s), np.int32(action)
        )
        self.s = int(s_next)
        self.global_step += 1
        return self.s, float(reward), bool(terminated), False, {}


def as_gymnasium(env: object) -> gym.Env[int, int]:
    """``env`` (any env of the protocol) as a gymnasium env: ``ProtocolGymEnv(env)``, wrapped in
    ``TimeLimit(max_episode_steps=env.time_limit)`` when the env has a time limit.

    Raises:
        TypeError, ValueError: ``env`` does not follow the protocol (``check_env``).
    """
    inner = ProtocolGymEnv(env)
    limit = inner.env.time_limit
    return inner if limit is None else TimeLimit(inner, max_episode_steps=limit)


__all__ = ["ProtocolGymEnv", "as_gymnasium"]
