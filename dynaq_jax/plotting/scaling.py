"""Scaling plots: Example 8.4's updates against maze size, and the benchmark's throughput."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from dynaq_jax.plotting.common import DPI, PathLike, new_figure, save_png


def plot_updates_vs_states(
    rows: Mapping[str, tuple[ArrayLike, ArrayLike, ArrayLike]],
    path: PathLike,
    *,
    spread_label: str = "± s.d.",
    log_x: bool = False,
    title: str = "Updates until optimal solution",
    dpi: int = DPI,
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
    fig = new_figure(8.0, 5.0)
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
    return save_png(fig, path, dpi)


def plot_scaling(
    rows: Sequence[Mapping[str, Any]],
    path: PathLike,
    reference: str | None = "numpy",
    *,
    title: str = "Planning throughput",
    dpi: int = DPI,
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

    fig = new_figure(13.0 if reference is not None else 7.5, 4.8)
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
    return save_png(fig, path, dpi)


__all__ = ["plot_scaling", "plot_updates_vs_states"]
