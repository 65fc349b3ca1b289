"""``DynaQConfig``: validation, pytree structure, stacking for sweeps, dict round trip.

What each test guards:
- ``test_valid_values_accepted``: every in-range value of every field is accepted and stored
  (the validators are not stricter than documented; ``planning_steps`` becomes a Python int).
- ``test_boundary_values_accepted``: the closed ends of the ranges (``alpha = 1``, ``gamma`` and
  ``epsilon`` 0 and 1, ``n = 0``, ``kappa = 0``) and NumPy integers are valid.
- ``test_bad_value_rejected``: each out-of-range, non-finite or wrongly typed value raises
  ``ValueError`` whose message names the field and the offending value.
- ``test_bad_element_in_array_leaf_rejected``: an array leaf is validated element-wise.
- ``test_replace_validates``: ``replace`` goes through the same validation as construction.
- ``test_pytree_leaves_and_static``: numeric hyperparameters are leaves, structural fields static
  (changing a static field changes the treedef, i.e. compiles a new program).
- ``test_stack``: ``stack`` builds float32 leaves of shape ``[B]`` holding each config's value.
- ``test_stack_refuses_mismatched_static``: configs that differ in a static field cannot be stacked.
- ``test_stack_refuses_empty``: stacking nothing is an error.
- ``test_dict_round_trip`` / ``test_stacked_dict_round_trip``: ``from_dict(to_dict(c))`` equals
  ``c`` and ``to_dict`` is JSON-serialisable.
- ``test_from_dict_rejects_unknown_and_bad``: unknown keys and invalid values in a dict raise.
- ``test_model_kind_resolves_names`` / ``test_slots_kind_needs_slots``: the first release's
  model names select a registered model kind (``"count"``: dense, or slots with
  ``outcome_slots``; ``"deterministic"``: last seen), a registered kind's own name selects itself,
  and the slots kind needs ``outcome_slots >= 1``.
"""

import dataclasses
import json
import math

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dynaq_jax import DynaQConfig
from tests.conftest import f32

configs = st.builds(
    DynaQConfig,
    learning_rate=f32(1e-6, 1.0),
    discount=f32(0.0, 1.0),
    epsilon=f32(0.0, 1.0),
    planning_steps=st.integers(0, 10_000),
    model=st.sampled_from(["count", "deterministic"]),
    kappa=f32(0.0, 100.0),
    t_c_prior=st.floats(1e-12, 10.0),
)


def _fields_equal(x: DynaQConfig, y: DynaQConfig) -> None:
    for f in dataclasses.fields(DynaQConfig):
        a, b = getattr(x, f.name), getattr(y, f.name)
        if isinstance(a, str) or isinstance(b, str):
            assert a == b, f.name
        else:
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b), err_msg=f.name)


@given(configs)
def test_valid_values_accepted(c: DynaQConfig) -> None:
    assert 0.0 < float(c.learning_rate) <= 1.0
    assert type(c.planning_steps) is int
    assert isinstance(c.t_c_prior, float)
    assert c.batch_shape == ()


def test_boundary_values_accepted() -> None:
    DynaQConfig(learning_rate=1.0, discount=0.0, epsilon=0.0, planning_steps=0, kappa=0.0)
    DynaQConfig(discount=1.0, epsilon=1.0, planning_steps=np.int64(3), model="deterministic")


NAN = float("nan")

BAD = [
    ("learning_rate", 0),
    ("learning_rate", 0.0),
    ("learning_rate", 1.5),
    ("learning_rate", -0.1),
    ("learning_rate", NAN),
    ("learning_rate", float("inf")),
    ("learning_rate", "0.5"),
    ("learning_rate", True),
    ("learning_rate", None),
    ("discount", -0.1),
    ("discount", 1.01),
    ("discount", NAN),
    ("epsilon", 2),
    ("epsilon", -1e-3),
    ("epsilon", NAN),
    ("planning_steps", -1),
    ("planning_steps", 2.5),
    ("planning_steps", 3.0),
    ("planning_steps", True),
    ("planning_steps", NAN),
    ("planning_steps", "5"),
    ("kappa", -1),
    ("kappa", NAN),
    ("kappa", float("inf")),
    ("t_c_prior", 0),
    ("t_c_prior", -1e-5),
    ("t_c_prior", NAN),
    ("t_c_prior", float("inf")),
    ("t_c_prior", True),
    ("model", "x"),
    ("model", "Count"),
    ("model", None),
]


@pytest.mark.parametrize(("field", "value"), BAD, ids=[f"{f}={v!r}" for f, v in BAD])
def test_bad_value_rejected(field: str, value: object) -> None:
    with pytest.raises(ValueError) as info:
        DynaQConfig(**{field: value})
    msg = str(info.value)
    assert field in msg
    assert repr(value) in msg or str(value) in msg


