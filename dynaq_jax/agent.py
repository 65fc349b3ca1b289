"""The pure Dyna agent: init, acting, direct RL, model learning, planning, the combined step, and
read-outs. The one place that dispatches on the config's model kind and planner (``models`` and
``planners`` look them up in their registries).

Every function takes one agent (one stream of experience) and returns a new ``DynaQState``;
batching over seeds or hyperparameters is the caller's ``jax.vmap``. Public functions check the
indices given from Python (``checks.py``) and then call a jitted implementation. The keyword-only
``active`` (a traced bool) turns a call into a masked no-op where it is false: the compiled loops
pad finished seeds this way instead of selecting between whole states.
"""

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

from dynaq_jax.backups import q_target, td_step
from dynaq_jax.checks import check_finite, check_flag, check_index, is_concrete, typed_jit
from dynaq_jax.config import DynaQConfig
from dynaq_jax.exploration import (
    mark_optimistic,
    posterior_draw,
    posterior_planning,
    rmax_target,
)
from dynaq_jax.models import kind_for, kind_of
from dynaq_jax.numerics import runtime_zero
from dynaq_jax.planners import planner_for
from dynaq_jax.rng import split_key, uniforms
from dynaq_jax.state import DynaQState
from dynaq_jax.types import BoolScalar, FloatScalar, IntScalar, Key, Policy, Probs, Values

Active = Bool[Array, ""] | None
"""``None`` (always active) or a traced bool: ``False`` makes the call a masked no-op."""


def _check_size(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < 1:
        raise ValueError(f"init: {name} must be a positive int, got {value!r}")
    return int(value)


def init(n_states: int, n_actions: int, config: DynaQConfig) -> DynaQState:
    """A fresh agent: ``Q = 0``, ``R = 0``, nothing visited, the empty model of the config's
    model kind (dense counts: ``T_c = t_c_prior`` everywhere) and the planner's empty state.

    Memory per agent: ``state.memory_bytes``; the dense counts dominate (``2 * 4 * S * A * S``
    bytes), the compact model needs ``3 * 4 * S * A * K``, the deterministic one ``4 * S * A``.
    """
    n_s = _check_size("n_states", n_states)
    n_a = _check_size("n_actions", n_actions)
    if not isinstance(config, DynaQConfig):
        raise TypeError(f"init: config must be a DynaQConfig, got {type(config).__name__}")
    zeros_sa = jnp.zeros((n_s, n_a), jnp.float32)
    izeros_sa = jnp.zeros((n_s, n_a), jnp.int32)
    return DynaQState(
        q=zeros_sa,
        r=zeros_sa,
        terminal=jnp.zeros((n_s,), jnp.bool_),
        visits=izeros_sa,
        last_visit=izeros_sa,
        pairs=jnp.zeros((n_s * n_a + n_a,), jnp.int32),
        n_pairs=jnp.zeros((), jnp.int32),
        real_steps=jnp.zeros((), jnp.int32),
        model=kind_for(config).init(n_s, n_a, config),
        planner=planner_for(config).init(n_s, n_a, config),
    )


@functools.lru_cache(maxsize=256)
def _layout(n_states: int, n_actions: int, structure: Any) -> Any:
    """The shapes and dtypes ``init`` makes for one agent, cached on the config's tree structure
    (its static fields; the leaves do not change the state's layout)."""
    config = jax.tree.unflatten(structure, [0.0] * structure.num_leaves)
    return jax.eval_shape(lambda: init(n_states, n_actions, config))


def _signature(tree: Any) -> tuple[str, list[tuple[tuple[int, ...], str]]]:
    leaves, treedef = jax.tree.flatten(tree)
    return str(treedef), [(tuple(np.shape(x)), str(np.dtype(x.dtype))) for x in leaves]


def _describe(state: Any) -> str:
    """``DenseModel(t_c (5, 3, 5), t_c_cum (5, 3, 5)), planner None`` for a state or its shapes."""
    model = ", ".join(
        f"{jax.tree_util.keystr(p, simple=True)} {tuple(np.shape(x))}"
        for p, x in jax.tree_util.tree_leaves_with_path(state.model)
    )
    return f"{type(state.model).__name__}({model}), planner {type(state.planner).__name__}"


def check_agent(where: str, state: object, config: object) -> None:
    """The host-boundary check of an agent function's ``state`` and ``config``.

    ``TypeError`` unless they are a ``DynaQState`` and a ``DynaQConfig``; ``ValueError`` for a
    batch of agents or a stacked config given to a function of one agent (it says to use
    ``jax.vmap``), and for a state whose structure is not the one ``config`` selects (a dense
    state with a compact config, a state made for another planner). Skipped under ``jit``/``vmap``
    (tracers): it costs nothing in the compiled loops.
    """
    if not isinstance(config, DynaQConfig):
        raise TypeError(f"{where}: config must be a DynaQConfig, got {type(config).__name__}")
    if not isinstance(state, DynaQState):
        raise TypeError(f"{where}: state must be a DynaQState, got {type(state).__name__}")
    q = state.q
    if not is_concrete(q):
        return
    if np.ndim(q) != 2:
        raise ValueError(
            f"{where}: state is a batch of agents (q has shape {tuple(np.shape(q))}, batch shape "
            f"{tuple(np.shape(q))[:-2]}); {where} takes one agent: map it over the batch with "
            f"jax.vmap({where}, ...)"
        )
    if all(is_concrete(x) for x in jax.tree.leaves(config)) and config.batch_shape:
        raise ValueError(
            f"{where}: config is a stacked sweep (leaves of shape {config.batch_shape}); {where} "
            "takes one config: map it over the sweep with jax.vmap"
        )
    want = _layout(int(q.shape[0]), int(q.shape[1]), jax.tree.structure(config))
    if _signature(state) != _signature(want):
        raise ValueError(
            f"{where}: the state does not match the config (model={config.model!r}, "
            f"outcome_slots={config.outcome_slots}, planner={config.planner!r}): the config keeps "
            f"{_describe(want)}, the state holds {_describe(state)}; was it made by init with "
            "another config?"
        )


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
    """Epsilon-greedy action with uniform tie-breaking (Sutton & Barto 2.2 and 8.2).

    With probability ``epsilon`` an action uniform over all ``A``; otherwise an action uniform over
    ``argmax_a Q[s, a]`` (every maximal action, not the first: ``np.argmax``'s tie-break toward
    action 0 is why the seed notebook never reaches FrozenLake's goal). One draw of ``A + 1``
    uniforms: ``u_0 < epsilon`` decides; ``argmax`` of the remaining ``A`` (restricted to maximal
    actions when greedy) picks the action.

    Raises:
        ValueError: ``s`` is not an index in ``[0, S)``.
    """
    check_agent("act", state, config)
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
    active: Active = None,
) -> DynaQState:
    zero = runtime_zero(state.real_steps)
    nonterminal = ~jnp.asarray(terminated, jnp.bool_)
    r = jnp.asarray(r, jnp.float32)
    target = q_target(r, nonterminal, config.discount, jnp.max(state.q[s_next]), zero)
    # R-max: a pair still unknown after this try keeps its optimistic target.
    # The row, as _model_update reads it: XLA merges the two reads, and the table is updated in
    # place (a read of the old table that the update does not depend on makes it copy the table).
    target = rmax_target(target, state.visits[s][a] + 1, config)
    q_sa = td_step(state.q[s, a], target, config.learning_rate, active, zero)
    return state._replace(q=state.q.at[s, a].set(q_sa))


