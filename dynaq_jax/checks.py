"""Host-boundary checks.

JAX clamps out-of-range indices silently, which would hide a bug; so every public function that
takes an index checks it here *when the value is concrete* (an eager call from Python). Under
``jit``/``vmap`` the values are tracers and the checks are skipped: they cost nothing in the loop.
"""

from collections.abc import Callable
from typing import ParamSpec, TypeVar, cast

import jax
import numpy as np

P = ParamSpec("P")
R = TypeVar("R")


def typed_jit(fn: Callable[P, R]) -> Callable[P, R]:
    """``jax.jit`` that keeps ``fn``'s signature for mypy (jit's own wrapper returns ``Any``)."""
    return cast(Callable[P, R], jax.jit(fn))


def is_concrete(value: object) -> bool:
    """True unless ``value`` is a JAX tracer (abstract value inside jit/vmap/grad)."""
    return not isinstance(value, jax.core.Tracer)


def check_index(where: str, name: str, value: object, size: int) -> None:
    """Raise ``ValueError`` unless ``value`` is a scalar integer in ``[0, size)``."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    # Not bool: JAX reads a boolean index as a mask, which fails inside jit.
    if arr.shape != () or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"{where}: {name} must be a scalar integer index, got {value!r}")
    v = int(arr)
    if not 0 <= v < size:
        raise ValueError(f"{where}: {name}={v} is out of range [0, {size})")


FLOAT32_MAX = float(np.finfo(np.float32).max)
"""The largest finite float32 (about 3.4e38): the library computes in float32."""


def finite_in_float32(value: object) -> bool:
    """Whether every element of a real ``value`` is finite and stays finite as a float32."""
    arr = np.asarray(value, np.float64)
    return bool(np.all(np.isfinite(arr)) and np.all(np.abs(arr) <= FLOAT32_MAX))


def check_finite(where: str, name: str, value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is a real scalar, finite in float32 (a value such as
    ``1e39`` is finite in float64 but ``inf`` in the float32 the library computes in)."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.number) or not np.isfinite(arr):
        raise ValueError(f"{where}: {name} must be a finite scalar, got {value!r}")
    if not finite_in_float32(arr):
        raise ValueError(
            f"{where}: {name}={value!r} overflows float32 (|{name}| must be at most "
            f"{FLOAT32_MAX:.3g})"
        )


def check_int(where: str, name: str, value: object, lo: int, hi: int = 2**31 - 1) -> int:
    """``value`` as an int in ``[lo, hi]`` (Python or NumPy int, not bool), else ``ValueError``
    naming it (a bound keeps sizes inside int32 and allocations sane)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{where}: {name} must be an int, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"{where}: {name}={value!r} must lie in [{lo}, {hi}]")
    return int(value)


def check_flag(where: str, name: str, value: object) -> None:
    """Raise ``ValueError`` unless ``value`` is a scalar bool (or an integer 0 or 1)."""
    if not is_concrete(value):
        return
    arr = np.asarray(value)
    ok = arr.shape == () and (
        arr.dtype == np.bool_ or (np.issubdtype(arr.dtype, np.integer) and int(arr) in (0, 1))
    )
    if not ok:
        raise ValueError(f"{where}: {name} must be a bool, got {value!r}")
