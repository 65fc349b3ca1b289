"""The compiled loop's env protocol: what ``train``, ``train_seeds`` and ``train_sweep`` need of an
environment, and nothing more.

An env for the compiled loop is

- a JAX pytree: its arrays are leaves (``jax.tree_util.register_dataclass`` on a frozen
  dataclass is the simplest way), so the whole env passes through ``jit`` and ``vmap``;
- with static ``n_states`` and ``n_actions`` (Python ints: the agent's tables are ``[S, A]``) and
  ``time_limit`` (an int, or ``None`` for no limit: a limit truncates, it never terminates);
- with two pure methods:

  - ``reset(key) -> s``: the first state of an episode, an integer scalar in ``[0, n_states)``;
  - ``step(key, s, a) -> (s_next, reward, terminated)``: an integer scalar, a real scalar (read
    as float32) and a bool scalar.

That is the functional shape of gymnasium's ``FuncEnv`` and gymnax's ``Environment`` reduced to a
tabular agent's needs: the state *is* the observation index (the tabular case), the params are
leaves of the pytree, and terminated is kept apart from truncation (the loop truncates at
``time_limit``). One optional method extends it:

- ``step_at(key, t, s, a)``: the same outcome when the dynamics depend on the global step ``t``
  (real steps since the start of the run, across episodes); the compiled loop calls it instead of
  ``step`` when the env has it. ``ChangingMDP`` (the blocking and shortcut mazes) uses it.

``TabularMDP`` and ``ChangingMDP`` implement the protocol. Only the oracle (value iteration, the
exact success probability) needs more: the transition tables (``require_tables``).
"""

import weakref
from typing import Any, Protocol, runtime_checkable

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.envs.mdp import ChangingMDP, Outcome, TabularMDP, check_mdp
from dynaq_jax.types import IntScalar, Key

REQUIRED = ("n_states", "n_actions", "time_limit", "reset", "step")
"""The attributes an env for the compiled loop must have."""

PROTOCOL_TEXT = (
    "an env for the compiled loop is a JAX pytree with static n_states, n_actions (ints) and "
    "time_limit (int or None), and pure reset(key) -> s and step(key, s, a) -> "
    "(s_next, reward, terminated) (see dynaq_jax.envs.protocol)"
)
"""The protocol in one sentence, for error messages."""

MAX_SIZE = 2**31 - 1


@runtime_checkable
class JaxEnv(Protocol):
    """The env protocol of the compiled loop (see the module docstring)."""

    @property
    def n_states(self) -> int:
        """``S``: states are ``0 .. S - 1``. Static."""
        ...

    @property
    def n_actions(self) -> int:
        """``A``: actions are ``0 .. A - 1``. Static."""
        ...

    @property
    def time_limit(self) -> int | None:
        """Episode step limit (truncation, not termination); ``None``: no limit. Static."""
        ...

    def reset(self, key: Key) -> Int[Array, ""]:
        """``s_0 ~ p_0``: the first state of an episode."""
        ...

    def step(self, key: Key, s: IntScalar, a: IntScalar) -> Outcome:
        """``(s', r, terminated) ~ p(. | s, a)``: one transition."""
        ...


# -- validation -----------------------------------------------------------------------------------


def _static_int(where: str, env: object, name: str, lo: int, none_ok: bool) -> None:
    value = getattr(env, name)
    label = f"{where}: env.{name}"
    if value is None and none_ok:
        return
    if isinstance(value, jax.Array | np.ndarray) or isinstance(value, jax.core.Tracer):
        raise TypeError(
            f"{label} is an array ({getattr(value, 'shape', '?')}, traced or not), but it must be "
            "a static Python int: mark the field static (dataclasses.field(metadata={'static': "
            "True})) so that it is part of the pytree's structure, not a leaf"
        )
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        want = "an int or None" if none_ok else "an int"
        raise TypeError(f"{label} must be {want}, got {value!r} ({type(value).__name__})")
    if not lo <= int(value) <= MAX_SIZE:
        raise ValueError(f"{label}={int(value)} must lie in [{lo}, {MAX_SIZE}]")


