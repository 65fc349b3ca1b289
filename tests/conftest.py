"""Shared hypothesis settings, strategies and helpers for the core agent tests.

Settings profiles (picked by ``HYPOTHESIS_PROFILE``, else ``ci`` when ``CI`` is set, else ``dev``):
- ``dev``: random examples, ``deadline=None`` (the first call of a jitted function compiles);
- ``ci``: the same with ``derandomize=True``, so a CI run is deterministic;
- ``thorough``: many more examples, for a manual soak.

Strategies keep every array shape fixed (``S = 5`` states, ``A = 3`` actions) and draw index
sequences instead, so each jitted function compiles once per config structure.
"""

import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq

settings.register_profile(
    "dev",
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("ci", parent=settings.get_profile("dev"), derandomize=True)
settings.register_profile("thorough", parent=settings.get_profile("dev"), max_examples=500)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

S = 5
A = 3

# Shared configs: the static fields (planning_steps, model, t_c_prior) pick the compiled program,
# so tests reuse these and vary only the leaves (``config.replace(learning_rate=...)``).
COUNT = dq.DynaQConfig(planning_steps=8)
DETERMINISTIC = dq.DynaQConfig(planning_steps=8, model="deterministic")

# The largest value ``jax.random.uniform`` returns for float32: ``1 - 2**-23``.
U_MAX = float(np.float32(1.0) - np.float32(2.0**-23))


def f32(lo: float, hi: float, **kw: Any) -> st.SearchStrategy[float]:
    """Floats in ``[lo, hi]`` exactly representable in float32, without subnormals or NaN."""
    lo32, hi32 = np.float32(lo), np.float32(hi)
    if lo32 < lo:
        lo32 = np.nextafter(lo32, np.float32(np.inf))
    if hi32 > hi:
        hi32 = np.nextafter(hi32, np.float32(-np.inf))
    return st.floats(
        float(lo32), float(hi32), width=32, allow_nan=False, allow_subnormal=False, **kw
    )


states = st.integers(0, S - 1)
actions = st.integers(0, A - 1)
rewards = f32(-10.0, 10.0)
alphas = f32(0.01, 1.0)
gammas = f32(0.0, 1.0)
kappas = f32(1e-3, 1.0)
seeds = st.integers(0, 2**32 - 1)

# One real transition ``(s, a, r, s_next, terminated)``.
transitions = st.tuples(states, actions, rewards, states, st.booleans())
transition_seqs = st.lists(transitions, min_size=1, max_size=25)

q_tables = hnp.arrays(np.float32, (S, A), elements=f32(-10.0, 10.0))


def key(seed: int) -> jax.Array:
    """A typed PRNG key from an integer seed."""
    return jax.random.key(seed)


def with_q(state: dq.DynaQState, q: np.ndarray) -> dq.DynaQState:
    """``state`` with its action values replaced by ``q`` (as float32)."""
    return state._replace(q=jnp.asarray(q, jnp.float32))


def run_model_updates(
    state: dq.DynaQState, seq: list[tuple[int, int, float, int, bool]], config: dq.DynaQConfig
) -> dq.DynaQState:
    """Feed the real transitions of ``seq`` to ``model_update`` in order."""
    for s, a, r, s_next, terminated in seq:
        state = dq.model_update(state, s, a, r, s_next, terminated, config)
    return state


def assert_trees_close(
    x: Any, y: Any, rtol: float = 1e-6, atol: float = 1e-6, msg: str = ""
) -> None:
    """Leaves agree: exactly for integer/bool leaves, to a tight tolerance for floats."""
    assert jax.tree.structure(x) == jax.tree.structure(y), msg
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(x), jax.tree.leaves(y), strict=True
    ):
        a, b = np.asarray(a), np.asarray(b)
        where = f"{msg} {jax.tree_util.keystr(path)}"
        assert a.shape == b.shape and a.dtype == b.dtype, where
        if np.issubdtype(a.dtype, np.floating):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=where)
        else:
            np.testing.assert_array_equal(a, b, err_msg=where)


def assert_trees_identical(x: Any, y: Any, msg: str = "") -> None:
    """Leaves are bit-identical (floats compared through their bit patterns)."""
    assert jax.tree.structure(x) == jax.tree.structure(y), msg
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(x), jax.tree.leaves(y), strict=True
    ):
        a, b = np.asarray(a), np.asarray(b)
        where = f"{msg} {jax.tree_util.keystr(path)}"
        assert a.shape == b.shape and a.dtype == b.dtype, where
        assert a.tobytes() == b.tobytes(), (where, a, b)
