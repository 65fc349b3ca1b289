"""Sutton & Barto's grid mazes (chapter 8) and a general builder from text rows.

Grid conventions (all mazes here):

- cells ``(row, col)`` counted from the top left; state index ``s = row * cols + col`` for every
  cell, wall cells included (a wall is a state that cannot be entered);
- actions ``0`` up, ``1`` down, ``2`` left, ``3`` right;
- a move into a wall or off the grid leaves the agent where it is;
- reward 1 for a move that reaches a goal cell, 0 otherwise; such a move is terminated, nothing
  else is; a goal cell is absorbing (every action stays, reward 0, terminated), as in FrozenLake;
- one outcome per ``(s, a)`` (``K = 1``): the mazes are deterministic;
- the initial distribution puts mass 1 on the start cell; no time limit unless given.

Moves *out of* a wall cell follow the same rules as from a free cell. No agent can stand in a wall
of a fixed maze, so this changes nothing there; in a changing maze it lets an agent that stood on a
cell which just became a wall (the blocking maze's old gap) walk out instead of being stuck forever.
"""

from collections.abc import Iterable, Sequence

import jax.numpy as jnp
import numpy as np

from dynaq_jax.envs.mdp import ChangingMDP, TabularMDP, validate_mdp

Cell = tuple[int, int]

MAZE_ROWS = 6
MAZE_COLS = 9
MAZE_ARROWS = ("↑", "↓", "←", "→")
"""Glyphs of the maze actions 0 up, 1 down, 2 left, 3 right."""

_MOVES = ((-1, 0), (1, 0), (0, -1), (0, 1))
_CHARS = frozenset(".#SG")

DYNA_MAZE_START: Cell = (2, 0)
DYNA_MAZE_GOAL: Cell = (0, 8)
DYNA_MAZE_WALLS: tuple[Cell, ...] = ((1, 2), (2, 2), (3, 2), (4, 5), (0, 7), (1, 7), (2, 7))
CHANGING_MAZE_START: Cell = (5, 3)
CHANGING_MAZE_GOAL: Cell = (0, 8)
BLOCKING_WALLS_BEFORE: tuple[Cell, ...] = tuple((3, c) for c in range(0, 8))
BLOCKING_WALLS_AFTER: tuple[Cell, ...] = tuple((3, c) for c in range(1, 9))
SHORTCUT_WALLS_BEFORE: tuple[Cell, ...] = tuple((3, c) for c in range(1, 9))
SHORTCUT_WALLS_AFTER: tuple[Cell, ...] = tuple((3, c) for c in range(1, 8))
BLOCKING_SWITCH_STEP = 1000
SHORTCUT_SWITCH_STEP = 3000


