"""Planners: plug-ins that make the ``planning_steps`` simulated updates of a real step.

Each planner is one module implementing ``Planner`` (``base.py``): ``plan`` returns the new state
and the number of Q updates it made; ``init`` gives its own state (``DynaQState.planner``), and
``observe`` runs after each model update. The table below registers each under the name that
``DynaQConfig.planner`` takes; ``planner_for(config)`` is the one place a planner is chosen. To
add one: a new module with a ``Planner`` subclass, and one line here (see docs/extending.md).

* ``"sample"``: Dyna-Q's sampled one-step updates (``sample.py``).
* ``"expected"``: full backups of uniformly drawn tried pairs (``expected.py``).
* ``"sweeping"``: prioritized sweeping (``sweeping.py``).
"""

from typing import cast

from dynaq_jax.config import DynaQConfig
from dynaq_jax.planners.base import Planner
from dynaq_jax.planners.expected import EXPECTED
from dynaq_jax.planners.sample import SAMPLE
from dynaq_jax.planners.sweeping import SWEEPING, SweepQueue
from dynaq_jax.registry import PLANNER_REGISTRY

PLANNER_REGISTRY.register("sample", SAMPLE)
PLANNER_REGISTRY.register("expected", EXPECTED)
PLANNER_REGISTRY.register("sweeping", SWEEPING)


def planner_for(config: DynaQConfig) -> Planner:
    """The planner ``config.planner`` names (looked up in the registry)."""
    return cast(Planner, PLANNER_REGISTRY[config.planner])


def registered() -> dict[str, Planner]:
    """Every registered planner by name."""
    return {name: cast(Planner, PLANNER_REGISTRY[name]) for name in PLANNER_REGISTRY}


__all__ = ["Planner", "SweepQueue", "planner_for", "registered"]
