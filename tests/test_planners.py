"""Tests of the planners beyond Dyna-Q (``dynaq_jax.planners``) and their config fields.

What each test guards:
- ``test_config_rejects`` / ``test_config_round_trip_and_pytree``: the new fields are validated
  (``ValueError`` naming the field), survive ``to_dict``/``from_dict``, and are leaves (``theta``,
  ``optimism``) or static (``planner``).
- ``test_sample_planner_unchanged``: with the default planner ``model_update`` leaves ``Q`` and the
  queue alone and ``plan`` is still ``simulate`` + ``q_updates``, bit for bit, whatever ``theta``.
- ``test_model_targets_match_numpy`` / ``test_expected_update_is_the_full_backup``: the backup
  ``R_hat + gamma sum_s' T (1 - terminal) max Q`` against float64 NumPy, and the expected planner
  replaces each drawn pair by it, in order.
- ``test_sweeping_converges_to_value_iteration``: prioritized sweeping (alpha 1) on a known
  deterministic model (the deterministic model, and the compact count model) empties its queue
  at the value-iteration fixpoint, within ``theta / (1 - gamma)``.
- ``test_priorities_never_negative``: priorities stay finite, ``>= 0``, and only tried pairs queue.
- ``test_theta_above_every_priority_changes_nothing``: then a sweep is the identity.
- ``test_optimism_values_untried_pairs_of_seen_states``: R-max values land exactly where they
  should, and nowhere with ``optimism = 0``.
- ``test_jit_eager_vmap_agree`` / ``test_train_seeds_equals_train_for_sweeping``: bit-identical
  results under vmap, jit and eager, and in the compiled training loop.
- the rest: Example 8.4's update count, shortest path and greedy-path check.

The model-dependent tests run on the count, deterministic and compact (2 outcome slots) models.
Shapes are fixed (``S = 5`` states, ``A = 3`` actions) and the static config fields are shared, so
each jitted function compiles once per planner and model; hypothesis varies only data and leaves.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from dynaq_jax import planners
from dynaq_jax.agent import _step
from dynaq_jax.experiments import shortest_path_length
from dynaq_jax.model import expand_counts, runtime_zero
from dynaq_jax.planning import q_updates, simulate
from dynaq_jax.sweeping_experiment import counted_step, goal_states, greedy_reaches_goal
from tests.conftest import A, S, assert_trees_identical, f32

FEW = settings(deadline=None, max_examples=10, suppress_health_check=[HealthCheck.too_slow])

# One config per compiled program; tests vary the leaves with ``replace``.
# "compact": the count model with 2 outcome slots per pair (random sequences overflow them, so
# the dropped-transition path is exercised too; the references read the counts the state kept).
MODELS = {
    "count": {"model": "count"},
    "deterministic": {"model": "deterministic"},
    "compact": {"model": "count", "outcome_slots": 2},
}
SWEEP = {
    m: dq.DynaQConfig(planner="sweeping", planning_steps=16, discount=0.9, **kw)
    for m, kw in MODELS.items()
}
EXPECTED = {
    m: dq.DynaQConfig(planner="expected", planning_steps=6, discount=0.9, **kw)
    for m, kw in MODELS.items()
}
SAMPLE = dq.DynaQConfig(planning_steps=6)

small = f32(-5.0, 5.0)
transitions = st.lists(
    st.tuples(st.integers(0, S - 1), st.integers(0, A - 1), small, st.integers(0, S - 1)),
    min_size=1,
    max_size=20,
)
q_tables = hnp.arrays(np.float32, (S, A), elements=small)
models = st.sampled_from(sorted(MODELS))

TERMINAL = S - 1  # transitions into the last state terminate


def learn(config: dq.DynaQConfig, seq: list[tuple[int, int, float, int]]) -> dq.DynaQState:
    """A fresh agent after ``model_update`` on each transition (into ``TERMINAL`` terminates)."""
    state = dq.init(S, A, config)
    for s, a, r, s_next in seq:
        state = dq.model_update(state, s, a, r, s_next, s_next == TERMINAL, config)
    return state


def numpy_targets(state: dq.DynaQState, config: dq.DynaQConfig) -> np.ndarray:
    """``R_hat + gamma sum_s' T (1 - terminal) max Q`` in float64, the formula of the docs."""
    q = np.asarray(state.q, np.float64)
    v = np.where(np.asarray(state.terminal), 0.0, q.max(-1))
    r = np.asarray(state.r, np.float64)
    gamma = float(config.discount)
    if config.model == "count":
        if config.outcome_slots:  # compact: the kept counts, no prior (untried rows all zero)
            t_c = np.asarray(expand_counts(state.t_c, state.outcomes, S, 0.0), np.float64)
            probs = t_c / np.maximum(t_c.sum(-1, keepdims=True), 1.0)
        else:
            t_c = np.asarray(state.t_c, np.float64)
            probs = t_c / t_c.sum(-1, keepdims=True)
        visits = np.asarray(state.visits)
        kept = (1.0 - float(config.learning_rate)) ** visits
        r_hat = np.where(visits > 0, r / np.where(visits > 0, 1.0 - kept, 1.0), r)
        return r_hat + gamma * probs @ v
    return r + gamma * v[np.asarray(state.next_state)]