def grid_maze(
    layout: Sequence[str], name: str = "GridMaze", time_limit: int | None = None
) -> TabularMDP:
    """A deterministic maze from text rows: ``.`` free, ``#`` wall, ``S`` start, ``G`` goal.

    For a free, start or goal cell ``s = (r, c)`` and action ``a`` with offset ``d_a``: let
    ``t = s + d_a``; ``s' = t`` if ``t`` is on the grid and not a wall, else ``s' = s``;
    ``r = 1[s' is a goal]``, ``terminated = 1[s' is a goal]``. Goal cells are absorbing
    (``s' = s``, ``r = 0``, terminated). Walls move like free cells (see the module docstring).

    Raises:
        ValueError: no rows, ragged rows, an unknown character, not exactly one ``S``, or no ``G``;
            the message names the offending row and character.
    """
    rows = list(layout)
    if isinstance(layout, str) or not rows:
        raise ValueError(f"{name}: layout must be a non-empty sequence of row strings")
    n_cols = len(rows[0])
    if n_cols == 0:
        raise ValueError(f"{name}: row 0 is empty")
    for i, row in enumerate(rows):
        if not isinstance(row, str):
            raise ValueError(f"{name}: row {i} must be a str, got {type(row).__name__}")
        if len(row) != n_cols:
            raise ValueError(
                f"{name}: layout is ragged: row {i} {row!r} has {len(row)} columns, row 0 has "
                f"{n_cols}"
            )
        for j, ch in enumerate(row):
            if ch not in _CHARS:
                raise ValueError(
                    f"{name}: row {i} {row!r} has invalid character {ch!r} at column {j}; "
                    "use '.', '#', 'S', 'G'"
                )
    starts = [(i, j) for i, row in enumerate(rows) for j, ch in enumerate(row) if ch == "S"]
    goals = [(i, j) for i, row in enumerate(rows) for j, ch in enumerate(row) if ch == "G"]
    if len(starts) != 1:
        raise ValueError(f"{name}: layout needs exactly one 'S', found {len(starts)} at {starts}")
    if not goals:
        raise ValueError(f"{name}: layout needs at least one 'G'")

    n_rows = len(rows)
    n_s = n_rows * n_cols
    wall = np.array([[ch == "#" for ch in row] for row in rows])
    goal = np.array([[ch == "G" for ch in row] for row in rows])
    next_states = np.zeros((n_s, 4, 1), np.int32)
    rewards = np.zeros((n_s, 4, 1), np.float32)
    terminated = np.zeros((n_s, 4, 1), np.bool_)
    for r in range(n_rows):
        for c in range(n_cols):
            s = r * n_cols + c
            for a, (dr, dc) in enumerate(_MOVES):
                if goal[r, c]:
                    next_states[s, a, 0] = s
                    terminated[s, a, 0] = True
                    continue
                tr, tc = r + dr, c + dc
                if not (0 <= tr < n_rows and 0 <= tc < n_cols) or wall[tr, tc]:
                    tr, tc = r, c
                next_states[s, a, 0] = tr * n_cols + tc
                rewards[s, a, 0] = float(goal[tr, tc])
                terminated[s, a, 0] = bool(goal[tr, tc])
    initial = np.zeros(n_s, np.float32)
    initial[starts[0][0] * n_cols + starts[0][1]] = 1.0
    mdp = TabularMDP(
        probs=jnp.ones((n_s, 4, 1), jnp.float32),
        next_states=jnp.asarray(next_states),
        rewards=jnp.asarray(rewards),
        terminated=jnp.asarray(terminated),
        initial=jnp.asarray(initial),
        time_limit=time_limit,
        layout=tuple(rows),
        name=name,
        action_arrows=MAZE_ARROWS,
    )
    return validate_mdp(mdp)


def maze_layout(
    rows: int, cols: int, start: Cell, goal: Cell, walls: Iterable[Cell]
) -> tuple[str, ...]:
    """Text rows of a ``rows x cols`` grid with the given start, goal and walls.

    (For several goals, write the rows and call ``grid_maze``.)

    Raises:
        ValueError: a cell off the grid, or the start or goal inside a wall (or on each other).
    """
    if rows < 1 or cols < 1:
        raise ValueError(f"maze needs a positive size, got {rows} x {cols}")
    wall_set = {(int(r), int(c)) for r, c in walls}

    def on_grid(what: str, cell: Cell) -> Cell:
        r, c = int(cell[0]), int(cell[1])
        if not (0 <= r < rows and 0 <= c < cols):
            raise ValueError(f"{what} {cell} is off the {rows} x {cols} grid")
        return r, c

    for w in wall_set:
        on_grid("wall", w)
    start = on_grid("start", start)
    if start in wall_set:
        raise ValueError(f"start {start} is inside a wall")
    grid = [["."] * cols for _ in range(rows)]
    for r, c in wall_set:
        grid[r][c] = "#"
    grid[start[0]][start[1]] = "S"
    g = on_grid("goal", goal)
    if g in wall_set:
        raise ValueError(f"goal {g} is inside a wall")
    if g == start:
        raise ValueError(f"goal {g} is the start")
    grid[g[0]][g[1]] = "G"
    return tuple("".join(row) for row in grid)


def maze_from_walls(
    rows: int,
    cols: int,
    start: Cell,
    goal: Cell,
    walls: Iterable[Cell],
    name: str = "GridMaze",
    time_limit: int | None = None,
) -> TabularMDP:
    """``grid_maze(maze_layout(rows, cols, start, goal, walls))``: a maze from cell lists."""
    return grid_maze(maze_layout(rows, cols, start, goal, walls), name=name, time_limit=time_limit)


def scale_layout(layout: Sequence[str], scale: int) -> tuple[str, ...]:
    """Every cell becomes a ``scale x scale`` block (Sutton & Barto Example 8.4).

    Walls and free cells fill their block; the start and each goal occupy the top-left cell of
    their block, the rest of the block is free.
    """
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 1:
        raise ValueError(f"scale must be an int >= 1, got {scale!r}")
    out: list[str] = []
    for row in layout:
        for i in range(scale):
            cells = []
            for ch in row:
                if ch in "SG":
                    cells.append((ch if i == 0 else ".") + "." * (scale - 1))
                else:
                    cells.append(ch * scale)
            out.append("".join(cells))
    return tuple(out)


