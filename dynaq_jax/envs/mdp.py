"""``TabularMDP``: a finite MDP as a pytree of arrays, with pure ``reset`` and ``step``.

Every ``(s, a)`` has up to ``K`` outcomes ``k`` with probability ``probs[s, a, k]``, next state
``next_states[s, a, k]``, reward ``rewards[s, a, k]`` and flag ``terminated[s, a, k]``: exactly the
list ``env.unwrapped.P[s][a]`` of a gymnasium toy-text env, padded to ``K`` with zero-probability
slots. The arrays are the pytree's leaves; the name, time limit, layout and action arrows are static
metadata. So ``jax.vmap`` runs over keys, states, or a stack of envs of equal shape
(``stack_mdps``).

The jitted kernels behind ``reset`` and ``step`` take the arrays alone: calling them on many maps of
one shape compiles once, whatever the maps' layouts or names.
"""

import dataclasses
import weakref
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.checks import check_index, is_concrete, typed_jit
from dynaq_jax.rng import sample_from_counts, uniforms
from dynaq_jax.types import IntScalar, Key

Outcome = tuple[Int[Array, ""], Float[Array, ""], Bool[Array, ""]]
"""``(s_next, reward, terminated)`` of one step."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class TabularMDP:
    """A finite MDP with at most ``K`` outcomes per state-action pair.

    Attributes:
        probs: ``p(k | s, a)``; each ``probs[s, a]`` sums to 1. Unused slots have probability 0.
        next_states: ``s'_k`` (int32). Unused slots point back to ``s``.
        rewards: ``r_k`` (float32). Unused slots hold 0.
        terminated: whether outcome ``k`` ends the episode (a terminal transition: no bootstrap).
            Unused slots hold False.
        initial: the initial-state distribution ``p_0(s)``.
        time_limit: episode step limit (gymnasium's ``max_episode_steps``; a limit truncates, it
            does not terminate); ``None``: no limit. Static.
        layout: grid rows for rendering, when states are grid cells ``s = row * cols + col``
            (FrozenLake: its ``desc`` rows of ``S F H G``; mazes: ``. # S G``); else ``None``.
            Static.
        name: a label, e.g. the gymnasium id. Static.
        action_arrows: one glyph per action for ``render_policy`` (FrozenLake ``←↓→↑``, the
            mazes ``↑↓←→``); ``None`` renders action numbers. Static.
    """

    probs: Float[Array, "S A K"]
    next_states: Int[Array, "S A K"]
    rewards: Float[Array, "S A K"]
    terminated: Bool[Array, "S A K"]
    initial: Float[Array, " S"]
    time_limit: int | None = dataclasses.field(default=None, metadata={"static": True})
    layout: tuple[str, ...] | None = dataclasses.field(default=None, metadata={"static": True})
    name: str = dataclasses.field(default="TabularMDP", metadata={"static": True})
    action_arrows: tuple[str, ...] | None = dataclasses.field(
        default=None, metadata={"static": True}
    )

    @property
    def n_states(self) -> int:
        """``S``, from the static shape of ``probs``."""
        return int(self.probs.shape[-3])

    @property
    def n_actions(self) -> int:
        """``A``, from the static shape of ``probs``."""
        return int(self.probs.shape[-2])

    @property
    def max_outcomes(self) -> int:
        """``K``, the number of outcome slots per state-action pair."""
        return int(self.probs.shape[-1])

    # The env protocol of the compiled loop (``dynaq_jax.envs.protocol``).

    def reset(self, key: Key) -> Int[Array, ""]:
        """``s_0 ~ initial``: the module function ``reset(self, key)`` as a method."""
        return reset(self, key)

    def step(self, key: Key, s: IntScalar, a: IntScalar) -> Outcome:
        """``k ~ probs[s, a, :]``: the module function ``step(self, key, s, a)`` as a method."""
        return step(self, key, s, a)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ChangingMDP:
    """A world that changes once: ``before`` until global step ``switch_step``, then ``after``.

    Both MDPs must have equal shapes (the same grid). The global step ``t`` counts real steps since
    the start of the experiment, across episodes (Sutton & Barto's blocking and shortcut mazes).
    ``switch_step`` is static.
    """

    before: TabularMDP
    after: TabularMDP
    switch_step: int = dataclasses.field(metadata={"static": True})

    def at(self, t: int) -> TabularMDP:
        """The MDP in force at global step ``t`` (host-side, for a concrete ``t``)."""
        return self.after if t >= self.switch_step else self.before

    # The env protocol of the compiled loop (``dynaq_jax.envs.protocol``): the sizes and the time
    # limit are ``before``'s; ``step_at`` is the changing dynamics, ``step`` the world at step 0.

    @property
    def n_states(self) -> int:
        """``S`` (both MDPs have the same)."""
        return self.before.n_states

    @property
    def n_actions(self) -> int:
        """``A`` (both MDPs have the same)."""
        return self.before.n_actions

    @property
    def time_limit(self) -> int | None:
        """``before``'s time limit (the mazes give both MDPs the same)."""
        return self.before.time_limit

    def reset(self, key: Key) -> Int[Array, ""]:
        """``s_0 ~ before.initial``: episodes of the mazes start where they always did."""
        return reset(self.before, key)

    def step_at(self, key: Key, t: IntScalar, s: IntScalar, a: IntScalar) -> Outcome:
        """``step_changing(self, key, t, s, a)``: ``after`` once ``t >= switch_step``."""
        return step_changing(self, key, t, s, a)

    def step(self, key: Key, s: IntScalar, a: IntScalar) -> Outcome:
        """The world at global step 0: ``step_at(key, 0, s, a)`` (the compiled loop calls
        ``step_at`` with the run's global step)."""
        return step_changing(self, key, 0, s, a)


# -- validation -----------------------------------------------------------------------------------


def validate_mdp(env: TabularMDP, atol: float = 1e-5) -> TabularMDP:
    """Check shapes, dtypes and the probability axioms; return ``env`` unchanged.

    Checks: all tables ``[S, A, K]``; ``probs >= 0`` and ``sum_k probs[s, a, k] = 1`` (to
    ``atol``); ``0 <= next_states < S``; ``initial >= 0``, ``sum_s initial[s] = 1``; the layout,
    when given, is rectangular with ``rows * cols = S``. Skipped for traced values.
    """
    shape = tuple(env.probs.shape)
    if len(shape) != 3:
        raise ValueError(f"{env.name}: probs must have shape [S, A, K], got {shape}")
    for field in ("next_states", "rewards", "terminated"):
        got = tuple(getattr(env, field).shape)
        if got != shape:
            raise ValueError(f"{env.name}: {field} has shape {got}, probs has {shape}")
    n_s = shape[0]
    if tuple(env.initial.shape) != (n_s,):
        raise ValueError(f"{env.name}: initial has shape {tuple(env.initial.shape)}, want ({n_s},)")
    if not jnp.issubdtype(env.next_states.dtype, jnp.integer):
        raise ValueError(f"{env.name}: next_states must be integer, got {env.next_states.dtype}")
    if env.terminated.dtype != jnp.bool_:
        raise ValueError(f"{env.name}: terminated must be bool, got {env.terminated.dtype}")
    limit = env.time_limit
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"{env.name}: time_limit must be a positive int or None")
    if env.layout is not None:
        widths = {len(row) for row in env.layout}
        if len(widths) != 1 or len(env.layout) * widths.pop() != n_s:
            raise ValueError(f"{env.name}: layout must be rectangular with rows * cols = {n_s}")
    if env.action_arrows is not None and len(env.action_arrows) != shape[1]:
        raise ValueError(f"{env.name}: action_arrows needs {shape[1]} entries")
    leaves = (env.probs, env.next_states, env.initial)
    if not all(is_concrete(x) for x in leaves):
        return env
    probs = np.asarray(env.probs, np.float64)
    if np.any(probs < 0) or not np.all(np.isfinite(probs)):
        raise ValueError(f"{env.name}: probs must be finite and >= 0")
    sums = probs.sum(-1)
    bad = np.argwhere(np.abs(sums - 1.0) > atol)
    if bad.size:
        s, a = (int(i) for i in bad[0])
        raise ValueError(f"{env.name}: probs[{s}, {a}] sums to {sums[s, a]}, not 1")
    ns = np.asarray(env.next_states)
    out = np.argwhere((ns < 0) | (ns >= n_s))
    if out.size:
        cell = tuple(int(i) for i in out[0])
        raise ValueError(
            f"{env.name}: next_states{list(cell)} = {ns[cell]} is outside [0, {n_s}) "
            "(next_states must lie in that range)"
        )
    init = np.asarray(env.initial, np.float64)
    if np.any(init < 0) or abs(init.sum() - 1.0) > atol:
        raise ValueError(f"{env.name}: initial must be a distribution (>= 0, sums to 1)")
    rewards = np.asarray(env.rewards)
    bad_r = np.argwhere(~np.isfinite(rewards))
    if bad_r.size:
        cell = tuple(int(i) for i in bad_r[0])
        raise ValueError(
            f"{env.name}: rewards{list(cell)} = {rewards[cell]}: rewards must be finite "
            "(in float32)"
        )
    return env


def distinct_outcomes(env: "TabularMDP | ChangingMDP") -> int:
    """``max_{s,a} #{s' : P(s' | s, a) > 0}``: the most distinct next states any pair has (for a
    ``ChangingMDP``, the union over both phases: the agent's model keeps what it saw in each).
    A compact agent model (``DynaQConfig.outcome_slots``) with at least this many slots stores
    every transition exactly. (``TabularMDP.max_outcomes`` is the table width ``K``, which may
    list one next state more than once.)"""
    if not isinstance(env, TabularMDP | ChangingMDP):
        raise TypeError(
            "distinct_outcomes needs the env's transition tables (a TabularMDP or ChangingMDP), "
            f"but {type(env).__name__} is a table-free env: without tables, outcome_slots must "
            "be chosen by hand (or 0, the dense model, which stores every transition)"
        )
    phases = (env.before, env.after) if isinstance(env, ChangingMDP) else (env,)
    n_s, n_a = phases[0].n_states, phases[0].n_actions
    hit = np.zeros((n_s, n_a, n_s), np.bool_)
    for mdp in phases:
        s_idx, a_idx, k_idx = np.nonzero(np.asarray(mdp.probs) > 0)
        hit[s_idx, a_idx, np.asarray(mdp.next_states)[s_idx, a_idx, k_idx]] = True
    return max(int(hit.sum(-1).max()), 1)


def stack_mdps(envs: Sequence[TabularMDP]) -> TabularMDP:
    """Stack MDPs of equal shape into one with a leading batch axis, for ``jax.vmap`` over envs.

    ``stacked.probs[i] = envs[i].probs`` (and so on for every table). Static fields must agree for
    a pytree to stack: ``time_limit`` must be equal (else ``ValueError``); ``layout``, ``name`` and
    ``action_arrows`` are kept when all equal and dropped (``None`` / ``"stacked"``) otherwise.
    """
    if not envs:
        raise ValueError("stack_mdps needs at least one env")
    first = envs[0]
    for i, e in enumerate(envs):
        if tuple(e.probs.shape) != tuple(first.probs.shape):
            raise ValueError(
                f"stack_mdps: env {i} ({e.name}) has shape {tuple(e.probs.shape)}, "
                f"env 0 has {tuple(first.probs.shape)}"
            )
        if e.time_limit != first.time_limit:
            raise ValueError(
                f"stack_mdps: env {i} has time_limit {e.time_limit}, env 0 has {first.time_limit}"
            )

    def same(field: str, default: object) -> object:
        values = [getattr(e, field) for e in envs]
        return values[0] if all(v == values[0] for v in values) else default

    return TabularMDP(
        probs=jnp.stack([e.probs for e in envs]),
        next_states=jnp.stack([e.next_states for e in envs]),
        rewards=jnp.stack([e.rewards for e in envs]),
        terminated=jnp.stack([e.terminated for e in envs]),
        initial=jnp.stack([e.initial for e in envs]),
        time_limit=first.time_limit,
        layout=same("layout", None),  # type: ignore[arg-type]
        name=same("name", "stacked"),  # type: ignore[arg-type]
        action_arrows=same("action_arrows", None),  # type: ignore[arg-type]
    )


# -- sampling -------------------------------------------------------------------------------------


inverse_cdf = sample_from_counts
"""Index ``k`` with probability ``w_k / sum_j w_j`` from one uniform ``u ~ U[0, 1)`` (inverse CDF;
the same routine samples ``s'`` from ``T_c`` rows in planning: ``dynaq_jax.rng``)."""


@typed_jit
def _reset(initial: Float[Array, " S"], key: Key) -> Int[Array, ""]:
    return inverse_cdf(initial, uniforms(key, ()))


@typed_jit
def _step(
    probs: Float[Array, "S A K"],
    next_states: Int[Array, "S A K"],
    rewards: Float[Array, "S A K"],
    terminated: Bool[Array, "S A K"],
    key: Key,
    s: IntScalar,
    a: IntScalar,
) -> Outcome:
    k = inverse_cdf(probs[s, a], uniforms(key, ()))
    return next_states[s, a, k], rewards[s, a, k], terminated[s, a, k]


def reset(env: TabularMDP, key: Key) -> Int[Array, ""]:
    """Sample the first state: ``s_0 ~ initial`` (inverse CDF of one uniform draw).

    Pure and jittable; ``jax.vmap`` over keys or over stacked envs. An eager call validates the
    env once (``validate_mdp``).
    """
    check_mdp(env)
    return _reset(env.initial, key)


_VALIDATED: "weakref.WeakValueDictionary[int, TabularMDP]" = weakref.WeakValueDictionary()


def check_mdp(env: TabularMDP) -> None:
    """``validate_mdp`` once per env object (an eager ``step`` or ``reset`` of a hand-built table
    must not return a state outside it); skipped for traced tables."""
    if not all(is_concrete(x) for x in (env.probs, env.next_states, env.initial)):
        return
    if _VALIDATED.get(id(env)) is not env:
        validate_mdp(env)
        _VALIDATED[id(env)] = env


def step(env: TabularMDP, key: Key, s: IntScalar, a: IntScalar) -> Outcome:
    """One transition: ``k ~ probs[s, a, :]``; ``(next_states, rewards, terminated)[s, a, k]``.

    ``k`` comes from one uniform draw by inverse CDF (``inverse_cdf``), no key splitting. Pure and
    jittable; ``jax.vmap`` over keys, states, actions or stacked envs. An eager call with Python or
    concrete indices checks ``0 <= s < S`` and ``0 <= a < A`` (JAX would clamp them silently).
    A time limit is not applied here: truncation is the caller's loop's business.
    """
    check_mdp(env)
    check_index("step", "s", s, env.n_states)
    check_index("step", "a", a, env.n_actions)
    return _step(env.probs, env.next_states, env.rewards, env.terminated, key, s, a)


def step_changing(maze: ChangingMDP, key: Key, t: IntScalar, s: IntScalar, a: IntScalar) -> Outcome:
    """Step ``maze.after`` when the global step ``t >= switch_step``, else ``maze.before``.

    ``(s', r, term) = step(after if t >= switch_step else before, key, s, a)``: both MDPs are
    stepped with the same key and the results selected with ``jnp.where`` (no table is copied).
    """
    if tuple(maze.before.probs.shape) != tuple(maze.after.probs.shape):
        raise ValueError(
            f"step_changing: before has shape {tuple(maze.before.probs.shape)}, after has "
            f"{tuple(maze.after.probs.shape)}; they must be equal"
        )
    check_mdp(maze.before)
    check_mdp(maze.after)
    check_index("step_changing", "s", s, maze.before.n_states)
    check_index("step_changing", "a", a, maze.before.n_actions)
    b, f = maze.before, maze.after
    out_b = _step(b.probs, b.next_states, b.rewards, b.terminated, key, s, a)
    out_a = _step(f.probs, f.next_states, f.rewards, f.terminated, key, s, a)
    late = jnp.asarray(t) >= maze.switch_step
    s_next, r, term = (jnp.where(late, y, x) for x, y in zip(out_b, out_a, strict=True))
    return s_next, r, term


__all__ = [
    "ChangingMDP",
    "Outcome",
    "TabularMDP",
    "check_mdp",
    "inverse_cdf",
    "reset",
    "stack_mdps",
    "step",
    "step_changing",
    "validate_mdp",
]
