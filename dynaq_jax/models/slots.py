"""The compact count model: ``K`` outcome slots per pair (``DynaQConfig.outcome_slots = K``).

Each slot holds one observed ``s'`` and its count, filled in order of first observation. Exact for
environments where every pair has at most ``K`` distinct outcomes (``envs.distinct_outcomes``: 1
for Taxi, CliffWalking and the mazes, 3 for slippery FrozenLake); a transition to a ``(K+1)``-th
outcome is not stored and is counted in ``dropped`` (the trainers warn). It plans with
``T = counts / visits`` over the observed outcomes: the prior's mass on unobserved states is not
represented (the one semantic difference from the dense model). Memory ``3 * 4 * S * A * K``
bytes per agent.
"""

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.backups import expected_value
from dynaq_jax.config import DynaQConfig
from dynaq_jax.models.base import CountModelKind, Successors, add_count, dirichlet_rows
from dynaq_jax.numerics import prefix_sum, rounded, row_sum
from dynaq_jax.rng import sample_from_cumulative_counts
from dynaq_jax.types import Counts, Key, Probs, Values


class SlotModel(NamedTuple):
    """Slot counts.

    Attributes:
        t_c: ``[S, A, K]``, the count of the ``s'`` stored in slot ``k``, initialised to 0.
        t_c_cum: the counts' running sums along the slots (integers).
        outcomes: ``outcomes[s, a, k]`` is the ``s'`` counted in slot ``k`` (meaningful where
            ``t_c[s, a, k] > 0``; slots fill in order of first observation).
        dropped: real transitions not stored because their pair's ``K`` slots all held other
            outcomes.
    """

    t_c: Counts
    t_c_cum: Counts
    outcomes: Int[Array, "S A K"]
    dropped: Int[Array, ""]


def outcome_slot(
    counts: Float[Array, " K"], outcomes: Int[Array, " K"], s_next: Int[Array, ""]
) -> Int[Array, ""]:
    """The slot for ``s'`` in one pair's row: the slot holding ``s'`` (``counts[k] > 0`` and
    ``outcomes[k] = s'``), else the first empty slot (``counts[k] = 0``), else ``K`` (all slots
    hold other outcomes: the transition does not fit).

    Slots fill in order of first observation, so the held ones are a prefix and
    ``min(held slot, first empty slot)`` is the answer.
    """
    k = counts.shape[-1]
    idx = jnp.arange(k, dtype=jnp.int32)
    held = (counts > 0) & (outcomes == s_next)
    usable = held | (counts == 0)
    return jnp.min(jnp.where(usable, idx, k)).astype(jnp.int32)


def expand_counts(
    t_c: Float[Array, "*B K"], outcomes: Int[Array, "*B K"], n_states: int, prior: float
) -> Float[Array, "*B S"]:
    """The slot counts as the dense ``T_c``: ``prior + sum_k t_c[k] [outcomes[k] = s']`` for every
    ``s'`` (what the dense model holds after the same transitions, up to rounding)."""
    hit = outcomes[..., None] == jnp.arange(n_states, dtype=outcomes.dtype)
    return prior + jnp.sum(jnp.where(hit, t_c[..., None], 0.0), axis=-2)


def slot_probs(t_c: Float[Array, "*N K"]) -> Float[Array, "*N K"]:
    """``T = t_c / sum_k t_c`` over a pair's outcome slots (integer counts, no prior; an untried
    pair's row is all zeros), row sums by ``numerics.row_sum``."""
    return t_c / jnp.maximum(row_sum(t_c), 1.0)[..., None]


