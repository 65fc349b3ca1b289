"""Shared pieces of the plots: array conventions, seed bands, figures and PNG files.

Figures are built with ``matplotlib.figure.Figure`` on an Agg canvas, never through ``pyplot``.
These helpers are public within ``dynaq_jax.plotting`` (its modules share them); the package's
public API is the ``plot_*`` functions and ``ACTION_ARROWS``.
"""

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeAlias

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
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

DPI = 120
PERCENTILES = (10.0, 90.0)


# --------------------------------------------------------------------------------------------------
# helpers


def new_figure(width: float, height: float) -> Figure:
    """A pyplot-free figure on an Agg canvas with constrained layout."""
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def save_png(fig: Figure, path: PathLike, dpi: int) -> Path:
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=dpi)
    return out


def per_seed(x: ArrayLike, name: str) -> NDArray[np.float64]:
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


def band_edges(data: NDArray[np.float64], band: Band) -> tuple[NDArray[np.float64], ...]:
    """Mean over seeds (axis 0) and the band's lower and upper edges."""
    mean = data.mean(axis=0)
    if band == "percentile":
        lo, hi = np.percentile(data, PERCENTILES, axis=0)
    elif band == "sem":
        n = data.shape[0]
        sem = data.std(axis=0, ddof=1) / np.sqrt(n) if n > 1 else np.zeros_like(mean)
        lo, hi = mean - sem, mean + sem
    else:
        raise ValueError(f"band must be 'percentile' or 'sem', got {band!r}")
    return mean, lo, hi


def band_label(band: Band, n_seeds: int) -> str:
    what = "10–90 percentile" if band == "percentile" else "mean ± s.e."
    return f"{what} over {n_seeds} seeds"


def mean_label(n_seeds: int) -> str:
    return "1 seed" if n_seeds == 1 else f"mean over {n_seeds} seeds"


def legend_title(band: Band | None, seed_counts: Sequence[int]) -> str:
    """One legend title for several curves: how many seeds, and what the shading is."""
    counts = sorted(set(seed_counts))
    text = ", ".join(str(n) for n in counts)
    if counts == [1]:
        return "1 seed"
    title = f"mean over {text} seeds"
    if band is not None:
        title += "; shaded: " + ("10–90 percentile" if band == "percentile" else "mean ± s.e.")
    return title


def plot_mean_band(
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
        _, lo, hi = band_edges(data, band)
        ax.fill_between(
            x, lo, hi, color=line.get_color(), alpha=0.25, linewidth=0, label=band_label
        )


def rolling_mean(data: NDArray[np.float64], window: int) -> NDArray[np.float64]:
    """Valid-mode moving average along axis 1: ``out[:, i] = mean(data[:, i:i+window])``."""
    csum = np.cumsum(np.pad(data, ((0, 0), (1, 0))), axis=1)
    out: NDArray[np.float64] = (csum[:, window:] - csum[:, :-window]) / window
    return out


def check_band(band: Band | None) -> None:
    if band is not None and band not in ("percentile", "sem"):
        raise ValueError(f"band must be 'percentile', 'sem' or None, got {band!r}")


__all__ = [
    "ACTION_ARROWS",
    "DPI",
    "PERCENTILES",
    "ArrowSpec",
    "Band",
    "PathLike",
    "band_edges",
    "band_label",
    "check_band",
    "legend_title",
    "mean_label",
    "new_figure",
    "per_seed",
    "plot_mean_band",
    "rolling_mean",
    "save_png",
]
