"""Plots for Dyna-Q experiments: learning curves with seed bands, policy maps, Chapter 8 figures.

Every function takes plain NumPy arrays (or anything ``np.asarray`` accepts, such as JAX arrays),
writes one PNG and returns its path. Figures are built with ``matplotlib.figure.Figure`` on an
Agg canvas, never through ``pyplot``: nothing touches pyplot's global figure list or the user's
backend. Shapes are checked up front and a mismatch raises ``ValueError``.

Array conventions: ``[seeds, episodes]`` (or ``[seeds, steps]``) for per-seed curves; a 1-D array
is read as a single seed. Bands across seeds are either the 10-90 percentile range
(``band="percentile"``) or the mean ± one standard error (``band="sem"``); the legend says which.
"""

from dynaq_jax.plotting.common import ACTION_ARROWS, ArrowSpec, Band, PathLike
from dynaq_jax.plotting.curves import (
    plot_cumulative_reward,
    plot_learning_curves,
    plot_steps_per_episode,
)
from dynaq_jax.plotting.maps import plot_policy_map
from dynaq_jax.plotting.scaling import plot_scaling, plot_updates_vs_states

__all__ = [
    "ACTION_ARROWS",
    "ArrowSpec",
    "Band",
    "PathLike",
    "plot_cumulative_reward",
    "plot_learning_curves",
    "plot_policy_map",
    "plot_scaling",
    "plot_steps_per_episode",
    "plot_updates_vs_states",
]