def _check_pytree(where: str, env: object) -> None:
    leaves = jax.tree_util.tree_leaves(env)
    if len(leaves) == 1 and leaves[0] is env:
        raise TypeError(
            f"{where}: env of type {type(env).__name__} is not a JAX pytree (JAX sees one opaque "
            "leaf): register its class, e.g. @jax.tree_util.register_dataclass on a frozen "
            f"dataclass; {PROTOCOL_TEXT}"
        )
    for leaf in leaves:
        if not isinstance(leaf, jax.Array | np.ndarray | np.generic | int | float | bool):
            raise TypeError(
                f"{where}: env has a leaf of type {type(leaf).__name__}, which JAX cannot trace: "
                "every leaf must be an array or a number (mark other fields static)"
            )


def _scalar(where: str, what: str, value: object, kinds: tuple[str, ...]) -> None:
    """``value`` (a ``jax.ShapeDtypeStruct``) is a scalar whose dtype kind is in ``kinds``."""
    shape = getattr(value, "shape", None)
    dtype = np.dtype(getattr(value, "dtype", np.dtype(object)))
    if shape != () or dtype.kind not in kinds:
        want = {"iu": "an integer scalar", "b": "a bool scalar", "biuf": "a real scalar"}
        raise TypeError(
            f"{where}: {what} must be {want.get(''.join(sorted(kinds)), kinds)}, got "
            f"shape {shape} dtype {dtype}"
        )


def _check_outputs(where: str, env: Any) -> None:
    """Trace ``reset`` and ``step`` (``jax.eval_shape``: no computation) and check their outputs."""
    key = jax.random.key(0)
    s = jnp.zeros((), jnp.int32)
    try:
        s0 = jax.eval_shape(env.reset, key)
    except Exception as err:
        raise TypeError(f"{where}: env.reset(key) failed while tracing: {err}") from err
    _scalar(where, "env.reset(key)", s0, ("i", "u"))
    methods = [("step", lambda k, x, a: env.step(k, x, a), "env.step(key, s, a)")]
    if callable(getattr(env, "step_at", None)):
        methods.append(("step_at", lambda k, x, a: env.step_at(k, s, x, a), "env.step_at(...)"))
    for _, fn, label in methods:
        try:
            out = jax.eval_shape(fn, key, s, s)
        except Exception as err:
            raise TypeError(f"{where}: {label} failed while tracing: {err}") from err
        if not isinstance(out, tuple | list) or len(out) != 3:
            raise TypeError(
                f"{where}: {label} must return (s_next, reward, terminated), got {out!r}"
            )
        _scalar(where, f"{label}'s s_next", out[0], ("i", "u"))
        _scalar(where, f"{label}'s reward", out[1], ("b", "i", "u", "f"))
        _scalar(where, f"{label}'s terminated", out[2], ("b",))


_CHECKED: "weakref.WeakValueDictionary[int, Any]" = weakref.WeakValueDictionary()


