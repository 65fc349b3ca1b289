"""dynaq-jax: typed, purely functional tabular Dyna-Q in JAX.

The public API is re-exported here; see the README for a tour and the docs for the layers.
"""

from dynaq_jax import distributed, envs, gym_loop, models, planners
from dynaq_jax.agent import (
    act,
    greedy_policy,
    init,
    model_update,
    plan,
    plan_counted,
    state_values,
    step,
    step_counted,
    transition_probs,
    update,
)
from dynaq_jax.config import DynaQConfig
from dynaq_jax.distributed import gather_result, join, use_cpu_devices
from dynaq_jax.envs import (
    ChangingMDP,
    TabularEnv,
    TabularMDP,
    blocking_maze,
    dyna_maze,
    from_gymnasium,
    grid_maze,
    optimal_success_probability,
    policy_value,
    render_policy,
    shortcut_maze,
    success_probability,
    value_iteration,
)
from dynaq_jax.envs.adapters import as_gymnasium, from_functional, from_gymnax
from dynaq_jax.envs.protocol import JaxEnv, check_env
from dynaq_jax.io import DynaQFileError, Loaded, load, save
from dynaq_jax.state import DynaQState, memory_bytes, model_size
from dynaq_jax.train import (
    EpisodeMetrics,
    TrainResult,
    memory_per_seed,
    train,
    train_seeds,
    train_sweep,
)
from dynaq_jax.version import __version__

__all__ = [
    "ChangingMDP",
    "DynaQConfig",
    "DynaQFileError",
    "DynaQState",
    "EpisodeMetrics",
    "JaxEnv",
    "Loaded",
    "TabularEnv",
    "TabularMDP",
    "TrainResult",
    "__version__",
    "act",
    "as_gymnasium",
    "blocking_maze",
    "check_env",
    "distributed",
    "dyna_maze",
    "envs",
    "from_functional",
    "from_gymnasium",
    "from_gymnax",
    "gather_result",
    "greedy_policy",
    "grid_maze",
    "gym_loop",
    "init",
    "join",
    "load",
    "memory_bytes",
    "memory_per_seed",
    "model_size",
    "model_update",
    "models",
    "optimal_success_probability",
    "plan",
    "plan_counted",
    "planners",
    "policy_value",
    "render_policy",
    "save",
    "shortcut_maze",
    "state_values",
    "step",
    "step_counted",
    "success_probability",
    "train",
    "train_seeds",
    "train_sweep",
    "transition_probs",
    "update",
    "use_cpu_devices",
    "value_iteration",
]
