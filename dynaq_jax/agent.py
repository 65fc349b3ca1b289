"""The pure Dyna-Q agent: acting, direct RL, model learning and the combined step.

Every function takes one agent (one stream of experience) and returns a new ``DynaQState``;
batching over seeds or hyperparameters is the caller's ``jax.vmap``. Public functions check
indices given from Python (see ``checks.py``) and then call a jitted implementation.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Int

from dynaq_jax.checks import check_finite, check_flag, check_index, typed_jit
from dynaq_jax.config import DynaQConfig
from dynaq_jax.model import (
    expand_counts,
    outcome_slot,
    runtime_zero,
    smooth_reward,
    transition_probs_from_counts,
    uniforms,
)
from dynaq_jax.planners import after_model_update
from dynaq_jax.planning import plan_impl, q_target, td_step
from dynaq_jax.state import DynaQState
from dynaq_jax.types import BoolScalar, FloatScalar, IntScalar, Key, Policy, Probs, Values


def _check_transition(
    where: str,
    state: DynaQState,
    s: object,
    a: object,
    r: object,
    s_next: object,
    terminated: object,
) -> None:
    n_s, n_a = state.n_states, state.n_actions
    check_index(where, "s", s, n_s)
    check_index(where, "a", a, n_a)
    check_finite(where, "r", r)
    check_index(where, "s_next", s_next, n_s)
    check_flag(where, "terminated", terminated)


# -- acting ---------------------------------------------------------------------------------------


@typed_jit
def _act(state: DynaQState, key: Key, s: IntScalar, config: DynaQConfig) -> Int[Array, ""]:
    q_s = state.q[s]
    u = uniforms(key, (q_s.shape[-1] + 1,))
    noise = u[1:]
    greedy = jnp.argmax(jnp.where(q_s == jnp.max(q_s), noise, -1.0))
    uniform = jnp.argmax(noise)
    return jnp.where(u[0] < config.epsilon, uniform, greedy).astype(jnp.int32)


def act(state: DynaQState, key: Key, s: IntScalar, config: DynaQConfig) -> Int[Array, ""]:
    """Epsilon-greedy action with uniform tie-breaking.

    With probability ``epsilon`` an action uniform over all ``A``; otherwise an action uniform over
    ``argmax_a Q[s, a]`` (every maximal action, not the first: ``np.argmax``'s tie-break toward
    action 0 is why the seed notebook never reaches FrozenLake's goal). One draw of ``A + 1``
    uniforms: ``u_0 < epsilon`` decides; ``argmax`` of the remaining ``A`` (restricted to maximal
    actions when greedy) picks the action.
    """
    check_index("act", "s", s, state.n_states)
    return _act(state, key, s, config)


# -- direct RL ------------------------------------------------------------------------------------


@typed_jit
def _update(
    state: DynaQState,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
    active: Bool[Array, ""] | None = None,
) -> DynaQState:
    zero = runtime_zero(state.step)
    nonterminal = ~jnp.asarray(terminated, jnp.bool_)
    r = jnp.asarray(r, jnp.float32)
    target = q_target(r, nonterminal, config.discount, jnp.max(state.q[s_next]), zero)
    q_sa = td_step(state.q[s, a], target, config.learning_rate, active, zero)
    q = state.q.at[s, a].set(q_sa)
    return state._replace(q=q)


def update(
    state: DynaQState,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
) -> DynaQState:
    """Direct Q-learning from one real transition.

    ``Q[s,a] += alpha * (r + gamma * (1 - terminated) * max_a' Q[s',a'] - Q[s,a])``: a terminated
    transition does not bootstrap. (A time-limit truncation is not termination: pass
    ``terminated=False``.)
    """
    _check_transition("update", state, s, a, r, s_next, terminated)
    return _update(state, s, a, r, s_next, terminated, config)


# -- model learning -------------------------------------------------------------------------------


@typed_jit
def _model_update(
    state: DynaQState,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
    active: Bool[Array, ""] | None = None,
) -> DynaQState:
    # ``active=False`` makes this a no-op without selecting between whole states (the compiled
    # loop pads finished seeds this way): every write below is weighted or masked by it.
    n_a = state.q.shape[-1]
    on = jnp.asarray(True) if active is None else jnp.asarray(active, jnp.bool_)
    s = jnp.asarray(s, jnp.int32)
    a = jnp.asarray(a, jnp.int32)
    s_next = jnp.asarray(s_next, jnp.int32)
    r = jnp.asarray(r, jnp.float32)
    outcomes, dropped = state.outcomes, state.dropped
    if config.outcome_slots:
        # compact model: count s' in its slot (or the first empty one); none left: drop, count it
        slot = outcome_slot(state.t_c[s, a], state.outcomes[s, a], s_next)
        fits = slot < config.outcome_slots
        on_cell = on & fits
        cell = jnp.where(on_cell, slot, config.outcome_slots)  # out of range: written nowhere
        outcomes = outcomes.at[s, a, cell].set(s_next, mode="drop")
        dropped = dropped + (on & ~fits).astype(jnp.int32)
    else:
        cell, on_cell = s_next, on
    t_c = state.t_c.at[s, a, cell].add(on_cell.astype(jnp.float32), mode="drop")
    # running sums along the last axis: every entry j >= cell gains the same 1 (an O(S) row update)
    tail = (jnp.arange(state.t_c.shape[-1]) >= cell) & on_cell
    t_c_cum = state.t_c_cum.at[s, a].add(tail.astype(jnp.float32))
    if config.model == "count":
        smoothed = smooth_reward(state.r[s, a], r, config.learning_rate, runtime_zero(state.step))
        r_new = jnp.where(on, smoothed, state.r[s, a])
    else:
        r_new = jnp.where(on, r, state.r[s, a])
    r_tab = state.r.at[s, a].set(r_new)
    next_state = state.next_state.at[s, a].set(jnp.where(on, s_next, state.next_state[s, a]))
    terminal = state.terminal.at[s_next].max(jnp.asarray(terminated, jnp.bool_) & on)

    # Planning candidates. Dyna-Q (kappa == 0): the pair, when first tried. Dyna-Q+ (kappa > 0):
    # every action of a state when the state is first acted from (Sutton & Barto 8.3: untried
    # actions are modelled as leading back to the state with reward 0), stamped as tried now.
    plus = config.kappa > 0
    new_pair = state.visits[s, a] == 0
    new_state = jnp.all(state.visits[s] == 0)
    flat = s * n_a + a
    cand = jnp.where(plus, s * n_a + jnp.arange(n_a, dtype=jnp.int32), flat)
    n_new = jnp.where(plus, n_a * new_state, new_pair).astype(jnp.int32) * on
    # Write only the n_new new entries: ``pairs[n_pairs:]`` stays zero, whatever the history.
    window = jax.lax.dynamic_slice(state.pairs, (state.n_pairs,), (n_a,))
    cand = jnp.where(jnp.arange(n_a) < n_new, cand, window)
    pairs = jax.lax.dynamic_update_slice(state.pairs, cand, (state.n_pairs,))
    old_row = state.last_visit[s]
    stamp_row = jnp.where(plus & new_state, state.step, old_row).at[a].set(state.step)
    last_visit = state.last_visit.at[s].set(jnp.where(on, stamp_row, old_row))
    learned = state._replace(
        t_c=t_c,
        t_c_cum=t_c_cum,
        outcomes=outcomes,
        r=r_tab,
        terminal=terminal,
        next_state=next_state,
        visits=state.visits.at[s, a].add(on.astype(jnp.int32)),
        last_visit=last_visit,
        pairs=pairs,
        n_pairs=state.n_pairs + n_new,
        step=state.step + on.astype(jnp.int32),
        dropped=dropped,
    )
    return after_model_update(learned, s, a, s_next, config, on)


def model_update(
    state: DynaQState,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
) -> DynaQState:
    """Learn the model from one real transition.

    ``T_c[s,a,s'] += 1`` (that cell only; its running sums ``t_c_cum[s,a,j] += 1`` for
    ``j >= s'``; compact model: the cell is the slot ``k`` holding ``s'``, or the first empty slot,
    which then holds ``s'``; with no such slot ``dropped += 1`` and ``T_c`` is unchanged);
    count model ``R[s,a] = (1 - alpha) R[s,a] + alpha r``,
    deterministic model ``R[s,a] = r`` and ``next_state[s,a] = s'``; ``terminal[s'] |= terminated``;
    ``(s, a)`` joins the planning candidates on its first visit (with Dyna-Q+, all actions of ``s``
    on the first visit of ``s``); ``last_visit[s,a] = step``; ``step += 1``. Then
    ``planners.after_model_update``: with ``optimism > 0`` the untried actions of ``s`` and ``s'``
    get ``Q = optimism / (1 - gamma)``; with ``planner="sweeping"`` ``(s, a)`` is queued with
    priority ``|target - Q[s,a]|`` when that exceeds ``theta``.
    """
    _check_transition("model_update", state, s, a, r, s_next, terminated)
    return _model_update(state, s, a, r, s_next, terminated, config)


# -- the notebook's step --------------------------------------------------------------------------


@typed_jit
def _step(
    state: DynaQState,
    key: Key,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
    active: Bool[Array, ""] | None = None,
) -> DynaQState:
    if config.planner != "sweeping":  # prioritized sweeping applies it through its queue
        state = _update(state, s, a, r, s_next, terminated, config, active)
    state = _model_update(state, s, a, r, s_next, terminated, config, active)
    return plan_impl(state, key, config, active)


def step(
    state: DynaQState,
    key: Key,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
) -> DynaQState:
    """One Dyna-Q step on a real transition: ``update``, then ``model_update``, then ``plan``.

    (a) direct RL ``Q[s,a] += alpha (r + gamma (1 - terminated) max Q[s'] - Q[s,a])``;
    (b) model learning (see ``model_update``); (c) ``planning_steps`` simulated updates (``plan``).
    Prioritized sweeping (``planner="sweeping"``) skips (a): the queue applies the transition.
    """
    _check_transition("step", state, s, a, r, s_next, terminated)
    return _step(state, key, s, a, r, s_next, terminated, config)


# -- read-outs ------------------------------------------------------------------------------------


def transition_probs(state: DynaQState) -> Probs:
    """The count model's transition probabilities ``T = T_c / sum_s' T_c`` (rows sum to 1).

    Compact model (``outcome_slots > 0``): ``T[s,a,s'] = sum_k t_c[s,a,k] [outcomes[s,a,k] = s']
    / sum_k t_c[s,a,k]`` (what planning samples from), ``1 / S`` for a pair never tried.
    Shape ``[..., S, A, S]`` either way.
    """
    if state.outcomes.shape[-1] == 0:
        return transition_probs_from_counts(state.t_c)
    counts = expand_counts(state.t_c, state.outcomes, state.n_states, 0.0)
    total = jnp.sum(counts, axis=-1, keepdims=True)
    return jnp.where(total > 0, counts / jnp.maximum(total, 1.0), 1.0 / state.n_states)


def greedy_policy(state: DynaQState) -> Policy:
    """``pi(s) = argmax_a Q[s, a]``, ties to the lowest action (deterministic, for evaluation)."""
    return jnp.argmax(state.q, axis=-1).astype(jnp.int32)


def state_values(state: DynaQState) -> Values:
    """``V(s) = max_a Q[s, a]``."""
    return jnp.max(state.q, axis=-1)


__all__ = [
    "act",
    "greedy_policy",
    "model_update",
    "state_values",
    "step",
    "transition_probs",
    "update",
]
