"""The deterministic model of Sutton & Barto's Tabular Dyna-Q box (section 8.2) and the seed
notebook: the last ``(s', r)`` seen after each pair. No counts: ``[S, A]`` ints per agent."""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.models.base import ModelKind, Successors
from dynaq_jax.types import Probs, Values


class LastSeenModel(NamedTuple):
    """Last-seen successors.

    Attributes:
        next_state: the last ``s'`` seen after ``(s, a)`` (``0`` before the pair is tried).
    """

    next_state: Int[Array, "S A"]


class LastSeen(ModelKind):
    """``Model(s, a) = (s', r)`` last seen (``model="deterministic"``)."""

    name = "last_seen"
    model_type = LastSeenModel
    smooths_reward = False
    stochastic = False
    bounded_outcomes = True

    def check_config(self, config: DynaQConfig) -> None:
        """``posterior="off"``: a last-seen model has no posterior over transitions."""
        if config.posterior != "off":
            raise ValueError(
                f"DynaQConfig.posterior={config.posterior!r} needs a count model (model='count'), "
                f"got model={config.model!r}"
            )

    def init(self, n_states: int, n_actions: int, config: DynaQConfig) -> LastSeenModel:
        """Nothing seen."""
        return LastSeenModel(next_state=jnp.zeros((n_states, n_actions), jnp.int32))

    def learn(
        self,
        model: LastSeenModel,
        s: Int[Array, ""],
        a: Int[Array, ""],
        s_next: Int[Array, ""],
        on: Bool[Array, ""],
        config: DynaQConfig,
    ) -> LastSeenModel:
        """``next_state[s, a] = s'``."""
        old = model.next_state[s, a]
        return LastSeenModel(model.next_state.at[s, a].set(jnp.where(on, s_next, old)))

    def learn_reward(
        self, r_sa: Float[Array, ""], r: Float[Array, ""], config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, ""]:
        """``R[s, a] = r`` (the last reward)."""
        return r

    def reward_estimate(
        self, r: Float[Array, "*N"], visits: Int[Array, "*N"], config: DynaQConfig
    ) -> Float[Array, "*N"]:
        """``R`` itself."""
        return r

    def sample_next(
        self, model: LastSeenModel, sa: Int[Array, " N"], u: Float[Array, " N"], config: DynaQConfig
    ) -> Int[Array, " N"]:
        """``s' = next_state[s, a]`` (no draw)."""
        return model.next_state.reshape(-1)[sa]

    def next_values(
        self,
        model: LastSeenModel,
        v: Values,
        sa: Int[Array, "*N"],
        config: DynaQConfig,
        zero: Int[Array, ""],
    ) -> Float[Array, "*N"]:
        """``v[next_state[s, a]]``."""
        return v[model.next_state.reshape(-1)[sa]]

    def all_next_values(
        self, model: LastSeenModel, v: Values, config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, "S A"]:
        """``v[next_state]``."""
        return v[model.next_state]

    def into(self, model: LastSeenModel, config: DynaQConfig) -> None:
        """Nothing: ``value_change`` reads ``next_state``."""
        return None

    def value_change(
        self,
        model: LastSeenModel,
        into: None,
        s: Int[Array, ""],
        dv: Float[Array, ""],
        zero: Int[Array, ""],
    ) -> Float[Array, "S A"]:
        """``dv`` where ``next_state = s``, else 0."""
        return jnp.where(model.next_state == s, dv, 0.0)

    def predecessors(
        self,
        model: LastSeenModel,
        s: Int[Array, ""],
        visits: Int[Array, "S A"],
        config: DynaQConfig,
    ) -> Bool[Array, "S A"]:
        """Tried pairs with ``next_state = s``."""
        return (model.next_state == s) & (visits > 0)

    def successors(
        self,
        model: LastSeenModel,
        sa: Int[Array, "*N"],
        visits: Int[Array, "S A"],
        config: DynaQConfig,
    ) -> Successors:
        """One entry: ``next_state[s, a]`` with probability 1, seen once the pair was tried."""
        nxt = model.next_state.reshape(-1)[sa][..., None]
        tried = (visits.reshape(-1)[sa] > 0)[..., None]
        return Successors(nxt, jnp.ones(nxt.shape, jnp.float32), tried)

    def leads_to(
        self,
        model: LastSeenModel,
        sa: Int[Array, "*N"],
        s: Int[Array, ""],
        visits: Int[Array, "S A"],
        config: DynaQConfig,
    ) -> Bool[Array, "*N"]:
        """The pair was tried and ``next_state[s, a] = s`` (``predecessors`` at ``sa``)."""
        return (model.next_state.reshape(-1)[sa] == s) & (visits.reshape(-1)[sa] > 0)

    def transition_probs(
        self, model: LastSeenModel, visits: Int[Array, "*B S A"], config: DynaQConfig
    ) -> Probs:
        """``T[s, a, :]`` is one-hot at ``next_state[s, a]`` for a tried pair, ``1 / S``
        otherwise."""
        n_s = visits.shape[-2]
        one_hot = jax.nn.one_hot(model.next_state, n_s, dtype=jnp.float32)
        return jnp.where((visits > 0)[..., None], one_hot, 1.0 / n_s)


LAST_SEEN = LastSeen()

__all__ = ["LAST_SEEN", "LastSeen", "LastSeenModel"]