# -- config ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"planner": "heap"}, "planner"),
        ({"theta": -1e-3}, "theta"),
        ({"theta": float("nan")}, "theta"),
        ({"optimism": -1.0}, "optimism"),
        ({"optimism": float("inf")}, "optimism"),
        ({"optimism": 1.0, "discount": 1.0}, "optimism"),
        ({"planner": "expected", "kappa": 0.1}, "kappa"),
        ({"planner": "sweeping", "planning_steps": 0}, "planning_steps"),
    ],
)
def test_config_rejects(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValueError, match=rf"DynaQConfig\.{field}"):
        dq.DynaQConfig(**changes)


def test_config_round_trip_and_pytree() -> None:
    config = dq.DynaQConfig(planner="sweeping", theta=1e-3, optimism=0.5)
    again = dq.DynaQConfig.from_dict(config.to_dict())
    assert again == config and again.planner == "sweeping"
    leaves, _ = jax.tree.flatten(config)
    assert 1e-3 in leaves and 0.5 in leaves  # vmappable leaves
    stacked = dq.DynaQConfig.stack([config, config.replace(theta=0.0)])
    assert stacked.batch_shape == (2,) and stacked.planner == "sweeping"
    with pytest.raises(ValueError, match="planner"):
        dq.DynaQConfig.stack([config, config.replace(planner="expected")])


# -- the sample planner is untouched --------------------------------------------------------------


@jax.jit
def _plan_by_hand(state: dq.DynaQState, key: jax.Array, config: dq.DynaQConfig) -> jax.Array:
    batch = simulate(state, key, config)
    on = state.n_pairs > 0
    zero = runtime_zero(state.step)
    return q_updates(state.q, batch, config.learning_rate, config.discount, on, zero)


_sweep = jax.jit(planners.sweep)


@FEW
@given(seq=transitions, q=q_tables, seed=st.integers(0, 2**31 - 1), theta=st.floats(0.0, 9.0))
def test_sample_planner_unchanged(
    seq: list[tuple[int, int, float, int]], q: np.ndarray, seed: int, theta: float
) -> None:
    state = learn(SAMPLE, seq)._replace(q=jnp.asarray(q))
    key = jax.random.key(seed)
    # model_update leaves Q and the queue alone without optimism
    after = dq.model_update(state, 0, 0, 1.0, 1, False, SAMPLE.replace(theta=theta))
    assert_trees_identical(after.q, state.q)
    assert not np.any(np.asarray(after.priority))
    # plan is still simulate + q_updates, whatever theta
    direct = _plan_by_hand(state, key, SAMPLE)
    for cfg in (SAMPLE, SAMPLE.replace(theta=theta)):
        assert_trees_identical(dq.plan(state, key, cfg).q, direct)


# -- expected updates -----------------------------------------------------------------------------


@FEW
@given(model=models, seq=transitions, q=q_tables, alpha=st.floats(0.05, 1.0))
def test_model_targets_match_numpy(
    model: str, seq: list[tuple[int, int, float, int]], q: np.ndarray, alpha: float
) -> None:
    config = EXPECTED[model].replace(learning_rate=alpha)
    state = learn(config, seq)._replace(q=jnp.asarray(q))
    got = np.asarray(planners.model_targets(state, state.q, config))
    tried = np.asarray(state.visits) > 0
    np.testing.assert_allclose(
        got[tried], numpy_targets(state, config)[tried], rtol=2e-5, atol=2e-5
    )


