"""The application layer: the published experiments, the benchmark and the ``dynaq-jax`` command.

Nothing else in ``dynaq_jax`` imports this package (but ``python -m dynaq_jax``, its command). It
builds on the library's public API, but for two calls in ``sweeping`` (marked there).

- ``frozen_lake``: the seed notebook's protocol on FrozenLake-v1 over many seeds;
- ``dyna_maze``: Sutton & Barto Figure 8.2; ``changing_maze``: Figures 8.4 and 8.5;
- ``sweeping``: Example 8.4 (prioritized sweeping against Dyna-Q) and the planners on FrozenLake;
- ``benchmark`` (with ``benchmark_report``): the benchmark against ``reference_numpy``, the seed
  notebook's NumPy loop as written;
- ``common``, ``output`` and ``options``: shared read-outs and timing, output files and reports,
  and the typed options (each field's check, declared in its annotation);
- ``cli``: the ``dynaq-jax`` command, generated from the protocols' dataclasses with tyro.

Each experiment has a *protocol* (a frozen dataclass of every setting, validated on construction,
whose defaults are the published ones: ``FROZEN_LAKE``, ``DYNA_MAZE``, ``BLOCKING_MAZE``,
``SHORTCUT_MAZE``), a ``run_*(protocol)`` that trains every seed in one compiled call and evaluates
the final greedy policies exactly with the oracle, and ``summarize_*``, ``format_*`` and
``write_*``: a JSON-ready summary, a compact terminal table, and the output folder
(``metrics.npz``, CSV, ``summary.json``, PNG plots). This package re-exports those names.

Seeds: run ``i`` trains with ``jax.random.split(jax.random.key(protocol.seed), runs)[i]``. Every
agent of one experiment uses the same keys (common random numbers).
"""

from dynaq_jax.experiments.changing_maze import (
    BLOCKING_MAZE,
    DYNA_Q_LABELS,
    SHORTCUT_MAZE,
    ChangingMazeProtocol,
    ChangingMazeResult,
    format_changing_maze,
    run_changing_maze,
    summarize_changing_maze,
    write_changing_maze,
)
from dynaq_jax.experiments.common import (
    Timing,
    drawn_policy,
    greedy_path_lengths,
    greedy_path_summary,
    horizon_optimal_success,
    optimal_policy,
    shortest_path_length,
    spread,
    success_probabilities,
)
from dynaq_jax.experiments.dyna_maze import (
    DYNA_MAZE,
    DynaMazeProtocol,
    DynaMazeResult,
    format_dyna_maze,
    run_dyna_maze,
    summarize_dyna_maze,
    write_dyna_maze,
)
from dynaq_jax.experiments.frozen_lake import (
    FROZEN_LAKE,
    FROZEN_LAKE_MAPS,
    FrozenLakeProtocol,
    FrozenLakeResult,
    format_frozen_lake,
    frozen_lake_env,
    run_frozen_lake,
    summarize_frozen_lake,
    write_frozen_lake,
)

__all__ = [
    "BLOCKING_MAZE",
    "DYNA_MAZE",
    "DYNA_Q_LABELS",
    "FROZEN_LAKE",
    "FROZEN_LAKE_MAPS",
    "SHORTCUT_MAZE",
    "ChangingMazeProtocol",
    "ChangingMazeResult",
    "DynaMazeProtocol",
    "DynaMazeResult",
    "FrozenLakeProtocol",
    "FrozenLakeResult",
    "Timing",
    "drawn_policy",
    "format_changing_maze",
    "format_dyna_maze",
    "format_frozen_lake",
    "frozen_lake_env",
    "greedy_path_lengths",
    "greedy_path_summary",
    "horizon_optimal_success",
    "optimal_policy",
    "run_changing_maze",
    "run_dyna_maze",
    "run_frozen_lake",
    "shortest_path_length",
    "spread",
    "success_probabilities",
    "summarize_changing_maze",
    "summarize_dyna_maze",
    "summarize_frozen_lake",
    "write_changing_maze",
    "write_dyna_maze",
    "write_frozen_lake",
]