def update(
    state: DynaQState,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
    *,
    active: Active = None,
) -> DynaQState:
    """Direct Q-learning from one real transition (Watkins 1989; Sutton & Barto 6.5, eq. 6.8).

    ``Q[s,a] += alpha * (r + gamma * (1 - terminated) * max_a' Q[s',a'] - Q[s,a])``: a terminated
    transition does not bootstrap. (A time-limit truncation is not termination: pass
    ``terminated=False``.)

    Raises:
        ValueError: an index out of range, a non-finite ``r``, a non-bool ``terminated``.
    """
    check_agent("update", state, config)
    _check_transition("update", state, s, a, r, s_next, terminated)
    return _update(state, s, a, r, s_next, terminated, config, active)


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
    active: Active = None,
) -> DynaQState:
    # ``active=False`` makes this a no-op without selecting between whole states: every write
    # below is weighted or masked by it.
    kind = kind_for(config)
    n_a = state.q.shape[-1]
    on = jnp.asarray(True) if active is None else jnp.asarray(active, jnp.bool_)
    s = jnp.asarray(s, jnp.int32)
    a = jnp.asarray(a, jnp.int32)
    s_next = jnp.asarray(s_next, jnp.int32)
    r = jnp.asarray(r, jnp.float32)
    model = kind.learn(state.model, s, a, s_next, on, config)
    learned_r = kind.learn_reward(state.r[s, a], r, config, runtime_zero(state.real_steps))
    r_tab = state.r.at[s, a].set(jnp.where(on, learned_r, state.r[s, a]))
    terminal = state.terminal.at[s_next].max(jnp.asarray(terminated, jnp.bool_) & on)

    # Planning candidates. Dyna-Q (kappa == 0): the pair, when first tried. Dyna-Q+ (kappa > 0):
    # every action of a state when the state is first acted from (Sutton & Barto 8.3: untried
    # actions are modelled as leading back to the state with reward 0). The tried action is
    # stamped now; the untried ones keep last_visit = 0 (tau from the start of the run, the book's
    # definition) unless tau_origin == "first_visit" stamps them now too.
    plus = config.kappa > 0
    # One read of the row, which the write below depends on: XLA then updates visits in place
    # (a second, unordered read of the old table makes it copy the whole table every step).
    visits_row = state.visits[s]
    new_pair = visits_row[a] == 0
    new_state = jnp.all(visits_row == 0)
    flat = s * n_a + a
    cand = jnp.where(plus, s * n_a + jnp.arange(n_a, dtype=jnp.int32), flat)
    n_new = jnp.where(plus, n_a * new_state, new_pair).astype(jnp.int32) * on
    # Write only the n_new new entries: ``pairs[n_pairs:]`` stays zero, whatever the history.
    window = jax.lax.dynamic_slice(state.pairs, (state.n_pairs,), (n_a,))
    cand = jnp.where(jnp.arange(n_a) < n_new, cand, window)
    pairs = jax.lax.dynamic_update_slice(state.pairs, cand, (state.n_pairs,))
    old_row = state.last_visit[s]
    if config.tau_origin == "first_visit":
        old_row_or_now = jnp.where(plus & new_state, state.real_steps, old_row)
    else:
        old_row_or_now = old_row
    stamp_row = old_row_or_now.at[a].set(state.real_steps)
    last_visit = state.last_visit.at[s].set(jnp.where(on, stamp_row, old_row))
    learned = state._replace(
        model=model,
        r=r_tab,
        terminal=terminal,
        visits=state.visits.at[s].set(visits_row.at[a].add(on.astype(jnp.int32))),
        last_visit=last_visit,
        pairs=pairs,
        n_pairs=state.n_pairs + n_new,
        real_steps=state.real_steps + on.astype(jnp.int32),
    )
    learned = mark_optimistic(learned, s, s_next, config, on)
    return planner_for(config).observe(learned, s, a, config, kind, on)


