"""Posterior sampling's model, drawn row by row as a planning call reads it.

A planning call with posterior sampling (``DynaQConfig.posterior = "planning"``) plans on one
model drawn from the posterior (PSRL, Osband, Russo and Van Roy 2013). A planner reads few of its
rows (the sample planner ``n``, a sweep the predecessors it examines), while drawing the whole
model costs ``S A K`` gamma variates at every real step. ``planning_draw`` wraps a count model's
kind so that every question a planner asks about pairs ``sa`` is answered from those rows of the
draw alone (``ModelKind.posterior_rows``): pair ``sa``'s row depends only on the call's key and
``sa``, so the answers are those of the whole drawn model (``ModelKind.posterior_draw``), bit for
bit, at a cost that follows the rows read. Questions about every pair draw every row.
"""

import functools
from typing import Any

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.models.base import ModelKind, Successors
from dynaq_jax.types import Key, Probs, Values


class PlanningDraw(ModelKind):
    """A count model's kind (``base``) answering from the posterior draw of one planning call
    (``key``), drawing only the rows asked about. Made by ``planning_draw``; planners use it
    as any kind. Learning (``init``, ``learn``, the reward) is the base kind's."""

    base: ModelKind

    def __init__(
        self, base: ModelKind, key: Key, visits: Int[Array, "S A"], zero: Int[Array, ""]
    ) -> None:
        self.base, self.key, self.visits, self.zero = base, key, visits, zero

    def _rows(
        self, model: Any, sa: Int[Array, "*N"], config: DynaQConfig
    ) -> tuple[Any, Int[Array, "*N"], Int[Array, "M 1"]]:
        """The drawn rows of ``sa`` as a model of ``M = size(sa)`` states and one action, the
        indices of ``sa``'s pairs in it, and their visit counts in its shape."""
        flat = jnp.asarray(sa, jnp.int32).reshape(-1)
        rows = self.base.posterior_rows(model, self.key, flat, self.visits, self.zero, config)
        index = jnp.arange(flat.shape[0], dtype=jnp.int32).reshape(jnp.shape(sa))
        return rows, index, self.visits.reshape(-1)[flat][:, None]

    def _whole(self, model: Any, config: DynaQConfig) -> Any:
        return self.base.posterior_draw(model, self.key, self.visits, self.zero, config)

    def check_config(self, config: DynaQConfig) -> None:
        """The base kind's check."""
        self.base.check_config(config)

    def init(self, n_states: int, n_actions: int, config: DynaQConfig) -> Any:
        """The base kind's empty model."""
        return self.base.init(n_states, n_actions, config)

    def learn(
        self,
        model: Any,
        s: Int[Array, ""],
        a: Int[Array, ""],
        s_next: Int[Array, ""],
        on: Bool[Array, ""],
        config: DynaQConfig,
    ) -> Any:
        """The base kind's learning (the real model is learned, never the draw)."""
        return self.base.learn(model, s, a, s_next, on, config)

    def learn_reward(
        self, r_sa: Float[Array, ""], r: Float[Array, ""], config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, ""]:
        """The base kind's reward update."""
        return self.base.learn_reward(r_sa, r, config, zero)

    def reward_estimate(
        self, r: Float[Array, "*N"], visits: Int[Array, "*N"], config: DynaQConfig
    ) -> Float[Array, "*N"]:
        """The base kind's ``R_hat`` (the reward's own draw is in ``r``:
        ``exploration.posterior_planning``)."""
        return self.base.reward_estimate(r, visits, config)

    def sample_next(
        self, model: Any, sa: Int[Array, " N"], u: Float[Array, " N"], config: DynaQConfig
    ) -> Int[Array, " N"]:
        """``s' ~ T'[s, a, :]`` from the drawn rows of ``sa``."""
        rows, index, _ = self._rows(model, sa, config)
        return self.base.sample_next(rows, index, u, config)

    def next_values(
        self,
        model: Any,
        v: Values,
        sa: Int[Array, "*N"],
        config: DynaQConfig,
        zero: Int[Array, ""],
    ) -> Float[Array, "*N"]:
        """``sum_s' T'[s, a, s'] v[s']`` from the drawn rows of ``sa``."""
        rows, index, _ = self._rows(model, sa, config)
        return self.base.next_values(rows, v, index, config, zero)

    def successors(
        self, model: Any, sa: Int[Array, "*N"], visits: Int[Array, "S A"], config: DynaQConfig
    ) -> Successors:
        """The drawn rows of ``sa`` as ``K`` (state, probability) entries."""
        rows, index, row_visits = self._rows(model, sa, config)
        return self.base.successors(rows, index, row_visits, config)

    def leads_to(
        self,
        model: Any,
        sa: Int[Array, "*N"],
        s: Int[Array, ""],
        visits: Int[Array, "S A"],
        config: DynaQConfig,
    ) -> Bool[Array, "*N"]:
        """Whether the drawn rows of ``sa`` lead to ``s``."""
        rows, index, row_visits = self._rows(model, sa, config)
        return self.base.leads_to(rows, index, s, row_visits, config)

    def all_next_values(
        self, model: Any, v: Values, config: DynaQConfig, zero: Int[Array, ""]
    ) -> Float[Array, "S A"]:
        """``sum_s' T'[s, a, s'] v[s']`` for every pair (the whole draw)."""
        return self.base.all_next_values(self._whole(model, config), v, config, zero)

    def into(self, model: Any, config: DynaQConfig) -> Any:
        """The base kind's ``into`` of the whole draw."""
        return self.base.into(self._whole(model, config), config)

    def value_change(
        self,
        model: Any,
        into: Any,
        s: Int[Array, ""],
        dv: Float[Array, ""],
        zero: Int[Array, ""],
    ) -> Float[Array, "S A"]:
        """The base kind's ``value_change`` through the draw (``into`` holds it; the draw has the
        real model's support, where ``value_change`` reads ``model``)."""
        return self.base.value_change(model, into, s, dv, zero)

    def predecessors(
        self, model: Any, s: Int[Array, ""], visits: Int[Array, "S A"], config: DynaQConfig
    ) -> Bool[Array, "S A"]:
        """The pairs the whole draw leads to ``s`` from."""
        return self.base.predecessors(self._whole(model, config), s, visits, config)

    def posterior_rows(
        self,
        model: Any,
        key: Key,
        sa: Int[Array, " M"],
        visits: Int[Array, "S A"],
        zero: Int[Array, ""],
        config: DynaQConfig,
    ) -> Any:
        """The base kind's ``posterior_rows`` of ``model`` (the real model: what this kind
        answers from is itself a draw of it)."""
        return self.base.posterior_rows(model, key, sa, visits, zero, config)

    def transition_probs(
        self, model: Any, visits: Int[Array, "*B S A"], config: DynaQConfig
    ) -> Probs:
        """``T'`` of the whole draw."""
        return self.base.transition_probs(self._whole(model, config), visits, config)


@functools.cache
def _draw_class(base: type[ModelKind]) -> type[PlanningDraw]:
    """``PlanningDraw`` with the base kind's class attributes (what planners branch on)."""
    names = ("name", "model_type", "smooths_reward", "stochastic", "bounded_outcomes")
    return type(f"{base.__name__}Draw", (PlanningDraw,), {n: getattr(base, n) for n in names})


def planning_draw(
    base: ModelKind, key: Key, visits: Int[Array, "S A"], zero: Int[Array, ""]
) -> ModelKind:
    """``base`` answering from one posterior draw of its model (key ``key``; ``visits`` the
    real tries, ``zero`` the agent's ``numerics.runtime_zero``), each question drawing only the
    rows it reads (``PlanningDraw``)."""
    return _draw_class(type(base))(base, key, visits, zero)


__all__ = ["PlanningDraw", "planning_draw"]
