"""Property-based verification for model kinds and planners, the library's own and yours.

Hypothesis strategies (random tabular MDPs, transition histories, configs) and invariant checks
(each raises ``AssertionError`` naming what broke). The library's test suite runs every check on
every registered model kind and planner (``tests/test_plugins.py``); a researcher who registers a
plug-in verifies it the same way::

    from hypothesis import given
    from dynaq_jax import testing

    @given(testing.histories(5, 3), testing.configs(model="my_kind"))
    def test_my_kind(history, config):
        testing.check_model_invariants(history, config)

Needs ``hypothesis`` (``pip install "dynaq-jax[testing]"``); the rest of the library does not
import this module.
"""

import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from dynaq_jax.agent import init, model_update, plan, step, transition_probs
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import TabularMDP, validate_mdp
from dynaq_jax.models import kind_for
from dynaq_jax.state import DynaQState

Transition = tuple[int, int, float, int, bool]
"""One real transition ``(s, a, r, s', terminated)``."""


def f32s(lo: float, hi: float, **kw: Any) -> st.SearchStrategy[float]:
    """Floats in ``[lo, hi]`` exactly representable in float32 (no NaN, no subnormals); ``kw``
    goes to ``hypothesis.strategies.floats``."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if lo32 < lo:
        lo32 = np.nextafter(lo32, np.float32(np.inf))
    if hi32 > hi:
        hi32 = np.nextafter(hi32, np.float32(-np.inf))
    return st.floats(
        float(lo32), float(hi32), width=32, allow_nan=False, allow_subnormal=False, **kw
    )


def transitions(
    n_states: int, n_actions: int, reward_bound: float = 10.0
) -> st.SearchStrategy[Transition]:
    """One real transition with indices in range and a float32 reward in ``[-bound, bound]``."""
    return st.tuples(
        st.integers(0, n_states - 1),
        st.integers(0, n_actions - 1),
        f32s(-reward_bound, reward_bound),
        st.integers(0, n_states - 1),
        st.booleans(),
    )


def histories(
    n_states: int,
    n_actions: int,
    min_size: int = 1,
    max_size: int = 25,
    *,
    with_terminal: bool = False,
) -> st.SearchStrategy[list[Transition]]:
    """A sequence of real transitions (a model's learning history). ``with_terminal``: at least
    one of them ends its episode (the last one is made to when none does), so that a test of
    terminal states need not filter the histories."""
    out = st.lists(transitions(n_states, n_actions), min_size=min_size, max_size=max_size)
    return out.map(_end_one_episode) if with_terminal else out


def _end_one_episode(history: list[Transition]) -> list[Transition]:
    if not history or any(t[4] for t in history):
        return history
    s, a, r, s_next, _ = history[-1]
    return [*history[:-1], (s, a, r, s_next, True)]


@functools.cache
def _takes_kappa(model: str, planner: str, outcome_slots: int, posterior: str) -> bool:
    """Whether the planner and model accept Dyna-Q+'s ``kappa > 0`` (their ``check_config``)."""
    try:
        DynaQConfig(
            kappa=1e-3,
            model=model,
            planner=planner,
            outcome_slots=outcome_slots,
            posterior=posterior,
        )
    except ValueError:
        return False
    return True


@st.composite
def configs(
    draw: st.DrawFn,
    model: str = "count",
    planner: str = "sample",
    planning_steps: int = 4,
    outcome_slots: int = 3,
    dyna_q_plus: bool | None = None,
    posterior: str = "off",
    rmax: bool = True,
) -> DynaQConfig:
    """A valid config of the given model and planner with random leaves (alpha, gamma, epsilon,
    and Dyna-Q+'s kappa or R-max's optimism and known-ness threshold where the planner takes them,
    MBIE-EB's beta; ``dyna_q_plus`` forces kappa on or off, ``rmax=False`` never draws optimism;
    ``posterior`` is passed on). The static fields are fixed by the arguments, so a test compiles
    once per (model, planner). ``outcome_slots`` is set for every model and used by those that
    need it. Kappa is drawn only where the planner and model take it (``dyna_q_plus=True``
    otherwise gives the planner's own error)."""
    kappa = 0.0
    if dyna_q_plus is None and _takes_kappa(model, planner, outcome_slots, posterior):
        kappa = draw(st.sampled_from([0.0, 0.0, 1e-3, 0.1]))
    if dyna_q_plus:
        kappa = draw(f32s(1e-3, 1.0))
    optimism = 0.0
    if kappa == 0 and rmax:
        optimism = draw(st.sampled_from([0.0, 0.0, 1.0]))
    known_threshold = draw(st.sampled_from([1, 1, 3])) if optimism > 0 else 1
    try:
        return DynaQConfig(
            learning_rate=draw(f32s(0.01, 1.0)),
            discount=draw(f32s(0.0, 0.99)),
            epsilon=draw(f32s(0.0, 1.0)),
            planning_steps=planning_steps,
            model=model,
            planner=planner,
            kappa=kappa,
            optimism=optimism,
            known_threshold=known_threshold,
            bonus_beta=draw(st.sampled_from([0.0, 0.0, 0.5])),
            outcome_slots=outcome_slots,
            posterior=posterior,
        )
    except ValueError:  # e.g. kappa > 0 with a planner that does not take it
        assume(False)
        raise


@st.composite
def mdps(
    draw: st.DrawFn, n_states: int = 5, n_actions: int = 3, max_outcomes: int = 3
) -> TabularMDP:
    """A random ``TabularMDP`` of fixed shape: per pair up to ``K`` outcomes with random
    probabilities, next states, float32 rewards and terminal flags; a random initial state."""
    shape = (n_states, n_actions, max_outcomes)
    weights = np.array(
        draw(
            st.lists(st.integers(0, 4), min_size=int(np.prod(shape)), max_size=int(np.prod(shape)))
        )
    ).reshape(shape)
    weights[..., 0] += 1  # every pair has an outcome
    probs = (weights / weights.sum(-1, keepdims=True)).astype(np.float32)
    nxt = draw(st.lists(st.integers(0, n_states - 1), min_size=probs.size, max_size=probs.size))
    rew = draw(st.lists(f32s(-1.0, 1.0), min_size=probs.size, max_size=probs.size))
    term = draw(st.lists(st.booleans(), min_size=probs.size, max_size=probs.size))
    start = draw(st.integers(0, n_states - 1))
    initial = np.zeros(n_states, np.float32)
    initial[start] = 1.0
    return validate_mdp(
        TabularMDP(
            probs=jnp.asarray(probs),
            next_states=jnp.asarray(np.array(nxt, np.int32).reshape(shape)),
            rewards=jnp.asarray(np.array(rew, np.float32).reshape(shape)),
            terminated=jnp.asarray(np.array(term, bool).reshape(shape) & (weights > 0)),
            initial=jnp.asarray(initial),
            name="random",
        )
    )


# -- invariant checks -----------------------------------------------------------------------------


def learn(
    history: Sequence[Transition], config: DynaQConfig, n_states: int, n_actions: int
) -> list[DynaQState]:
    """The states after each prefix of ``history`` (``model_update`` from ``init``), first the
    empty agent."""
    states = [init(n_states, n_actions, config)]
    for s, a, r, s_next, terminated in history:
        states.append(model_update(states[-1], s, a, r, s_next, terminated, config))
    return states


def check_transition_rows(state: DynaQState, config: DynaQConfig, atol: float = 1e-5) -> None:
    """``T[s, a, :]`` is a distribution for every pair: entries in ``[0, 1]``, rows sum to 1."""
    t = np.asarray(transition_probs(state, config), np.float64)
    assert np.all(t >= 0) and np.all(t <= 1 + atol), "T has entries outside [0, 1]"
    np.testing.assert_allclose(t.sum(-1), 1.0, atol=atol, err_msg="T rows do not sum to 1")


def check_learns_transition(
    before: DynaQState, after: DynaQState, transition: Transition, config: DynaQConfig
) -> None:
    """One real transition changes the model's ``T`` in row ``(s, a)`` only, gives ``s'`` positive
    probability there unless the model reports it dropped, and leaves ``T`` exactly unchanged in
    every other row; count models add exactly 1 to one cell of ``T_c`` (or count one drop)."""
    s, a, _, s_next, _ = transition
    t0 = np.asarray(transition_probs(before, config))
    t1 = np.asarray(transition_probs(after, config))
    others = np.ones(t0.shape[:2], bool)
    others[s, a] = False
    assert np.array_equal(t0[others], t1[others]), "a transition changed another pair's T row"
    dropped = int(after.dropped) - int(before.dropped)
    assert dropped in (0, 1), f"dropped changed by {dropped}"
    if not dropped:
        assert t1[s, a, s_next] > 0, f"T[{s}, {a}, {s_next}] = 0 after observing it"
    counts = getattr(after.model, "t_c", None)
    if counts is not None:
        old = np.asarray(before.model.t_c, np.float32)
        new = np.asarray(counts, np.float32)
        changed = np.argwhere(new != old)
        if dropped:
            assert changed.size == 0, "a dropped transition changed T_c"
        else:
            assert len(changed) == 1, f"T_c changed in {len(changed)} cells, expected 1"
            assert tuple(changed[0][:2]) == (s, a), "T_c changed outside row (s, a)"
            cell = tuple(changed[0])
            assert new[cell] == old[cell] + np.float32(1), "a T_c cell changed by other than 1"


def _ftz(x: np.float32) -> np.float32:
    """``x`` with a subnormal flushed to (signed) zero, as XLA:CPU computes."""
    return np.float32(x * 0) if abs(x) < np.finfo(np.float32).tiny else np.float32(x)


def check_reward_model(
    before: DynaQState, after: DynaQState, transition: Transition, config: DynaQConfig
) -> None:
    """``R[s, a]``: the lecture notes' smoothing ``R' = (1 - alpha) R + alpha r`` (each product
    rounded to float32) for kinds that smooth, else the last reward; other pairs unchanged."""
    s, a, r, _, _ = transition
    alpha = np.float32(config.learning_rate)
    r_old = np.float32(np.asarray(before.r)[s, a])
    if kind_for(config).smooths_reward:
        # XLA:CPU flushes subnormal results to zero: so does the reference
        kept, new = _ftz(np.float32(1 - alpha) * r_old), _ftz(alpha * np.float32(r))
        want = _ftz(kept + new)
    else:
        want = np.float32(r)
    got = np.asarray(after.r)
    assert got[s, a] == want, f"R[{s}, {a}] = {got[s, a]}, expected {want}"
    mask = np.ones(got.shape, bool)
    mask[s, a] = False
    assert np.array_equal(got[mask], np.asarray(before.r)[mask]), "R changed outside (s, a)"


def check_model_invariants(
    history: Sequence[Transition], config: DynaQConfig, n_states: int = 5, n_actions: int = 3
) -> None:
    """Every invariant of model learning along ``history``: rows of ``T`` are distributions after
    each transition, each transition is learned in its own row (``check_learns_transition``), the
    reward model follows its rule (``check_reward_model``), visits and the candidate list grow as
    they should."""
    states = learn(history, config, n_states, n_actions)
    for before, after, tr in zip(states, states[1:], history, strict=False):
        check_transition_rows(after, config)
        check_learns_transition(before, after, tr, config)
        check_reward_model(before, after, tr, config)
        s, a = tr[0], tr[1]
        assert int(after.visits[s, a]) == int(before.visits[s, a]) + 1, "visits[s, a] += 1"
        assert int(after.real_steps) == int(before.real_steps) + 1, "real_steps += 1"
        assert bool(after.terminal[tr[3]]) == bool(before.terminal[tr[3]]) or tr[4], "terminal"
        pairs = np.asarray(after.pairs)[: int(after.n_pairs)]
        assert s * n_actions + a in set(pairs.tolist()), "a tried pair is a planning candidate"
        assert len(set(pairs.tolist())) == len(pairs), "planning candidates repeat"


def check_no_bootstrap_through_terminals(
    history: Sequence[Transition],
    config: DynaQConfig,
    key: jax.Array,
    n_states: int = 5,
    n_actions: int = 3,
) -> None:
    """Planning never bootstraps from a modelled terminal state: with ``Q = 1e6`` in every
    terminal state's row and 0 elsewhere, ``plan`` leaves every non-terminal row far below it
    (rewards are bounded by 10 and ``gamma <= 0.99`` in ``configs``)."""
    assume(float(np.asarray(config.optimism)) == 0)
    state = learn(history, config, n_states, n_actions)[-1]
    terminal = np.asarray(state.terminal)
    assume(terminal.any() and not terminal.all())
    q = jnp.where(state.terminal[:, None], jnp.float32(1e6), jnp.zeros_like(state.q))
    out = plan(state._replace(q=q), key, config)
    live = np.abs(np.asarray(out.q)[~terminal])
    assert np.all(live < 1e5), f"a non-terminal Q value {live.max()} bootstrapped from a terminal"


def identical(x: Any, y: Any) -> bool:
    """Two pytrees with the same structure and bit-identical leaves."""
    if str(jax.tree.structure(x)) != str(jax.tree.structure(y)):
        return False
    return all(
        np.asarray(a).dtype == np.asarray(b).dtype
        and np.asarray(a).tobytes() == np.asarray(b).tobytes()
        for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True)
    )


