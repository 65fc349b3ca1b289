"""R-max's known-ness threshold, MBIE-EB's count bonus and posterior sampling
(``dynaq_jax.exploration``): the maths, the threshold's effect on every planner, the draws'
moments, and eager = jit = vmap."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dynaq_jax as dq
from dynaq_jax import agent, exploration, testing
from dynaq_jax.models import kind_for
from dynaq_jax.models.base import dirichlet_counts
from dynaq_jax.planners import planner_for
from dynaq_jax.rng import fold_in, gamma_variates, split_key

ZERO = jnp.zeros((), jnp.int32)
N_DRAWS = 4000
keys = st.integers(0, 2**32 - 1).map(jax.random.key)


@jax.jit
def _dirichlet_draws(key: jax.Array, alpha: jax.Array, zero: jax.Array) -> jax.Array:
    ks = jax.random.split(key, N_DRAWS)
    total = jnp.ones(alpha.shape[:-1], jnp.float32)
    return jax.vmap(lambda k: dirichlet_counts(k, alpha, total, zero))(ks)


@settings(max_examples=8, deadline=None)
@given(
    st.lists(st.sampled_from([0.0, 0.3, 1.0, 2.0, 7.0, 40.0]), min_size=4, max_size=4).filter(
        lambda xs: sum(x > 0 for x in xs) >= 2
    ),
    st.integers(0, 2**31 - 1),
)
def test_dirichlet_draws_have_the_dirichlet_mean_and_variance(
    alpha: list[float], seed: int
) -> None:
    a = np.asarray(alpha, np.float64)
    draws = np.asarray(
        _dirichlet_draws(jax.random.key(seed), jnp.asarray(a, jnp.float32)[None, None], ZERO)
    )[:, 0, 0]
    a0 = a.sum()
    mean = a / a0
    var = a * (a0 - a) / (a0**2 * (a0 + 1))
    np.testing.assert_allclose(draws.sum(-1), 1.0, rtol=1e-5)
    assert np.all(draws[:, a == 0] == 0)
    se = np.sqrt(var / N_DRAWS)
    assert np.all(np.abs(draws.mean(0) - mean) <= 5 * se + 1e-6), (draws.mean(0), mean)
    # The sample variance's relative standard error is below sqrt(2 / N) times a small factor.
    assert np.all(np.abs(draws.var(0) - var) <= 0.2 * var + 1e-7), (draws.var(0), var)


def test_gamma_variates_eager_jit_vmap_identical() -> None:
    alpha = jnp.asarray([0.0, 1e-5, 0.3, 1.0, 2.5, 30.0], jnp.float32)
    ks = jax.random.split(jax.random.key(5), 8)
    jitted = jax.jit(gamma_variates)
    single = np.stack([np.asarray(jitted(k, alpha, ZERO)) for k in ks])
    batched = jax.jit(jax.vmap(gamma_variates, in_axes=(0, None, None)))(ks, alpha, ZERO)
    with jax.disable_jit():
        eager = np.stack([np.asarray(gamma_variates(k, alpha, ZERO)) for k in ks[:2]])
    np.testing.assert_array_equal(single, np.asarray(batched))
    np.testing.assert_array_equal(single[:2], eager)
    assert np.all(single[:, 0] == 0) and np.all(single[:, 1:] >= 0)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10**6), st.floats(0.0, 100.0, width=32))
def test_count_bonus_is_beta_over_sqrt_n(n: int, beta: float) -> None:
    config = dq.DynaQConfig(bonus_beta=beta)
    got = float(exploration.count_bonus(jnp.asarray(n, jnp.int32), config, ZERO))
    want = 0.0 if n == 0 else beta / math.sqrt(n)
    assert got == pytest.approx(want, rel=1e-6, abs=1e-30)


def test_unknown_until_tried_m_times() -> None:
    config = dq.DynaQConfig(optimism=1.0, known_threshold=3)
    visits = jnp.arange(6, dtype=jnp.int32)
    np.testing.assert_array_equal(
        exploration.unknown(visits, config), [True, True, True, False, False, False]
    )
    off = dq.DynaQConfig(known_threshold=1)
    assert not bool(jnp.any(exploration.unknown(visits, off)))


@pytest.mark.parametrize("planner", ["sample", "expected", "sweeping"])
def test_a_pair_stays_optimistic_until_its_m_th_try(planner: str) -> None:
    """R-max with m = 3 on a 3-state chain: ``Q[0, 0] = r_max / (1 - gamma)`` after one and two
    tries of ``0 -> 1`` (reward 0), whatever the planner; after the third it is backed up and
    drops below; the untried action keeps the optimistic value throughout."""
    config = dq.DynaQConfig(
        learning_rate=0.5,
        discount=0.9,
        epsilon=0.0,
        planning_steps=3,
        planner=planner,
        optimism=1.0,
        known_threshold=3,
    )
    vmax = np.float32(1.0) / np.float32(1.0 - np.float32(0.9))
    state = agent.init(3, 2, config)
    key = jax.random.key(0)
    seen = []
    for i in range(4):
        state = agent.step(state, jax.random.fold_in(key, i), 0, 0, 0.0, 1, False, config)
        seen.append(float(state.q[0, 0]))
        assert float(state.q[0, 1]) == pytest.approx(vmax)
    assert seen[0] == pytest.approx(vmax) and seen[1] == pytest.approx(vmax)
    assert seen[2] < vmax - 1e-3 and seen[3] < vmax - 1e-3


@pytest.mark.parametrize("planner", ["sample", "expected", "sweeping"])
def test_m_one_is_the_earlier_optimism(planner: str) -> None:
    """``known_threshold = 1`` leaves the earlier R-max optimism as it was, bit for bit: the
    config's default is the same program."""
    config = dq.DynaQConfig(planner=planner, optimism=1.0, planning_steps=3)
    explicit = config.replace(known_threshold=1)
    a = agent.step(agent.init(3, 2, config), jax.random.key(1), 0, 0, 0.5, 1, False, config)
    b = agent.step(agent.init(3, 2, explicit), jax.random.key(1), 0, 0, 0.5, 1, False, explicit)
    np.testing.assert_array_equal(a.q, b.q)


