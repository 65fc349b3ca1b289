"""The seed notebook's Dyna-Q on FrozenLake-v1 (slippery), over 100 seeds.

The same as ``dynaq-jax frozen-lake``, with the same options and defaults (``--help``).
The protocol and its outputs live in ``dynaq_jax.experiments.frozen_lake``:
``FROZEN_LAKE``, ``run_frozen_lake``, ``write_frozen_lake``.

    python experiments/frozen_lake.py    # the published protocol -> runs/frozen-lake/
    python experiments/frozen_lake.py --help
"""

import sys
from pathlib import Path

try:
    import dynaq_jax  # noqa: F401
except ImportError:  # a source checkout that is not installed: use the package next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynaq_jax.experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["frozen-lake", *sys.argv[1:]]))
