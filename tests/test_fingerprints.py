"""Refactors keep results bit-identical: the fingerprints recorded before a change must match.

The digests in ``tests/fixtures/fingerprints.json`` were recorded with the JAX version stored
beside them; XLA may legitimately change float results between versions, so with another JAX the
test is skipped (record anew with ``python -m tests.fingerprint_cases``).
"""

import json
from pathlib import Path

import jax
import pytest

from tests.fingerprint_cases import fingerprints

RECORD = json.loads((Path(__file__).parent / "fixtures" / "fingerprints.json").read_text())


@pytest.mark.skipif(
    jax.__version__ != RECORD["jax"],
    reason=f"fingerprints were recorded with jax {RECORD['jax']}, this is {jax.__version__}",
)
def test_results_match_recorded_fingerprints() -> None:
    now = fingerprints()
    assert set(now) == set(RECORD["fingerprints"])
    for name, expected in RECORD["fingerprints"].items():
        assert now[name] == expected, name
