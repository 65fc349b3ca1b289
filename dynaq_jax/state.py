"""``DynaQState``: the immutable pytree an agent carries.

What every Dyna agent has (``Q``, the reward model ``R``, termination, visits, the planning
candidates, the real-step count) sits in named fields; the transition model is one typed
sub-pytree (``model``) chosen by the static config, and a planner's own state (the sweeping queue)
sits in ``planner``, ``None`` for planners without one. ``dynaq_jax.agent.init`` builds a state.
"""

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

from dynaq_jax.types import Counts, QTable, RewardTable


class DynaQState(NamedTuple):
    """Everything a Dyna agent knows, as arrays (a JAX pytree; never mutated).

    Attributes:
        q: action values ``Q[s, a]``, shape ``[S, A]``.
        r: reward model ``R[s, a]``: smoothed ``(1 - alpha) R + alpha r`` for the count models,
            the last reward seen for the deterministic (last-seen) model.
        terminal: ``terminal[s']`` is true once a real transition into ``s'`` terminated; planning
            never bootstraps from such a state (termination is modelled as a property of the state
            reached, which holds for every gymnasium toy-text env and the Sutton & Barto mazes).
        visits: real visits of ``(s, a)``.
        last_visit: the real step at which ``(s, a)`` was last tried (Dyna-Q+'s ``tau``, the
            steps since, is ``real_steps - 1 - last_visit``: 0 right after the pair is tried).
        pairs: flat indices ``s * A + a`` of the pairs planning may choose, in order of first
            visit; only ``pairs[:n_pairs]`` is meaningful. Length ``S * A + A`` (padding for
            Dyna-Q+, which adds all ``A`` actions of a newly visited state at once).
        n_pairs: number of valid entries of ``pairs``; planning picks ``pairs[floor(u * n_pairs)]``.
        real_steps: real transitions learned so far.
        model: the transition model, a sub-pytree of the model kind the config selects
            (``dynaq_jax.models``): ``DenseModel`` (``t_c``, ``t_c_cum``), ``SlotModel`` (the
            compact counts: ``t_c``, ``t_c_cum``, ``outcomes``, ``dropped``) or ``LastSeenModel``
            (``next_state``).
        planner: the planner's own state (``dynaq_jax.planners``): ``SweepQueue`` (the
            priorities and their block maxima, the predecessor lists and their ``overflow``) for
            prioritized sweeping, ``None`` for the others.
    """

    q: QTable
    r: RewardTable
    terminal: Bool[Array, " S"]
    visits: Int[Array, "S A"]
    last_visit: Int[Array, "S A"]
    pairs: Int[Array, " P"]
    n_pairs: Int[Array, ""]
    real_steps: Int[Array, ""]
    model: Any
    planner: Any

    @property
    def n_states(self) -> int:
        """``S``, read from the static shape of ``q``."""
        return int(self.q.shape[-2])

    @property
    def n_actions(self) -> int:
        """``A``, read from the static shape of ``q``."""
        return int(self.q.shape[-1])

    @property
    def batch_shape(self) -> tuple[int, ...]:
        """The leading batch dimensions (``()`` for one agent, ``(B,)`` for a batch of seeds)."""
        return tuple(self.q.shape[:-2])

    @property
    def t_c(self) -> Counts:
        """The transition counts ``T_c`` of a count model (``state.model.t_c``)."""
        t_c = getattr(self.model, "t_c", None)
        if t_c is None:
            raise AttributeError(
                f"this agent's model ({type(self.model).__name__}) keeps no counts T_c"
            )
        out: Counts = t_c
        return out

    @property
    def dropped(self) -> Int[Array, "..."]:
        """Real transitions the model could not store (the compact model's overflow; zeros for
        models that store every transition), shape ``batch_shape``."""
        dropped = getattr(self.model, "dropped", None)
        if dropped is None:
            return jnp.zeros(self.batch_shape, jnp.int32)
        out: Int[Array, "..."] = dropped
        return out

    @property
    def overflow(self) -> Int[Array, "..."]:
        """Predecessors the planner could not list (prioritized sweeping's full predecessor
        lists; zeros for planners that keep none), shape ``batch_shape``."""
        overflow = getattr(self.planner, "overflow", None)
        if overflow is None:
            return jnp.zeros(self.batch_shape, jnp.int32)
        out: Int[Array, "..."] = overflow
        return out


def model_size(state: DynaQState) -> Int[Array, "..."]:
    """Distinct ``(s, a)`` pairs tried in the real world: ``#{(s, a) : visits[s, a] > 0}``."""
    return jnp.sum(state.visits > 0, axis=(-2, -1), dtype=jnp.int32)


def dropped_message(where: str, state: DynaQState, outcome_slots: int) -> str | None:
    """A warning text when the model dropped transitions (``state.dropped > 0`` for any agent of
    a batch) or prioritized sweeping's predecessor lists overflowed (``state.overflow > 0``,
    read when ``state`` has it), else ``None``."""
    parts = []
    dropped = np.asarray(state.dropped)
    total = int(dropped.sum())
    if total:
        parts.append(
            f"{where}: {total} real transition(s) in {int(np.count_nonzero(dropped))} of "
            f"{dropped.size} agent(s) were not stored: their pair had already filled its "
            f"outcome_slots={outcome_slots} slots with other next states, so the compact model "
            "is not exact here. Use outcome_slots >= dynaq_jax.envs.distinct_outcomes(env), or "
            "0 (the dense model); DynaQState.dropped counts them per agent"
        )
    overflow = getattr(state, "overflow", None)
    if overflow is not None and int(np.sum(np.asarray(overflow))):
        parts.append(overflow_message(where, np.asarray(overflow)))
    return "; ".join(parts) if parts else None


def overflow_message(where: str, overflow: "np.ndarray[Any, Any]") -> str:
    """The warning text for prioritized sweeping's full predecessor lists (``overflow`` per
    agent, its sum positive)."""
    return (
        f"{where}: {int(overflow.sum())} predecessor(s) in {int(np.count_nonzero(overflow))} of "
        f"{overflow.size} agent(s) were not listed: their next state's predecessor list was "
        "full (planners.sweeping.PREDECESSOR_CAPACITY), so prioritized sweeping does not "
        "re-prioritize them when that state's value changes (the values stay correct, the "
        "sweeps are incomplete); DynaQState.overflow counts them per agent"
    )


def memory_bytes(state: DynaQState) -> int:
    """Bytes held by one agent's arrays (all leaves, summed)."""
    return int(sum(np.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(state)))


__all__ = ["DynaQState", "dropped_message", "memory_bytes", "model_size", "overflow_message"]
