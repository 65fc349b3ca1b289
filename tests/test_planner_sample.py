"""The sample planner (Dyna-Q, ``dynaq_jax.planners.sample``): the simulated transitions it draws
and the Q-learning scan over them, through ``dq.plan``.

The draw is checked through its parts (``tests.conftest.simulate``: ``planners.base.draw_pairs``,
the model kind's ``sample_next``, ``exploration.elapsed`` and ``exploration_bonus``), and ``plan``
against a replay of that draw.

What each test guards:
- ``test_plan_zero_steps_is_identity``: ``planning_steps = 0`` returns the state unchanged.
- ``test_plan_before_any_model_update_keeps_q``: with nothing visited, ``plan`` leaves every array
  unchanged, whatever ``Q`` holds (also with Dyna-Q+, whose bonus must not leak in).
- ``test_plan_changes_only_plannable_pairs``: ``plan`` changes ``Q`` only at visited pairs (Dyna-Q)
  or at actions of visited states (Dyna-Q+), and never touches the model arrays.
- ``test_plan_replays_simulated_batch``: ``plan`` is exactly the sequential Q-learning update over
  the transitions drawn with the same key (float64 NumPy replay).
- ``test_simulate_dyna_q``: with ``kappa = 0`` each simulated pair is a visited pair, its reward is
  ``R[s, a]`` exactly, its ``s'`` was observed after it (deterministic model: the last one), and
  the bootstrap weight is ``gamma * (1 - terminal[s'])``.
- ``test_simulate_dyna_q_plus``: with ``kappa > 0`` the reward is ``R[s, a] + kappa sqrt(tau)``,
  ``tau`` the real steps since the pair was last tried (0 right after it); untried actions of a
  visited state lead back to the same state with reward ``0 + kappa sqrt(tau)``, ``tau`` counted
  from the state's first visit (``tau_origin="first_visit"``; the default is checked in
  ``tests/test_dyna_q_plus.py``).
- ``test_simulate_pairs_uniform``: pairs are drawn uniformly among the distinct pairs tried, not
  weighted by how often each was tried (no replay buffer with repeats).
- ``test_simulate_next_state_follows_counts``: the count model draws ``s'`` with frequencies
  ``T_c[s, a, s'] / sum T_c[s, a, :]``.
- ``test_plan_converges_to_value_iteration``: many planning steps on a fully known deterministic
  MDP (every pair visited once) converge to the value-iteration fixpoint of the learned model,
  computed in NumPy, for both model kinds; terminal transitions do not bootstrap.
- ``test_terminal_pair_converges_to_reward``: a pair seen only as terminal converges to its reward,
  and to the same value bit for bit whatever ``Q[s']`` holds.
- ``test_sample_planner_unchanged``: with the default planner ``model_update`` leaves ``Q`` alone
  and keeps no queue, and ``plan`` is the draw + ``backups.sampled_updates``, bit for bit,
  whatever ``theta``.
"""

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from dynaq_jax.backups import sampled_updates
from dynaq_jax.numerics import runtime_zero
from dynaq_jax.planners.base import draw_pairs
from tests.conftest import (
    COUNT,
    DETERMINISTIC,
    A,
    S,
    Simulated,
    alphas,
    assert_trees_identical,
    f32,
    gammas,
    kappas,
    key,
    q_tables,
    rewards,
    run_model_updates,
    seeds,
    simulate,
    transition_seqs,
    with_q,
)
from tests.planner_cases import FEW, SAMPLE, learn, transitions
from tests.planner_cases import q_tables as small_q_tables

# Planning tests use a prior so small that a never-observed ``s'`` is practically never drawn.
TINY_PRIOR = 1e-9
SIM_COUNT = dq.DynaQConfig(planning_steps=64, t_c_prior=TINY_PRIOR)
SIM_DET = SIM_COUNT.replace(model="deterministic")
sim_models = st.sampled_from([SIM_COUNT, SIM_DET])
models = st.sampled_from([COUNT, DETERMINISTIC])

PLAN_ROUNDS = 200


