"""Directed exploration that any planner and model kind combine with: R-max's optimism with a
known-ness threshold, MBIE-EB's count bonus, posterior sampling, and Dyna-Q+'s bonus for pairs
not tried in a long time.

* Optimism (``config.optimism = r_max > 0``): R-max (Brafman and Tennenholtz 2002) with known-ness
  threshold ``m = config.known_threshold``: a pair is *unknown* until it is tried ``m`` times, and
  an unknown pair is worth what R-max's fictitious absorbing state pays, ``r_max / (1 - gamma)``.
  Untried pairs are never updated by any planner (they are never candidates nor predecessors), so
  the value is written into ``Q`` once, when their state is first seen in the real world (acted
  from or reached, unless terminal); a tried but still unknown pair's target is that value in every
  update, direct or planned (``rmax_target``), so ``Q`` stays there until the ``m``-th try. Acting
  is then greedy towards the unknown, and planning propagates the optimistic values back through
  the learned model.
* MBIE-EB (``config.bonus_beta = beta > 0``; Strehl and Littman 2008, section 4.2): every planned
  reward of a tried pair gets ``beta / sqrt(n(s, a))`` (``count_bonus``).
* Posterior sampling (``config.posterior = "planning"``; PSRL, Osband, Russo and Van Roy 2013):
  each planning call plans on a model drawn from the posterior, ``T[s,a,:] ~ Dirichlet(T_c[s,a,:])``
  and ``R[s,a] + sigma xi / sqrt(n)`` (``posterior_draw``); the real model is kept.
* Dyna-Q+ (``config.kappa > 0``, Sutton & Barto 8.3): planned rewards get ``kappa * sqrt(tau)``,
  ``tau`` the real steps since the pair was last tried (for a never-tried pair, since the start of
  the run, or with ``tau_origin="first_visit"`` since its state's first visit).
"""

import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.config import DynaQConfig
from dynaq_jax.models import ModelKind, planning_draw
from dynaq_jax.numerics import rounded
from dynaq_jax.rng import normal_pairs, split_key, uniforms
from dynaq_jax.state import DynaQState
from dynaq_jax.types import BoolScalar, IntScalar, Key, RewardTable


def optimistic_value(config: DynaQConfig) -> Float[Array, ""]:
    """R-max's value of an unknown pair, ``r_max / (1 - gamma)`` with ``r_max = optimism``
    (``0`` when ``optimism = 0``)."""
    opt = jnp.asarray(config.optimism, jnp.float32)
    return jnp.where(opt > 0, opt / (1.0 - jnp.asarray(config.discount, jnp.float32)), 0.0)


def mark_optimistic(
    state: DynaQState, s: IntScalar, s_next: IntScalar, config: DynaQConfig, on: BoolScalar
) -> DynaQState:
    """R-max optimism after a real transition ``s -> s'`` (``model_update`` calls it).

    For ``x`` in ``{s, s'}`` unless ``terminal[x]``, and every action ``b`` still unknown
    (``visits[x, b] < m``, ``unknown``; with ``m = 1`` the untried ones):
    ``Q[x, b] = optimism / (1 - gamma)``. A no-op when ``optimism = 0`` or
    ``on`` is false.
    """
    vmax = optimistic_value(config)
    q = state.q
    for x in (s, s_next):
        mark = jnp.asarray(on) & unknown(state.visits[x], config) & ~state.terminal[x]
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


def unknown(visits: Int[Array, "*N"], config: DynaQConfig) -> Bool[Array, "*N"]:
    """R-max's unknown pairs: ``optimism > 0`` and ``n(s, a) < m`` (``m = known_threshold``;
    Brafman and Tennenholtz 2002), ``n`` the real tries counted in ``visits``."""
    m = jnp.asarray(config.known_threshold, jnp.float32)
    return (jnp.asarray(config.optimism) > 0) & (visits.astype(jnp.float32) < m)


def rmax_target(
    target: Float[Array, "*N"], visits: Int[Array, "*N"], config: DynaQConfig
) -> Float[Array, "*N"]:
    """R-max's target of a pair: ``r_max / (1 - gamma)`` (the fictitious absorbing state's value,
    ``optimistic_value``) while the pair is ``unknown``, else ``target`` itself."""
    return jnp.where(unknown(visits, config), optimistic_value(config), target)


def count_bonus(
    visits: Int[Array, "*N"], config: DynaQConfig, zero: Int[Array, ""]
) -> Float[Array, "*N"]:
    """MBIE-EB's exploration bonus ``beta / sqrt(n(s, a))`` (Strehl and Littman 2008, eq. 8;
    ``beta = bonus_beta``), ``0`` for an untried pair (``n = 0``: leave those to ``optimism``)."""
    beta = jnp.asarray(config.bonus_beta, jnp.float32)
    return jnp.where(visits > 0, rounded(beta * inverse_sqrt_count(visits, zero), zero), 0.0)


