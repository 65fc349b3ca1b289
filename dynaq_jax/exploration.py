"""Directed exploration that any planner and model kind combine with: R-max-style optimism for
untried pairs, and Dyna-Q+'s bonus for pairs not tried in a long time.

* Optimism (``config.optimism = r_max > 0``): R-max (Brafman and Tennenholtz 2002) with ``m = 1``
  known-ness: a pair is *unknown* until it is tried once, and an unknown pair is worth what R-max's
  fictitious absorbing state pays, ``r_max / (1 - gamma)``. Untried pairs are never updated by any
  planner (they are never candidates nor predecessors), so the value is written into ``Q`` once,
  when their state is first seen in the real world (acted from or reached, unless terminal), and
  stays until the pair is tried: acting is then greedy towards the unknown, and planning propagates
  the optimistic values back through the learned model.
* Dyna-Q+ (``config.kappa > 0``, Sutton & Barto 8.3): planned rewards get ``kappa * sqrt(tau)``,
  ``tau`` the real steps since the pair was last tried (for a never-tried pair, since the start of
  the run, or with ``tau_origin="first_visit"`` since its state's first visit).
"""

import jax.numpy as jnp
from jaxtyping import Array, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.numerics import rounded
from dynaq_jax.state import DynaQState
from dynaq_jax.types import BoolScalar, IntScalar


def optimistic_value(config: DynaQConfig) -> Float[Array, ""]:
    """R-max's value of an unknown pair, ``r_max / (1 - gamma)`` with ``r_max = optimism``
    (``0`` when ``optimism = 0``)."""
    opt = jnp.asarray(config.optimism, jnp.float32)
    return jnp.where(opt > 0, opt / (1.0 - jnp.asarray(config.discount, jnp.float32)), 0.0)


def mark_optimistic(
    state: DynaQState, s: IntScalar, s_next: IntScalar, config: DynaQConfig, on: BoolScalar
) -> DynaQState:
    """R-max optimism after a real transition ``s -> s'`` (``model_update`` calls it).

    For ``x`` in ``{s, s'}`` unless ``terminal[x]``, and every action ``b`` with
    ``visits[x, b] = 0``: ``Q[x, b] = optimism / (1 - gamma)``. A no-op when ``optimism = 0`` or
    ``on`` is false.
    """
    lit = jnp.asarray(on) & (jnp.asarray(config.optimism) > 0)
    vmax = optimistic_value(config)
    q = state.q
    for x in (s, s_next):
        mark = lit & (state.visits[x] == 0) & ~state.terminal[x]
        q = q.at[x].set(jnp.where(mark, vmax, q[x]))
    return state._replace(q=q)


def elapsed(state: DynaQState, sa: Int[Array, "*N"]) -> Float[Array, "*N"]:
    """Dyna-Q+'s ``tau`` of the flat pairs ``sa``: ``real_steps - 1 - last_visit[s, a]``, the real
    steps since the pair was last tried (0 right after it; clipped at 0 for the empty model).

    For an action never tried from a visited state, ``last_visit`` is what ``model_update`` left:
    ``0`` with ``tau_origin="run"`` (the default), so ``tau = real_steps - 1``, the steps since the
    start of the run, as Sutton & Barto 8.3 define it and as the common reproduction
    (ShangtongZhang/reinforcement-learning-an-introduction, chapter08/maze.py: stamp 1,
    ``tau = time - 1``) computes it; with ``tau_origin="first_visit"`` the real step of the state's
    first visit, so ``tau`` counts the steps since then.
    """
    last = state.last_visit.reshape(-1)[sa]
    return jnp.maximum(state.real_steps - 1 - last, 0).astype(jnp.float32)


def exploration_bonus(
    tau: Float[Array, "*N"], config: DynaQConfig, zero: Int[Array, ""]
) -> Float[Array, "*N"]:
    """Dyna-Q+'s bonus ``kappa * sqrt(tau)`` (Sutton & Barto 8.3), ``0`` where ``tau = 0``."""
    return jnp.where(tau > 0, rounded(config.kappa * jnp.sqrt(tau), zero), 0.0)


__all__ = ["elapsed", "exploration_bonus", "mark_optimistic", "optimistic_value"]
