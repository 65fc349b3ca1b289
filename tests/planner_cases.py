"""Configs, strategies and NumPy references shared by the planner tests (``test_planner_*.py``).

The model-dependent tests run on the count, deterministic and compact (2 outcome slots) models.
Shapes are fixed (``S = 5`` states, ``A = 3`` actions) and the static config fields are shared, so
each jitted function compiles once per planner and model; hypothesis varies only data and leaves.
"""

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from dynaq_jax.models.slots import expand_counts
from tests.conftest import A, S, f32

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
            counts = expand_counts(state.t_c, state.model.outcomes, S, 0.0)
            t_c = np.asarray(counts, np.float64)
            probs = t_c / np.maximum(t_c.sum(-1, keepdims=True), 1.0)
        else:
            t_c = np.asarray(state.t_c, np.float64)
            probs = t_c / t_c.sum(-1, keepdims=True)
        visits = np.asarray(state.visits)
        kept = (1.0 - float(config.learning_rate)) ** visits
        r_hat = np.where(visits > 0, r / np.where(visits > 0, 1.0 - kept, 1.0), r)
        return r_hat + gamma * probs @ v
    return r + gamma * v[np.asarray(state.model.next_state)]
