"""dynaq-jax: typed, purely functional tabular Dyna-Q in JAX.

The public API is re-exported here; see the README for a tour.
"""

from dynaq_jax.agent import (
    act,
    greedy_policy,
    model_update,
    state_values,
    step,
    transition_probs,
    update,
)
from dynaq_jax.config import DynaQConfig
from dynaq_jax.planning import plan
from dynaq_jax.state import DynaQState, init, memory_bytes, model_size

__version__ = "0.1.0"

__all__ = [
    "DynaQConfig",
    "DynaQState",
    "__version__",
    "act",
    "greedy_policy",
    "init",
    "memory_bytes",
    "model_size",
    "model_update",
    "plan",
    "state_values",
    "step",
    "transition_probs",
    "update",
]