def test_the_count_bonus_raises_planned_values() -> None:
    """Expected updates of the one tried pair of a 2-state MDP converge towards
    ``(r + beta / sqrt(n)) / (1 - gamma)`` on a self-loop: the bonus enters the planned reward."""
    config = dq.DynaQConfig(
        learning_rate=1.0, discount=0.5, planning_steps=60, planner="expected", bonus_beta=2.0
    )
    state = agent.init(2, 1, config)
    for i in range(4):
        state = agent.step(state, jax.random.key(i), 0, 0, 1.0, 0, False, config)
    assert float(state.q[0, 0]) == pytest.approx((1.0 + 2.0 / 2.0) / 0.5, rel=1e-4)


@pytest.mark.parametrize("slots", [0, 2])
def test_posterior_planning_keeps_the_learned_model(slots: int) -> None:
    config = dq.DynaQConfig(
        planning_steps=5, posterior="planning", posterior_reward_std=0.5, outcome_slots=slots
    )
    state = agent.init(4, 2, config)
    for i, (s, a, r, s2) in enumerate([(0, 0, 1.0, 1), (0, 0, 0.0, 2), (1, 1, 0.5, 3)]):
        state = agent.step(state, jax.random.key(i), s, a, r, s2, False, config)
    before = state
    after = agent.plan(state, jax.random.key(9), config)
    for got, want in zip(jax.tree.leaves(after.model), jax.tree.leaves(before.model), strict=True):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(after.r, before.r)
    assert not np.array_equal(after.q, before.q)


def test_posterior_draw_resamples_tried_rows_only() -> None:
    config = dq.DynaQConfig(posterior="planning")
    kind = kind_for(config)
    state = agent.init(3, 2, config)
    for i in range(5):
        state = agent.model_update(state, 0, 1, 0.0, i % 3, False, config)
    draw = jax.jit(exploration.posterior_draw, static_argnums=(2, 3))
    drawn = draw(state, jax.random.key(3), config, kind, ZERO)
    t_old, t_new = np.asarray(state.model.t_c), np.asarray(drawn.model.t_c)
    untried = np.asarray(state.visits) == 0
    np.testing.assert_array_equal(t_new[untried], t_old[untried])
    assert not np.array_equal(t_new[0, 1], t_old[0, 1])
    probs = np.asarray(kind.transition_probs(drawn.model, drawn.visits, config))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    # The running sums stay consistent with the drawn counts (what the sample planner reads).
    prior = config.t_c_prior
    cum = np.cumsum(t_new[0, 1] - prior)
    np.testing.assert_allclose(np.asarray(drawn.model.t_c_cum[0, 1]), cum, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("model", "planner"), [("count", "sample"), ("slots", "sweeping")])
