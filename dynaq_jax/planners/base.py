"""The interface every planner implements, and the draw of planning pairs they share."""

import abc
from typing import Any, ClassVar

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.models import ModelKind
from dynaq_jax.rng import uniforms
from dynaq_jax.state import DynaQState
from dynaq_jax.types import Key


class Planner(abc.ABC):
    """How the ``planning_steps`` simulated updates of a real step are made (a plug-in: see
    ``dynaq_jax.planners``). A planner asks the model only through ``ModelKind``'s methods."""

    name: ClassVar[str]
    """The registry name."""

    direct_update: ClassVar[bool] = True
    """Whether ``agent.step`` applies the direct Q-learning update to the real transition
    (``False`` for a planner that applies it itself, as prioritized sweeping's queue does)."""

    draws_rows: ClassVar[bool] = True
    """With posterior sampling, whether the model is drawn row by row as the planner reads it
    (``exploration.posterior_planning``: a planning call that reads few rows draws few) or whole
    before the call (``exploration.posterior_draw``). The same bits either way; ``False`` for
    a planner that reads most rows, or rows many times over (prioritized sweeping examines every
    predecessor of each popped state)."""

    def check_config(self, config: DynaQConfig) -> None:  # noqa: B027 (optional hook)
        """Raise ``ValueError`` naming the field if ``config`` cannot run this planner."""

    def init(self, n_states: int, n_actions: int, config: DynaQConfig) -> Any:
        """The planner's own state (``DynaQState.planner``); ``None`` when it keeps none."""
        return None

    def observe(
        self,
        state: DynaQState,
        s: Int[Array, ""],
        a: Int[Array, ""],
        config: DynaQConfig,
        kind: ModelKind,
        on: Bool[Array, ""],
    ) -> DynaQState:
        """What the planner does after ``model_update`` learned a real transition from
        ``(s, a)``; nothing by default."""
        return state

    @abc.abstractmethod
    def plan(
        self,
        state: DynaQState,
        key: Key,
        config: DynaQConfig,
        kind: ModelKind,
        active: Bool[Array, ""] | None,
    ) -> tuple[DynaQState, Int[Array, ""]]:
        """Up to ``config.planning_steps`` (``>= 1``) simulated updates: the new state and the
        number of Q updates made. Nothing changes where ``active`` is false (``None``: always
        active)."""


def draw_pairs(state: DynaQState, key: Key, n: int) -> tuple[Int[Array, " N"], Float[Array, " N"]]:
    """``n`` planning pairs uniform among the distinct pairs tried, and ``n`` uniforms for their
    next states: from ``u = uniforms(key, (2, n))``, ``sa_i = pairs[floor(u[0, i] * n_pairs)]``
    (flat ``s * A + a``; Sutton & Barto 8.2: "random previously observed state and action").
    Returns ``(sa, u[1])``."""
    u = uniforms(key, (2, n))
    idx = jnp.floor(u[0] * state.n_pairs).astype(jnp.int32)
    sa = state.pairs[jnp.minimum(idx, state.pairs.shape[0] - 1)]
    return sa, u[1]


def planning_active(state: DynaQState, active: Bool[Array, ""] | None) -> Bool[Array, ""]:
    """Planning runs once some pair was tried (and where ``active``)."""
    return state.n_pairs > 0 if active is None else (state.n_pairs > 0) & active


__all__ = ["Planner", "draw_pairs", "planning_active"]