def test_bad_element_in_array_leaf_rejected() -> None:
    DynaQConfig(epsilon=np.array([0.0, 0.5, 1.0]))
    with pytest.raises(ValueError, match=r"epsilon.*1\.5"):
        DynaQConfig(epsilon=np.array([0.0, 1.5]))
    with pytest.raises(ValueError, match=r"discount.*nan"):
        DynaQConfig(discount=np.array([0.9, math.nan]))


def test_replace_validates() -> None:
    c = DynaQConfig()
    assert c.replace(epsilon=0.3).epsilon == 0.3
    with pytest.raises(ValueError, match="epsilon"):
        c.replace(epsilon=2.0)
    with pytest.raises(ValueError, match="planning_steps"):
        c.replace(planning_steps=-1)


def test_pytree_leaves_and_static() -> None:
    c = DynaQConfig(learning_rate=0.2, discount=0.9, epsilon=0.05, kappa=0.01, theta=0.003)
    leaves, treedef = jax.tree.flatten(c)
    assert leaves == [0.2, 0.9, 0.05, 0.01, 0.003, 0.0, 1, 0.0, 0.0]
    back = jax.tree.unflatten(treedef, leaves)
    _fields_equal(back, c)
    for change in (
        {"planning_steps": 7},
        {"model": "deterministic"},
        {"t_c_prior": 0.5},
        {"planner": "expected", "kappa": 0.0},
    ):
        assert jax.tree.structure(c.replace(**change)) != treedef
    assert jax.tree.structure(c.replace(learning_rate=0.7)) == treedef


def test_stack() -> None:
    cs = [DynaQConfig(learning_rate=lr, epsilon=e) for lr, e in [(0.1, 0.0), (0.5, 0.2), (1, 1)]]
    st_ = DynaQConfig.stack(cs)
    assert st_.batch_shape == (3,)
    for name in ("learning_rate", "discount", "epsilon", "kappa"):
        leaf = np.asarray(getattr(st_, name))
        assert leaf.dtype == np.float32 and leaf.shape == (3,)
        np.testing.assert_array_equal(leaf, np.float32([getattr(c, name) for c in cs]))
    assert (st_.planning_steps, st_.model, st_.t_c_prior) == (50, "count", 1e-5)


@pytest.mark.parametrize(
    ("field", "value"), [("planning_steps", 5), ("model", "deterministic"), ("t_c_prior", 0.1)]
)
def test_stack_refuses_mismatched_static(field: str, value: object) -> None:
    cs = [DynaQConfig(), DynaQConfig(epsilon=0.3), DynaQConfig(**{field: value})]
    with pytest.raises(ValueError, match=field) as info:
        DynaQConfig.stack(cs)
    assert "config 2" in str(info.value)


def test_stack_refuses_empty() -> None:
    with pytest.raises(ValueError):
        DynaQConfig.stack([])


@given(configs)
def test_dict_round_trip(c: DynaQConfig) -> None:
    d = c.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(DynaQConfig)}
    back = DynaQConfig.from_dict(json.loads(json.dumps(d)))
    _fields_equal(back, c)


def test_stacked_dict_round_trip() -> None:
    c = DynaQConfig.stack([DynaQConfig(learning_rate=0.1), DynaQConfig(learning_rate=0.3)])
    back = DynaQConfig.from_dict(json.loads(json.dumps(c.to_dict())))
    _fields_equal(back, c)
    assert back.batch_shape == (2,)


def test_from_dict_rejects_unknown_and_bad() -> None:
    with pytest.raises(ValueError, match="alpha"):
        DynaQConfig.from_dict({"alpha": 0.1})
    with pytest.raises(ValueError, match="learning_rate"):
        DynaQConfig.from_dict({"learning_rate": 2.0})
    with pytest.raises(ValueError, match="learning_rate"):
        DynaQConfig.from_dict({"learning_rate": [0.1, 0.0]})


@pytest.mark.parametrize(
    ("changes", "kind"),
    [
        ({}, "dense"),
        ({"outcome_slots": 3}, "slots"),
        ({"model": "deterministic"}, "last_seen"),
        ({"model": "deterministic", "outcome_slots": 2}, "last_seen"),
        ({"model": "dense"}, "dense"),
        ({"model": "slots", "outcome_slots": 2}, "slots"),
        ({"model": "last_seen"}, "last_seen"),
    ],
)
def test_model_kind_resolves_names(changes: dict, kind: str) -> None:
    config = DynaQConfig(**changes)
    assert config.model_kind == kind
    assert DynaQConfig.from_dict(config.to_dict()).model_kind == kind


def test_slots_kind_needs_slots() -> None:
    with pytest.raises(ValueError, match=r"outcome_slots must be >= 1 for the slots model, got 0"):
        DynaQConfig(model="slots")
