"""Learning curves: the seed notebook's two panels and Sutton & Barto's Figures 8.2, 8.4 and 8.5."""

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
    legend_title,
    mean_label,
    new_figure,
    per_seed,
    plot_mean_band,
    rolling_mean,
    save_png,
)


def plot_learning_curves(
    episode_returns: ArrayLike,
    successes: ArrayLike,
    path: PathLike,
    window: int = 20,
    title: str = "Dyna-Q",
    *,
    band: Band = "percentile",
    dpi: int = DPI,
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
    returns = per_seed(episode_returns, "episode_returns")
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
    check_band(band)
    n_seeds, n_episodes = returns.shape
    w = min(window, n_episodes)

    fig = new_figure(13.0, 4.8)
    ax_r, ax_s = fig.subplots(1, 2)
    episodes = np.arange(1, n_episodes + 1, dtype=np.float64)
    x_w = np.arange(w, n_episodes + 1, dtype=np.float64)

    ax_r.plot(
        episodes,
        returns.mean(axis=0),
        alpha=0.35,
        linewidth=1,
        label=f"raw ({mean_label(n_seeds)})",
    )
    plot_mean_band(
        ax_r,
        x_w,
        rolling_mean(returns, w),
        band,
        f"MA({w})" if n_seeds == 1 else f"MA({w}), {mean_label(n_seeds)}",
        band_label=f"MA({w}): {band_label(band, n_seeds)}",
        linewidth=2,
    )
    ax_r.set_xlabel("Episode")
    ax_r.set_ylabel("Reward")
    ax_r.set_title("Episode rewards")
    ax_r.legend(loc="best")
    ax_r.grid(alpha=0.3)

    plot_mean_band(
        ax_s,
        x_w,
        rolling_mean(succ, w),
        band,
        mean_label(n_seeds),
        color="green",
        band_label=band_label(band, n_seeds),
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
    return save_png(fig, path, dpi)


def plot_steps_per_episode(
    curves: Mapping[str, ArrayLike],
    path: PathLike,
    optimal: float | None = None,
    *,
    log_y: bool = False,
    start_episode: int = 1,
    band: Band | None = None,
    title: str = "Dyna maze: steps per episode",
    dpi: int = DPI,
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
    check_band(band)
    data = {label: per_seed(arr, f"curves[{label!r}]") for label, arr in curves.items()}
    longest = max(d.shape[1] for d in data.values())
    if not 1 <= start_episode <= longest:
        raise ValueError(f"start_episode must lie in [1, {longest}], got {start_episode}")
    if log_y and any(np.any(d <= 0) for d in data.values()):
        raise ValueError("log_y needs positive episode lengths")

    fig = new_figure(8.0, 5.0)
    ax = fig.subplots()
    seeds = sorted({d.shape[0] for d in data.values()})
    for label, d in data.items():
        x = np.arange(1, d.shape[1] + 1, dtype=np.float64)
        keep = x >= start_episode
        plot_mean_band(ax, x[keep], d[:, keep], band, label, linewidth=1.8)
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
    ax.legend(loc="best", title=legend_title(band, seeds))
    ax.set_title(title)
    return save_png(fig, path, dpi)


def plot_cumulative_reward(
    curves: Mapping[str, ArrayLike],
    path: PathLike,
    change_step: int | None = None,
    *,
    is_cumulative: bool = True,
    band: Band | None = "sem",
    title: str = "Cumulative reward",
    dpi: int = DPI,
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
    check_band(band)
    data = {label: per_seed(arr, f"curves[{label!r}]") for label, arr in curves.items()}
    if not is_cumulative:
        data = {label: np.cumsum(d, axis=1) for label, d in data.items()}
    longest = max(d.shape[1] for d in data.values())
    if change_step is not None and not 0 <= change_step <= longest:
        raise ValueError(f"change_step must lie in [0, {longest}], got {change_step}")

    fig = new_figure(8.0, 5.0)
    ax = fig.subplots()
    for label, d in data.items():
        x = np.arange(1, d.shape[1] + 1, dtype=np.float64)
        plot_mean_band(ax, x, d, band, label, linewidth=1.8)
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
    ax.legend(loc="upper left", title=legend_title(band, [d.shape[0] for d in data.values()]))
    ax.set_title(title)
    return save_png(fig, path, dpi)


__all__ = ["plot_cumulative_reward", "plot_learning_curves", "plot_steps_per_episode"]
