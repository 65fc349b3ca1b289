"""Plots for Dyna-Q experiments: learning curves with seed bands, policy maps, Chapter 8 figures.

Every function takes plain NumPy arrays (or anything ``np.asarray`` accepts, such as JAX arrays),
writes one PNG and returns its path. Figures are built with ``matplotlib.figure.Figure`` on an
Agg canvas, never through ``pyplot``: nothing touches pyplot's global figure list or the user's
backend. Shapes are checked up front and a mismatch raises ``ValueError``.

Array conventions: ``[seeds, episodes]`` (or ``[seeds, steps]``) for per-seed curves; a 1-D array
is read as a single seed. Bands across seeds are either the 10-90 percentile range
(``band="percentile"``) or the mean ± one standard error (``band="sem"``); the legend says which.
"""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
from matplotlib import colormaps, patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle
from numpy.typing import ArrayLike, NDArray

Band = Literal["percentile", "sem"]
"""How to draw the spread across seeds: 10-90 percentile range or mean ± standard error."""

ArrowSpec: TypeAlias = str | Mapping[int, tuple[float, float]]
"""A preset name (see ``ACTION_ARROWS``) or a mapping ``action -> (dx, dy)``."""

ACTION_ARROWS: dict[str, dict[int, tuple[float, float]]] = {
    # (dx, dy) in grid units: dx = +1 is one column right, dy = +1 one row DOWN.
    "frozen_lake": {0: (-1.0, 0.0), 1: (0.0, 1.0), 2: (1.0, 0.0), 3: (0.0, -1.0)},
    "maze": {0: (0.0, -1.0), 1: (0.0, 1.0), 2: (-1.0, 0.0), 3: (1.0, 0.0)},
    "cliff_walking": {0: (0.0, -1.0), 1: (1.0, 0.0), 2: (0.0, 1.0), 3: (-1.0, 0.0)},
}
"""Action arrow presets. FrozenLake: 0 left, 1 down, 2 right, 3 up. Sutton & Barto mazes:
0 up, 1 down, 2 left, 3 right. CliffWalking: 0 up, 1 right, 2 down, 3 left."""

PathLike: TypeAlias = str | os.PathLike[str]

_DPI = 120
_PERCENTILES = (10.0, 90.0)


# --------------------------------------------------------------------------------------------------
# helpers


def _new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure on an Agg canvas with constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Figure, path: PathLike, dpi: int) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=dpi)
    return out


def _per_seed(x: ArrayLike, name: str) -> NDArray[np.float64]:
    """``x`` as a finite float ``[seeds, T]`` array (a 1-D input is one seed)."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise ValueError(f"{name} must have shape [seeds, T] or [T], got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def _band(data: NDArray[np.float64], band: Band) -> tuple[NDArray[np.float64], ...]:
    """Mean over seeds (axis 0) and the band's lower and upper edges."""
    mean = data.mean(axis=0)
    if band == "percentile":
        lo, hi = np.percentile(data, _PERCENTILES, axis=0)
    elif band == "sem":
        n = data.shape[0]
        sem = data.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
        lo, hi = mean - sem, mean + sem
    else:
        raise ValueError(f"band must be 'percentile' or 'sem', got {band!r}")
    return mean, lo, hi


def _band_label(band: Band, n_seeds: int) -> str:
    what = "10–90 percentile" if band == "percentile" else "mean ± s.e."
    return f"{what} over {n_seeds} seeds"


def _mean_label(n_seeds: int) -> str:
    return "1 seed" if n_seeds == 1 else f"mean over {n_seeds} seeds"


def _legend_title(band: Band | None, seed_counts: Sequence[int]) -> str:
    """One legend title for several curves: how many seeds, and what the shading is."""
    counts = sorted(set(seed_counts))
    text = ", ".join(str(n) for n in counts)
    if counts == [1]:
        return "1 seed"
    title = f"mean over {text} seeds"
    if band is not None:
        title += "; shaded: " + ("10–90 percentile" if band == "percentile" else "mean ± s.e.")
    return title


