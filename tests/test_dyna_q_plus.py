"""Dyna-Q+'s ``tau`` of never-tried actions (``DynaQConfig.tau_origin``).

Sutton & Barto 8.3 give a pair the bonus ``kappa * sqrt(tau)`` when it "has not been tried in tau
time steps"; the common reproduction (ShangtongZhang/reinforcement-learning-an-introduction,
chapter08/maze.py) stamps the untried actions of a newly visited state with time 1 and computes
``tau = time - stamp``, ``time`` the number of real transitions fed so far. So after
``real_steps`` real transitions an untried action's ``tau`` is ``real_steps - 1``, the steps since
the start of the run (``tau_origin="run"``, the default). ``tau_origin="first_visit"`` keeps the
library's earlier definition: the steps since the state's first visit.

What each test guards:
- ``test_tau_untried_counts_from_run_start``: with the default, an untried ``(s, b)`` has
  ``tau = real_steps - 1`` (the reproduction's ``time - 1``), whenever ``s`` was first visited; the
  tried action counts from its last try; ``last_visit`` of untried actions stays 0.
- ``test_tau_untried_counts_from_first_visit``: with ``"first_visit"`` an untried ``(s, b)`` has
  ``tau`` = the steps since the first visit of ``s``.
- ``test_planned_bonus_is_kappa_sqrt_tau``: with ``alpha = 1``, ``gamma = 0`` a planned update
  writes the planned reward into ``Q``; an untried pair's is exactly ``0 + kappa * sqrt(tau)``
  with the ``tau`` of either definition (and the tried pair's ``R + kappa * sqrt(tau)``).
- ``test_jit_equals_eager``: the model updates and the plan give the same arrays, bit for bit,
  under ``jax.jit`` and ``jax.disable_jit``, for both values.
- ``test_tau_origin_irrelevant_without_kappa``: with ``kappa = 0`` both values give identical
  states (no untried pair is a candidate).
- ``test_tau_origin_validated``: any value but ``"run"`` / ``"first_visit"`` raises a
  ``ValueError`` naming the field; the field survives ``to_dict``/``from_dict`` and ``stack``
  refuses to mix values.
- ``test_load_reads_files_without_the_field_as_first_visit``: ``dq.load`` of a file saved before the
  field existed gives ``"first_visit"`` (what it was trained with); a new file keeps its value.
"""

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynaq_jax as dq
from dynaq_jax.exploration import elapsed, exploration_bonus
from dynaq_jax.numerics import runtime_zero

S, A = 3, 4
KAPPA = 0.01
BEFORE, AFTER = 7, 5
"""Real steps before the first visit of state 2 and after it (all in state 1, action 0)."""


def _config(tau_origin: str, **kw: object) -> dq.DynaQConfig:
    base: dict[str, object] = {
        "kappa": KAPPA,
        "model": "deterministic",
        "learning_rate": 1.0,
        "discount": 0.0,
        "planning_steps": 400,
    }
    base.update(kw)
    return dq.DynaQConfig(tau_origin=tau_origin, **base)  # type: ignore[arg-type]


def _history() -> list[tuple[int, int, float, int, bool]]:
    """``BEFORE`` steps (1, 0) -> 1, one step (2, 0) -> 1 with reward 0.5, ``AFTER`` steps
    (1, 0) -> 1: state 2 is first visited at real step ``BEFORE`` (0-based)."""
    loop = (1, 0, 0.0, 1, False)
    return [loop] * BEFORE + [(2, 0, 0.5, 1, False)] + [loop] * AFTER


def _run(config: dq.DynaQConfig) -> dq.DynaQState:
    state = dq.init(S, A, config)
    for s, a, r, s_next, term in _history():
        state = dq.model_update(state, s, a, r, s_next, term, config)
    return state


def _tau(state: dq.DynaQState, s: int, a: int) -> float:
    return float(elapsed(state, jnp.asarray([s * A + a], jnp.int32))[0])


def test_tau_untried_counts_from_run_start() -> None:
    state = _run(_config("run"))
    steps = int(state.real_steps)
    assert steps == BEFORE + 1 + AFTER
    # The reproduction: time = steps fed = real_steps, untried stamp 1, tau = time - 1.
    for b in range(1, A):
        assert _tau(state, 2, b) == steps - 1
        assert int(state.last_visit[2, b]) == 0
    # The tried action: the steps since its try (the reproduction's time - stamp).
    assert _tau(state, 2, 0) == AFTER
    assert _tau(state, 1, 0) == 0
    for b in range(1, A):
        assert _tau(state, 1, b) == steps - 1


