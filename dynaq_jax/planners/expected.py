"""Expected updates (Sutton & Barto 8.5): full backups of pairs drawn as Dyna-Q draws them.

The pair ``(s, a)`` is drawn uniformly among the tried pairs, but instead of one sampled ``s'`` the
update takes the expectation over the model, as a *full backup* with learning rate 1:
``Q[s,a] = R_hat[s,a] + gamma * sum_s' T[s,a,s'] (1 - terminal[s']) max_a' Q[s',a']``. The model
is already an average over what was seen, so there is no sampling noise left for ``alpha`` to
damp; ``alpha`` still drives the direct update and the count model's reward smoothing. ``R_hat``
is the model kind's ``reward_estimate``.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.backups import bootstrap_values, full_backup
from dynaq_jax.config import DynaQConfig, any_positive
from dynaq_jax.exploration import planned_rewards, rmax_target
from dynaq_jax.models import ModelKind
from dynaq_jax.numerics import runtime_zero
from dynaq_jax.planners.base import Planner, draw_pairs, planning_active
from dynaq_jax.state import DynaQState
from dynaq_jax.types import Key, QTable


def check_no_kappa(config: DynaQConfig) -> None:
    """Dyna-Q+'s ``kappa`` is for the sample planner only."""
    if any_positive(config.kappa):
        raise ValueError(
            f"DynaQConfig.kappa={config.kappa!r} (Dyna-Q+) needs planner='sample', "
            f"got planner={config.planner!r}"
        )


def expected_updates(
    state: DynaQState,
    sa: Int[Array, " N"],
    config: DynaQConfig,
    kind: ModelKind,
    active: Bool[Array, ""] | None = None,
) -> QTable:
    """Full backups of the flat pairs ``sa = s * A + a`` in order, one ``lax.scan`` step each.

    For ``i = 1..N``: ``Q[s_i,a_i] = R_hat[s_i,a_i] + gamma * sum_s' T[s_i,a_i,s'] (1 -
    terminal[s']) max_a' Q[s',a']`` (``R_hat`` with MBIE-EB's bonus,
    ``exploration.planned_rewards``; R-max's ``r_max / (1 - gamma)`` for an unknown pair,
    ``exploration.rmax_target``). Returns ``Q``; nothing changes where ``active`` is false.
    """
    n_s, n_a = state.q.shape[-2], state.q.shape[-1]
    zero = runtime_zero(state.real_steps)
    r_hat = planned_rewards(state, config, kind, zero).reshape(-1)
    visits = state.visits.reshape(-1)

    def body(q_flat: Float[Array, " SA"], i: Int[Array, ""]) -> tuple[Float[Array, " SA"], None]:
        v = bootstrap_values(q_flat.reshape(n_s, n_a), state.terminal)
        e = kind.next_values(state.model, v, i, config, zero)
        target = rmax_target(full_backup(r_hat[i], e, config.discount, zero), visits[i], config)
        if active is not None:
            target = jnp.where(active, target, q_flat[i])
        return q_flat.at[i].set(target), None

    q_flat, _ = jax.lax.scan(body, state.q.reshape(n_s * n_a), sa)
    return q_flat.reshape(n_s, n_a)


class ExpectedPlanner(Planner):
    """``planner="expected"``: ``n`` full backups of uniformly drawn tried pairs."""

    name = "expected"

    def check_config(self, config: DynaQConfig) -> None:
        """``kappa = 0``."""
        check_no_kappa(config)

    def plan(
        self,
        state: DynaQState,
        key: Key,
        config: DynaQConfig,
        kind: ModelKind,
        active: Bool[Array, ""] | None,
    ) -> tuple[DynaQState, Int[Array, ""]]:
        """``n`` full backups (``expected_updates``) of pairs drawn as the sample planner draws
        them; ``n`` updates counted where active."""
        sa, _ = draw_pairs(state, key, config.planning_steps)
        on = planning_active(state, active)
        q = expected_updates(state, sa, config, kind, on)
        return state._replace(q=q), jnp.where(on, config.planning_steps, 0).astype(jnp.int32)


EXPECTED = ExpectedPlanner()

__all__ = ["EXPECTED", "ExpectedPlanner", "check_no_kappa", "expected_updates"]
