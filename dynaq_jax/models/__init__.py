"""Model kinds: plug-ins that learn the transition model and answer the planners' questions.

Each kind is one module implementing ``ModelKind`` (``base.py``) with its own sub-pytree of
``DynaQState.model``; the table below registers it under a name. ``DynaQConfig.model_kind`` names
the kind a config selects (``"count"`` -> ``"dense"``, or ``"slots"`` with ``outcome_slots``;
``"deterministic"`` -> ``"last_seen"``) and ``kind_for(config)`` returns it: the one place a kind
is chosen. To add a kind: a new module with a ``ModelKind`` subclass, and one line here
(see docs/extending.md; ``dynaq_jax.testing`` runs the invariant checks on every registered kind).
"""

from typing import cast

from dynaq_jax.config import DynaQConfig
from dynaq_jax.models.base import ModelKind, Successors
from dynaq_jax.models.dense import DENSE, DenseModel
from dynaq_jax.models.last_seen import LAST_SEEN, LastSeenModel
from dynaq_jax.models.posterior import PlanningDraw, planning_draw
from dynaq_jax.models.slots import SLOTS, SlotModel
from dynaq_jax.registry import MODEL_REGISTRY

MODEL_REGISTRY.register("dense", DENSE)
MODEL_REGISTRY.register("slots", SLOTS)
MODEL_REGISTRY.register("last_seen", LAST_SEEN)


def kind_for(config: DynaQConfig) -> ModelKind:
    """The model kind ``config`` selects (``config.model_kind``, looked up in the registry)."""
    return cast(ModelKind, MODEL_REGISTRY[config.model_kind])


def kind_of(model: object) -> ModelKind:
    """The registered kind whose sub-pytree ``model`` is (``ModelKind.model_type``), for
    read-outs given a state without its config."""
    for name in MODEL_REGISTRY:
        kind = cast(ModelKind, MODEL_REGISTRY[name])
        if isinstance(model, kind.model_type):
            return kind
    raise TypeError(f"no registered model kind keeps a {type(model).__name__}")


def registered() -> dict[str, ModelKind]:
    """Every registered model kind by name."""
    return {name: cast(ModelKind, MODEL_REGISTRY[name]) for name in MODEL_REGISTRY}


__all__ = [
    "DenseModel",
    "LastSeenModel",
    "ModelKind",
    "PlanningDraw",
    "SlotModel",
    "Successors",
    "kind_for",
    "kind_of",
    "planning_draw",
    "registered",
]