def model_update(
    state: DynaQState,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
    *,
    active: Active = None,
) -> DynaQState:
    """Learn the model from one real transition (Sutton & Barto 8.2, step (e); the lecture notes'
    count model).

    The model kind learns ``(s, a) -> s'`` (dense counts ``T_c[s,a,s'] += 1``; the compact model
    counts ``s'`` in its slot or drops it when all slots hold other states; the deterministic model
    keeps ``next_state[s,a] = s'``); count models ``R[s,a] = (1 - alpha) R[s,a] + alpha r``, the
    deterministic model ``R[s,a] = r``; ``terminal[s'] |= terminated``; ``(s, a)`` joins the
    planning candidates on its first visit (with Dyna-Q+, all actions of ``s`` on the first visit
    of ``s``); ``last_visit[s,a] = real_steps``; ``real_steps += 1``. Then with ``optimism > 0``
    the untried actions of ``s`` and ``s'`` get ``Q = optimism / (1 - gamma)``, and the planner
    observes the pair (prioritized sweeping queues it with priority ``|target - Q[s,a]|`` when
    that exceeds ``theta``).

    Dyna-Q+'s ``tau`` (``exploration.elapsed``) is ``real_steps - 1 - last_visit[s,a]``. With
    ``tau_origin="run"`` (the default) only the tried action is stamped, so an action never tried
    from a visited state keeps ``last_visit = 0`` and has ``tau = real_steps - 1``, the steps since
    the start of the run: Sutton & Barto 8.3 ("has not been tried in tau time steps") and the
    common reproduction (ShangtongZhang/reinforcement-learning-an-introduction,
    chapter08/maze.py: untried actions get time stamp 1, ``tau = time - stamp = time - 1``).
    With ``tau_origin="first_visit"`` the first visit of ``s`` also stamps all its untried
    actions, so their ``tau`` counts from that visit.

    Raises:
        ValueError: an index out of range, a non-finite ``r``, a non-bool ``terminated``.
    """
    check_agent("model_update", state, config)
    _check_transition("model_update", state, s, a, r, s_next, terminated)
    return _model_update(state, s, a, r, s_next, terminated, config, active)


# -- planning -------------------------------------------------------------------------------------


@typed_jit
def _plan(
    state: DynaQState, key: Key, config: DynaQConfig, active: Active = None
) -> tuple[DynaQState, Int[Array, ""]]:
    if config.planning_steps == 0:
        return state, jnp.zeros((), jnp.int32)
    kind, planner = kind_for(config), planner_for(config)
    if config.posterior == "off":
        return planner.plan(state, key, config, kind, active)
    # Posterior sampling: plan on a drawn model (row by row as the planner reads it, or whole:
    # the same bits), keep the learned one.
    key, k_draw = split_key(key, 2)
    zero = runtime_zero(state.real_steps)
    if planner.draws_rows:
        drawn, kind = posterior_planning(state, k_draw, config, kind, zero)
    else:
        drawn = posterior_draw(state, k_draw, config, kind, zero)
    planned, updates = planner.plan(drawn, key, config, kind, active)
    return planned._replace(model=state.model, r=state.r), updates


