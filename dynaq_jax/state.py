"""``DynaQState``: the immutable pytree an agent carries, and ``init``."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.types import Counts, QTable, RewardTable


class DynaQState(NamedTuple):
    """Everything a Dyna-Q agent knows, as arrays (a JAX pytree; never mutated).

    Attributes:
        q: action values ``Q[s, a]``.
        t_c: transition counts. Dense (``config.outcome_slots = 0``): ``T_c[s, a, s']``, shape
            ``[S, A, S]``, initialised to ``config.t_c_prior``. Compact (``outcome_slots = K``):
            ``[S, A, K]``, the count of the ``s'`` stored in slot ``k`` (``outcomes[s, a, k]``),
            initialised to 0. Either way each real transition adds exactly 1 to one cell (or, in
            the compact model, to none when all ``K`` slots hold other outcomes: ``dropped``).
        t_c_cum: the counts' running sums along the last axis: ``t_c_cum[s, a, j] = sum_{i <= j}
            (t_c[s, a, i] - prior)`` (integers; ``prior`` is ``t_c_prior`` dense, 0 compact).
            Planning samples ``s' ~ T[s, a, :]`` by comparing a uniform with this row (dense:
            ``cdf_j = t_c_cum[s, a, j] + prior * (j + 1)``): no prefix sum per draw, which made
            sampling 3x faster, for twice the count memory.
        outcomes: compact model only: ``outcomes[s, a, k]`` is the ``s'`` counted in slot ``k``
            (meaningful where ``t_c[s, a, k] > 0``; slots fill in order of first observation).
            Shape ``[S, A, K]``; ``[0]`` (empty) for the dense model.
        r: reward model ``R[s, a]``: smoothed ``(1 - alpha) R + alpha r`` for the count model, the
            last reward seen for the deterministic model.
        terminal: ``terminal[s']`` is true once a real transition into ``s'`` terminated; planning
            never bootstraps from such a state (termination is modelled as a property of the state
            reached, which holds for every gymnasium toy-text env and the Sutton & Barto mazes).
        next_state: deterministic model: the last ``s'`` seen after ``(s, a)``.
        visits: real visits of ``(s, a)``.
        last_visit: the real step at which ``(s, a)`` was last tried (Dyna-Q+'s ``tau``, the
            steps since, is ``step - 1 - last_visit``: 0 right after the pair is tried).
        pairs: flat indices ``s * A + a`` of the pairs planning may choose, in order of first visit;
            only ``pairs[:n_pairs]`` is meaningful. Length ``S * A + A`` (padding for Dyna-Q+, which
            adds all ``A`` actions of a newly visited state at once).
        n_pairs: number of valid entries of ``pairs``; planning picks ``pairs[floor(u * n_pairs)]``.
        step: real transitions seen so far.
        priority: prioritized sweeping's queue as a dense array: ``priority[s, a] > 0`` is the
            priority of a queued pair, ``0`` not queued (only ``planner="sweeping"`` uses it).
        dropped: compact model: real transitions not stored in ``t_c`` because their pair's
            ``K`` slots all held other outcomes (always 0 for the dense model, and for the
            compact one when ``K`` is at least the number of outcomes of every pair).
    """

    q: QTable
    t_c: Counts
    t_c_cum: Counts
    outcomes: Int[Array, "..."]
    r: RewardTable
    terminal: Bool[Array, " S"]
    next_state: Int[Array, "S A"]
    visits: Int[Array, "S A"]
    last_visit: Int[Array, "S A"]
    pairs: Int[Array, " P"]
    n_pairs: Int[Array, ""]
    step: Int[Array, ""]
    priority: Float[Array, "S A"]
    dropped: Int[Array, ""]

    @property
    def n_states(self) -> int:
        """``S``, read from the static shape of ``q``."""
        return int(self.q.shape[-2])

    @property
    def n_actions(self) -> int:
        """``A``, read from the static shape of ``q``."""
        return int(self.q.shape[-1])


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ValueError(f"init: {name} must be a positive int, got {value!r}")
    return int(value)


def init(n_states: int, n_actions: int, config: DynaQConfig) -> DynaQState:
    """A fresh agent: ``Q = 0``, ``T_c = t_c_prior`` everywhere (compact model: no outcome
    stored, counts 0), ``R = 0``, nothing visited.

    Memory per agent is dominated by ``T_c`` and its running sums: ``2 * 4 * S * A * S`` bytes
    dense, ``3 * 4 * S * A * K`` bytes with ``K = config.outcome_slots`` compact.
    """
    n_s = _check_size("n_states", n_states)
    n_a = _check_size("n_actions", n_actions)
    if not isinstance(config, DynaQConfig):
        raise TypeError(f"init: config must be a DynaQConfig, got {type(config).__name__}")
    slots = config.outcome_slots
    if slots > n_s:
        raise ValueError(
            f"init: config.outcome_slots={slots} exceeds n_states={n_s} (a pair has at most "
            "n_states outcomes; use outcome_slots=0 for the dense model)"
        )
    zeros_sa = jnp.zeros((n_s, n_a), jnp.float32)
    izeros_sa = jnp.zeros((n_s, n_a), jnp.int32)
    width = slots if slots else n_s
    return DynaQState(
        q=zeros_sa,
        t_c=jnp.full((n_s, n_a, width), 0.0 if slots else config.t_c_prior, jnp.float32),
        t_c_cum=jnp.zeros((n_s, n_a, width), jnp.float32),
        outcomes=jnp.zeros((n_s, n_a, slots) if slots else (0,), jnp.int32),
        r=zeros_sa,
        terminal=jnp.zeros((n_s,), jnp.bool_),
        next_state=izeros_sa,
        visits=izeros_sa,
        last_visit=izeros_sa,
        pairs=jnp.zeros((n_s * n_a + n_a,), jnp.int32),
        n_pairs=jnp.zeros((), jnp.int32),
        step=jnp.zeros((), jnp.int32),
        priority=zeros_sa,
        dropped=jnp.zeros((), jnp.int32),
    )


def model_size(state: DynaQState) -> Int[Array, "..."]:
    """Distinct ``(s, a)`` pairs tried in the real world: ``#{(s, a) : visits[s, a] > 0}``."""
    return jnp.sum(state.visits > 0, axis=(-2, -1), dtype=jnp.int32)


def dropped_message(where: str, state: DynaQState, outcome_slots: int) -> str | None:
    """A warning text when the compact model dropped transitions (``state.dropped > 0`` for any
    agent of a batch), else ``None``."""
    if not outcome_slots:
        return None
    dropped = np.asarray(state.dropped)
    total = int(dropped.sum())
    if total == 0:
        return None
    return (
        f"{where}: {total} real transition(s) in {int(np.count_nonzero(dropped))} of "
        f"{dropped.size} agent(s) were not stored: their pair had already filled its "
        f"outcome_slots={outcome_slots} slots with other next states, so the compact model is "
        "not exact here. Use outcome_slots >= dynaq_jax.envs.distinct_outcomes(env), or 0 "
        "(the dense model); DynaQState.dropped counts them per agent"
    )


def memory_bytes(state: DynaQState) -> int:
    """Bytes held by one agent's arrays (all leaves, summed)."""
    return int(sum(np.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(state)))


__all__ = ["DynaQState", "dropped_message", "init", "memory_bytes", "model_size"]