@jax.jit
def plan_many(state: dq.DynaQState, k: jax.Array, config: dq.DynaQConfig) -> dq.DynaQState:
    """``PLAN_ROUNDS`` planning calls, each with its own key."""
    return jax.lax.fori_loop(
        0, PLAN_ROUNDS, lambda i, st_: dq.plan(st_, jax.random.fold_in(k, i), config), state
    )


def _allowed(seq: list, plus: bool) -> np.ndarray:
    mask = np.zeros((S, A), bool)
    for s, a, *_ in seq:
        if plus:
            mask[s] = True
        else:
            mask[s, a] = True
    return mask


@given(transition_seqs, q_tables, seeds)
def test_plan_zero_steps_is_identity(seq: list, q: np.ndarray, seed: int) -> None:
    config = COUNT.replace(planning_steps=0)
    state = with_q(run_model_updates(dq.init(S, A, config), seq, config), q)
    assert_trees_identical(dq.plan(state, key(seed), config), state)


@given(q_tables, seeds, models, st.sampled_from([0.0, 0.5]))
def test_plan_before_any_model_update_keeps_q(
    q: np.ndarray, seed: int, config: dq.DynaQConfig, kappa: float
) -> None:
    config = config.replace(kappa=kappa)
    state = with_q(dq.init(S, A, config), q)
    new = dq.plan(state, key(seed), config)
    np.testing.assert_array_equal(new.q, q)
    assert_trees_identical(new._replace(q=state.q), state)


@given(transition_seqs, q_tables, seeds, models, st.booleans())
def test_plan_changes_only_plannable_pairs(
    seq: list, q: np.ndarray, seed: int, config: dq.DynaQConfig, plus: bool
) -> None:
    config = config.replace(kappa=0.3 if plus else 0.0, learning_rate=0.5)
    state = with_q(run_model_updates(dq.init(S, A, config), seq, config), q)
    new = dq.plan(state, key(seed), config)
    changed = np.asarray(new.q) != q
    assert not np.any(changed & ~_allowed(seq, plus)), (changed, seq)
    assert_trees_identical(new._replace(q=state.q), state)


def _replay(q: np.ndarray, batch: Simulated, alpha: float, gamma: float) -> np.ndarray:
    """Sequential Q-learning over ``batch`` in float64."""
    q = q.astype(np.float64).reshape(-1)
    columns = [np.asarray(x) for x in batch]
    for sa, s_next, r, nonterminal in zip(*columns, strict=True):
        c = gamma if nonterminal else 0.0
        target = float(r) + c * q[s_next * A : (s_next + 1) * A].max()
        q[sa] += alpha * (target - q[sa])
    return q.reshape(S, A)


@given(transition_seqs, q_tables, seeds, models, st.booleans(), alphas, gammas)
def test_plan_replays_simulated_batch(
    seq: list,
    q: np.ndarray,
    seed: int,
    config: dq.DynaQConfig,
    plus: bool,
    alpha: float,
    gamma: float,
) -> None:
    config = config.replace(kappa=0.2 if plus else 0.0, learning_rate=alpha, discount=gamma)
    state = with_q(run_model_updates(dq.init(S, A, config), seq, config), q)
    batch = simulate(state, key(seed), config)
    assert batch.sa.shape == (config.planning_steps,)
    expected = _replay(q, batch, alpha, gamma)
    got = np.asarray(dq.plan(state, key(seed), config).q)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def _reference_tau(seq: list) -> np.ndarray:
    """Real steps since each pair was last tried; for an untried action of a visited state, the
    steps since that state's first visit; -1 for pairs of unvisited states."""
    n = len(seq)
    tau = np.full((S, A), -1, np.int64)
    for j, (s, a, *_) in enumerate(seq):
        if np.all(tau[s] < 0):
            tau[s] = n - 1 - j
        tau[s, a] = n - 1 - j
    return tau


