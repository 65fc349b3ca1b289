"""The lecture notes' count model, stored densely: ``T_c[s, a, s']`` for every ``s'``.

``T = T_c / sum_s' T_c`` with every cell started at the small prior ``t_c_prior`` (so a row never
sums to zero and an untried pair is uniform), ``R' = (1 - alpha) R + alpha r``. Memory per agent
``2 * 4 * S * A * S`` bytes (the counts and their running sums): the choice for small ``S``.
"""

from typing import NamedTuple

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.backups import expected_value
from dynaq_jax.config import DynaQConfig
from dynaq_jax.models.base import (
    CountModelKind,
    Successors,
    add_count,
    count_probs,
    dirichlet_rows,
)
from dynaq_jax.numerics import prefix_sum, rounded
from dynaq_jax.rng import sample_from_cumulative_counts
from dynaq_jax.types import Counts, Key, Probs, Values


class DenseModel(NamedTuple):
    """Dense counts.

    Attributes:
        t_c: ``T_c[s, a, s']``, shape ``[S, A, S]``, initialised to ``config.t_c_prior``; each real
            transition adds exactly 1 to one cell.
        t_c_cum: the counts' running sums ``t_c_cum[s, a, j] = sum_{i <= j} (T_c[s, a, i] -
            prior)`` (integers). Planning samples ``s' ~ T[s, a, :]`` by comparing a uniform with
            ``cdf_j = t_c_cum[s, a, j] + prior * (j + 1)``: no prefix sum per draw.
    """

    t_c: Counts
    t_c_cum: Counts


def transition_probs_from_counts(t_c: Counts) -> Probs:
    """Normalise counts row by row: ``T[s,a,s'] = T_c[s,a,s'] / sum_s'' T_c[s,a,s'']`` (the
    lecture notes' ``T = T_c / sum T_c``). Every row of ``T_c`` starts at a positive prior, so the
    sum is never zero."""
    return t_c / jnp.sum(t_c, axis=-1, keepdims=True)