def inverse_sqrt_count(visits: Int[Array, "*N"], zero: Int[Array, ""]) -> Float[Array, "*N"]:
    """``1 / sqrt(max(n, 1))`` of the visit counts, each step ``rounded`` (the same bits eagerly,
    under ``jit`` and ``vmap``): the ``1 / sqrt(n)`` of MBIE-EB's bonus and of the reward
    posterior's width."""
    n = jnp.maximum(visits.astype(jnp.float32), 1.0)
    return rounded(1.0 / rounded(jnp.sqrt(n), zero), zero)


def planned_rewards(
    state: DynaQState, config: DynaQConfig, kind: ModelKind, zero: Int[Array, ""]
) -> RewardTable:
    """The reward the full-backup planners back up: the model's ``R_hat`` plus MBIE-EB's bonus,
    ``R_hat[s,a] + beta / sqrt(n(s,a))`` (``count_bonus``)."""
    r_hat = kind.reward_estimate(state.r, state.visits, config)
    return with_count_bonus(r_hat, state.visits, config, zero)


def with_count_bonus(
    reward: Float[Array, "*N"], visits: Int[Array, "*N"], config: DynaQConfig, zero: Int[Array, ""]
) -> Float[Array, "*N"]:
    """``reward + beta / sqrt(n)`` (``count_bonus``); ``reward`` itself, bit for bit, where
    ``beta = 0``."""
    beta_on = jnp.asarray(config.bonus_beta) > 0
    return jnp.where(beta_on, reward + count_bonus(visits, config, zero), reward)


def posterior_reward(
    state: DynaQState, key: Key, config: DynaQConfig, zero: Int[Array, ""]
) -> RewardTable:
    """The reward table drawn from its posterior: with ``sigma = posterior_reward_std > 0``,
    ``R[s,a] + sigma xi / sqrt(n(s,a))``, ``xi ~ N(0, 1)``, for every tried pair (a Gaussian
    posterior of the reward with known noise ``sigma``); else, and for untried pairs, ``R``."""
    u = uniforms(key, (2, *state.r.shape))
    xi, _ = normal_pairs(u[0], u[1])
    sigma = jnp.asarray(config.posterior_reward_std, jnp.float32)
    noise = rounded(rounded(sigma * xi, zero) * inverse_sqrt_count(state.visits, zero), zero)
    return jnp.where((state.visits > 0) & (sigma > 0), state.r + noise, state.r)


def posterior_planning(
    state: DynaQState, key: Key, config: DynaQConfig, kind: ModelKind, zero: Int[Array, ""]
) -> tuple[DynaQState, ModelKind]:
    """What a planning call with posterior sampling plans with (PSRL, Osband, Russo and Van Roy
    2013): the state with its reward drawn (``posterior_reward``) and ``kind`` answering from
    one draw ``T[s,a,:] ~ Dirichlet(T_c[s,a,:])`` of the model, drawn row by row as the planner
    reads it (``models.planning_draw``): the same bits as planning on ``posterior_draw``'s
    whole model."""
    k_model, k_reward = split_key(key, 2)
    drawn = state._replace(r=posterior_reward(state, k_reward, config, zero))
    return drawn, planning_draw(kind, k_model, state.visits, zero)


def posterior_draw(
    state: DynaQState, key: Key, config: DynaQConfig, kind: ModelKind, zero: Int[Array, ""]
) -> DynaQState:
    """The state with its model drawn from the posterior (PSRL, Osband, Russo and Van Roy 2013):
    ``T[s,a,:] ~ Dirichlet(T_c[s,a,:])`` for every tried pair (``ModelKind.posterior_draw``,
    untried pairs keep their model) and the reward drawn by ``posterior_reward``. ``Q`` and
    everything else are unchanged. Planning reads the same draw row by row
    (``posterior_planning``)."""
    k_model, k_reward = split_key(key, 2)
    model = kind.posterior_draw(state.model, k_model, state.visits, zero, config)
    return state._replace(model=model, r=posterior_reward(state, k_reward, config, zero))


__all__ = [
    "count_bonus",
    "elapsed",
    "exploration_bonus",
    "inverse_sqrt_count",
    "mark_optimistic",
    "optimistic_value",
    "planned_rewards",
    "posterior_draw",
    "posterior_planning",
    "posterior_reward",
    "rmax_target",
    "unknown",
    "with_count_bonus",
]
