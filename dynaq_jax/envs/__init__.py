"""Environments: ``TabularMDP`` tables with pure ``reset``/``step``, gymnasium import, Sutton &
Barto's mazes, Strehl & Littman's RiverSwim and SixArms, the exact oracle and text rendering.

Importing this package registers the maze ids with gymnasium (``dynaq_jax/DynaMaze-v0``,
``dynaq_jax/BlockingMaze-v0``, ``dynaq_jax/ShortcutMaze-v0``, ``dynaq_jax/GridMaze-v0``) and
``dynaq_jax/RiverSwim-v0``, ``dynaq_jax/SixArms-v0``.
"""

from dynaq_jax.envs.classic import river_swim, six_arms
from dynaq_jax.envs.convert import GymP, from_gymnasium, to_gymnasium_P
from dynaq_jax.envs.gym_env import ENV_IDS, TabularEnv, register_envs
from dynaq_jax.envs.mazes import (
    blocking_maze,
    dyna_maze,
    grid_maze,
    maze_from_walls,
    maze_layout,
    scale_layout,
    shortcut_maze,
)
from dynaq_jax.envs.mdp import (
    ChangingMDP,
    TabularMDP,
    distinct_outcomes,
    inverse_cdf,
    reset,
    stack_mdps,
    step,
    step_changing,
    validate_mdp,
)
from dynaq_jax.envs.oracle import (
    ValueIterationResult,
    continuation_matrix,
    expected_rewards,
    greedy,
    optimal_success_probability,
    policy_value,
    success_probability,
    transition_matrix,
    value_iteration,
    value_iteration_info,
)
from dynaq_jax.envs.render import render_policy

register_envs()

__all__ = [
    "ENV_IDS",
    "ChangingMDP",
    "GymP",
    "TabularEnv",
    "TabularMDP",
    "ValueIterationResult",
    "blocking_maze",
    "continuation_matrix",
    "distinct_outcomes",
    "dyna_maze",
    "expected_rewards",
    "from_gymnasium",
    "greedy",
    "grid_maze",
    "inverse_cdf",
    "maze_from_walls",
    "maze_layout",
    "optimal_success_probability",
    "policy_value",
    "register_envs",
    "render_policy",
    "reset",
    "river_swim",
    "scale_layout",
    "shortcut_maze",
    "six_arms",
    "stack_mdps",
    "step",
    "step_changing",
    "success_probability",
    "to_gymnasium_P",
    "transition_matrix",
    "validate_mdp",
    "value_iteration",
    "value_iteration_info",
]
