"""Shared hypothesis settings, strategies and helpers for the core agent tests.

Settings profiles (picked by ``HYPOTHESIS_PROFILE``, else ``ci`` when ``CI`` is set, else ``dev``):
- ``dev``: random examples, ``deadline=None`` (the first call of a jitted function compiles);
- ``ci``: the same with ``derandomize=True``, so a CI run is deterministic;
- ``thorough``: many more examples, for a manual soak.

Strategies keep every array shape fixed (``S = 5`` states, ``A = 3`` actions) and draw index
sequences instead, so each jitted function compiles once per config structure.

The ``variant`` fixture runs a function eagerly (``jax.disable_jit``), under ``jax.jit`` or under
``jax.vmap`` (``Variant``): tests compare each variant with the plain call, bit for bit, instead of
hand-writing the three versions.
"""

import functools
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import dynaq_jax as dq
from dynaq_jax import testing
from dynaq_jax.exploration import elapsed, exploration_bonus
from dynaq_jax.models import kind_for
from dynaq_jax.numerics import runtime_zero
from dynaq_jax.planners.base import draw_pairs
from dynaq_jax.testing import f32s as f32

# JAX starts here, with the devices this environment gives it (one CPU device unless XLA_FLAGS
# says otherwise). The command line's default of one device per core (use_cpu_devices) then
# keeps these, so every test of a worker sees the same devices whichever test ran first.
jax.devices()

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


states = st.integers(0, S - 1)
actions = st.integers(0, A - 1)
rewards = f32(-10.0, 10.0)
alphas = f32(0.01, 1.0)
gammas = f32(0.0, 1.0)
kappas = f32(1e-3, 1.0)
seeds = st.integers(0, 2**32 - 1)

# One real transition ``(s, a, r, s_next, terminated)``.
transitions = testing.transitions(S, A, reward_bound=10.0)
transition_seqs = testing.histories(S, A, min_size=1, max_size=25)

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


# -- the simulated transitions of the sample planner ----------------------------------------------


class Simulated(NamedTuple):
    """The ``n`` transitions the sample planner draws: flat pair ``s * A + a``, ``s'``, reward
    (with Dyna-Q+'s bonus), and whether ``s'`` is non-terminal."""

    sa: jax.Array
    s_next: jax.Array
    reward: jax.Array
    nonterminal: jax.Array


@jax.jit
def simulate(state: dq.DynaQState, k: jax.Array, config: dq.DynaQConfig) -> Simulated:
    """The transitions ``plan`` with the sample planner updates from, drawn with ``k``: the pairs
    of ``planners.base.draw_pairs``, ``s'`` from the model kind's ``sample_next`` (an untried
    Dyna-Q+ pair leads back to its state with reward 0), the bonus ``kappa * sqrt(tau)``."""
    n_a = state.n_actions
    kind = kind_for(config)
    sa, u = draw_pairs(state, k, config.planning_steps)
    tried = state.visits.reshape(-1)[sa] > 0
    s_next = jnp.where(tried, kind.sample_next(state.model, sa, u, config), sa // n_a)
    bonus = exploration_bonus(elapsed(state, sa), config, runtime_zero(state.real_steps))
    reward = jnp.where(tried, state.r.reshape(-1)[sa], 0.0) + bonus
    return Simulated(sa, s_next, reward, ~state.terminal[s_next])


# -- eager, jit, vmap -----------------------------------------------------------------------------

VARIANTS = ("eager", "jit", "vmap")
VMAP_COPIES = 3
"""A single call under ``vmap`` runs a batch of this many copies (every row must agree)."""


@functools.cache
def _jitted(fn: Callable[..., Any], static_argnums: tuple[int, ...]) -> Callable[..., Any]:
    return jax.jit(fn, static_argnums=static_argnums)


def _stack(*rows: Any) -> Any:
    return jax.tree.map(lambda *xs: jnp.stack([jnp.asarray(x) for x in xs]), *rows)


class Variant:
    """One way to run a function: ``"eager"`` (under ``jax.disable_jit()``: op by op, every
    internal ``jit`` off), ``"jit"`` (``jax.jit``, Python scalars traced) or ``"vmap"``
    (``jax.vmap`` over a batch: the rows given, or copies of one call).

    ``variant(fn)(*args, **kwargs)`` is one call; ``variant.rows(fn, rows, **kwargs)`` calls ``fn``
    on each tuple of positional arguments in ``rows`` (under ``vmap``: as one batch) and returns
    the results in order. ``static_argnums`` are passed as they are: not traced, not batched (they
    must agree between rows). Keyword arguments are traced and, under ``vmap``, batched.
    """

    def __init__(self, name: str) -> None:
        if name not in VARIANTS:
            raise ValueError(f"unknown variant {name!r}")
        self.name = name

    def __repr__(self) -> str:
        return f"Variant({self.name!r})"

    def __call__(
        self, fn: Callable[..., Any], *, static_argnums: tuple[int, ...] = ()
    ) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            copies = VMAP_COPIES if self.name == "vmap" else 1
            out = self.rows(fn, [args] * copies, static_argnums=static_argnums, **kwargs)
            for i, other in enumerate(out[1:], 1):
                assert_trees_identical(other, out[0], f"vmap copy {i}")
            return out[0]

        return call

    def rows(
        self,
        fn: Callable[..., Any],
        rows: Sequence[tuple[Any, ...]],
        *,
        static_argnums: tuple[int, ...] = (),
        **kwargs: Any,
    ) -> list[Any]:
        if self.name == "eager":
            with jax.disable_jit():
                return [fn(*args, **kwargs) for args in rows]
        if self.name == "jit":
            jitted = _jitted(fn, tuple(static_argnums))
            return [jitted(*args, **kwargs) for args in rows]
        n_args = len(rows[0])
        static = {i: rows[0][i] for i in static_argnums}
        for args in rows:
            assert len(args) == n_args
            assert all(args[i] is v or args[i] == v for i, v in static.items())
        dynamic = [tuple(x for i, x in enumerate(args) if i not in static) for args in rows]

        def one(dyn: tuple[Any, ...], kw: dict[str, Any]) -> Any:
            it = iter(dyn)
            return fn(*(static[i] if i in static else next(it) for i in range(n_args)), **kw)

        batched = jax.vmap(one)(_stack(*dynamic), _stack(*[kwargs] * len(rows)))
        return [jax.tree.map(lambda x, i=i: x[i], batched) for i in range(len(rows))]


@pytest.fixture(scope="session", params=VARIANTS)
def variant(request: pytest.FixtureRequest) -> Variant:
    """The function runner of one variant: eager, ``jit`` or ``vmap`` (``Variant``)."""
    return Variant(request.param)
