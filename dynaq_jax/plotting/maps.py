"""Policy and value maps of grid worlds (FrozenLake, the mazes)."""

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike

from dynaq_jax.plotting.common import (
    ACTION_ARROWS,
    DPI,
    ArrowSpec,
    PathLike,
    new_figure,
    save_png,
)


def _resolve_arrows(
    action_arrows: ArrowSpec | None, layout: Sequence[str]
) -> dict[int, tuple[float, float]]:
    if action_arrows is None:
        chars = set("".join(layout))
        if chars & {"F", "H"} and not chars & {".", "#"}:
            action_arrows = "frozen_lake"
        elif chars & {".", "#"} and not chars & {"F", "H"}:
            action_arrows = "maze"
        else:
            raise ValueError(
                "cannot tell the action convention from the layout; pass action_arrows="
                f"{sorted(ACTION_ARROWS)} or a mapping action -> (dx, dy)"
            )
    if isinstance(action_arrows, str):
        if action_arrows not in ACTION_ARROWS:
            raise ValueError(
                f"unknown action_arrows {action_arrows!r}; expected one of {sorted(ACTION_ARROWS)}"
            )
        return ACTION_ARROWS[action_arrows]
    return {int(a): (float(d[0]), float(d[1])) for a, d in action_arrows.items()}