def test_posterior_step_jit_eager_vmap_agree(model: str, planner: str) -> None:
    @settings(max_examples=2, deadline=None)
    @given(
        testing.histories(5, 3, min_size=2, max_size=6),
        testing.configs(model, planner, posterior="planning"),
        keys,
    )
    def check(history: list[testing.Transition], config: dq.DynaQConfig, key: jax.Array) -> None:
        testing.check_step_variants(history, config, key, 5, 3)

    check()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"optimism": 1.0, "known_threshold": 0}, "known_threshold"),
        ({"optimism": 1.0, "known_threshold": 2.5}, "known_threshold"),
        ({"optimism": 1.0, "known_threshold": math.inf}, "known_threshold"),
        ({"known_threshold": 3}, "known_threshold"),
        ({"bonus_beta": -0.1}, "bonus_beta"),
        ({"bonus_beta": math.nan}, "bonus_beta"),
        ({"bonus_beta": 1e39}, "bonus_beta"),
        ({"posterior": "episode"}, "posterior"),
        ({"posterior_reward_std": 1.0}, "posterior_reward_std"),
        ({"posterior_reward_std": -1.0, "posterior": "planning"}, "posterior_reward_std"),
        ({"posterior": "planning", "model": "deterministic"}, "posterior"),
    ],
)
def test_bad_exploration_parameters_are_rejected(changes: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        dq.DynaQConfig(**changes)  # type: ignore[arg-type]


def test_fold_in_is_jax_fold_in() -> None:
    key = jax.random.key(11)
    data = jnp.asarray([[0, 1, 7], [2**31 - 1, 5, 3]], jnp.int32)
    got = jax.random.key_data(jax.jit(fold_in)(key, data))
    want = [[jax.random.key_data(jax.random.fold_in(key, int(d))) for d in row] for row in data]
    np.testing.assert_array_equal(got, np.asarray(want))


@pytest.mark.parametrize("planner", ["sample", "expected", "sweeping"])
@pytest.mark.parametrize("model", ["count", "slots"])
def test_planning_reads_rows_of_the_whole_draw(model: str, planner: str) -> None:
    """Posterior sampling draws only the rows a planning call reads (``planning_draw``), and
    plans exactly as on the whole drawn model (``posterior_draw``): the same Q, bit for bit, for
    every planner (``agent.plan`` draws row by row or whole as the planner asks); every
    question about some pairs has the whole draw's answer at those pairs."""

    @settings(max_examples=3, deadline=None)
    @given(
        testing.histories(5, 3, min_size=2, max_size=8),
        testing.configs(model, planner, posterior="planning"),
        keys,
    )
    def check(history: list[testing.Transition], config: dq.DynaQConfig, key: jax.Array) -> None:
        state = testing.learn(history, config, 5, 3)[-1]
        kind = kind_for(config)
        zero = jnp.zeros((), jnp.int32)
        key_plan, k_draw = split_key(key, 2)
        whole = exploration.posterior_draw(state, k_draw, config, kind, zero)
        want, _ = planner_for(config).plan(whole, key_plan, config, kind, None)
        got = agent.plan(state, key, config)
        np.testing.assert_array_equal(got.q, want.q)
        drawn_r, lazy = exploration.posterior_planning(state, k_draw, config, kind, zero)
        by_rows, _ = planner_for(config).plan(drawn_r, key_plan, config, lazy, None)
        np.testing.assert_array_equal(by_rows.q, want.q)  # whichever way the planner draws
        sa = jnp.asarray([4, 0, 4, 13, 7], jnp.int32)
        v = jnp.linspace(-1.0, 2.0, 5, dtype=jnp.float32)
        u = jnp.linspace(0.0, 0.99, 5, dtype=jnp.float32)
        m, drawn = state.model, whole.model
        assert testing.identical(
            lazy.sample_next(m, sa, u, config), kind.sample_next(drawn, sa, u, config)
        )
        assert testing.identical(
            lazy.next_values(m, v, sa, config, zero), kind.next_values(drawn, v, sa, config, zero)
        )
        assert testing.identical(
            lazy.successors(m, sa, state.visits, config),
            kind.successors(drawn, sa, state.visits, config),
        )
        assert testing.identical(
            lazy.leads_to(m, sa, jnp.int32(2), state.visits, config),
            kind.leads_to(drawn, sa, jnp.int32(2), state.visits, config),
        )
        assert testing.identical(
            lazy.all_next_values(m, v, config, zero), kind.all_next_values(drawn, v, config, zero)
        )

    check()