@FEW
@given(model=models, seq=transitions, q=q_tables, seed=st.integers(0, 2**31 - 1))
def test_expected_update_is_the_full_backup(
    model: str, seq: list[tuple[int, int, float, int]], q: np.ndarray, seed: int
) -> None:
    config = EXPECTED[model]
    state = learn(config, seq)._replace(q=jnp.asarray(q))
    key = jax.random.key(seed)
    got = np.asarray(dq.plan(state, key, config).q)
    # Replay the drawn pairs in NumPy: each is set to its full backup under the current Q.
    want = np.asarray(state.q, np.float64).copy()
    for sa in np.asarray(simulate(state, key, config).sa):
        s, a = divmod(int(sa), A)
        want[s, a] = numpy_targets(state._replace(q=jnp.asarray(want, jnp.float32)), config)[s, a]
    np.testing.assert_allclose(got, want, rtol=2e-5, atol=2e-5)


# -- prioritized sweeping -------------------------------------------------------------------------


def value_iteration_q(r: np.ndarray, nxt: np.ndarray, term: np.ndarray, gamma: float) -> np.ndarray:
    q = np.zeros(r.shape)
    for _ in range(2000):
        q = r + gamma * np.where(term[nxt], 0.0, q.max(-1)[nxt])
    return q


@settings(FEW, max_examples=8)
@given(
    nxt=hnp.arrays(np.int32, (S, A), elements=st.integers(0, S - 1)),
    r=hnp.arrays(np.float32, (S, A), elements=st.floats(-1.0, 1.0, width=32)),
    gamma=st.floats(0.0, 0.8),
    model=st.sampled_from(["deterministic", "compact"]),
)
def test_sweeping_converges_to_value_iteration(
    nxt: np.ndarray, r: np.ndarray, gamma: float, model: str
) -> None:
    config = SWEEP[model].replace(learning_rate=1.0, discount=gamma, theta=1e-5)
    term = np.arange(S) == TERMINAL
    seq = [(s, a, float(r[s, a]), int(nxt[s, a])) for s in range(S - 1) for a in range(A)]
    state = learn(config, seq)
    key = jax.random.key(0)
    for _ in range(300):
        if float(jnp.max(state.priority)) <= config.theta:
            break
        state = dq.plan(state, key, config)
    assert float(jnp.max(state.priority)) <= config.theta
    q_star = value_iteration_q(r.astype(np.float64), nxt, term, gamma)
    # every pair is within theta of its target, so |Q - Q*| <= theta / (1 - gamma) (+ rounding)
    atol = 1e-5 / (1 - gamma) + 1e-5
    np.testing.assert_allclose(np.asarray(state.q)[:-1], q_star[:-1], rtol=0, atol=atol)


@FEW
@given(model=models, seq=transitions, seed=st.integers(0, 2**31 - 1))
def test_priorities_never_negative(
    model: str, seq: list[tuple[int, int, float, int]], seed: int
) -> None:
    config = SWEEP[model]
    state = dq.init(S, A, config)
    key = jax.random.key(seed)
    for s, a, r, s_next in seq:
        key, k = jax.random.split(key)
        state = dq.step(state, k, s, a, r, s_next, s_next == TERMINAL, config)
        prio = np.asarray(state.priority)
        assert np.all(prio >= 0) and np.all(np.isfinite(prio))
        assert np.all(prio[np.asarray(state.visits) == 0] == 0)  # only tried pairs are queued


@FEW
@given(model=models, seq=transitions, q=q_tables)
def test_theta_above_every_priority_changes_nothing(
    model: str, seq: list[tuple[int, int, float, int]], q: np.ndarray
) -> None:
    config = SWEEP[model]
    state = learn(config, seq)._replace(q=jnp.asarray(q))
    state = state._replace(priority=planners.model_errors(state, config))
    high = config.replace(theta=float(jnp.max(state.priority)) + 1.0)
    assert_trees_identical(dq.plan(state, jax.random.key(0), high), state)
    new, n = _sweep(state, high)
    assert int(n) == 0
    assert_trees_identical(new, state)


# -- optimism -------------------------------------------------------------------------------------


@FEW
@given(seq=transitions, r_max=st.floats(0.1, 2.0), model=models)
def test_optimism_values_untried_pairs_of_seen_states(
    seq: list[tuple[int, int, float, int]], r_max: float, model: str
) -> None:
    config = EXPECTED[model].replace(optimism=r_max)
    vmax = np.float32(r_max) / (np.float32(1.0) - np.float32(config.discount))
    want = np.zeros((S, A), np.float32)
    terminal = np.zeros(S, bool)
    visits = np.zeros((S, A), int)
    for s, a, _, s_next in seq:  # model_update alone: Q changes only by the marking
        terminal[s_next] |= s_next == TERMINAL
        visits[s, a] += 1
        for x in (s, s_next):
            if not terminal[x]:
                want[x, visits[x] == 0] = vmax
    got = np.asarray(learn(config, seq).q)
    np.testing.assert_array_equal(got, want)
    assert not np.any(np.asarray(learn(config.replace(optimism=0.0), seq).q))


