"""The invariant suite, run over every registered model kind and planner (``dynaq_jax.testing``).

A plug-in registered in ``dynaq_jax.models`` or ``dynaq_jax.planners`` is picked up here without
editing this file.
"""

import jax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynaq_jax import models, planners, testing

S, A = 5, 3
MODELS = sorted(models.registered())
PLANNERS = sorted(planners.registered())
keys = st.integers(0, 2**32 - 1).map(jax.random.key)


def test_registries_hold_the_built_in_plug_ins() -> None:
    assert {"dense", "slots", "last_seen"} <= set(MODELS)
    assert {"sample", "expected", "sweeping"} <= set(PLANNERS)


@pytest.mark.parametrize("model", MODELS)
def test_model_invariants(model: str) -> None:
    @settings(max_examples=20)
    @given(testing.histories(S, A), testing.configs(model=model))
    def check(history: list[testing.Transition], config: object) -> None:
        testing.check_model_invariants(history, config, S, A)  # type: ignore[arg-type]

    check()


@pytest.mark.parametrize("planner", PLANNERS)
@pytest.mark.parametrize("model", MODELS)
def test_planning_never_bootstraps_through_terminals(model: str, planner: str) -> None:
    @settings(max_examples=10)
    @given(
        testing.histories(S, A, min_size=3, with_terminal=True),
        testing.configs(model, planner, rmax=False),
        keys,
    )
    def check(history: list[testing.Transition], config: object, key: jax.Array) -> None:
        testing.check_no_bootstrap_through_terminals(history, config, key, S, A)  # type: ignore[arg-type]

    check()


@pytest.mark.parametrize("planner", PLANNERS)
@pytest.mark.parametrize("model", MODELS)
def test_step_jit_eager_vmap_agree(model: str, planner: str) -> None:
    @settings(max_examples=5)
    @given(testing.histories(S, A, min_size=2, max_size=8), testing.configs(model, planner), keys)
    def check(history: list[testing.Transition], config: object, key: jax.Array) -> None:
        testing.check_step_variants(history, config, key, S, A)  # type: ignore[arg-type]

    check()


@given(testing.mdps(S, A, 3))
def test_random_mdps_are_valid(mdp: object) -> None:
    from dynaq_jax.envs import validate_mdp

    validate_mdp(mdp)  # type: ignore[arg-type]