@given(transition_seqs, seeds, sim_models, gammas)
def test_simulate_dyna_q(seq: list, seed: int, config: dq.DynaQConfig, gamma: float) -> None:
    config = config.replace(discount=gamma)
    state = run_model_updates(dq.init(S, A, config), seq, config)
    batch = simulate(state, key(seed), config)
    sa, s_next = np.asarray(batch.sa), np.asarray(batch.s_next)
    valid = set(np.asarray(state.pairs[: int(state.n_pairs)]).tolist())
    assert set(sa.tolist()) <= valid
    np.testing.assert_array_equal(batch.reward, np.asarray(state.r).reshape(-1)[sa])
    seen = {(s * A + a, s2) for s, a, _, s2, _ in seq}
    assert all((p, n) in seen for p, n in zip(sa, s_next, strict=True))
    if config.model == "deterministic":
        np.testing.assert_array_equal(s_next, np.asarray(state.model.next_state).reshape(-1)[sa])
    terminal = np.asarray(state.terminal)[s_next]
    np.testing.assert_array_equal(batch.nonterminal, ~terminal)


@settings(max_examples=12)
@given(transition_seqs, seeds, sim_models, kappas)
def test_simulate_dyna_q_plus(seq: list, seed: int, config: dq.DynaQConfig, kappa: float) -> None:
    # The reference counts an untried action's tau from its state's first visit: "first_visit".
    # (The default, "run", is checked in tests/test_dyna_q_plus.py.)
    config = config.replace(kappa=kappa, tau_origin="first_visit")
    state = run_model_updates(dq.init(S, A, config), seq, config)
    batch = simulate(state, key(seed), config)
    tau = _reference_tau(seq)
    tried = np.asarray(state.visits) > 0
    r_model = np.asarray(state.r)
    for sa, s_next, reward in zip(
        *(np.asarray(x) for x in (batch.sa, batch.s_next, batch.reward)), strict=True
    ):
        s, a = divmod(int(sa), A)
        assert tau[s, a] >= 0, "planned a pair of a state never acted from"
        base = r_model[s, a] if tried[s, a] else 0.0
        expected = base + kappa * np.sqrt(tau[s, a])
        np.testing.assert_allclose(reward, expected, rtol=1e-6, atol=1e-6)
        if not tried[s, a]:
            assert s_next == s
    # The pair tried last gets no bonus (tau = 0), whatever kappa is.
    s, a = seq[-1][:2]
    assert tau[s, a] == 0


def test_simulate_pairs_uniform() -> None:
    n = 8192
    config = SIM_COUNT.replace(planning_steps=n)
    history = [(0, 0, 1.0, 1, False)] * 20 + [(1, 2, 0.0, 2, False), (3, 1, 0.0, 0, False)]
    history += [(4, 2, 0.0, 4, False)] * 5
    state = run_model_updates(dq.init(S, A, config), history, config)
    sa = np.asarray(draw_pairs(state, key(21), n)[0])
    np.testing.assert_array_equal(sa, simulate(state, key(21), config).sa)
    pairs = [0 * A + 0, 1 * A + 2, 3 * A + 1, 4 * A + 2]
    hits = np.array([np.sum(sa == p) for p in pairs])
    assert hits.sum() == n
    p = 1.0 / len(pairs)
    assert np.all(np.abs(hits - n * p) <= 5 * np.sqrt(n * p * (1 - p))), hits


def test_simulate_next_state_follows_counts() -> None:
    n = 8192
    config = SIM_COUNT.replace(planning_steps=n)
    history = [(2, 1, 0.0, 1, False)] * 3 + [(2, 1, 0.0, 3, False)]
    state = run_model_updates(dq.init(S, A, config), history, config)
    s_next = np.asarray(simulate(state, key(22), config).s_next)
    hits = np.bincount(s_next, minlength=S)
    p = np.array([0.0, 0.75, 0.0, 0.25, 0.0])
    assert np.all(hits[p == 0] == 0)
    assert np.all(np.abs(hits - n * p) <= 5 * np.sqrt(n * p * (1 - p))), hits


def _value_iteration(
    r: np.ndarray, t: np.ndarray, terminal: np.ndarray, gamma: float
) -> np.ndarray:
    q = np.zeros((S, A))
    for _ in range(10_000):
        v = q.max(-1) * (1.0 - terminal)
        q_new = r + gamma * t @ v
        if np.max(np.abs(q_new - q)) < 1e-12:
            break
        q = q_new
    return q_new


