"""The layouts of a saved state: version 3 stores ``DynaQState``'s leaves by path; versions 1 and
2 stored one array per field of the earlier 14-field state. ``dynaq_jax.io`` reads and writes
them."""

from typing import Any

import jax
import numpy as np

from dynaq_jax.agent import init
from dynaq_jax.config import DynaQConfig
from dynaq_jax.state import DynaQState

LEGACY_FIELDS: dict[str, str] = {
    "q": "q",
    "r": "r",
    "terminal": "terminal",
    "visits": "visits",
    "last_visit": "last_visit",
    "pairs": "pairs",
    "n_pairs": "n_pairs",
    "step": "real_steps",
    "t_c": "model.t_c",
    "t_c_cum": "model.t_c_cum",
    "outcomes": "model.outcomes",
    "dropped": "model.dropped",
    "next_state": "model.next_state",
    "priority": "planner.priority",
}
"""Version-1 and -2 field -> version-3 leaf path."""

ADDED_IN_V2 = ("outcomes", "dropped")


def leaf_name(path: tuple[Any, ...]) -> str:
    """``model.t_c`` for the path of ``state.model.t_c``."""
    return jax.tree_util.keystr(path, simple=True, separator=".")


def expected_leaves(
    n_states: int, n_actions: int, config: DynaQConfig
) -> dict[str, jax.ShapeDtypeStruct]:
    """Shape and dtype of every leaf of one agent's ``DynaQState`` (by path), as ``init`` makes
    them."""
    shapes = jax.eval_shape(lambda: init(n_states, n_actions, config))
    return {leaf_name(p): x for p, x in jax.tree_util.tree_leaves_with_path(shapes)}


def legacy_expected(
    n_states: int, n_actions: int, config: DynaQConfig, version: int
) -> dict[str, jax.ShapeDtypeStruct]:
    """Shape and dtype of every field of the 14-field state of format versions 1 and 2."""
    k = config.outcome_slots
    sa, f32, i32 = (n_states, n_actions), np.dtype(np.float32), np.dtype(np.int32)

    def spec(shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(shape, dtype)  # type: ignore[no-untyped-call]

    out = {
        "q": spec(sa, f32),
        "t_c": spec((*sa, k or n_states), f32),
        "t_c_cum": spec((*sa, k or n_states), f32),
        "outcomes": spec((*sa, k) if k else (0,), i32),
        "r": spec(sa, f32),
        "terminal": spec((n_states,), np.dtype(np.bool_)),
        "next_state": spec(sa, i32),
        "visits": spec(sa, i32),
        "last_visit": spec(sa, i32),
        "pairs": spec((n_states * n_actions + n_actions,), i32),
        "n_pairs": spec((), i32),
        "step": spec((), i32),
        "priority": spec(sa, f32),
        "dropped": spec((), i32),
    }
    if version < 2:
        for f in ADDED_IN_V2:
            del out[f]
    return out


def state_leaves(state: DynaQState) -> dict[str, Any]:
    """Every leaf of ``state`` by its path name (``q``, ..., ``model.t_c``)."""
    return {leaf_name(p): x for p, x in jax.tree_util.tree_leaves_with_path(state)}


__all__ = [
    "ADDED_IN_V2",
    "LEGACY_FIELDS",
    "expected_leaves",
    "leaf_name",
    "legacy_expected",
    "state_leaves",
]