def _plot_mean_band(
    ax: Axes,
    x: NDArray[np.float64],
    data: NDArray[np.float64],
    band: Band | None,
    label: str,
    color: Any = None,
    band_label: str | None = None,
    **line_kwargs: Any,
) -> None:
    """Plot the seed mean of ``data`` and, for more than one seed, a shaded band.

    The band gets its own legend entry when ``band_label`` is given.
    """
    mean = data.mean(axis=0)
    (line,) = ax.plot(x, mean, label=label, color=color, **line_kwargs)
    if band is not None and data.shape[0] > 1:
        _, lo, hi = _band(data, band)
        ax.fill_between(
            x, lo, hi, color=line.get_color(), alpha=0.25, linewidth=0, label=band_label
        )


def _rolling_mean(data: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """Valid-mode moving average along axis 1: ``out[:, i] = mean(data[:, i:i+window])``."""
    csum = np.cumsum(np.pad(data, ((0, 0), (1, 0))), axis=1)
    out: NDArray[np.float64] = (csum[:, window:] - csum[:, :-window]) / window
    return out


def _check_band(band: Band | None) -> None:
    if band is not None and band not in ("percentile", "sem"):
        raise ValueError(f"band must be 'percentile', 'sem' or None, got {band!r}")


# --------------------------------------------------------------------------------------------------
# learning curves (the seed notebook's two panels)


def plot_learning_curves(
    episode_returns: ArrayLike,
    successes: ArrayLike,
    path: PathLike,
    window: int = 20,
    title: str = "Dyna-Q",
    *,
    band: Band = "percentile",
    dpi: int = _DPI,
) -> Path:
    """The seed notebook's two panels, over seeds: episode reward and rolling success rate.

    Left: the mean episode reward over seeds (thin), its moving average
    ``MA_w[i] = mean(r[i-w+1 .. i])`` (thick) and, for more than one seed, a band of the per-seed
    moving averages. Right: the rolling success rate over ``window`` episodes (the fraction of
    successes in the last ``window`` episodes), mean over seeds with a band. Windowed values are
    plotted at the last episode of their window. If there are fewer episodes than ``window``, the
    window shrinks to the number of episodes.

    Args:
        episode_returns: total reward per episode, ``[seeds, episodes]`` (or ``[episodes]``).
        successes: whether each episode succeeded, bool (or 0/1), same shape as the returns.
        path: where to write the PNG.
        window: moving-average and rolling-success window, in episodes (``>= 1``).
        title: figure title.
        band: ``"percentile"`` (10-90 percentile over seeds) or ``"sem"`` (mean ± standard error).
        dpi: PNG resolution.

    Returns:
        The path of the PNG.
    """
    returns = _per_seed(episode_returns, "episode_returns")
    succ_raw = np.asarray(successes)
    if succ_raw.ndim == 1:
        succ_raw = succ_raw[None, :]
    if succ_raw.shape != returns.shape:
        raise ValueError(
            f"successes must have the same shape as episode_returns {returns.shape}, "
            f"got {succ_raw.shape}"
        )
    if succ_raw.dtype != np.bool_ and not np.all((succ_raw == 0) | (succ_raw == 1)):
        raise ValueError("successes must be bool (or 0/1)")
    succ = succ_raw.astype(np.float64)
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}")
    _check_band(band)
    n_seeds, n_episodes = returns.shape
    w = min(window, n_episodes)

    fig = _new_figure(13.0, 4.8)
    ax_r, ax_s = fig.subplots(1, 2)
    episodes = np.arange(1, n_episodes + 1, dtype=np.float64)
    x_w = np.arange(w, n_episodes + 1, dtype=np.float64)

    ax_r.plot(
        episodes,
        returns.mean(axis=0),
        alpha=0.35,
        linewidth=1,
        label=f"raw ({_mean_label(n_seeds)})",
    )
    _plot_mean_band(
        ax_r,
        x_w,
        _rolling_mean(returns, w),
        band,
        f"MA({w})" if n_seeds == 1 else f"MA({w}), {_mean_label(n_seeds)}",
        band_label=f"MA({w}): {_band_label(band, n_seeds)}",
        linewidth=2,
    )
    ax_r.set_xlabel("Episode")
    ax_r.set_ylabel("Reward")
    ax_r.set_title("Episode rewards")
    ax_r.legend(loc="best")
    ax_r.grid(alpha=0.3)

    _plot_mean_band(
        ax_s,
        x_w,
        _rolling_mean(succ, w),
        band,
        _mean_label(n_seeds),
        color="green",
        band_label=_band_label(band, n_seeds),
        linewidth=2,
    )
    ax_s.set_xlabel("Episode")
    ax_s.set_ylabel("Success rate")
    ax_s.set_ylim(-0.02, 1.02)
    ax_s.set_title(f"Success rate (rolling {w} episodes)")
    ax_s.legend(loc="best")
    ax_s.grid(alpha=0.3)
    for ax in (ax_r, ax_s):
        ax.set_xlim(0.5, n_episodes + 0.5)

    fig.suptitle(title)
    return _save(fig, path, dpi)