mdps = st.tuples(
    hnp.arrays(np.int64, (S, A), elements=st.integers(0, S - 1)),
    hnp.arrays(np.float32, (S, A), elements=f32(-1.0, 1.0)),
    hnp.arrays(bool, S),
)


@settings(max_examples=10)
@given(mdps, sim_models, f32(0.3, 1.0), seeds)
def test_plan_converges_to_value_iteration(
    mdp: tuple, config: dq.DynaQConfig, alpha: float, seed: int
) -> None:
    next_state, reward, is_terminal = mdp
    gamma = 0.9
    config = config.replace(learning_rate=alpha, discount=gamma)
    state = dq.init(S, A, config)
    for s in range(S):
        for a in range(A):
            s2 = int(next_state[s, a])
            state = dq.model_update(
                state, s, a, float(reward[s, a]), s2, bool(is_terminal[s2]), config
            )
    q = np.asarray(plan_many(state, key(seed), config).q, np.float64)
    # The fixpoint of the learned model: its R (for the count model smoothed once from 0, so
    # alpha * r), its transitions (the count model's T with its tiny prior; the deterministic
    # model's last-seen s') and its terminal flags.
    if config.model == "deterministic":
        np.testing.assert_array_equal(state.model.next_state, next_state)
        np.testing.assert_array_equal(state.r, reward)
        t = np.eye(S)[next_state]
    else:
        t = np.asarray(dq.transition_probs(state), np.float64)
    np.testing.assert_array_equal(state.terminal, is_terminal & np.isin(np.arange(S), next_state))
    q_star = _value_iteration(np.asarray(state.r, np.float64), t, is_terminal, gamma)
    np.testing.assert_allclose(q, q_star, rtol=0, atol=1e-4)


@settings(max_examples=15)
@given(rewards, q_tables, q_tables, models, seeds)
def test_terminal_pair_converges_to_reward(
    r: float, q: np.ndarray, other: np.ndarray, config: dq.DynaQConfig, seed: int
) -> None:
    s, a, s_term = 1, 2, 3
    config = config.replace(learning_rate=0.5)
    state = dq.model_update(dq.init(S, A, config), s, a, r, s_term, True, config)
    q_other = q.copy()
    q_other[s_term] = other[s_term] * 1e3
    final = plan_many(with_q(state, q), key(seed), config).q
    final_other = plan_many(with_q(state, q_other), key(seed), config).q
    assert np.asarray(final)[s, a] == np.asarray(final_other)[s, a]
    np.testing.assert_allclose(final[s, a], state.r[s, a], rtol=1e-5, atol=1e-5)


# -- the sample planner is the draw and the Q-learning scan ---------------------------------------


@jax.jit
def _plan_by_hand(state: dq.DynaQState, k: jax.Array, config: dq.DynaQConfig) -> jax.Array:
    batch = simulate(state, k, config)
    on = state.n_pairs > 0
    zero = runtime_zero(state.real_steps)
    return sampled_updates(
        state.q,
        batch.sa,
        batch.reward,
        batch.s_next,
        batch.nonterminal,
        config.learning_rate,
        config.discount,
        on,
        zero,
    )


@FEW
@given(seq=transitions, q=small_q_tables, seed=st.integers(0, 2**31 - 1), theta=st.floats(0.0, 9.0))
def test_sample_planner_unchanged(
    seq: list[tuple[int, int, float, int]], q: np.ndarray, seed: int, theta: float
) -> None:
    state = learn(SAMPLE, seq)._replace(q=jnp.asarray(q))
    k = jax.random.key(seed)
    # model_update leaves Q alone without optimism, and the sample planner keeps no queue
    after = dq.model_update(state, 0, 0, 1.0, 1, False, SAMPLE.replace(theta=theta))
    assert_trees_identical(after.q, state.q)
    assert state.planner is None and after.planner is None
    # plan is still the draw + sampled_updates, whatever theta
    direct = _plan_by_hand(state, k, SAMPLE)
    for cfg in (SAMPLE, SAMPLE.replace(theta=theta)):
        assert_trees_identical(dq.plan(state, k, cfg).q, direct)
