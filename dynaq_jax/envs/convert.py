"""Tables from gymnasium: ``from_gymnasium`` reads ``env.unwrapped.P`` into a ``TabularMDP``.

Gymnasium's toy-text envs (FrozenLake, CliffWalking, Taxi) describe their dynamics as
``P[s][a] = [(p, s', r, terminated), ...]``. ``from_gymnasium`` copies that list slot by slot, in
order, duplicates included (FrozenLake's slippery moves into a wall list the same ``s'`` twice), and
pads every ``(s, a)`` to ``K = max_{s,a} len(P[s][a])`` with zero-probability slots. So
``to_gymnasium_P(from_gymnasium(env))`` equals ``env.unwrapped.P``.
"""

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces
from jaxtyping import Array, Float

from dynaq_jax.envs.mdp import TabularMDP, validate_mdp

GymP = dict[int, dict[int, list[tuple[float, int, float, bool]]]]
"""Gymnasium's transition format ``P[s][a] = [(prob, next_state, reward, terminated), ...]``."""

FROZEN_LAKE_ARROWS = ("←", "↓", "→", "↑")
"""FrozenLake's actions: 0 left, 1 down, 2 right, 3 up."""

CLIFF_WALKING_ARROWS = ("↑", "→", "↓", "←")
"""CliffWalking's actions: 0 up, 1 right, 2 down, 3 left."""


def _env_label(env: gym.Env[Any, Any]) -> str:
    spec = getattr(env, "spec", None)
    if spec is not None and getattr(spec, "id", None):
        return str(spec.id)
    return type(getattr(env, "unwrapped", env)).__name__


def _discrete_size(label: str, which: str, space: object) -> int:
    if not isinstance(space, spaces.Discrete):
        raise ValueError(
            f"from_gymnasium: {label} needs a Discrete {which} space, got {type(space).__name__}"
        )
    if int(space.start) != 0:
        raise ValueError(f"from_gymnasium: {label}'s {which} space must start at 0")
    return int(space.n)


