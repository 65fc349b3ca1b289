"""Sutton & Barto Figure 8.5: Dyna-Q against Dyna-Q+ in the shortcut maze.

The same as ``dynaq-jax shortcut``, with the same options and defaults (``--help``).
The protocol and its outputs live in ``dynaq_jax.experiments``:
``SHORTCUT_MAZE``, ``run_changing_maze``, ``write_changing_maze``.

    python experiments/shortcut_maze.py    # the published protocol -> runs/shortcut/
    python experiments/shortcut_maze.py --help
"""

import sys

from dynaq_jax.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["shortcut", *sys.argv[1:]]))
