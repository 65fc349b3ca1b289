"""Sutton & Barto Figure 8.2: steps per episode in the Dyna maze, n = 0, 5, 50.

The same as ``dynaq-jax maze``, with the same options and defaults (``--help``).
The protocol and its outputs live in ``dynaq_jax.experiments.dyna_maze``:
``DYNA_MAZE``, ``run_dyna_maze``, ``write_dyna_maze``.

    python experiments/dyna_maze.py    # the published protocol -> runs/maze/
    python experiments/dyna_maze.py --help
"""

import sys
from pathlib import Path

try:
    import dynaq_jax  # noqa: F401
except ImportError:  # a source checkout that is not installed: use the package next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynaq_jax.experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["maze", *sys.argv[1:]]))