def test_tau_untried_counts_from_first_visit() -> None:
    state = _run(_config("first_visit"))
    for b in range(1, A):
        assert _tau(state, 2, b) == AFTER
        assert int(state.last_visit[2, b]) == BEFORE
        # State 1 was first visited at real step 0: both definitions agree there.
        assert _tau(state, 1, b) == int(state.real_steps) - 1
    assert _tau(state, 2, 0) == AFTER


@pytest.mark.parametrize(
    ("tau_origin", "untried_tau"),
    [("run", BEFORE + AFTER), ("first_visit", AFTER)],
)
def test_planned_bonus_is_kappa_sqrt_tau(tau_origin: str, untried_tau: int) -> None:
    config = _config(tau_origin)
    state = _run(config)
    sa = jnp.arange(S * A, dtype=jnp.int32)
    bonus = exploration_bonus(elapsed(state, sa), config, runtime_zero(state.real_steps))
    np.testing.assert_allclose(
        np.asarray(bonus).reshape(S, A)[2, 1:], KAPPA * np.sqrt(untried_tau), rtol=1e-6
    )
    q = np.asarray(dq.plan(state, jax.random.key(0), config).q)
    # alpha = 1, gamma = 0: Q[s, a] is the planned reward of the last draw of (s, a); 400 draws
    # among the 8 candidates reach all of them.
    np.testing.assert_allclose(q[2, 1:], KAPPA * np.sqrt(untried_tau), rtol=1e-6)
    np.testing.assert_allclose(q[2, 0], 0.5 + KAPPA * np.sqrt(AFTER), rtol=1e-6)
    np.testing.assert_allclose(q[1, 0], 0.0, atol=0)
    np.testing.assert_allclose(q[1, 1:], KAPPA * np.sqrt(BEFORE + AFTER), rtol=1e-6)
    assert np.all(q[0] == 0.0), "state 0 was never visited"


@pytest.mark.parametrize("tau_origin", ["run", "first_visit"])
def test_jit_equals_eager(tau_origin: str) -> None:
    config = _config(tau_origin, planning_steps=16)
    jitted = _run(config)
    q_jit = dq.plan(jitted, jax.random.key(3), config).q
    with jax.disable_jit():
        eager = _run(config)
        q_eager = dq.plan(eager, jax.random.key(3), config).q
    for name in ("last_visit", "visits", "pairs", "n_pairs", "real_steps"):
        np.testing.assert_array_equal(getattr(jitted, name), getattr(eager, name), err_msg=name)
    np.testing.assert_array_equal(q_jit, q_eager)


def test_tau_origin_irrelevant_without_kappa() -> None:
    run = _run(_config("run", kappa=0.0))
    first = _run(_config("first_visit", kappa=0.0))
    for a, b in zip(jax.tree.leaves(run), jax.tree.leaves(first), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("bad", ["", "Run", "first-visit", "state", None, 0, b"run"])
def test_tau_origin_validated(bad: object) -> None:
    with pytest.raises(ValueError, match=r"DynaQConfig\.tau_origin must be one of"):
        dq.DynaQConfig(tau_origin=bad)  # type: ignore[arg-type]


def test_tau_origin_default_round_trip_and_stack() -> None:
    assert dq.DynaQConfig().tau_origin == "run"
    c = dq.DynaQConfig(kappa=0.1, tau_origin="first_visit")
    assert c.to_dict()["tau_origin"] == "first_visit"
    assert dq.DynaQConfig.from_dict(c.to_dict()) == c
    # A dict without the field takes the default (io.load sets "first_visit" for old files).
    legacy = {k: v for k, v in c.to_dict().items() if k != "tau_origin"}
    assert dq.DynaQConfig.from_dict(legacy).tau_origin == "run"
    with pytest.raises(ValueError, match="tau_origin"):
        dq.DynaQConfig.stack([c, c.replace(tau_origin="run")])
    assert dq.DynaQConfig.stack([c, c.replace(kappa=0.2)]).tau_origin == "first_visit"


def test_load_reads_files_without_the_field_as_first_visit(tmp_path: Path) -> None:
    fixtures = Path(__file__).parent / "fixtures"
    old = dq.load(fixtures / "v2_plus.npz")
    assert old.config.tau_origin == "first_visit", "saved before tau_origin: first-visit stamping"
    assert dq.load(fixtures / "v1_count.npz").config.tau_origin == "first_visit"
    config = _config("run")
    path = dq.save(tmp_path / "new.npz", _run(config), config)
    assert dq.load(path).config == config
