"""Sutton & Barto Figures 8.7 and 8.8: what an update buys for its computation.

- ``plot_expected_vs_sample``: Figure 8.7, the RMS error of one estimate against the number of
  ``max_a' Q(s', a')`` computations, for sample updates at several branching factors ``b`` and for
  the expected update (the x axis in units of ``b``, from 0 to ``2b``);
- ``plot_trajectory_sampling``: Figure 8.8, the value of the start state under the greedy policy
  against computation time in expected updates, for on-policy (trajectory) and uniform
  distributions of updates, with a band over tasks and, when given, each ``b``'s optimal value.
"""

from collections.abc import Mapping
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from dynaq_jax.plotting.common import (
    DPI,
    Band,
    PathLike,
    band_label,
    check_band,
    new_figure,
    per_seed,
    plot_mean_band,
    save_png,
)


def _curve(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x, np.float64)
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    return arr


def plot_expected_vs_sample(
    sample_rms: Mapping[int, ArrayLike],
    expected_rms: ArrayLike,
    path: PathLike,
    *,
    formula: Mapping[int, ArrayLike] | None = None,
    title: str = "Expected vs sample updates",
    dpi: int = DPI,
) -> Path:
    """Figure 8.7 (Sutton & Barto 2018, section 8.5): RMS error against computations.

    For each branching factor ``b``, ``sample_rms[b][t]`` is the RMS error after ``t = 0 .. 2b``
    sample updates (one ``max`` computation each), drawn at ``x = t / b``; ``formula[b]`` (same
    shape), when given, is drawn dashed beside it (the book's ``sqrt((b - 1) / (b t))``).
    ``expected_rms[c]``, ``c = 0 .. 2b'`` for some ``b'``, is the expected update's error after
    ``c`` computations (an expected update costs ``b'`` of them), drawn in black at ``c / b'``.

    Raises:
        ValueError: a curve is not 1-D and finite, or ``sample_rms[b]`` (or ``formula[b]``) does
            not have ``2b + 1`` points.
    """
    if not sample_rms:
        raise ValueError("sample_rms must hold at least one branching factor")
    expected = _curve(expected_rms, "expected_rms")
    if expected.size < 3 or expected.size % 2 == 0:
        raise ValueError(f"expected_rms must have 2b + 1 points, got {expected.size}")
    fig = new_figure(7.5, 4.6)
    ax = fig.subplots()
    for b in sorted(sample_rms):
        curve = _curve(sample_rms[b], f"sample_rms[{b}]")
        if curve.size != 2 * b + 1:
            raise ValueError(f"sample_rms[{b}] must have 2b + 1 = {2 * b + 1} points")
        x = np.arange(curve.size) / b
        (line,) = ax.plot(x, curve, lw=1.4, label=f"sample updates, b = {b:,}")
        if formula is not None and b in formula:
            f = _curve(formula[b], f"formula[{b}]")
            if f.size != curve.size:
                raise ValueError(f"formula[{b}] must have 2b + 1 = {2 * b + 1} points")
            ax.plot(x, f, ls="--", lw=0.9, color=line.get_color())
    b_exp = (expected.size - 1) // 2
    ax.step(
        np.arange(expected.size) / b_exp,
        expected,
        where="post",
        color="black",
        lw=2.0,
        label="expected update (any b)",
    )
    if formula is not None:
        ax.plot([], [], ls="--", color="gray", lw=0.9, label="sqrt((b - 1) / (b t))")
    ax.set_xlim(0.0, 2.0)
    ax.set_ylim(0.0, max(1.05, float(expected.max()) * 1.05))
    ax.set_xticks([0.0, 1.0, 2.0], ["0", "b", "2b"])
    ax.set_xlabel("number of max_a' Q(s', a') computations")
    ax.set_ylabel("RMS error in value estimate")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return save_png(fig, path, dpi)


def plot_trajectory_sampling(
    updates: ArrayLike,
    curves: Mapping[tuple[int, str], ArrayLike],
    path: PathLike,
    *,
    optimum: Mapping[int, float] | None = None,
    band: Band | None = "sem",
    title: str = "Trajectory sampling",
    dpi: int = DPI,
) -> Path:
    """Figure 8.8 (Sutton & Barto 2018, section 8.6): the start state's value under the greedy
    policy against computation time, in expected updates.

    ``curves[(b, method)]`` is ``[tasks, E]`` (one row per task, one column per point of
    ``updates``, ``[E]``); the mean over tasks is drawn, solid for ``"on-policy"`` and dashed
    otherwise, one colour per ``b``, with a band (``"sem"``: mean ± s.e.; ``"percentile"``: 10-90
    percentiles over tasks; ``None``: none). ``optimum[b]``, when given, is drawn dotted: the mean
    over tasks of the optimal start-state value ``v*(start)``, the ceiling of every curve of that
    ``b``.

    Raises:
        ValueError: a curve's width differs from ``updates``, or ``band`` is unknown.
    """
    x = _curve(updates, "updates")
    check_band(band)
    if not curves:
        raise ValueError("curves must hold at least one curve")
    fig = new_figure(9.5, 4.8)
    ax = fig.subplots()
    colours: dict[int, str] = {}
    palette = [f"C{i}" for i in range(10)]
    n_tasks = 0
    for (b, method), data in curves.items():
        arr = per_seed(data, f"curves[{(b, method)}]")
        if arr.shape[1] != x.size:
            raise ValueError(
                f"curves[{(b, method)}] must have {x.size} columns (one per point of updates), "
                f"got {arr.shape[1]}"
            )
        n_tasks = max(n_tasks, arr.shape[0])
        colour = colours.setdefault(b, palette[len(colours) % len(palette)])
        plot_mean_band(
            ax,
            x,
            arr,
            band,
            f"b = {b}, {method}",
            color=colour,
            ls="-" if method == "on-policy" else "--",
            lw=1.5,
        )
    if optimum:
        for b, value in optimum.items():
            ax.axhline(float(value), color=colours.get(b, "gray"), ls=":", lw=1.0)
        ax.plot([], [], ls=":", color="gray", label="optimal v*(start), mean over tasks")
    ax.set_xlabel("computation time, in expected updates")
    ax.set_ylabel("value of start state under greedy policy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    legend = ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if band is not None and n_tasks > 1:
        legend.set_title(band_label(band, n_tasks).replace("seeds", "tasks"))
        legend.get_title().set_fontsize(8)
    return save_png(fig, path, dpi)


__all__ = ["plot_expected_vs_sample", "plot_trajectory_sampling"]