def _layout_and_arrows(
    raw: Any, n_states: int, outcomes: GymP
) -> tuple[tuple[str, ...] | None, tuple[str, ...] | None]:
    """Grid rows and action glyphs for the toy-text grid worlds; ``(None, None)`` otherwise."""
    from gymnasium.envs.toy_text.cliffwalking import CliffWalkingEnv
    from gymnasium.envs.toy_text.frozen_lake import FrozenLakeEnv

    own = getattr(raw, "layout", None), getattr(raw, "action_arrows", None)
    if own != (None, None):
        return own
    if isinstance(raw, FrozenLakeEnv):
        desc = np.asarray(raw.desc)
        rows = tuple(b"".join(bytes(c) for c in row).decode() for row in desc)
        return rows, FROZEN_LAKE_ARROWS
    if isinstance(raw, CliffWalkingEnv):
        n_rows, n_cols = (int(x) for x in raw.shape)
        if n_rows * n_cols != n_states:
            return None, CLIFF_WALKING_ARROWS
        grid = [["."] * n_cols for _ in range(n_rows)]
        cliff = np.asarray(getattr(raw, "_cliff", np.zeros((n_rows, n_cols), bool)))
        for r, c in zip(*np.nonzero(cliff), strict=True):
            grid[int(r)][int(c)] = "C"
        goals = {
            s_next
            for per_a in outcomes.values()
            for outs in per_a.values()
            for _, s_next, _, term in outs
            if term
        }
        for g in goals:
            grid[g // n_cols][g % n_cols] = "G"
        start = int(raw.start_state_index)
        grid[start // n_cols][start % n_cols] = "S"
        return tuple("".join(row) for row in grid), CLIFF_WALKING_ARROWS
    return None, None


def _row_str(row: Any) -> str:
    if isinstance(row, str):
        return row
    if isinstance(row, bytes):
        return row.decode()
    return "".join(c.decode() if isinstance(c, bytes) else str(c) for c in row)


def check_frozen_lake_desc(label: str, desc: Any) -> tuple[str, ...]:
    """Check a FrozenLake map: rows of equal length over ``S F H G`` with some ``S`` and ``G``.

    Returns the rows as ``str``. Raises ``ValueError`` naming the env and the bad row or character
    (gymnasium itself fails with a NumPy message on ragged rows and accepts unknown characters).
    """
    if isinstance(desc, str | bytes):
        raise ValueError(f"{label}: desc must be a list of row strings, got one string {desc!r}")
    rows = [_row_str(row) for row in desc]
    if not rows or not rows[0]:
        raise ValueError(f"{label}: desc must have at least one non-empty row")
    for i, row in enumerate(rows):
        if len(row) != len(rows[0]):
            raise ValueError(
                f"{label}: desc is ragged: row {i} {row!r} has {len(row)} columns, row 0 has "
                f"{len(rows[0])}"
            )
        for j, ch in enumerate(row):
            if ch not in "SFHG":
                raise ValueError(
                    f"{label}: desc row {i} {row!r} has invalid character {ch!r} at column {j}; "
                    "use 'S', 'F', 'H', 'G'"
                )
    if not any("S" in row for row in rows):
        raise ValueError(f"{label}: desc needs at least one 'S'")
    if not any("G" in row for row in rows):
        raise ValueError(f"{label}: desc needs at least one 'G'")
    return tuple(rows)


def _make(env_id: str, make_kwargs: dict[str, Any]) -> gym.Env[Any, Any]:
    if "FrozenLake" in env_id:
        from gymnasium.envs.toy_text.frozen_lake import MAPS

        if make_kwargs.get("desc") is not None:
            check_frozen_lake_desc(env_id, make_kwargs["desc"])
        elif make_kwargs.get("map_name") is not None and make_kwargs["map_name"] not in MAPS:
            raise ValueError(
                f"{env_id}: unknown map_name {make_kwargs['map_name']!r}; known: {sorted(MAPS)}; "
                "pass desc=[rows] for a custom map"
            )
    try:
        return gym.make(env_id, **make_kwargs)
    except Exception as err:
        args = ", ".join([repr(env_id), *(f"{k}={v!r}" for k, v in make_kwargs.items())])
        raise ValueError(
            f"from_gymnasium: gymnasium.make({args}) failed: {type(err).__name__}: {err}"
        ) from err


def from_gymnasium(
    env_or_id: str | gym.Env[Any, Any],
    *,
    initial: Float[Array, " S"] | Sequence[float] | None = None,
    **make_kwargs: Any,
) -> TabularMDP:
    """Build a ``TabularMDP`` whose tables are exactly gymnasium's ``P``.

    ``probs[s, a, k], next_states[s, a, k], rewards[s, a, k], terminated[s, a, k] =
    env.unwrapped.P[s][a][k]`` for ``k < len(P[s][a])``; slots beyond hold probability 0 (next
    state ``s``, reward 0, not terminated). ``initial`` is ``env.unwrapped.initial_state_distrib``
    (FrozenLake, CliffWalking, Taxi all define it) unless given. ``time_limit`` is the spec's
    ``max_episode_steps`` (FrozenLake-v1 100, FrozenLake8x8-v1 200, Taxi-v4 200, CliffWalking
    none).

    Args:
        env_or_id: a gymnasium id (``gymnasium.make(env_or_id, **make_kwargs)``) or an env.
        initial: the initial-state distribution, for envs that do not expose one.
        **make_kwargs: passed to ``gymnasium.make`` (e.g. ``map_name="8x8"``, ``desc=[...]``,
            ``is_slippery=False``); only with an id.

    Raises:
        ValueError: the env has no ``P``, a non-Discrete observation or action space, no initial
            distribution, dynamics that ``P`` does not describe (Taxi's ``fickle_passenger``), or
            kwargs were given with an env instance. The message names the env.
    """
    if isinstance(env_or_id, str):
        env = _make(env_or_id, make_kwargs)
    else:
        if make_kwargs:
            raise ValueError(
                f"from_gymnasium: make kwargs {sorted(make_kwargs)} need an env id, not an env"
            )
        env = env_or_id
    label = _env_label(env)
    raw = env.unwrapped
    n_s = _discrete_size(label, "observation", env.observation_space)
    n_a = _discrete_size(label, "action", env.action_space)
    table = getattr(raw, "P", None)
    if not isinstance(table, dict):
        raise ValueError(
            f"from_gymnasium: {label} has no transition table P (env.unwrapped.P); only envs "
            "that expose P[s][a] = [(prob, next_state, reward, terminated), ...] can be converted"
        )
    if getattr(raw, "fickle_passenger", False):
        raise ValueError(
            f"from_gymnasium: {label} with fickle_passenger=True changes the destination outside "
            "P, so P does not describe its dynamics"
        )
    try:
        outcomes: GymP = {s: {a: list(table[s][a]) for a in range(n_a)} for s in range(n_s)}
    except (KeyError, TypeError, IndexError) as err:
        raise ValueError(
            f"from_gymnasium: {label}'s P must map every state in [0, {n_s}) and action in "
            f"[0, {n_a}) to a list of outcomes; missing {err}"
        ) from None
    n_k = max(len(outs) for per_a in outcomes.values() for outs in per_a.values())
    if n_k == 0:
        raise ValueError(f"from_gymnasium: {label}'s P has no outcomes")

    probs = np.zeros((n_s, n_a, n_k), np.float32)
    next_states = np.repeat(np.arange(n_s, dtype=np.int32), n_a * n_k).reshape(n_s, n_a, n_k)
    rewards = np.zeros((n_s, n_a, n_k), np.float32)
    terminated = np.zeros((n_s, n_a, n_k), np.bool_)
    for s in range(n_s):
        for a in range(n_a):
            outs = outcomes[s][a]
            if not outs:
                raise ValueError(f"from_gymnasium: {label}'s P[{s}][{a}] is empty")
            for k, (p, s_next, r, term) in enumerate(outs):
                probs[s, a, k] = p
                next_states[s, a, k] = s_next
                rewards[s, a, k] = r
                terminated[s, a, k] = bool(term)

    if initial is None:
        init = getattr(raw, "initial_state_distrib", None)
        if init is None:
            raise ValueError(
                f"from_gymnasium: {label} has no initial_state_distrib; pass initial=[p_0(s)]"
            )
    else:
        init = initial
    init_arr = np.asarray(init, np.float32)
    if init_arr.shape != (n_s,):
        raise ValueError(
            f"from_gymnasium: {label}'s initial distribution has shape {init_arr.shape}, "
            f"want ({n_s},)"
        )
    spec = getattr(env, "spec", None)
    limit = getattr(spec, "max_episode_steps", None) if spec is not None else None
    layout, arrows = _layout_and_arrows(raw, n_s, outcomes)
    mdp = TabularMDP(
        probs=jnp.asarray(probs),
        next_states=jnp.asarray(next_states),
        rewards=jnp.asarray(rewards),
        terminated=jnp.asarray(terminated),
        initial=jnp.asarray(init_arr),
        time_limit=None if limit is None else int(limit),
        layout=layout,
        name=label,
        action_arrows=arrows,
    )
    return validate_mdp(mdp)


def to_gymnasium_P(env: TabularMDP) -> GymP:
    """Gymnasium's ``P[s][a] = [(p_k, s'_k, r_k, term_k), ...]`` from the tables.

    Slot ``k`` is listed for ``k <= k_last(s, a)``, the last slot with positive probability: the
    trailing zero-probability padding is dropped, so ``to_gymnasium_P(from_gymnasium(e))`` equals
    ``e.unwrapped.P`` for every toy-text env (up to float32 rounding of ``p``; rewards come back as
    Python floats, which compare equal to gymnasium's ints).
    """
    probs = np.asarray(env.probs)
    next_states = np.asarray(env.next_states)
    rewards = np.asarray(env.rewards)
    terminated = np.asarray(env.terminated)
    n_s, n_a, _ = probs.shape
    out: GymP = {}
    for s in range(n_s):
        out[s] = {}
        for a in range(n_a):
            positive = np.nonzero(probs[s, a] > 0)[0]
            last = int(positive[-1]) + 1 if positive.size else 0
            out[s][a] = [
                (
                    float(probs[s, a, k]),
                    int(next_states[s, a, k]),
                    float(rewards[s, a, k]),
                    bool(terminated[s, a, k]),
                )
                for k in range(last)
            ]
    return out


__all__ = [
    "CLIFF_WALKING_ARROWS",
    "FROZEN_LAKE_ARROWS",
    "GymP",
    "check_frozen_lake_desc",
    "from_gymnasium",
    "to_gymnasium_P",
]