# --------------------------------------------------------------------------------------------------
# policy and value map


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
    dpi: int = _DPI,
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
    fig = _new_figure(max(4.0, n_cols * cell + 1.8), max(3.5, n_rows * cell + 0.9))
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
    return _save(fig, path, dpi)


# --------------------------------------------------------------------------------------------------
# Sutton & Barto chapter 8


def plot_steps_per_episode(
    curves: Mapping[str, ArrayLike],
    path: PathLike,
    optimal: float | None = None,
    *,
    log_y: bool = False,
    start_episode: int = 1,
    band: Band | None = None,
    title: str = "Dyna maze: steps per episode",
    dpi: int = _DPI,
) -> Path:
    """Sutton & Barto Figure 8.2: steps per episode against episode, mean over seeds.

    Args:
        curves: label (e.g. ``"n=0"``, ``"n=5"``, ``"n=50"``) -> ``[seeds, episodes]`` episode
            lengths (or ``[episodes]`` for one seed).
        path: where to write the PNG.
        optimal: draw a dashed line at this episode length (the shortest path, 14 in the
            Dyna maze).
        log_y: logarithmic y axis.
        start_episode: first episode shown, 1-based (the book starts at 2: episode 1 is long
            for every n).
        band: ``None`` (lines only, as in the book), ``"percentile"`` or ``"sem"``.
        title: figure title.
        dpi: PNG resolution.

    Returns:
        The path of the PNG.
    """
    if not curves:
        raise ValueError("curves must hold at least one labelled array")
    _check_band(band)
    data = {label: _per_seed(arr, f"curves[{label!r}]") for label, arr in curves.items()}
    longest = max(d.shape[1] for d in data.values())
    if not 1 <= start_episode <= longest:
        raise ValueError(f"start_episode must lie in [1, {longest}], got {start_episode}")
    if log_y and any(np.any(d <= 0) for d in data.values()):
        raise ValueError("log_y needs positive episode lengths")

    fig = _new_figure(8.0, 5.0)
    ax = fig.subplots()
    seeds = sorted({d.shape[0] for d in data.values()})
    for label, d in data.items():
        x = np.arange(1, d.shape[1] + 1, dtype=np.float64)
        keep = x >= start_episode
        _plot_mean_band(ax, x[keep], d[:, keep], band, label, linewidth=1.8)
    if optimal is not None:
        ax.axhline(
            optimal, color="black", linestyle="--", linewidth=1, label=f"optimal ({optimal:g})"
        )
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel("Episode")
    ax.set_ylabel("Steps per episode")
    ax.set_xlim(start_episode - 0.5, longest + 0.5)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", title=_legend_title(band, seeds))
    ax.set_title(title)
    return _save(fig, path, dpi)