# -- jit, eager, vmap -----------------------------------------------------------------------------


@pytest.mark.parametrize("planner", ["expected", "sweeping"])
@pytest.mark.parametrize("model", sorted(MODELS))
def test_jit_eager_vmap_agree(planner: str, model: str) -> None:
    config = (EXPECTED if planner == "expected" else SWEEP)[model].replace(optimism=0.5)
    rng = np.random.default_rng(0)
    seq = [
        (int(rng.integers(S)), int(rng.integers(A)), float(rng.normal()), int(rng.integers(S)))
        for _ in range(12)
    ]
    state = learn(config, seq)
    keys = jax.random.split(jax.random.key(1), 3)
    args = (jnp.asarray([0, 2, 3]), jnp.asarray([1, 0, 2]), jnp.asarray([0.5, -1.0, 1.0]))
    s_next, term = jnp.asarray([4, 1, 2]), jnp.asarray([True, False, False])
    on = jnp.asarray(True)

    def one(k: jax.Array, s: Any, a: Any, r: Any, sn: Any, t: Any) -> dq.DynaQState:
        return _step(state, k, s, a, r, sn, t, config, on)

    # vmap over a batch of 3 equals one agent at a time (the whole step)
    batched = jax.vmap(one)(keys, *args, s_next, term)
    for i in range(3):
        single = one(keys[i], *(x[i] for x in args), s_next[i], term[i])
        assert_trees_identical(jax.tree.map(lambda x, i=i: x[i], batched), single)
    # jit equals eager (the planner's own arithmetic; the pair draw is planning.simulate's)
    if planner == "expected":
        sa = jnp.asarray([7, 0, 7, 3, 1, 8], jnp.int32)
        fn: Any = lambda st: planners.expected_updates(st, sa, config, on)  # noqa: E731
    else:
        fn = lambda st: planners.sweep(st, config, on)  # noqa: E731
    with jax.disable_jit():
        eager = fn(single)
    assert_trees_identical(eager, jax.jit(fn)(single))


def test_train_seeds_equals_train_for_sweeping() -> None:
    env = dq.from_gymnasium("FrozenLake-v1", map_name="4x4")
    config = dq.DynaQConfig(planner="sweeping", planning_steps=5, optimism=1.0)
    keys = jax.random.split(jax.random.key(2), 2)
    many = dq.train_seeds(env, config, keys, n_episodes=5)
    one = dq.train(env, config, keys[1], n_episodes=5)
    assert_trees_identical(jax.tree.map(lambda x: x[1], many), one)


# -- Example 8.4 helpers --------------------------------------------------------------------------


def test_counted_step_counts_updates() -> None:
    on = jnp.asarray(True)
    state = dq.init(S, A, SAMPLE)
    _, n = counted_step(state, jax.random.key(0), 0, 1, 1.0, 2, False, SAMPLE, on)
    assert int(n) == 1 + SAMPLE.planning_steps
    config = SWEEP["deterministic"]
    state = dq.init(S, A, config)
    new, n = counted_step(state, jax.random.key(0), 0, 1, 1.0, 2, False, config, on)
    assert int(n) == 1 and float(new.q[0, 1]) == pytest.approx(0.1)  # one pop, alpha 0.1
    _, n = counted_step(state, jax.random.key(0), 0, 1, 1.0, 2, False, config, ~on)
    assert int(n) == 0


def test_shortest_path_of_scaled_maze() -> None:
    assert [shortest_path_length(dq.dyna_maze(scale=k)) for k in (1, 2)] == [14, 28]


@FEW
@given(q=hnp.arrays(np.float32, (54, 4), elements=st.floats(0.0, 1.0, width=32)))
def test_greedy_check_matches_a_rollout(q: np.ndarray) -> None:
    env = dq.dyna_maze()
    goal = goal_states(env)
    succ = np.asarray(env.next_states)[..., 0]
    start = int(np.argmax(np.asarray(env.initial)))
    s, reached = start, False
    for _ in range(16):
        s = int(succ[s, int(np.argmax(q[s]))])
        if goal[s]:
            reached = True
            break
    got = greedy_reaches_goal(jnp.asarray(succ), jnp.asarray(goal), jnp.asarray(q), start, 16)
    assert bool(got) == reached
