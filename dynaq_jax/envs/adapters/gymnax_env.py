"""gymnax 1.0 environments with discrete spaces as envs of the compiled loop's protocol.

A gymnax ``Environment`` is an object with pure ``reset_env(key, params) -> (obs, state)`` and
``step_env(key, state, action, params) -> (obs, state, reward, terminated, info)``; its ``step``
adds auto-reset and truncation (``params.max_steps_in_episode``). ``GymnaxEnv`` wraps the pure
pair without either: the compiled loop resets and truncates itself, so terminated stays apart from
truncated. The params are pytree leaves (``vmap`` over them), the env object is static.

A tabular agent's state is the observation's index, so the adapter rebuilds gymnax's env state
from an index: the state of ``reset_env`` with one field (``state_field``; found by itself when
the state has one field besides ``time``, as ``FrozenLake-misc``'s ``position``) set to the
index, or ``to_state(s, template)``.

::

    import gymnax
    from dynaq_jax.envs.adapters import from_gymnax

    gx_env, params = gymnax.make("FrozenLake-misc")
    env = from_gymnax(gx_env, params)        # 16 states, 4 actions, time limit 100
    out = dynaq_jax.train_seeds(env, DynaQConfig(), keys, n_episodes=300)
"""

import dataclasses
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.envs.adapters.common import (
    only_state_field,
    space_size,
    state_index,
    template_state,
    with_state_index,
)
from dynaq_jax.envs.protocol import check_env
from dynaq_jax.types import IntScalar, Key

ToState = Callable[[Int[Array, ""], Any], Any]
"""``to_state(s, template) -> env state``: the env state of state index ``s`` (``template``: the
state ``reset`` returns, for the fields that do not depend on ``s``)."""

FROM_PARAMS = "from params"
"""``from_gymnax``'s default time limit: ``params.max_steps_in_episode``."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GymnaxEnv:
    """A gymnax environment as an env of the protocol (build it with ``from_gymnax``).

    Attributes:
        params: the gymnax ``EnvParams`` (pytree leaves).
        env: the gymnax ``Environment`` object. Static.
        n_states: ``observation_space(params).n``. Static.
        n_actions: ``action_space(params).n``. Static.
        time_limit: episode step limit (truncation), ``None`` for none. Static.
        state_field: the env state's field that holds the state index. Static.
        to_state: ``to_state(s, template)`` (used instead of ``state_field`` when given). Static.
    """

    params: Any
    env: Any = dataclasses.field(metadata={"static": True})
    n_states: int = dataclasses.field(metadata={"static": True})
    n_actions: int = dataclasses.field(metadata={"static": True})
    time_limit: int | None = dataclasses.field(default=None, metadata={"static": True})
    state_field: str | None = dataclasses.field(default=None, metadata={"static": True})
    to_state: ToState | None = dataclasses.field(default=None, metadata={"static": True})

    def reset(self, key: Key) -> Int[Array, ""]:
        """``(obs, _) = env.reset_env(key, params)``; ``s_0`` = the index of ``obs``."""
        obs, _ = self.env.reset_env(key, self.params)
        return state_index(obs)

    def env_state(self, key: Key, s: IntScalar) -> Any:
        """The gymnax env state of index ``s``: ``reset_env``'s state with the index set."""
        _, template = self.env.reset_env(key, self.params)
        if self.to_state is not None:
            return self.to_state(jnp.asarray(s, jnp.int32), template)
        assert self.state_field is not None
        return with_state_index(template, self.state_field, s)

    def step(
        self, key: Key, s: IntScalar, a: IntScalar
    ) -> tuple[Int[Array, ""], Float[Array, ""], Bool[Array, ""]]:
        """``(obs', _, r, terminated, _) = env.step_env(key, state(s), a, params)``: no
        auto-reset, no truncation (the loop's ``time_limit``); ``s'`` = the index of ``obs'``."""
        state = self.env_state(key, s)
        action = jnp.asarray(a, jnp.int32)
        obs, _, reward, terminated, _ = self.env.step_env(key, state, action, self.params)
        return (
            state_index(obs),
            jnp.asarray(reward, jnp.float32).reshape(()),
            jnp.asarray(terminated, jnp.bool_).reshape(()),
        )


def _default_time_limit(params: Any) -> int | None:
    limit = getattr(params, "max_steps_in_episode", None)
    if limit is None or isinstance(limit, jax.core.Tracer):
        return None
    return int(limit)


def from_gymnax(
    env: Any,
    params: Any = None,
    *,
    state_field: str | None = None,
    to_state: ToState | None = None,
    time_limit: int | str | None = FROM_PARAMS,
) -> GymnaxEnv:
    """A gymnax environment with discrete spaces as an env of the compiled loop.

    ``params`` defaults to ``env.default_params``; the time limit to
    ``params.max_steps_in_episode`` (pass an int, or ``None`` for none). The env state of a
    state index: ``to_state(s, template)`` when given, else ``reset_env``'s state with
    ``state_field`` (default: the state's one field besides ``time``) set to the index.

    Raises:
        TypeError: ``env`` lacks gymnax's methods (naming them), or a space is not discrete.
        ValueError: the state field cannot be told (pass ``state_field`` or ``to_state``).
    """
    where = "from_gymnax"
    needed = ("reset_env", "step_env", "observation_space", "action_space")
    missing = [m for m in needed if not callable(getattr(env, m, None))]
    if missing:
        raise TypeError(
            f"{where}: {type(env).__name__} is not a gymnax Environment: it has no "
            f"{', '.join(missing)}"
        )
    if params is None:
        params = env.default_params
    n_states = space_size(where, "observation", env.observation_space(params))
    n_actions = space_size(where, "action", env.action_space(params))
    limit = _default_time_limit(params) if time_limit == FROM_PARAMS else time_limit
    if to_state is None and state_field is None:
        _, template = template_state(env.reset_env, jax.random.key(0), params)
        state_field = only_state_field(where, template)
    out = GymnaxEnv(
        params=params,
        env=env,
        n_states=n_states,
        n_actions=n_actions,
        time_limit=limit,  # type: ignore[arg-type]
        state_field=state_field,
        to_state=to_state,
    )
    check_env(out, where)
    return out


__all__ = ["FROM_PARAMS", "GymnaxEnv", "ToState", "from_gymnax"]