_JITTED: dict[Callable[..., Any], Callable[..., Any]] = {}
_VMAPPED: dict[Callable[..., Any], Callable[..., Any]] = {}


def check_variants(fn: Callable[..., Any], *args: Any, batch: int = 3) -> None:
    """``fn(*args)`` gives the same bits eagerly (``jax.disable_jit``), under ``jax.jit``, and as
    element 0 of ``jax.jit(jax.vmap(fn))`` over ``batch`` copies of every array argument (the config
    included). Pass the same ``fn`` object each time: ``jit`` then compiles it once."""
    with jax.disable_jit():
        eager = fn(*args)
    if fn not in _JITTED:  # one wrapper per function: each compiles once per structure
        _JITTED[fn] = jax.jit(fn)
        _VMAPPED[fn] = jax.jit(jax.vmap(fn))
    jitted = _JITTED[fn](*args)
    assert identical(eager, jitted), f"{getattr(fn, '__name__', fn)}: jit differs from eager"
    stacked = jax.tree.map(lambda x: jnp.stack([jnp.asarray(x)] * batch), args)
    mapped = jax.tree.map(lambda x: x[0], _VMAPPED[fn](*stacked))
    assert identical(eager, mapped), f"{getattr(fn, '__name__', fn)}: vmap differs from eager"


def _step_on(
    state: DynaQState, key: jax.Array, config: DynaQConfig, x: tuple[Any, ...]
) -> DynaQState:
    return step(state, key, x[0], x[1], x[2], x[3], x[4], config)


def check_step_variants(
    history: Sequence[Transition],
    config: DynaQConfig,
    key: jax.Array,
    n_states: int = 5,
    n_actions: int = 3,
) -> None:
    """``step`` on the last transition of ``history`` (after learning the rest) gives the same
    bits eagerly, under ``jit`` and under ``vmap``."""
    state = learn(history[:-1], config, n_states, n_actions)[-1]
    s, a, r, s_next, terminated = history[-1]

    args = (jnp.int32(s), jnp.int32(a), jnp.float32(r), jnp.int32(s_next), jnp.bool_(terminated))
    check_variants(_step_on, state, key, config, args)


__all__ = [
    "Transition",
    "check_learns_transition",
    "check_model_invariants",
    "check_no_bootstrap_through_terminals",
    "check_reward_model",
    "check_step_variants",
    "check_transition_rows",
    "check_variants",
    "configs",
    "f32s",
    "histories",
    "identical",
    "learn",
    "mdps",
    "transitions",
]
