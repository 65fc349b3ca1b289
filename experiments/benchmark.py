"""The side-by-side benchmark: the seed notebook's NumPy loop against dynaq_jax (issue 6).

A thin wrapper of ``dynaq_jax.bench`` (also ``dynaq-jax bench``); see that module for the protocol.

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

from dynaq_jax.bench import build_parser, main

if __name__ == "__main__":
    sys.exit(main(build_parser().parse_args()))