def plot_cumulative_reward(
    curves: Mapping[str, ArrayLike],
    path: PathLike,
    change_step: int | None = None,
    *,
    is_cumulative: bool = True,
    band: Band | None = "sem",
    title: str = "Cumulative reward",
    dpi: int = _DPI,
) -> Path:
    """Sutton & Barto Figures 8.4/8.5: cumulative reward against time step, mean over seeds.

    Args:
        curves: label (e.g. ``"Dyna-Q"``, ``"Dyna-Q+"``) -> ``[seeds, steps]`` cumulative reward
            after each time step (or ``[steps]`` for one seed).
        path: where to write the PNG.
        change_step: draw a vertical line where the environment changes (e.g. 1000 for the
            blocking maze, 3000 for the shortcut maze).
        is_cumulative: ``False`` if the arrays hold per-step rewards; they are then summed along
            the steps (``cumsum``) first.
        band: ``"sem"`` (mean ± standard error, default), ``"percentile"`` or ``None``.
        title: figure title.
        dpi: PNG resolution.

    Returns:
        The path of the PNG.
    """
    if not curves:
        raise ValueError("curves must hold at least one labelled array")
    _check_band(band)
    data = {label: _per_seed(arr, f"curves[{label!r}]") for label, arr in curves.items()}
    if not is_cumulative:
        data = {label: np.cumsum(d, axis=1) for label, d in data.items()}
    longest = max(d.shape[1] for d in data.values())
    if change_step is not None and not 0 <= change_step <= longest:
        raise ValueError(f"change_step must lie in [0, {longest}], got {change_step}")

    fig = _new_figure(8.0, 5.0)
    ax = fig.subplots()
    for label, d in data.items():
        x = np.arange(1, d.shape[1] + 1, dtype=np.float64)
        _plot_mean_band(ax, x, d, band, label, linewidth=1.8)
    if change_step is not None:
        ax.axvline(
            change_step,
            color="gray",
            linestyle=":",
            linewidth=1.5,
            label=f"environment changes (step {change_step})",
        )
    ax.set_xlabel("Time step")
    ax.set_ylabel("Cumulative reward")
    ax.set_xlim(0, longest)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", title=_legend_title(band, [d.shape[0] for d in data.values()]))
    ax.set_title(title)
    return _save(fig, path, dpi)


def plot_updates_vs_states(
    rows: Mapping[str, tuple[ArrayLike, ArrayLike, ArrayLike]],
    path: PathLike,
    *,
    spread_label: str = "± s.d.",
    log_x: bool = False,
    title: str = "Updates until optimal solution",
    dpi: int = _DPI,
) -> Path:
    """Sutton & Barto Example 8.4: updates until optimal against number of states, log-y.

    Args:
        rows: planner label (e.g. ``"Dyna-Q"``, ``"prioritized sweeping"``) ->
            ``(states, updates_mean, updates_spread)``, three 1-D arrays of equal length;
            ``updates_spread`` is drawn as an error bar (its lower arm is clipped to stay above
            zero on the log axis).
        path: where to write the PNG.
        spread_label: what the spread is, for the legend (e.g. ``"± s.d."``, ``"± s.e."``).
        log_x: logarithmic x axis too.
        title: figure title.
        dpi: PNG resolution.

    Returns:
        The path of the PNG.
    """
    if not rows:
        raise ValueError("rows must hold at least one planner")
    fig = _new_figure(8.0, 5.0)
    ax = fig.subplots()
    for label, triple in rows.items():
        if len(triple) != 3:
            raise ValueError(f"rows[{label!r}] must be (states, updates_mean, updates_spread)")
        states, mean, spread = (np.asarray(t, dtype=np.float64) for t in triple)
        if states.ndim != 1 or states.size == 0:
            raise ValueError(f"rows[{label!r}] states must be a non-empty 1-D array")
        if mean.shape != states.shape or spread.shape != states.shape:
            raise ValueError(
                f"rows[{label!r}]: states, updates_mean and updates_spread must have the same "
                f"shape, got {states.shape}, {mean.shape}, {spread.shape}"
            )
        if np.any(mean <= 0) or np.any(spread < 0):
            raise ValueError(f"rows[{label!r}]: updates_mean must be > 0 and spread >= 0")
        order = np.argsort(states)
        states, mean, spread = states[order], mean[order], spread[order]
        lower = np.minimum(spread, 0.99 * mean)
        ax.errorbar(
            states,
            mean,
            yerr=np.stack([lower, spread]),
            marker="o",
            capsize=4,
            linewidth=1.8,
            label=f"{label} (mean {spread_label})",
        )
    ax.set_yscale("log")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel("Number of states")
    ax.set_ylabel("Updates until optimal solution")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best")
    ax.set_title(title)
    return _save(fig, path, dpi)


