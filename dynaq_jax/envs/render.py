"""Text rendering of policies on grid MDPs, for terminals and docs."""

import numpy as np

from dynaq_jax.envs.mdp import TabularMDP
from dynaq_jax.types import Policy

ARROW_CELLS = frozenset(".F")
"""Layout characters that show the policy's arrow; every other mark (S, G, H, #, C) is kept."""


def render_policy(env: TabularMDP, policy: Policy) -> str:
    """The grid ``env.layout`` with the action ``policy[r * cols + c]`` drawn on each free cell.

    Free cells (``.`` in mazes, ``F`` in FrozenLake) show ``env.action_arrows[pi(s)]`` (the action
    number when the env has no arrows); start, goal, hole, wall and cliff marks are kept. Rows are
    joined by newlines.

    Raises:
        ValueError: the env has no layout (e.g. Taxi), or ``policy`` does not have ``S`` entries
            in ``[0, A)``.
    """
    if env.layout is None:
        raise ValueError(f"render_policy: {env.name} has no grid layout to draw on")
    rows = env.layout
    n_cols = len(rows[0])
    actions = [int(x) for x in np.asarray(policy).reshape(-1)]
    if len(actions) != env.n_states or len(rows) * n_cols != env.n_states:
        raise ValueError(
            f"render_policy: policy has {len(actions)} entries, {env.name} has "
            f"{env.n_states} states on a {len(rows)} x {n_cols} grid"
        )
    if any(not 0 <= a < env.n_actions for a in actions):
        raise ValueError(f"render_policy: actions must lie in [0, {env.n_actions})")
    glyphs = env.action_arrows or tuple(str(a) for a in range(env.n_actions))
    out = []
    for r, row in enumerate(rows):
        cells = [
            glyphs[actions[r * n_cols + c]] if ch in ARROW_CELLS else ch for c, ch in enumerate(row)
        ]
        out.append("".join(cells))
    return "\n".join(out)


__all__ = ["ARROW_CELLS", "render_policy"]