class SlotCounts(CountModelKind):
    """``K`` outcome slots per pair (``model="count"`` with ``outcome_slots = K > 0``)."""

    name = "slots"
    model_type = SlotModel
    bounded_outcomes = True

    def check_config(self, config: DynaQConfig) -> None:
        """``outcome_slots >= 1``."""
        if config.outcome_slots < 1:
            raise ValueError(
                f"DynaQConfig.outcome_slots must be >= 1 for the slots model, "
                f"got {config.outcome_slots}"
            )

    def init(self, n_states: int, n_actions: int, config: DynaQConfig) -> SlotModel:
        """No outcome stored, counts 0 (``ValueError`` when ``K > n_states``)."""
        k = config.outcome_slots
        if k > n_states:
            raise ValueError(
                f"init: config.outcome_slots={k} exceeds n_states={n_states} (a pair has at most "
                "n_states outcomes; use outcome_slots=0 for the dense model)"
            )
        shape = (n_states, n_actions, k)
        return SlotModel(
            t_c=jnp.zeros(shape, jnp.float32),
            t_c_cum=jnp.zeros(shape, jnp.float32),
            outcomes=jnp.zeros(shape, jnp.int32),
            dropped=jnp.zeros((), jnp.int32),
        )

    def learn(
        self,
        model: SlotModel,
        s: Int[Array, ""],
        a: Int[Array, ""],
        s_next: Int[Array, ""],
        on: Bool[Array, ""],
        config: DynaQConfig,
    ) -> SlotModel:
        """Count ``s'`` in its slot (or the first empty one, which then holds ``s'``); with no
        such slot ``dropped += 1`` and the counts are unchanged."""
        k = config.outcome_slots
        slot = outcome_slot(model.t_c[s, a], model.outcomes[s, a], s_next)
        fits = slot < k
        on_cell = on & fits
        cell = jnp.where(on_cell, slot, k)  # out of range: written nowhere
        outcomes = model.outcomes.at[s, a, cell].set(s_next, mode="drop")
        dropped = model.dropped + (on & ~fits).astype(jnp.int32)
        t_c, t_c_cum = add_count(model.t_c, model.t_c_cum, s, a, cell, on_cell)
        return SlotModel(t_c=t_c, t_c_cum=t_c_cum, outcomes=outcomes, dropped=dropped)

    def sample_next(
        self, model: SlotModel, sa: Int[Array, " N"], u: Float[Array, " N"], config: DynaQConfig
    ) -> Int[Array, " N"]:
        """A slot ``k`` with probability ``t_c[s,a,k] / sum_k t_c[s,a,k]``, then
        ``s' = outcomes[s,a,k]``."""
        k = model.t_c.shape[-1]
        rows = model.t_c_cum.reshape(-1, k)[sa]
        slot = sample_from_cumulative_counts(rows, u, 0.0)
        return model.outcomes.reshape(-1)[sa * k + slot]

    def next_values(
        self,
        model: SlotModel,
        v: Values,
        sa: Int[Array, "*N"],
        config: DynaQConfig,
        zero: Int[Array, ""],
    ) -> Float[Array, "*N"]:
        """``sum_k T[s, a, k] v[outcomes[s, a, k]]``."""
        k = model.t_c.shape[-1]
        rows = slot_probs(model.t_c.reshape(-1, k)[sa])
        return expected_value(rows, v[model.outcomes.reshape(-1, k)[sa]], zero)

    def all_next_values(
        self, model: SlotModel, v: Values, config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, "S A"]:
        """``sum_k T[s, a, k] v[outcomes[s, a, k]]`` for every pair."""
        return expected_value(slot_probs(model.t_c), v[model.outcomes], zero)

    def into(self, model: SlotModel, config: DynaQConfig) -> Float[Array, "S A K"]:
        """The slot probabilities (``slot_probs``)."""
        return slot_probs(model.t_c)

    def value_change(
        self,
        model: SlotModel,
        into: Float[Array, "S A K"],
        s: Int[Array, ""],
        dv: Float[Array, ""],
        zero: Int[Array, ""],
    ) -> Float[Array, "S A"]:
        """``T[:, :, s] * dv``: at most one slot of a pair holds ``s``."""
        held = (model.outcomes == s) & (model.t_c > 0)
        return rounded(jnp.sum(jnp.where(held, into, 0.0), -1) * dv, zero)

    def predecessors(
        self, model: SlotModel, s: Int[Array, ""], visits: Int[Array, "S A"], config: DynaQConfig
    ) -> Bool[Array, "S A"]:
        """A slot of ``(sb, ab)`` holds ``s``."""
        return jnp.any((model.outcomes == s) & (model.t_c > 0), axis=-1)

    def successors(
        self, model: SlotModel, sa: Int[Array, "*N"], visits: Int[Array, "S A"], config: DynaQConfig
    ) -> Successors:
        """The ``K`` slots: ``outcomes[s, a, k]`` with ``T = slot_probs(t_c[s, a])``, seen where
        ``t_c[s, a, k] > 0``."""
        k = model.t_c.shape[-1]
        counts = model.t_c.reshape(-1, k)[sa]
        return Successors(model.outcomes.reshape(-1, k)[sa], slot_probs(counts), counts > 0)

    def leads_to(
        self,
        model: SlotModel,
        sa: Int[Array, "*N"],
        s: Int[Array, ""],
        visits: Int[Array, "S A"],
        config: DynaQConfig,
    ) -> Bool[Array, "*N"]:
        """A held slot of the pair holds ``s`` (``predecessors`` at ``sa``)."""
        k = model.t_c.shape[-1]
        held = (model.outcomes.reshape(-1, k)[sa] == s) & (model.t_c.reshape(-1, k)[sa] > 0)
        return jnp.any(held, axis=-1)

    def posterior_rows(
        self,
        model: SlotModel,
        key: Key,
        sa: Int[Array, " M"],
        visits: Int[Array, "S A"],
        zero: Int[Array, ""],
        config: DynaQConfig,
    ) -> SlotModel:
        """The rows of ``sa`` with the slot counts replaced by a posterior draw:
        ``t_c' = N * D`` with ``D ~ Dirichlet(t_c)`` over the held slots and
        ``N = sum_k t_c`` (no prior mass, as the compact model plans). Shapes ``[M, 1, K]``."""
        k = model.t_c.shape[-1]
        t_c = model.t_c.reshape(-1, k)[sa]
        drawn = dirichlet_rows(key, sa, t_c, jnp.sum(t_c, axis=-1), zero)
        return model._replace(
            t_c=drawn[:, None],
            t_c_cum=prefix_sum(drawn)[:, None],
            outcomes=model.outcomes.reshape(-1, k)[sa][:, None],
        )

    def transition_probs(
        self, model: SlotModel, visits: Int[Array, "*B S A"], config: DynaQConfig
    ) -> Probs:
        """``T[s,a,s'] = sum_k t_c[s,a,k] [outcomes[s,a,k] = s'] / sum_k t_c[s,a,k]`` (what
        planning samples from), ``1 / S`` for a pair never tried."""
        n_s = visits.shape[-2]
        counts = expand_counts(model.t_c, model.outcomes, n_s, 0.0)
        total = jnp.sum(counts, axis=-1, keepdims=True)
        return jnp.where(total > 0, counts / jnp.maximum(total, 1.0), 1.0 / n_s)


SLOTS = SlotCounts()

__all__ = ["SLOTS", "SlotCounts", "SlotModel", "expand_counts", "outcome_slot", "slot_probs"]
