"""The tabular MDPs as ordinary gymnasium envs, and the registered ids (mazes, RiverSwim, SixArms).

``TabularEnv(mdp)`` is a thin ``gymnasium.Env`` that samples from the ``TabularMDP`` tables in
NumPy (the host-loop case) and exposes them as gymnasium's ``P``, so
``from_gymnasium(gymnasium.make("dynaq_jax/DynaMaze-v0"))`` gives back the same tables. Importing
``dynaq_jax.envs`` registers:

- ``dynaq_jax/DynaMaze-v0`` (kwarg ``scale=1``: Example 8.4's ``k``),
- ``dynaq_jax/BlockingMaze-v0`` (kwarg ``switch_step=1000``),
- ``dynaq_jax/ShortcutMaze-v0`` (kwarg ``switch_step=3000``),
- ``dynaq_jax/GridMaze-v0`` (kwarg ``layout``: rows of ``. # S G``),
- ``dynaq_jax/RiverSwim-v0`` (kwargs ``n_states=6``, ``reward_scale=1.0``; Strehl & Littman 2008),
- ``dynaq_jax/SixArms-v0`` (kwarg ``reward_scale=1.0``; Strehl & Littman 2008).

No maze has a time limit; ``gymnasium.make(id, max_episode_steps=n)`` adds one (truncation, kept
apart from termination). RiverSwim and SixArms never terminate, so they are registered with
``max_episode_steps=20`` (``classic.DEFAULT_TIME_LIMIT``, the builders' default), which
``max_episode_steps=n`` overrides.

(Gymnasium's functional ``FuncEnv`` computes the reward from ``(state, action, next_state)``, which
cannot tell apart two outcomes with the same next state and different rewards, as CliffWalking's
cliff and start have; the tables themselves are the functional JAX env here: ``reset``/``step``.)
"""

from typing import Any, cast

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from dynaq_jax.envs.classic import DEFAULT_TIME_LIMIT, RIVER_SWIM_STATES, river_swim, six_arms
from dynaq_jax.envs.convert import GymP, to_gymnasium_P
from dynaq_jax.envs.mazes import blocking_maze, dyna_maze, grid_maze, shortcut_maze
from dynaq_jax.envs.mdp import ChangingMDP, TabularMDP

ENV_IDS = (
    "dynaq_jax/DynaMaze-v0",
    "dynaq_jax/BlockingMaze-v0",
    "dynaq_jax/ShortcutMaze-v0",
    "dynaq_jax/GridMaze-v0",
    "dynaq_jax/RiverSwim-v0",
    "dynaq_jax/SixArms-v0",
)


class _Tables:
    """NumPy copies of one MDP's tables, and its ``P`` (built on first use)."""

    def __init__(self, mdp: TabularMDP) -> None:
        self.mdp = mdp
        self.cdf = np.cumsum(np.asarray(mdp.probs, np.float64), axis=-1)
        self.probs = np.asarray(mdp.probs)
        self.next_states = np.asarray(mdp.next_states)
        self.rewards = np.asarray(mdp.rewards)
        self.terminated = np.asarray(mdp.terminated)
        self.initial_cdf = np.cumsum(np.asarray(mdp.initial, np.float64))
        self._p: GymP | None = None

    @property
    def P(self) -> GymP:
        if self._p is None:
            self._p = to_gymnasium_P(self.mdp)
        return self._p


def _inverse_cdf(cdf: np.ndarray, u: float) -> int:
    """First index whose cumulative weight exceeds ``u * total`` (as ``mdp.inverse_cdf``)."""
    return min(int(np.sum(cdf <= u * cdf[-1])), int(cdf.shape[0]) - 1)