class DenseCounts(CountModelKind):
    """``T_c`` for every ``(s, a, s')`` (the default model, ``model="count"``)."""

    name = "dense"
    model_type = DenseModel

    def init(self, n_states: int, n_actions: int, config: DynaQConfig) -> DenseModel:
        """``T_c = t_c_prior`` everywhere, running sums 0."""
        shape = (n_states, n_actions, n_states)
        return DenseModel(
            t_c=jnp.full(shape, config.t_c_prior, jnp.float32),
            t_c_cum=jnp.zeros(shape, jnp.float32),
        )

    def learn(
        self,
        model: DenseModel,
        s: Int[Array, ""],
        a: Int[Array, ""],
        s_next: Int[Array, ""],
        on: Bool[Array, ""],
        config: DynaQConfig,
    ) -> DenseModel:
        """``T_c[s, a, s'] += 1`` (and its running sums)."""
        return DenseModel(*add_count(model.t_c, model.t_c_cum, s, a, s_next, on))

    def sample_next(
        self, model: DenseModel, sa: Int[Array, " N"], u: Float[Array, " N"], config: DynaQConfig
    ) -> Int[Array, " N"]:
        """``s' ~ T[s, a, :]`` by inverse CDF on the running sums."""
        n_s = model.t_c.shape[-1]
        rows = model.t_c_cum.reshape(-1, n_s)[sa]
        return sample_from_cumulative_counts(rows, u, config.t_c_prior)

    def next_values(
        self,
        model: DenseModel,
        v: Values,
        sa: Int[Array, "*N"],
        config: DynaQConfig,
        zero: Int[Array, ""],
    ) -> Float[Array, "*N"]:
        """``sum_s' T[s, a, s'] v[s']``."""
        n_s = model.t_c.shape[-1]
        return expected_value(count_probs(model.t_c.reshape(-1, n_s)[sa]), v, zero)

    def all_next_values(
        self, model: DenseModel, v: Values, config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, "S A"]:
        """``sum_s' T[s, a, s'] v[s']`` for every pair."""
        return expected_value(count_probs(model.t_c), v, zero)

    def into(self, model: DenseModel, config: DynaQConfig) -> Probs:
        """``T`` (``count_probs``)."""
        return count_probs(model.t_c)

    def value_change(
        self,
        model: DenseModel,
        into: Probs,
        s: Int[Array, ""],
        dv: Float[Array, ""],
        zero: Int[Array, ""],
    ) -> Float[Array, "S A"]:
        """``T[:, :, s] * dv``."""
        return rounded(into[:, :, s] * dv, zero)

    def predecessors(
        self, model: DenseModel, s: Int[Array, ""], visits: Int[Array, "S A"], config: DynaQConfig
    ) -> Bool[Array, "S A"]:
        """``T_c[sb, ab, s] > t_c_prior``: a real transition into ``s`` was seen."""
        return model.t_c[:, :, s] > config.t_c_prior

    def successors(
        self,
        model: DenseModel,
        sa: Int[Array, "*N"],
        visits: Int[Array, "S A"],
        config: DynaQConfig,
    ) -> Successors:
        """Every state, ``T = T_c / sum T_c`` of the pair's row, seen where
        ``T_c > t_c_prior``."""
        n_s = model.t_c.shape[-1]
        rows = model.t_c.reshape(-1, n_s)[sa]
        states = jnp.broadcast_to(jnp.arange(n_s, dtype=jnp.int32), rows.shape)
        return Successors(states, count_probs(rows), rows > config.t_c_prior)

    def leads_to(
        self,
        model: DenseModel,
        sa: Int[Array, "*N"],
        s: Int[Array, ""],
        visits: Int[Array, "S A"],
        config: DynaQConfig,
    ) -> Bool[Array, "*N"]:
        """``T_c[sb, ab, s] > t_c_prior`` at the pairs ``sa``."""
        n_s = model.t_c.shape[-1]
        return model.t_c.reshape(-1, n_s)[sa, s] > config.t_c_prior

    def posterior_rows(
        self,
        model: DenseModel,
        key: Key,
        sa: Int[Array, " M"],
        visits: Int[Array, "S A"],
        zero: Int[Array, ""],
        config: DynaQConfig,
    ) -> DenseModel:
        """The rows of ``sa`` with the counts of every tried pair replaced by a posterior draw on
        top of the prior: ``T_c' = prior + N * D`` with ``D ~ Dirichlet(T_c)`` over the cells
        where a transition was seen (``T_c > prior``) and ``N`` the row's real count, so
        ``T' = T_c' / sum T_c'`` is the draw up to the prior's mass (``S * prior / N``).
        Untried pairs keep their counts. Shapes ``[M, 1, S]``."""
        n_s = model.t_c.shape[-1]
        prior = config.t_c_prior
        t_c = model.t_c.reshape(-1, n_s)[sa]
        seen = t_c > prior
        total = jnp.sum(jnp.where(seen, t_c - prior, 0.0), axis=-1)
        drawn = dirichlet_rows(key, sa, jnp.where(seen, t_c, 0.0), total, zero)
        tried = (visits.reshape(-1)[sa] > 0)[:, None]
        cum = model.t_c_cum.reshape(-1, n_s)[sa]
        return DenseModel(
            t_c=jnp.where(tried, prior + drawn, t_c)[:, None],
            t_c_cum=jnp.where(tried, prefix_sum(drawn), cum)[:, None],
        )

    def transition_probs(
        self, model: DenseModel, visits: Int[Array, "*B S A"], config: DynaQConfig
    ) -> Probs:
        """``T = T_c / sum_s' T_c``."""
        return transition_probs_from_counts(model.t_c)


DENSE = DenseCounts()

__all__ = ["DENSE", "DenseCounts", "DenseModel", "transition_probs_from_counts"]
