"""Planners beyond Dyna-Q: Sutton & Barto Example 8.4 and the FrozenLake planner table.

The same as ``dynaq-jax sweeping``, with the same options and defaults (``--help``).
The protocol and its outputs live in ``dynaq_jax.experiments.sweeping`` (``example_8_4``,
``frozenlake_table``).

    python experiments/sweeping.py                       # Example 8.4, k = 1..5 -> runs/sweeping/
    python experiments/sweeping.py --experiment frozenlake --map 4x4 --episodes 300 --seeds 100
    python experiments/sweeping.py --help
"""

import sys
from pathlib import Path

try:
    import dynaq_jax  # noqa: F401
except ImportError:  # a source checkout that is not installed: use the package next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynaq_jax.experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["sweeping", *sys.argv[1:]]))