def plot_policy_map(
    layout: Sequence[str],
    policy: ArrayLike,
    values: ArrayLike,
    path: PathLike,
    title: str = "Greedy policy and state values",
    *,
    action_arrows: ArrowSpec | None = None,
    annotate_values: bool | None = None,
    cmap: str = "viridis",
    dpi: int = DPI,
) -> Path:
    """A grid map: cells coloured by value, an arrow for each cell's greedy action.

    State ``s`` is the cell at row ``s // width``, column ``s % width`` (FrozenLake's and the
    mazes' numbering), so ``policy`` and ``values`` have one entry per cell, walls included.
    Walls ``'#'`` are drawn dark, holes ``'H'`` hatched and labelled, the start ``'S'`` and goal
    ``'G'`` labelled. Walls, holes and the goal (terminal cells) get no arrow, nor does any cell
    whose policy entry is negative.

    Args:
        layout: the map, one string per row, e.g. FrozenLake's ``["SFFF", "FHFH", ...]`` or a
            maze's ``["....#...G", ...]``; all rows the same length.
        policy: ``[S]`` greedy action per state (``S = rows * columns``).
        values: ``[S]`` state values, e.g. ``max_a Q[s, a]``; NaN cells are left uncoloured.
        path: where to write the PNG.
        title: figure title.
        action_arrows: ``"frozen_lake"`` (0 left, 1 down, 2 right, 3 up), ``"maze"`` (0 up,
            1 down, 2 left, 3 right), ``"cliff_walking"`` (0 up, 1 right, 2 down, 3 left), or a
            mapping ``action -> (dx, dy)`` in grid units with ``dy > 0`` pointing one row *down*.
            ``None`` guesses from the layout's characters (``F``/``H``: FrozenLake; ``.``/``#``:
            maze) and raises if it cannot tell.
        annotate_values: print each cell's value (not on walls and holes); by default only for
            grids of at most 100 cells.
        cmap: matplotlib colormap name for the values.
        dpi: PNG resolution.

    Returns:
        The path of the PNG.
    """
    rows = [str(r) for r in layout]
    if not rows or not rows[0]:
        raise ValueError("layout must have at least one non-empty row")
    n_rows, n_cols = len(rows), len(rows[0])
    if any(len(r) != n_cols for r in rows):
        raise ValueError(f"layout rows must all have length {n_cols}, got {[len(r) for r in rows]}")
    n_cells = n_rows * n_cols
    pol = np.asarray(policy)
    vals = np.asarray(values, dtype=np.float64)
    if pol.shape != (n_cells,):
        raise ValueError(
            f"policy must have shape ({n_cells},) for a {n_rows}x{n_cols} layout, got {pol.shape}"
        )
    if vals.shape != (n_cells,):
        raise ValueError(
            f"values must have shape ({n_cells},) for a {n_rows}x{n_cols} layout, got {vals.shape}"
        )
    if not np.issubdtype(pol.dtype, np.integer):
        raise ValueError(f"policy must hold integer actions, got dtype {pol.dtype}")
    arrows = _resolve_arrows(action_arrows, rows)
    grid = np.array([list(r) for r in rows])
    terminal_or_wall = np.isin(grid, ["#", "H", "G"]).ravel()
    bad = [int(a) for a in np.unique(pol[(pol >= 0) & ~terminal_or_wall]) if int(a) not in arrows]
    if bad:
        raise ValueError(f"policy has actions {bad} with no arrow in {sorted(arrows)}")
    if annotate_values is None:
        annotate_values = n_cells <= 100

    value_grid = np.ma.masked_invalid(vals.reshape(n_rows, n_cols))
    value_grid = np.ma.masked_where(grid == "#", value_grid)
    cell = min(0.9, 9.0 / max(n_rows, n_cols))
    fig = new_figure(max(4.0, n_cols * cell + 1.8), max(3.5, n_rows * cell + 0.9))
    ax = fig.subplots()
    colormap = colormaps[cmap].with_extremes(bad="#2b2b2b")
    finite = vals[np.isfinite(vals) & (grid.ravel() != "#")]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 1.0
    if vmax <= vmin:
        vmax = vmin + 1.0
    image = ax.imshow(value_grid, cmap=colormap, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.colorbar(image, ax=ax, label="value", shrink=0.9)

    ax.set_xticks(np.arange(-0.5, n_cols, 1.0), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows, 1.0), minor=True)
    cell_pt = cell * 72.0  # roughly one cell's side in points
    ax.grid(which="minor", color="white", linewidth=min(0.8, cell_pt / 40.0))
    ax.tick_params(which="minor", length=0)
    if n_cols <= 20:
        ax.set_xticks(np.arange(n_cols))
    if n_rows <= 20:
        ax.set_yticks(np.arange(n_rows))
    ax.set_xlabel("column")
    ax.set_ylabel("row")

    arrow_lw = min(2.0, cell_pt / 30.0)
    stroke = [patheffects.withStroke(linewidth=arrow_lw * 1.6, foreground="black")]
    font = max(5.0, min(13.0, 100.0 / max(n_rows, n_cols)))
    length = 0.32
    for r in range(n_rows):
        for c in range(n_cols):
            ch = grid[r, c]
            s = r * n_cols + c
            if ch == "H":
                ax.add_patch(
                    Rectangle(
                        (c - 0.5, r - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="white", lw=0
                    )
                )
            if ch in "SGH":
                ax.text(
                    c - 0.42,
                    r - 0.42,
                    ch,
                    ha="left",
                    va="top",
                    fontsize=font,
                    fontweight="bold",
                    color="black",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.85},
                )
            if annotate_values and ch not in "#H" and np.isfinite(vals[s]):
                ax.text(
                    c + 0.45,
                    r + 0.45,
                    f"{vals[s]:.2f}",
                    ha="right",
                    va="bottom",
                    fontsize=font * 0.75,
                    color="white",
                    path_effects=[patheffects.withStroke(linewidth=2, foreground="black")],
                )
            a = int(pol[s])
            if terminal_or_wall[s] or a < 0:
                continue
            dx, dy = arrows[a]
            norm = float(np.hypot(dx, dy)) or 1.0
            dx, dy = dx / norm * length, dy / norm * length
            ax.annotate(
                "",
                xy=(c + dx, r + dy),
                xytext=(c - dx, r - dy),
                arrowprops={
                    "arrowstyle": "-|>,head_width=0.3,head_length=0.5",
                    "color": "white",
                    "lw": arrow_lw,
                    "path_effects": stroke,
                    "mutation_scale": min(10.0, cell_pt / 6.5),
                },
            )
    ax.set_xlim(-0.5, n_cols - 0.5)
    ax.set_ylim(n_rows - 0.5, -0.5)
    fig.suptitle(title)  # figure-level: constrained layout makes room for several lines
    return save_png(fig, path, dpi)


__all__ = ["plot_policy_map"]