class TabularEnv(gym.Env[int, int]):
    """A gymnasium env driven by a ``TabularMDP`` (or a ``ChangingMDP``).

    ``reset`` draws ``s_0 ~ initial``; ``step(a)`` draws outcome ``k ~ probs[s, a]`` by inverse CDF
    of one ``np_random.random()`` and returns ``(s'_k, r_k, term_k, False, {"prob": p_k})``:
    ``truncated`` is always False here (add a time limit with ``max_episode_steps``).

    For a ``ChangingMDP``, step number ``t`` (0-based, counted over the env's whole life, across
    episodes: ``global_step``) uses ``after`` when ``t >= switch_step``, else ``before``, exactly as
    ``step_changing``. ``reset(options={"global_step": t})`` sets the count. ``P`` is the table in
    force at the current ``global_step``.
    """

    metadata = {"render_modes": ["ansi"], "render_fps": 4}  # noqa: RUF012 (gymnasium's name)

    def __init__(self, mdp: TabularMDP | ChangingMDP, render_mode: str | None = None) -> None:
        if isinstance(mdp, ChangingMDP):
            self._phases = (_Tables(mdp.before), _Tables(mdp.after))
            self.switch_step: int | None = mdp.switch_step
            if mdp.before.probs.shape != mdp.after.probs.shape:
                raise ValueError("TabularEnv: a ChangingMDP's two MDPs must have equal shapes")
        elif isinstance(mdp, TabularMDP):
            self._phases = (_Tables(mdp), _Tables(mdp))
            self.switch_step = None
        else:
            raise TypeError(f"TabularEnv needs a TabularMDP or ChangingMDP, got {type(mdp)}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"TabularEnv: unsupported render_mode {render_mode!r}")
        first = self._phases[0].mdp
        if first.probs.ndim != 3:
            raise ValueError("TabularEnv needs one MDP with [S, A, K] tables, not a stack")
        # Discrete spaces hold np.int64; observations are returned as Python ints (as toy-text).
        self.observation_space = cast(spaces.Space[int], spaces.Discrete(first.n_states))
        self.action_space = cast(spaces.Space[int], spaces.Discrete(first.n_actions))
        self.render_mode = render_mode
        self.global_step = 0
        self.s: int | None = None

    # -- the tables in force --------------------------------------------------------------------
    def _tables(self) -> _Tables:
        late = self.switch_step is not None and self.global_step >= self.switch_step
        return self._phases[1 if late else 0]

    @property
    def mdp(self) -> TabularMDP:
        """The ``TabularMDP`` in force at the current ``global_step``."""
        return self._tables().mdp

    @property
    def P(self) -> GymP:
        """Gymnasium's ``P[s][a] = [(p, s', r, terminated), ...]`` of the MDP in force."""
        return self._tables().P

    @property
    def initial_state_distrib(self) -> np.ndarray:
        """``p_0(s)``, as the toy-text envs name it."""
        return np.asarray(self.mdp.initial)

    @property
    def layout(self) -> tuple[str, ...] | None:
        """The grid rows of the MDP in force (see ``TabularMDP.layout``)."""
        return self.mdp.layout

    @property
    def action_arrows(self) -> tuple[str, ...] | None:
        """One glyph per action (see ``TabularMDP.action_arrows``)."""
        return self.mdp.action_arrows

    # -- gymnasium API --------------------------------------------------------------------------
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """Draw ``s_0 ~ initial``; ``seed`` reseeds ``np_random``; the global step count persists
        across episodes unless ``options={"global_step": t}``."""
        super().reset(seed=seed)
        if options and "global_step" in options:
            t = options["global_step"]
            if isinstance(t, bool) or not isinstance(t, int | np.integer) or t < 0:
                raise ValueError(f"TabularEnv.reset: global_step must be an int >= 0, got {t!r}")
            self.global_step = int(t)
        tables = self._tables()
        s = _inverse_cdf(tables.initial_cdf, float(self.np_random.random()))
        self.s = s
        return s, {"prob": float(np.asarray(tables.mdp.initial)[s])}

    def step(self, action: int) -> tuple[int, float, bool, bool, dict[str, Any]]:
        """``k ~ probs[s, a]``; return ``(s'_k, r_k, terminated_k, False, {"prob": p_k})``."""
        if self.s is None:
            raise RuntimeError("TabularEnv.step called before reset")
        if not self.action_space.contains(action):
            raise ValueError(f"TabularEnv.step: action {action!r} not in {self.action_space}")
        a = int(action)
        tables = self._tables()
        k = _inverse_cdf(tables.cdf[self.s, a], float(self.np_random.random()))
        s_next = int(tables.next_states[self.s, a, k])
        reward = float(tables.rewards[self.s, a, k])
        terminated = bool(tables.terminated[self.s, a, k])
        prob = float(tables.probs[self.s, a, k])
        self.s = s_next
        self.global_step += 1
        return s_next, reward, terminated, False, {"prob": prob}

    def render(self) -> str | None:
        """``"ansi"``: the layout with the agent drawn as ``@`` (``None`` without a layout)."""
        if self.render_mode != "ansi" or self.layout is None:
            return None
        rows = [list(row) for row in self.layout]
        if self.s is not None:
            n_cols = len(rows[0])
            rows[self.s // n_cols][self.s % n_cols] = "@"
        return "\n".join("".join(row) for row in rows) + "\n"


# -- registered factories -------------------------------------------------------------------------


def make_dyna_maze_env(scale: int = 1, render_mode: str | None = None) -> TabularEnv:
    """``TabularEnv(dyna_maze(scale))``: entry point of ``dynaq_jax/DynaMaze-v0``."""
    return TabularEnv(dyna_maze(scale), render_mode=render_mode)


def make_blocking_maze_env(switch_step: int = 1000, render_mode: str | None = None) -> TabularEnv:
    """``TabularEnv(blocking_maze(switch_step))``: entry point of ``dynaq_jax/BlockingMaze-v0``."""
    return TabularEnv(blocking_maze(switch_step), render_mode=render_mode)


def make_shortcut_maze_env(switch_step: int = 3000, render_mode: str | None = None) -> TabularEnv:
    """``TabularEnv(shortcut_maze(switch_step))``: entry point of ``dynaq_jax/ShortcutMaze-v0``."""
    return TabularEnv(shortcut_maze(switch_step), render_mode=render_mode)


def make_grid_maze_env(
    layout: tuple[str, ...] | list[str], render_mode: str | None = None
) -> TabularEnv:
    """``TabularEnv(grid_maze(layout))``: entry point of ``dynaq_jax/GridMaze-v0``."""
    return TabularEnv(grid_maze(layout), render_mode=render_mode)


def make_river_swim_env(
    n_states: int = RIVER_SWIM_STATES, reward_scale: float = 1.0, render_mode: str | None = None
) -> TabularEnv:
    """``TabularEnv(river_swim(n_states, reward_scale=...))``: entry point of
    ``dynaq_jax/RiverSwim-v0``."""
    return TabularEnv(river_swim(n_states, reward_scale=reward_scale), render_mode=render_mode)


def make_six_arms_env(reward_scale: float = 1.0, render_mode: str | None = None) -> TabularEnv:
    """``TabularEnv(six_arms(reward_scale=...))``: entry point of ``dynaq_jax/SixArms-v0``."""
    return TabularEnv(six_arms(reward_scale=reward_scale), render_mode=render_mode)


_ENTRY_POINTS = {
    "dynaq_jax/DynaMaze-v0": "make_dyna_maze_env",
    "dynaq_jax/BlockingMaze-v0": "make_blocking_maze_env",
    "dynaq_jax/ShortcutMaze-v0": "make_shortcut_maze_env",
    "dynaq_jax/GridMaze-v0": "make_grid_maze_env",
    "dynaq_jax/RiverSwim-v0": "make_river_swim_env",
    "dynaq_jax/SixArms-v0": "make_six_arms_env",
}

_TIME_LIMITS = {
    "dynaq_jax/RiverSwim-v0": DEFAULT_TIME_LIMIT,
    "dynaq_jax/SixArms-v0": DEFAULT_TIME_LIMIT,
}
"""``max_episode_steps`` of the continuing tasks' ids; the mazes have none."""


def register_envs() -> None:
    """Register the ids of ``ENV_IDS`` with gymnasium; a no-op for ids already registered
    (idempotent)."""
    for env_id, factory in _ENTRY_POINTS.items():
        if env_id not in gym.registry:
            gym.register(
                id=env_id,
                entry_point=f"{__name__}:{factory}",
                max_episode_steps=_TIME_LIMITS.get(env_id),
            )


__all__ = [
    "ENV_IDS",
    "TabularEnv",
    "make_blocking_maze_env",
    "make_dyna_maze_env",
    "make_grid_maze_env",
    "make_river_swim_env",
    "make_shortcut_maze_env",
    "make_six_arms_env",
    "register_envs",
]
