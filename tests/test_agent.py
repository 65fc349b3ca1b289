"""The agent functions: ``act``, ``update``, ``step``, read-outs, host checks and JAX transforms.

What each test guards:
- ``test_act_greedy_is_maximal``: with ``epsilon = 0`` ``act`` always returns a maximal action of
  ``Q[s]`` (never a strictly worse one), as an int32 scalar.
- ``test_act_ties_uniform``: each of ``k`` tied maximal actions is picked with frequency ``1/k``
  over many keys (binomial 5-sigma bound); no tie-break toward action 0 (the seed notebook's flaw).
- ``test_act_epsilon_one_uniform``: ``epsilon = 1`` is uniform over all actions.
- ``test_act_epsilon_mixture``: ``epsilon = 0.3`` picks the unique greedy action with probability
  ``1 - epsilon + epsilon / A`` and each other action with ``epsilon / A``.
- ``test_update_matches_formula``: ``update`` equals the scalar Q-learning formula (float64
  reference) at ``(s, a)`` and changes nothing else (no other ``Q`` entry, no model array).
- ``test_terminated_does_not_bootstrap``: with ``terminated = True`` the result is
  ``Q + alpha (r - Q)`` bit for bit, whatever ``Q[s']`` holds.
- ``test_step_is_update_model_update_plan``: ``step`` is exactly ``update``, then
  ``model_update``, then ``plan`` with the same key.
- ``test_greedy_policy_and_state_values``: the read-outs are ``argmax`` (ties to the lowest
  action) and ``max`` of ``Q``.
- ``test_host_checks``: out-of-range ``s``/``a``/``s_next``, non-integer indices (float, bool,
  array) and non-finite or non-numeric rewards raise ``ValueError`` naming the function, the
  argument and the value, for ``act``, ``update``, ``model_update`` and ``step``.
- ``test_checks_silent_for_tracers``: under ``jit`` and ``vmap`` valid tracer arguments pass (no
  check fires on an abstract value) and give the plain call's result; ``vmap`` over a batch of
  distinct valid indices equals the separate calls.
- ``test_checks_fire_for_constants_under_jit``: a bad Python constant inside a jitted function
  still raises at trace time.
- ``test_variants_agree``: ``act``, ``update``, ``model_update``, ``plan``, ``step`` and the
  counted ``plan_counted``/``step_counted`` give the plain call's bits eagerly (every ``jit`` off),
  under ``jax.jit`` and under ``jax.vmap`` (both model kinds, Dyna-Q+), also with ``active``
  given.
- ``test_inactive_is_a_no_op``: ``active=False`` leaves the state unchanged bit for bit and counts
  no update, for ``update``, ``model_update``, ``plan`` and ``step``.
- ``test_same_key_bit_identical``: the same inputs and key give bit-identical states; different
  keys give different plans (the key is actually used).
- ``test_vmap_over_keys``: a batch over keys equals the separate calls, for ``act`` and ``step``.
- ``test_vmap_over_stacked_config``: ``vmap`` over ``DynaQConfig.stack`` (learning rates,
  discounts, epsilons, kappa zero and positive) equals separate calls with each config.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from tests.conftest import (
    COUNT,
    DETERMINISTIC,
    A,
    S,
    Variant,
    alphas,
    assert_trees_identical,
    gammas,
    key,
    q_tables,
    run_model_updates,
    seeds,
    states,
    transition_seqs,
    transitions,
    with_q,
)

N_KEYS = 4000

# One compiled program per function (configs passed as pytrees: their leaves are traced).
ACT_KEYS = jax.jit(jax.vmap(dq.act, in_axes=(None, 0, None, None)))
UPDATE = jax.jit(dq.update)

# A state that has seen a few transitions (several outcomes per pair, a terminal state).
HISTORY = [
    (0, 0, 1.0, 1, False),
    (0, 0, 0.0, 2, False),
    (1, 2, -1.0, 3, False),
    (3, 1, 2.0, 4, True),
    (2, 1, 0.5, 0, False),
    (0, 0, 1.0, 1, False),
]
Q0 = np.arange(S * A, dtype=np.float32).reshape(S, A) / 7.0 - 1.0


def _history_state(config: dq.DynaQConfig) -> dq.DynaQState:
    return with_q(run_model_updates(dq.init(S, A, config), HISTORY, config), Q0)


def _counts(actions: np.ndarray) -> np.ndarray:
    return np.bincount(np.asarray(actions), minlength=A)


def _binomial_ok(hits: np.ndarray, n: int, p: np.ndarray, sigmas: float = 5.0) -> bool:
    return bool(np.all(np.abs(hits - n * p) <= sigmas * np.sqrt(n * p * (1 - p)) + 1))


# -- acting ---------------------------------------------------------------------------------------

tie_q = hnp.arrays(np.float32, (S, A), elements=st.sampled_from([-1.0, 0.0, 0.5, 2.0]))


@given(tie_q, states, seeds)
def test_act_greedy_is_maximal(q: np.ndarray, s: int, seed: int) -> None:
    state = with_q(dq.init(S, A, COUNT), q)
    config = COUNT.replace(epsilon=0.0)
    single = dq.act(state, key(seed), s, config)
    assert single.dtype == jnp.int32 and single.shape == ()
    actions = np.asarray(ACT_KEYS(state, jax.random.split(key(seed), 64), s, config))
    assert np.all(q[s, actions] == q[s].max())


@pytest.mark.parametrize("tied", [(0,), (1,), (0, 2), (1, 2), (0, 1, 2)])
def test_act_ties_uniform(tied: tuple[int, ...]) -> None:
    q = np.full((S, A), -1.0, np.float32)
    q[2, list(tied)] = 0.0
    state = with_q(dq.init(S, A, COUNT), q)
    actions = ACT_KEYS(state, jax.random.split(key(7), N_KEYS), 2, COUNT.replace(epsilon=0.0))
    hits = _counts(actions)
    p = np.zeros(A)
    p[list(tied)] = 1.0 / len(tied)
    assert np.all(hits[p == 0] == 0)
    assert _binomial_ok(hits, N_KEYS, p), hits


def test_act_epsilon_one_uniform() -> None:
    q = np.zeros((S, A), np.float32)
    q[1, 2] = 5.0
    state = with_q(dq.init(S, A, COUNT), q)
    actions = ACT_KEYS(state, jax.random.split(key(8), N_KEYS), 1, COUNT.replace(epsilon=1.0))
    assert _binomial_ok(_counts(actions), N_KEYS, np.full(A, 1.0 / A))


def test_act_epsilon_mixture() -> None:
    eps = 0.3
    q = np.zeros((S, A), np.float32)
    q[4, 1] = 1.0
    state = with_q(dq.init(S, A, COUNT), q)
    actions = ACT_KEYS(state, jax.random.split(key(9), N_KEYS), 4, COUNT.replace(epsilon=eps))
    p = np.full(A, eps / A)
    p[1] += 1.0 - eps
    assert _binomial_ok(_counts(actions), N_KEYS, p)


# -- direct RL ------------------------------------------------------------------------------------


@given(q_tables, transitions, alphas, gammas)
def test_update_matches_formula(q: np.ndarray, tr: tuple, alpha: float, gamma: float) -> None:
    s, a, r, s_next, terminated = tr
    config = COUNT.replace(learning_rate=alpha, discount=gamma)
    state = with_q(dq.init(S, A, config), q)
    new = dq.update(state, s, a, r, s_next, terminated, config)
    q64 = q.astype(np.float64)
    target = r + gamma * (0.0 if terminated else q64[s_next].max())
    expected = q64[s, a] + alpha * (target - q64[s, a])
    scale = abs(r) + abs(q64[s, a]) + abs(q64[s_next]).max() + 1.0
    assert abs(float(new.q[s, a]) - expected) <= 8 * np.finfo(np.float32).eps * scale
    mask = np.ones((S, A), bool)
    mask[s, a] = False
    np.testing.assert_array_equal(np.asarray(new.q)[mask], q[mask])
    assert_trees_identical(new._replace(q=state.q), state)


@given(q_tables, q_tables, transitions, alphas, gammas)
def test_terminated_does_not_bootstrap(
    q: np.ndarray, other: np.ndarray, tr: tuple, alpha: float, gamma: float
) -> None:
    s, a, r, s_next, _ = tr
    config = COUNT.replace(learning_rate=alpha, discount=gamma)
    q_other = q.copy()
    q_other[s_next] = other[s_next]
    q_other[s, a] = q[s, a]  # when s_next == s, keep the entry being updated
    new = UPDATE(with_q(dq.init(S, A, config), q), s, a, r, s_next, True, config)
    new_other = UPDATE(with_q(dq.init(S, A, config), q_other), s, a, r, s_next, True, config)
    assert np.asarray(new.q)[s, a] == np.asarray(new_other.q)[s, a]
    expected = np.float32(q[s, a]) + np.float32(alpha) * (np.float32(r) - np.float32(q[s, a]))
    np.testing.assert_allclose(new.q[s, a], expected, rtol=1e-6, atol=1e-6)


@given(transition_seqs, st.sampled_from([COUNT, DETERMINISTIC]), seeds, st.booleans())
def test_step_is_update_model_update_plan(
    seq: list, config: dq.DynaQConfig, seed: int, plus: bool
) -> None:
    config = config.replace(kappa=0.1 if plus else 0.0)
    state = run_model_updates(dq.init(S, A, config), seq[:-1], config)
    state = with_q(state, Q0)
    s, a, r, s_next, terminated = seq[-1]
    got = dq.step(state, key(seed), s, a, r, s_next, terminated, config)
    manual = dq.update(state, s, a, r, s_next, terminated, config)
    manual = dq.model_update(manual, s, a, r, s_next, terminated, config)
    manual = dq.plan(manual, key(seed), config)
    assert_trees_identical(got, manual)


def test_greedy_policy_and_state_values() -> None:
    q = np.array([[0, 0, 0], [1, 3, 3], [-1, -2, -0.5], [2, 1, 0], [0, 4, 1]], np.float32)
    state = with_q(dq.init(S, A, COUNT), q)
    np.testing.assert_array_equal(dq.greedy_policy(state), [0, 1, 2, 0, 1])
    assert dq.greedy_policy(state).dtype == jnp.int32
    np.testing.assert_array_equal(dq.state_values(state), q.max(-1))


# -- host-boundary checks -------------------------------------------------------------------------

VALID = {"s": 1, "a": 2, "r": 0.5, "s_next": 3}
BAD_ARGS = [
    ("s", -1),
    ("s", S),
    ("s", 1.0),
    ("s", np.float32(2.0)),
    ("s", True),
    ("s", np.array([1, 2])),
    ("a", A),
    ("a", -1),
    ("a", 0.5),
    ("a", np.bool_(False)),
    ("s_next", S),
    ("s_next", -2),
    ("s_next", 3.0),
    ("r", float("nan")),
    ("r", float("inf")),
    ("r", -float("inf")),
    ("r", "1.0"),
    ("r", np.array([0.0, 1.0])),
    ("terminated", 0.5),
    ("terminated", 2),
    ("terminated", "yes"),
    ("terminated", np.array([True, False])),
]
FUNCS = ["act", "update", "model_update", "step"]
CASES = [
    (fn, name, value) for fn in FUNCS for name, value in BAD_ARGS if fn != "act" or name == "s"
]


def _call(fn: str, state: dq.DynaQState, args: dict, config: dq.DynaQConfig) -> object:
    k = key(0)
    s, a, r, s_next = args["s"], args["a"], args["r"], args["s_next"]
    terminated = args.get("terminated", False)
    if fn == "act":
        return dq.act(state, k, s, config)
    if fn == "update":
        return dq.update(state, s, a, r, s_next, terminated, config)
    if fn == "model_update":
        return dq.model_update(state, s, a, r, s_next, terminated, config)
    return dq.step(state, k, s, a, r, s_next, terminated, config)


@pytest.mark.parametrize(
    ("fn", "name", "value"), CASES, ids=[f"{c[0]}-{c[1]}={c[2]!r}" for c in CASES]
)
def test_host_checks(fn: str, name: str, value: object) -> None:
    state = dq.init(S, A, COUNT)
    with pytest.raises(ValueError) as info:
        _call(fn, state, {**VALID, name: value}, COUNT)
    msg = str(info.value)
    assert msg.startswith(f"{fn}: {name}=") or msg.startswith(f"{fn}: {name} "), msg
    assert repr(value) in msg or str(value) in msg, msg


def test_checks_silent_for_tracers(variant: Variant) -> None:
    config = COUNT
    state = _history_state(config)
    k = key(3)
    args = (1, 2, 0.5, 3, False)  # Python scalars: jit and vmap trace them, no check sees a value
    calls = {
        "act": (dq.act, (state, k, 1, config)),
        "update": (dq.update, (state, *args, config)),
        "model_update": (dq.model_update, (state, *args, config)),
        "step": (dq.step, (state, k, *args, config)),
    }
    for fn, (f, f_args) in calls.items():
        assert_trees_identical(variant(f)(*f_args), f(*f_args), fn)
    # a batch of distinct valid indices: under vmap every index is a tracer, none is checked.
    rows = [(state, i, 2, 0.5, S - 1 - i, False, config) for i in range(S)]
    out = variant.rows(dq.update, rows)
    for i in range(S):
        one = dq.update(state, i, 2, 0.5, S - 1 - i, False, config)
        np.testing.assert_array_equal(out[i].q, one.q)


def test_checks_fire_for_constants_under_jit() -> None:
    state = dq.init(S, A, COUNT)
    with pytest.raises(ValueError, match=r"update: s_next=5 is out of range"):
        jax.jit(lambda st: dq.update(st, 0, 0, 1.0, S, False, COUNT))(state)
    with pytest.raises(ValueError, match=r"act: s=-1"):
        jax.jit(lambda st, k: dq.act(st, k, -1, COUNT))(state, key(0))


# -- JAX transforms -------------------------------------------------------------------------------

CONFIGS = {
    "count": COUNT,
    "deterministic": DETERMINISTIC,
    "count-plus": COUNT.replace(kappa=0.05),
}
ARGS = (4, 1, 0.5, 0, False)  # from state 4, which HISTORY never acted from


def _all_calls(config: dq.DynaQConfig, k: jax.Array) -> dict:
    """Each public agent function with fixed arguments, as ``name -> (fn, args after state)``."""
    return {
        "act": (dq.act, (k, 0, config)),
        "update": (dq.update, (*ARGS, config)),
        "model_update": (dq.model_update, (*ARGS, config)),
        "plan": (dq.plan, (k, config)),
        "plan_counted": (dq.plan_counted, (k, config)),
        "step": (dq.step, (k, *ARGS, config)),
        "step_counted": (dq.step_counted, (k, *ARGS, config)),
    }


@pytest.mark.parametrize("name", list(CONFIGS))
def test_variants_agree(variant: Variant, name: str) -> None:
    config = CONFIGS[name]
    state = _history_state(config)
    for fn_name, (fn, args) in _all_calls(config, key(11)).items():
        plain = fn(state, *args)
        assert_trees_identical(variant(fn)(state, *args), plain, fn_name)
        if fn_name != "act":  # the keyword-only mask, on: the same result
            on = jnp.asarray(True)
            assert_trees_identical(variant(fn)(state, *args, active=on), plain, fn_name)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_inactive_is_a_no_op(name: str) -> None:
    config = CONFIGS[name]
    state = _history_state(config)
    off = jnp.asarray(False)
    for fn_name, (fn, args) in _all_calls(config, key(11)).items():
        if fn_name == "act":
            continue
        out = fn(state, *args, active=off)
        if fn_name.endswith("_counted"):
            out, n = out
            assert int(n) == 0, fn_name
        assert_trees_identical(out, state, fn_name)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_same_key_bit_identical(name: str) -> None:
    config = CONFIGS[name]
    state = _history_state(config)
    first = dq.step(state, key(5), *ARGS, config)
    again = dq.step(state, key(5), *ARGS, config)
    assert_trees_identical(first, again)
    assert_trees_identical(dq.act(state, key(5), 0, config), dq.act(state, key(5), 0, config))
    others = [dq.step(state, key(i), *ARGS, config).q for i in range(6, 10)]
    assert any(not np.array_equal(first.q, q) for q in others)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_vmap_over_keys(variant: Variant, name: str) -> None:
    config = CONFIGS[name]
    state = _history_state(config)
    keys = jax.random.split(key(12), 6)
    batched = variant.rows(dq.step, [(state, k, *ARGS, config) for k in keys])
    eps = config.replace(epsilon=0.5)
    act_v = variant.rows(dq.act, [(state, k, 0, eps) for k in keys])
    for i in range(len(keys)):
        one = dq.step(state, keys[i], *ARGS, config)
        assert_trees_identical(batched[i], one)
        assert int(act_v[i]) == int(dq.act(state, keys[i], 0, eps))


def test_vmap_over_stacked_config() -> None:
    configs = [
        COUNT.replace(learning_rate=0.1, discount=0.9, epsilon=0.0, kappa=0.0),
        COUNT.replace(learning_rate=0.5, discount=0.0, epsilon=1.0, kappa=0.2),
        COUNT.replace(learning_rate=1.0, discount=1.0, epsilon=0.3, kappa=0.0),
        COUNT.replace(learning_rate=0.05, discount=0.95, epsilon=0.1, kappa=0.01),
    ]
    stacked = dq.DynaQConfig.stack(configs)
    state = _history_state(COUNT)
    k = key(13)
    step_v = jax.vmap(dq.step, in_axes=(None, None, None, None, None, None, None, 0))
    batched = step_v(state, k, *ARGS, stacked)
    keys = jax.random.split(k, 64)
    act_v = jax.vmap(ACT_KEYS, in_axes=(None, None, None, 0))(state, keys, 0, stacked)
    for i, config in enumerate(configs):
        one = dq.step(state, k, *ARGS, config)
        assert_trees_identical(jax.tree.map(lambda x, i=i: x[i], batched), one)
        np.testing.assert_array_equal(act_v[i], ACT_KEYS(state, keys, 0, config))
    # The configs really differ: Dyna-Q+ added all actions of state 4, Dyna-Q only the pair.
    assert np.asarray(batched.n_pairs).tolist() == [5, 7, 5, 7]
