"""Sutton & Barto Figure 8.5: Dyna-Q against Dyna-Q+ in the shortcut maze.

The same as ``dynaq-jax shortcut``, with the same options and defaults (``--help``).
The protocol and its outputs live in ``dynaq_jax.experiments.changing_maze``:
``SHORTCUT_MAZE``, ``run_changing_maze``, ``write_changing_maze``.

    python experiments/shortcut_maze.py    # the published protocol -> runs/shortcut/
    python experiments/shortcut_maze.py --help
"""

import sys
from pathlib import Path

try:
    import dynaq_jax  # noqa: F401
except ImportError:  # a source checkout that is not installed: use the package next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynaq_jax.experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["shortcut", *sys.argv[1:]]))