# --------------------------------------------------------------------------------------------------
# benchmark


def plot_scaling(
    rows: Sequence[Mapping[str, Any]],
    path: PathLike,
    reference: str | None = "numpy",
    *,
    title: str = "Planning throughput",
    dpi: int = _DPI,
) -> Path:
    """Benchmark scaling: planning updates per second against number of seeds, log-log.

    Left: one line per ``impl`` label. Right (when ``reference`` is not ``None``): each
    implementation's speedup over the reference. Several rows with the same ``(impl, seeds)``
    are reduced to their median. Where the reference has no row at a seed count, its
    throughput there is interpolated log-log between its measured seed counts and held at the
    nearest measured value outside them (a sequential reference runs at the same per-update rate
    whatever the number of seeds).

    Args:
        rows: one mapping per measurement with keys ``"impl"`` (str), ``"seeds"`` (> 0) and
            ``"planning_updates_per_s"`` (> 0); other keys are ignored.
        path: where to write the PNG.
        reference: the ``impl`` label to divide by, or ``None`` for the throughput panel alone.
        title: figure title.
        dpi: PNG resolution.

    Returns:
        The path of the PNG.
    """
    if not rows:
        raise ValueError("rows must hold at least one measurement")
    grouped: dict[str, dict[float, list[float]]] = {}
    for i, row in enumerate(rows):
        missing = {"impl", "seeds", "planning_updates_per_s"} - set(row)
        if missing:
            raise ValueError(f"rows[{i}] lacks keys {sorted(missing)}")
        seeds = float(row["seeds"])
        rate = float(row["planning_updates_per_s"])
        if not (seeds > 0 and rate > 0 and np.isfinite(seeds) and np.isfinite(rate)):
            raise ValueError(f"rows[{i}]: seeds and planning_updates_per_s must be positive")
        grouped.setdefault(str(row["impl"]), {}).setdefault(seeds, []).append(rate)
    curves = {
        impl: (
            np.array(sorted(by_seeds)),
            np.array([float(np.median(by_seeds[s])) for s in sorted(by_seeds)]),
        )
        for impl, by_seeds in grouped.items()
    }
    if reference is not None and reference not in curves:
        raise ValueError(f"reference {reference!r} is not among the impls {sorted(curves)}")

    fig = _new_figure(13.0 if reference is not None else 7.5, 4.8)
    axes = fig.subplots(1, 2 if reference is not None else 1, squeeze=False)[0]
    ax = axes[0]
    for impl, (x, y) in curves.items():
        ax.plot(x, y, marker="o", linewidth=1.8, label=impl)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Number of seeds")
    ax.set_ylabel("Planning updates per second")
    ax.set_title("Throughput")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best")

    if reference is not None:
        ax_s = axes[1]
        ref_x, ref_y = curves[reference]
        for k, (impl, (x, y)) in enumerate(curves.items()):
            if impl == reference:
                continue
            ref_at_x = np.exp(np.interp(np.log(x), np.log(ref_x), np.log(ref_y)))
            ax_s.plot(x, y / ref_at_x, marker="o", linewidth=1.8, label=impl, color=f"C{k}")
        ax_s.axhline(1.0, color="black", linestyle="--", linewidth=1, label=f"{reference} (1x)")
        ax_s.set_xscale("log")
        ax_s.set_yscale("log")
        ax_s.set_xlabel("Number of seeds")
        ax_s.set_ylabel(f"Speedup over {reference}")
        ax_s.set_title(f"Speedup over {reference}")
        ax_s.grid(alpha=0.3, which="both")
        ax_s.legend(loc="best")

    fig.suptitle(title)
    return _save(fig, path, dpi)


__all__ = [
    "ACTION_ARROWS",
    "plot_cumulative_reward",
    "plot_learning_curves",
    "plot_policy_map",
    "plot_scaling",
    "plot_steps_per_episode",
    "plot_updates_vs_states",
]
