"""gymnasium's functional envs (``FuncEnv``) with discrete spaces as envs of the compiled loop.

A ``gymnasium.experimental.functional.FuncEnv`` is pure: ``initial(rng)``, ``transition(state,
action, rng)``, ``observation(state, rng)``, ``reward(state, action, next_state, rng)``,
``terminal(state, rng)``, each also taking ``params``. ``FunctionalEnv`` calls them as gymnasium's
own ``FunctionalJaxEnv`` does (``params`` only when not ``None``) and reads the state index from
the observation; the time limit is the loop's (``time_limit``), so terminated stays apart from
truncated.

As for gymnax, the env state of a state index is rebuilt from ``initial``'s state: ``to_state(s,
template)``, or one field (``state_field``) set to the index. gymnasium's tabular CliffWalking
(``gymnasium.envs.tabular.cliffwalking.CliffWalkingFunctional``; that package imports flax) is
known: its player position is ``(s // 12, s % 12)`` and its actions are arrays of one element.

::

    from gymnasium.envs.tabular.cliffwalking import CliffWalkingFunctional
    from dynaq_jax.envs.adapters import from_functional

    env = from_functional(CliffWalkingFunctional(), time_limit=200)   # 48 states, 4 actions
"""

import dataclasses
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
from dynaq_jax.envs.adapters.gymnax_env import ToState
from dynaq_jax.envs.protocol import check_env
from dynaq_jax.types import IntScalar, Key

CLIFF_COLS = 12
"""Columns of CliffWalking's 4 x 12 grid: state ``s = row * 12 + col``."""


def cliff_walking_state(s: Int[Array, ""], template: Any) -> Any:
    """CliffWalking's env state of index ``s``: ``player_position = (s // 12, s % 12)``, the
    other fields as ``initial``'s (Sutton & Barto Example 6.6's grid, row-major)."""
    dtype = jnp.asarray(template.player_position).dtype
    position = jnp.stack([s // CLIFF_COLS, s % CLIFF_COLS]).astype(dtype)
    return template._replace(player_position=position)


KNOWN: dict[str, tuple[ToState, tuple[int, ...]]] = {
    "CliffWalkingFunctional": (cliff_walking_state, (1,)),
}
"""Functional envs known by class name: ``(to_state, action_shape)``."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class FunctionalEnv:
    """A gymnasium ``FuncEnv`` as an env of the protocol (build it with ``from_functional``).

    Attributes:
        params: the env's params (pytree leaves; ``None`` for envs without).
        func_env: the ``FuncEnv`` object. Static.
        n_states, n_actions: the sizes of its discrete spaces. Static.
        time_limit: episode step limit (truncation), ``None`` for none. Static.
        state_field: the env state's field that holds the state index. Static.
        to_state: ``to_state(s, template)`` (used instead of ``state_field`` when given). Static.
        action_shape: the shape an action is passed in (``()``, or ``(1,)`` for CliffWalking).
            Static.
    """

    params: Any
    func_env: Any = dataclasses.field(metadata={"static": True})
    n_states: int = dataclasses.field(metadata={"static": True})
    n_actions: int = dataclasses.field(metadata={"static": True})
    time_limit: int | None = dataclasses.field(default=None, metadata={"static": True})
    state_field: str | None = dataclasses.field(default=None, metadata={"static": True})
    to_state: ToState | None = dataclasses.field(default=None, metadata={"static": True})
    action_shape: tuple[int, ...] = dataclasses.field(default=(), metadata={"static": True})

    def _kw(self) -> dict[str, Any]:
        return {} if self.params is None else {"params": self.params}

    def reset(self, key: Key) -> Int[Array, ""]:
        """``state = initial(key)``; ``s_0`` = the index of ``observation(state, key)``."""
        state = self.func_env.initial(key, **self._kw())
        return state_index(self.func_env.observation(state, key, **self._kw()))

    def env_state(self, key: Key, s: IntScalar) -> Any:
        """The env state of index ``s``: ``initial``'s state with the index set."""
        template = self.func_env.initial(key, **self._kw())
        if self.to_state is not None:
            return self.to_state(jnp.asarray(s, jnp.int32), template)
        assert self.state_field is not None
        return with_state_index(template, self.state_field, s)

    def step(
        self, key: Key, s: IntScalar, a: IntScalar
    ) -> tuple[Int[Array, ""], Float[Array, ""], Bool[Array, ""]]:
        """``x' = transition(x, a, key)``, ``r = reward(x, a, x', key)``, ``terminated =
        terminal(x', key)``, ``s'`` = the index of ``observation(x', key)`` (``x``: the env
        state of ``s``), as ``FunctionalJaxEnv.step`` computes them."""
        kw = self._kw()
        state = self.env_state(key, s)
        action = jnp.asarray(a, jnp.int32).reshape(self.action_shape)
        nxt = self.func_env.transition(state, action, key, **kw)
        reward = self.func_env.reward(state, action, nxt, key, **kw)
        terminated = self.func_env.terminal(nxt, key, **kw)
        obs = self.func_env.observation(nxt, key, **kw)
        return (
            state_index(obs),
            jnp.asarray(reward, jnp.float32).reshape(()),
            jnp.asarray(terminated, jnp.bool_).reshape(()),
        )


def from_functional(
    func_env: Any,
    params: Any = None,
    *,
    time_limit: int | None = None,
    state_field: str | None = None,
    to_state: ToState | None = None,
    action_shape: tuple[int, ...] | None = None,
) -> FunctionalEnv:
    """A gymnasium functional env with discrete spaces as an env of the compiled loop.

    ``params`` defaults to ``func_env.default_params`` (often ``None``). ``time_limit``: the
    episode limit (gymnasium registers it on the id, not on the ``FuncEnv``; default none). The
    env state of a state index and the action's shape: known for CliffWalking (``KNOWN``);
    otherwise ``to_state(s, template)``, or ``state_field`` (default: the state's one field
    besides ``time``), and ``action_shape`` (default ``()``).

    Raises:
        TypeError: ``func_env`` lacks the functional methods (naming them), or a space is not
            discrete.
        ValueError: the state field cannot be told (pass ``state_field`` or ``to_state``).
    """
    where = "from_functional"
    needed = ("initial", "transition", "observation", "reward", "terminal")
    missing = [m for m in needed if not callable(getattr(func_env, m, None))]
    if missing:
        raise TypeError(
            f"{where}: {type(func_env).__name__} is not a gymnasium FuncEnv: it has no "
            f"{', '.join(missing)}"
        )
    if params is None:
        params = getattr(func_env, "default_params", None)
    n_states = space_size(where, "observation", func_env.observation_space)
    n_actions = space_size(where, "action", func_env.action_space)
    known_to_state, known_shape = KNOWN.get(type(func_env).__name__, (None, ()))
    if to_state is None and state_field is None:
        to_state = known_to_state
        if to_state is None:
            kw = {} if params is None else {"params": params}
            template = template_state(lambda k: func_env.initial(k, **kw), jax.random.key(0))
            state_field = only_state_field(where, template)
    out = FunctionalEnv(
        params=params,
        func_env=func_env,
        n_states=n_states,
        n_actions=n_actions,
        time_limit=time_limit,
        state_field=state_field,
        to_state=to_state,
        action_shape=known_shape if action_shape is None else tuple(action_shape),
    )
    check_env(out, where)
    return out


__all__ = ["CLIFF_COLS", "KNOWN", "FunctionalEnv", "cliff_walking_state", "from_functional"]
