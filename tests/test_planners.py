"""What every planner shares (``dynaq_jax.planners``): the config fields, the registry, R-max
optimism, and bit-identical results eagerly, under ``jit`` and under ``vmap``.

Each planner's own behaviour is tested in its file: ``test_planner_sample.py``,
``test_planner_expected.py``, ``test_planner_sweeping.py``; Example 8.4's helpers in
``test_example84_helpers.py``.

What each test guards:
- ``test_config_rejects`` / ``test_config_round_trip_and_pytree``: the planner fields are
  validated (``ValueError`` naming the field), survive ``to_dict``/``from_dict``, and are leaves
  (``theta``, ``optimism``) or static (``planner``).
- ``test_registry_names_the_plug_ins``: the built-in planners and model kinds are registered under
  their names, and a config selects the one it names.
- ``test_optimism_values_untried_pairs_of_seen_states``: R-max values land exactly where they
  should, and nowhere with ``optimism = 0``.
- ``test_jit_eager_vmap_agree``: a whole step (with the ``active`` mask) over a batch of distinct
  transitions, and the planner's own arithmetic (``expected_updates``, ``sweep``), give the plain
  call's bits eagerly, under ``jit`` and under ``vmap``, for every model kind.
"""

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dynaq_jax as dq
from dynaq_jax import models, planners
from dynaq_jax.models import kind_for
from dynaq_jax.planners.expected import expected_updates
from dynaq_jax.planners.sweeping import sweep
from tests.conftest import A, S, Variant, assert_trees_identical
from tests.planner_cases import EXPECTED, FEW, MODELS, SWEEP, TERMINAL, learn, transitions
from tests.planner_cases import models as model_names

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


def test_registry_names_the_plug_ins() -> None:
    registered = planners.registered()
    assert list(registered)[:3] == ["sample", "expected", "sweeping"]
    for name, planner in registered.items():
        assert planner.name == name
    for config in (*EXPECTED.values(), *SWEEP.values(), dq.DynaQConfig()):
        assert planners.planner_for(config) is registered[config.planner]
    kinds = models.registered()
    assert list(kinds)[:3] == ["dense", "slots", "last_seen"]
    for config, name in zip(EXPECTED.values(), ["dense", "last_seen", "slots"], strict=True):
        assert config.model_kind == name and kind_for(config) is kinds[name]


# -- optimism -------------------------------------------------------------------------------------


@FEW
@given(seq=transitions, r_max=st.floats(0.1, 2.0), model=model_names)
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
def test_jit_eager_vmap_agree(variant: Variant, planner: str, model: str) -> None:
    config = (EXPECTED if planner == "expected" else SWEEP)[model].replace(optimism=0.5)
    kind = kind_for(config)
    rng = np.random.default_rng(0)
    seq = [
        (int(rng.integers(S)), int(rng.integers(A)), float(rng.normal()), int(rng.integers(S)))
        for _ in range(12)
    ]
    state = learn(config, seq)
    keys = jax.random.split(jax.random.key(1), 3)
    transitions_ = [(0, 1, 0.5, 4, True), (2, 0, -1.0, 1, False), (3, 2, 1.0, 2, False)]
    rows = [(state, k, *tr, config) for k, tr in zip(keys, transitions_, strict=True)]
    on = jnp.asarray(True)

    # a batch of 3 distinct steps equals one agent at a time (the whole step)
    batched = variant.rows(dq.step, rows, active=on)
    for i, args in enumerate(rows):
        single = dq.step(*args, active=on)
        assert_trees_identical(batched[i], single, f"row {i}")
    # the planner's own arithmetic (the pair draw is planners.base.draw_pairs')
    if planner == "expected":
        sa = jnp.asarray([7, 0, 7, 3, 1, 8], jnp.int32)
        fn: Any = lambda st: expected_updates(st, sa, config, kind, on)  # noqa: E731
    else:
        fn = lambda st: sweep(st, config, kind, on)  # noqa: E731
    assert_trees_identical(variant(fn)(single), fn(single))