def plan_counted(
    state: DynaQState, key: Key, config: DynaQConfig, *, active: Active = None
) -> tuple[DynaQState, Int[Array, ""]]:
    """``plan``, and the number of Q updates the planner made (``planning_steps`` for the sample
    and expected planners once a pair was tried; prioritized sweeping's pops above ``theta``)."""
    check_agent("plan", state, config)
    return _plan(state, key, config, active)


def plan(state: DynaQState, key: Key, config: DynaQConfig, *, active: Active = None) -> DynaQState:
    """``planning_steps`` simulated updates from the model (Dyna-Q's step (f), Sutton & Barto 8.2),
    by the config's planner (``dynaq_jax.planners``).

    The default ``"sample"`` planner, for ``i = 1..n``: ``(s, a)`` uniform among the pairs tried,
    ``s' ~ T[s,a,:]``, ``r = R[s,a]`` (plus the Dyna-Q+ bonus), then ``Q[s,a] += alpha (r + gamma
    (1 - terminal[s']) max Q[s'] - Q[s,a])``, one ``lax.scan``. A no-op before any pair was tried
    or with ``planning_steps = 0``.
    """
    return plan_counted(state, key, config, active=active)[0]


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
    active: Active = None,
) -> tuple[DynaQState, Int[Array, ""]]:
    direct = planner_for(config).direct_update
    if direct:
        state = _update(state, s, a, r, s_next, terminated, config, active)
    state = _model_update(state, s, a, r, s_next, terminated, config, active)
    state, planned = _plan(state, key, config, active)
    on = jnp.asarray(True) if active is None else jnp.asarray(active, jnp.bool_)
    return state, planned + (on & direct).astype(jnp.int32)


def step_counted(
    state: DynaQState,
    key: Key,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
    *,
    active: Active = None,
) -> tuple[DynaQState, Int[Array, ""]]:
    """``step``, and the number of Q updates it made: the direct update (unless the planner
    applies the transition itself) plus the planner's (``plan_counted``); ``0`` where
    ``active`` is false."""
    check_agent("step", state, config)
    _check_transition("step", state, s, a, r, s_next, terminated)
    return _step(state, key, s, a, r, s_next, terminated, config, active)


def step(
    state: DynaQState,
    key: Key,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    config: DynaQConfig,
    *,
    active: Active = None,
) -> DynaQState:
    """One Dyna-Q step on a real transition (Sutton & Barto 8.2, steps (d)-(f)): ``update``, then
    ``model_update``, then ``plan``.

    (d) direct RL ``Q[s,a] += alpha (r + gamma (1 - terminated) max Q[s'] - Q[s,a])``;
    (e) model learning (``model_update``); (f) ``planning_steps`` simulated updates (``plan``).
    Prioritized sweeping skips (d): its queue applies the transition.

    Raises:
        ValueError: an index out of range, a non-finite ``r``, a non-bool ``terminated``.
    """
    return step_counted(state, key, s, a, r, s_next, terminated, config, active=active)[0]


# -- read-outs ------------------------------------------------------------------------------------


def transition_probs(state: DynaQState, config: DynaQConfig | None = None) -> Probs:
    """The model's transition probabilities ``T[s, a, s']``, shape ``[..., S, A, S]``; every row
    sums to 1.

    Dense counts: the lecture notes' ``T = T_c / sum_s' T_c``. Compact model: ``T[s,a,s'] =
    sum_k t_c[s,a,k] [outcomes[s,a,k] = s'] / sum_k t_c[s,a,k]`` (what planning samples from).
    Deterministic model: one-hot at the last ``s'`` seen. An untried pair is uniform. (The model
    kind is read from ``config``, or from the state's model when no config is given.)
    """
    kind = kind_of(state.model) if config is None else kind_for(config)
    cfg = DynaQConfig() if config is None else config
    return kind.transition_probs(state.model, state.visits, cfg)


def greedy_policy(state: DynaQState) -> Policy:
    """``pi(s) = argmax_a Q[s, a]``, ties to the lowest action (deterministic, for evaluation)."""
    return jnp.argmax(state.q, axis=-1).astype(jnp.int32)


def state_values(state: DynaQState) -> Values:
    """``V(s) = max_a Q[s, a]``."""
    return jnp.max(state.q, axis=-1)


__all__ = [
    "Active",
    "act",
    "check_agent",
    "greedy_policy",
    "init",
    "model_update",
    "plan",
    "plan_counted",
    "state_values",
    "step",
    "step_counted",
    "transition_probs",
    "update",
]
