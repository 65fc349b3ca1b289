"""The side-by-side benchmark: the seed notebook's NumPy loop against dynaq_jax (issue 6).

The same as ``dynaq-jax bench``, with the same options and defaults (``--help``); the protocol
lives in ``dynaq_jax.experiments.benchmark``.

    python experiments/benchmark.py --quick               # seconds, small sizes
    python experiments/benchmark.py                       # FrozenLake 4x4, 1 .. 10000 seeds
    python experiments/benchmark.py --devices 2           # seeds sharded over 2 host devices
    python experiments/benchmark.py --envs 4x4 8x8 taxi   # also FrozenLake 8x8 and Taxi-v4
"""

import sys
from pathlib import Path

try:
    import dynaq_jax  # noqa: F401
except ImportError:  # a source checkout that is not installed: use the package next to this file
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dynaq_jax.experiments.cli import main

if __name__ == "__main__":
    raise SystemExit(main(["bench", *sys.argv[1:]]))
