"""Files written by earlier versions of dynaq-jax still load, into the new state layout.

``tests/fixtures/<name>.npz`` were written by the code before the core redesign (format versions
1 and 2: a flat 14-field state): two FrozenLake seeds trained for 20 episodes, with the episode
metrics. ``<name>.expected.npz`` holds what that code had in memory: ``q``, ``r``, ``visits``,
the ``lengths`` metric and ``t_c``.

What each test guards:
- ``test_every_fixture_is_covered``: every fixture file in ``tests/fixtures`` has a case here.
- ``test_fixture_loads_bit_for_bit``: each file loads with ``dq.load`` into the model kind its
  config selects (dense counts, compact slots, last-seen successors) and the planner's state
  (a queue for prioritized sweeping, none otherwise); ``q``, ``r``, ``visits``, the ``lengths``
  metric and, where the new state keeps counts, ``t_c`` equal the recorded arrays bit for bit.
- ``test_fixture_round_trips_as_version_3``: saving the loaded state (format version 3) and
  loading it again gives every leaf, the config and the metrics back bit for bit.
"""

from pathlib import Path

import jax
import numpy as np
import pytest

import dynaq_jax as dq
from dynaq_jax.io import FORMAT_VERSION, state_leaves
from dynaq_jax.models import DenseModel, LastSeenModel, SlotModel, kind_for, kind_of
from dynaq_jax.planners import SweepQueue

FIXTURES = Path(__file__).parent / "fixtures"

# name -> (format version, model sub-pytree, planner state)
CASES = {
    "v1_count": (1, DenseModel, type(None)),
    "v1_sweeping": (1, LastSeenModel, SweepQueue),
    "v2_count": (2, DenseModel, type(None)),
    "v2_compact": (2, SlotModel, type(None)),
    "v2_sweeping": (2, LastSeenModel, SweepQueue),
    "v2_plus": (2, DenseModel, type(None)),
}


def test_every_fixture_is_covered() -> None:
    names = {p.name.removesuffix(".npz") for p in FIXTURES.glob("v*.npz")}
    assert {n for n in names if not n.endswith(".expected")} == set(CASES)


def assert_bits(got: object, want: object, what: str) -> None:
    a, b = np.asarray(got), np.asarray(want)
    assert a.dtype == b.dtype and a.shape == b.shape, (what, a.dtype, a.shape, b.dtype, b.shape)
    assert a.tobytes() == b.tobytes(), what


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_loads_bit_for_bit(name: str) -> None:
    version, model_type, planner_type = CASES[name]
    loaded = dq.load(FIXTURES / f"{name}.npz")
    assert loaded.metadata["format_version"] == version
    state, config = loaded.state, loaded.config
    assert type(state) is dq.DynaQState and state.batch_shape == (2,)
    assert type(state.model) is model_type
    assert kind_of(state.model) is kind_for(config)
    assert type(state.planner) is planner_type
    assert all(isinstance(x, jax.Array) for x in jax.tree.leaves(state))
    with np.load(FIXTURES / f"{name}.expected.npz") as expected:
        for field in ("q", "r", "visits"):
            assert_bits(getattr(state, field), expected[field], field)
        assert loaded.metrics is not None
        assert_bits(loaded.metrics["lengths"], expected["lengths"], "lengths")
        if model_type is LastSeenModel:  # the deterministic model keeps no counts now
            with pytest.raises(AttributeError):
                _ = state.t_c
        else:
            assert_bits(state.t_c, expected["t_c"], "t_c")


@pytest.mark.parametrize("name", sorted(CASES))
def test_fixture_round_trips_as_version_3(name: str, tmp_path: Path) -> None:
    loaded = dq.load(FIXTURES / f"{name}.npz")
    assert loaded.metrics is not None
    path = dq.save(tmp_path / f"{name}.npz", loaded.state, loaded.config, loaded.metrics)
    again = dq.load(path)
    assert again.metadata["format_version"] == FORMAT_VERSION == 3
    assert jax.tree.structure(again.state) == jax.tree.structure(loaded.state)
    leaves, want = state_leaves(again.state), state_leaves(loaded.state)
    assert list(leaves) == list(want)
    for leaf, x in leaves.items():
        assert_bits(x, want[leaf], leaf)
    assert again.config == loaded.config
    assert again.metrics is not None and list(again.metrics) == list(loaded.metrics)
    for metric, x in again.metrics.items():
        assert_bits(x, loaded.metrics[metric], metric)