def check_env(env: object, where: str = "train") -> JaxEnv:
    """Check that ``env`` follows the protocol; return it typed as ``JaxEnv``.

    A ``TabularMDP`` or ``ChangingMDP`` gets ``validate_mdp`` (once per object, ``check_mdp``).
    Any other env: every attribute of ``REQUIRED`` present (the error lists the missing ones),
    ``reset``/``step`` callable, sizes static Python ints (``n_states, n_actions >= 1``,
    ``time_limit >= 1`` or ``None``; an array or traced size is refused), the env a pytree of
    arrays, and ``reset``/``step`` (and ``step_at``, if any) traced once with ``jax.eval_shape``
    to check they return scalars of the right kinds. Checked once per env object.

    Raises:
        TypeError: a missing method or attribute, a traced or non-int size, a non-pytree env, or
            outputs of the wrong shape or dtype; the message names what is wrong.
        ValueError: a size out of range, or an invalid table (``validate_mdp``).
    """
    if isinstance(env, TabularMDP):
        check_mdp(env)
        return env
    if isinstance(env, ChangingMDP):
        if tuple(env.before.probs.shape) != tuple(env.after.probs.shape):
            raise ValueError(
                f"{where}: a ChangingMDP's before {tuple(env.before.probs.shape)} and after "
                f"{tuple(env.after.probs.shape)} must have equal shapes"
            )
        check_mdp(env.before)
        check_mdp(env.after)
        return env
    if _CHECKED.get(id(env)) is env:
        return env  # type: ignore[return-value]
    missing = [name for name in REQUIRED if not hasattr(env, name)]
    if missing:
        raise TypeError(
            f"{where}: env must be a TabularMDP, a ChangingMDP or an env of the protocol, but "
            f"{type(env).__name__} has no {', '.join(missing)}; {PROTOCOL_TEXT}"
        )
    for name in ("reset", "step"):
        if not callable(getattr(env, name)):
            raise TypeError(f"{where}: env.{name} must be a method, got {getattr(env, name)!r}")
    _static_int(where, env, "n_states", 1, none_ok=False)
    _static_int(where, env, "n_actions", 1, none_ok=False)
    _static_int(where, env, "time_limit", 1, none_ok=True)
    _check_pytree(where, env)
    _check_outputs(where, env)
    try:
        _CHECKED[id(env)] = env
    except TypeError:  # not weak-referenceable: checked again next time
        pass
    return env  # type: ignore[return-value]


def is_jax_env(env: object) -> bool:
    """Whether ``env`` has every attribute of the protocol (no deeper check: ``check_env``)."""
    return all(hasattr(env, name) for name in REQUIRED)


def require_tables(where: str, env: object) -> TabularMDP:
    """``env`` itself when it is a ``TabularMDP``; otherwise a ``TypeError`` saying that ``where``
    needs the transition tables ``p(s', r | s, a)``, which a table-free env (one with only
    ``reset``/``step``) does not have."""
    if isinstance(env, TabularMDP):
        return env
    if isinstance(env, ChangingMDP):
        raise TypeError(
            f"{where} needs one TabularMDP; a ChangingMDP holds two: pass env.before or env.after"
        )
    kind = "a table-free env (only reset/step)" if is_jax_env(env) else "not an env"
    raise TypeError(
        f"{where} needs the env's transition tables p(s', r | s, a) (a TabularMDP), but "
        f"{type(env).__name__} is {kind}: exact answers need the tables; estimate with "
        "rollouts of the trained agents instead (train, train_seeds return the episode metrics)"
    )


# -- the loop's calls -----------------------------------------------------------------------------


def first_state(env: JaxEnv, key: Key) -> Int[Array, ""]:
    """``s_0 = env.reset(key)`` as an int32 scalar (the agent's state index)."""
    return jnp.asarray(env.reset(key), jnp.int32)


def transition(
    env: JaxEnv, key: Key, t: IntScalar, s: IntScalar, a: IntScalar
) -> tuple[Int[Array, ""], Float[Array, ""], Bool[Array, ""]]:
    """One real step at global step ``t``: ``(s', r, terminated) = env.step_at(key, t, s, a)``
    when the env defines ``step_at``, else ``env.step(key, s, a)``; as int32, float32, bool.

    (Sutton & Barto 3.1: the MDP's dynamics ``p(s', r | s, a)``; a changing world, section 8.3,
    makes them depend on ``t``.)
    """
    step_at = getattr(env, "step_at", None)
    out = step_at(key, t, s, a) if callable(step_at) else env.step(key, s, a)
    s_next, r, term = out
    return (
        jnp.asarray(s_next, jnp.int32),
        jnp.asarray(r, jnp.float32),
        jnp.asarray(term, jnp.bool_),
    )


__all__ = [
    "PROTOCOL_TEXT",
    "REQUIRED",
    "JaxEnv",
    "check_env",
    "first_state",
    "is_jax_env",
    "require_tables",
    "transition",
]
