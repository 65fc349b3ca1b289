"""Sutton & Barto Figure 8.2: steps per episode in the Dyna maze, n = 0, 5, 50.

The same as ``dynaq-jax maze``, with the same options and defaults (``--help``).
The protocol and its outputs live in ``dynaq_jax.experiments``:
``DYNA_MAZE``, ``run_dyna_maze``, ``write_dyna_maze``.

    python experiments/dyna_maze.py    # the published protocol -> runs/maze/
    python experiments/dyna_maze.py --help
"""

import sys

from dynaq_jax.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["maze", *sys.argv[1:]]))
