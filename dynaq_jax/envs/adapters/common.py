"""What the adapters share: discrete space sizes, observation -> state index, and an env state
rebuilt from a state index."""

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int


def space_size(where: str, what: str, space: object) -> int:
    """The number of values of a discrete space: ``n`` of a ``Discrete`` (gymnax's or
    gymnasium's, starting at 0), or ``high + 1`` of an integer ``Box`` of one element with
    ``low = 0`` (gymnasium's functional tabular envs). Anything else is a ``TypeError`` naming
    the space: a tabular agent needs finitely many states and actions."""
    n = getattr(space, "n", None)
    if n is not None and np.ndim(n) == 0:
        start = int(np.asarray(getattr(space, "start", 0)))
        if start != 0:
            raise TypeError(f"{where}: the {what} space {space} starts at {start}, not 0")
        return int(np.asarray(n))
    low, high = getattr(space, "low", None), getattr(space, "high", None)
    dtype = np.dtype(getattr(space, "dtype", None) or np.float32)
    if low is not None and high is not None and np.issubdtype(dtype, np.integer):
        lo, hi = np.asarray(low), np.asarray(high)
        if lo.size == 1 and hi.size == 1 and int(lo.reshape(())) == 0:
            return int(hi.reshape(())) + 1
    raise TypeError(
        f"{where}: the {what} space {space!r} is not discrete (a Discrete space, or an integer "
        "Box of one element from 0): a tabular agent needs finitely many states and actions"
    )


def state_index(obs: Any) -> Int[Array, ""]:
    """The state index of a discrete observation (a scalar, or an array of one element), as an
    int32 scalar. A larger observation is a ``TypeError`` (raised while tracing)."""
    arr = jnp.asarray(obs)
    if arr.size != 1:
        raise TypeError(
            f"the observation of shape {arr.shape} is not a state index (a scalar or one "
            "element): the env's observation space must be discrete"
        )
    return arr.reshape(()).astype(jnp.int32)


def state_fields(state: object) -> tuple[str, ...]:
    """The field names of an env state: a dataclass (flax ``struct.dataclass`` included) or a
    ``NamedTuple``."""
    if dataclasses.is_dataclass(state):
        return tuple(f.name for f in dataclasses.fields(state))
    fields = getattr(state, "_fields", None)
    if isinstance(fields, tuple):
        return tuple(str(f) for f in fields)
    raise TypeError(
        f"the env state {type(state).__name__} is neither a dataclass nor a NamedTuple: pass "
        "to_state(s, template) to rebuild it from a state index"
    )


def only_state_field(where: str, state: object, ignore: tuple[str, ...] = ("time",)) -> str:
    """The one field of ``state`` besides ``ignore`` (the episode clock, which the compiled loop
    keeps itself): the field that holds the state index. ``ValueError`` when there are several."""
    names = [n for n in state_fields(state) if n not in ignore]
    if len(names) != 1:
        raise ValueError(
            f"{where}: cannot tell which field of the env state {type(state).__name__} holds "
            f"the state index (fields {names}); pass state_field=NAME, or to_state(s, template) "
            "that builds the env state of index s"
        )
    return names[0]


def with_state_index(state: Any, field: str, s: Any) -> Any:
    """``state`` with ``field`` set to ``s`` (cast to the field's dtype and shape)."""
    old = jnp.asarray(getattr(state, field))
    value = jnp.asarray(s).astype(old.dtype).reshape(old.shape)
    if hasattr(state, "replace"):  # flax struct dataclasses
        return state.replace(**{field: value})
    if dataclasses.is_dataclass(state):
        return dataclasses.replace(state, **{field: value})  # type: ignore[type-var]
    return state._replace(**{field: value})


def template_state(fn: Any, *args: Any) -> Any:
    """The env state ``fn(*args)`` returns, as shapes only (``jax.eval_shape``: no work)."""
    return jax.eval_shape(fn, *args)


__all__ = [
    "only_state_field",
    "space_size",
    "state_fields",
    "state_index",
    "template_state",
    "with_state_index",
]
