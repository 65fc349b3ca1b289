"""Dyna-Q's planner (Sutton & Barto 8.2, step (f)): sampled one-step updates.

For ``i = 1..n``: ``(s, a)`` uniform among the distinct pairs tried, ``s' ~ T[s, a, :]`` from the
model, ``r = R[s, a]`` (plus Dyna-Q+'s ``kappa sqrt(tau)`` and MBIE-EB's ``beta / sqrt(n)``;
``Q[s,a]``'s target is R-max's ``r_max / (1 - gamma)`` while the pair is unknown), then
``Q[s,a] += alpha (r + gamma (1 - terminal[s']) max_a' Q[s',a'] - Q[s,a])``. The model does not
change while one planning call runs, only ``Q`` does: all ``n`` transitions are drawn up front in
one batched computation and the ``lax.scan`` body is the Q-learning update alone.

Dyna-Q+ (``kappa > 0``) lets planning try actions never tried from a visited state: they lead back
to the same state with reward 0.
"""

import jax.numpy as jnp
from jaxtyping import Array, Bool, Int

from dynaq_jax.backups import sampled_updates
from dynaq_jax.config import DynaQConfig
from dynaq_jax.exploration import (
    elapsed,
    exploration_bonus,
    optimistic_value,
    unknown,
    with_count_bonus,
)
from dynaq_jax.models import ModelKind
from dynaq_jax.numerics import runtime_zero
from dynaq_jax.planners.base import Planner, draw_pairs, planning_active
from dynaq_jax.state import DynaQState
from dynaq_jax.types import Key


class SamplePlanner(Planner):
    """``planner="sample"``: Dyna-Q's sampled updates (the default)."""

    name = "sample"

    def plan(
        self,
        state: DynaQState,
        key: Key,
        config: DynaQConfig,
        kind: ModelKind,
        active: Bool[Array, ""] | None,
    ) -> tuple[DynaQState, Int[Array, ""]]:
        """``n`` sampled updates (module docstring); ``n`` updates counted where active."""
        n = config.planning_steps
        n_a = state.q.shape[-1]
        sa, u = draw_pairs(state, key, n)
        s = sa // n_a
        s_model = kind.sample_next(state.model, sa, u, config)
        tried = state.visits.reshape(-1)[sa] > 0
        s_next = jnp.where(tried, s_model, s)
        zero = runtime_zero(state.real_steps)
        bonus = exploration_bonus(elapsed(state, sa), config, zero)
        visits = state.visits.reshape(-1)[sa]
        reward = jnp.where(tried, state.r.reshape(-1)[sa], 0.0) + bonus
        reward = with_count_bonus(reward, visits, config, zero)
        # R-max: an unknown pair leads to the absorbing state worth r_max / (1 - gamma).
        unknown_sa = tried & unknown(visits, config)
        reward = jnp.where(unknown_sa, optimistic_value(config), reward)
        nonterminal = ~state.terminal[s_next] & ~unknown_sa
        on = planning_active(state, active)
        q = sampled_updates(
            state.q,
            sa,
            reward,
            s_next,
            nonterminal,
            config.learning_rate,
            config.discount,
            on,
            zero,
        )
        return state._replace(q=q), jnp.where(on, n, 0).astype(jnp.int32)


SAMPLE = SamplePlanner()

__all__ = ["SAMPLE", "SamplePlanner"]