def dyna_maze(scale: int = 1, time_limit: int | None = None) -> TabularMDP:
    """The Dyna maze of Sutton & Barto Figure 8.2, optionally scaled (Example 8.4).

    6 x 9 grid, start (2, 0), goal (0, 8), walls (1,2) (2,2) (3,2) (4,5) (0,7) (1,7) (2,7); the
    shortest path takes 14 steps. ``scale = k`` makes every cell a ``k x k`` block (a
    ``6k x 9k`` grid); start and goal are the top-left cells of their blocks, start
    ``(2k, 0)``, goal ``(0, 8k)``, and the shortest path takes ``14 k`` steps.
    """
    base = maze_layout(MAZE_ROWS, MAZE_COLS, DYNA_MAZE_START, DYNA_MAZE_GOAL, DYNA_MAZE_WALLS)
    name = "DynaMaze" if scale == 1 else f"DynaMaze-x{scale}"
    return grid_maze(scale_layout(base, scale), name=name, time_limit=time_limit)


def _changing(
    name: str,
    walls_before: Sequence[Cell],
    walls_after: Sequence[Cell],
    switch_step: int,
    time_limit: int | None,
) -> ChangingMDP:
    if isinstance(switch_step, bool) or not isinstance(switch_step, int) or switch_step < 0:
        raise ValueError(f"{name}: switch_step must be an int >= 0, got {switch_step!r}")
    before = maze_from_walls(
        MAZE_ROWS,
        MAZE_COLS,
        CHANGING_MAZE_START,
        CHANGING_MAZE_GOAL,
        walls_before,
        name=f"{name}-before",
        time_limit=time_limit,
    )
    after = maze_from_walls(
        MAZE_ROWS,
        MAZE_COLS,
        CHANGING_MAZE_START,
        CHANGING_MAZE_GOAL,
        walls_after,
        name=f"{name}-after",
        time_limit=time_limit,
    )
    return ChangingMDP(before=before, after=after, switch_step=switch_step)


def blocking_maze(
    switch_step: int = BLOCKING_SWITCH_STEP, time_limit: int | None = None
) -> ChangingMDP:
    """The blocking maze of Sutton & Barto Figure 8.4.

    6 x 9 grid, start (5, 3), goal (0, 8). Walls (3,0)..(3,7) (the way round is on the right)
    until global step ``switch_step`` (1000), then (3,1)..(3,8) (the way round is on the left).
    """
    return _changing(
        "BlockingMaze", BLOCKING_WALLS_BEFORE, BLOCKING_WALLS_AFTER, switch_step, time_limit
    )


def shortcut_maze(
    switch_step: int = SHORTCUT_SWITCH_STEP, time_limit: int | None = None
) -> ChangingMDP:
    """The shortcut maze of Sutton & Barto Figure 8.5.

    6 x 9 grid, start (5, 3), goal (0, 8). Walls (3,1)..(3,8) (the way round is on the left)
    until global step ``switch_step`` (3000), then (3,1)..(3,7) (a shorter way opens on the right).
    """
    return _changing(
        "ShortcutMaze", SHORTCUT_WALLS_BEFORE, SHORTCUT_WALLS_AFTER, switch_step, time_limit
    )


__all__ = [
    "BLOCKING_SWITCH_STEP",
    "BLOCKING_WALLS_AFTER",
    "BLOCKING_WALLS_BEFORE",
    "CHANGING_MAZE_GOAL",
    "CHANGING_MAZE_START",
    "DYNA_MAZE_GOAL",
    "DYNA_MAZE_START",
    "DYNA_MAZE_WALLS",
    "MAZE_ARROWS",
    "MAZE_COLS",
    "MAZE_ROWS",
    "SHORTCUT_SWITCH_STEP",
    "SHORTCUT_WALLS_AFTER",
    "SHORTCUT_WALLS_BEFORE",
    "Cell",
    "blocking_maze",
    "dyna_maze",
    "grid_maze",
    "maze_from_walls",
    "maze_layout",
    "scale_layout",
    "shortcut_maze",
]
