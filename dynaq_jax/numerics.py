"""Bit-reproducible float arithmetic: the FMA guard and sums in a fixed order.

The library promises that ``jit``, eager execution and every ``vmap`` batch size give the same
bits (``train_seeds(keys)[i] == train(keys[i])``). Two compiler freedoms would break that:

* **Fused multiply-add.** XLA:CPU contracts ``a * b + c`` into one FMA (rounded once) where it
  fuses the two operations, and whether it does depends on the batch shape, the enclosing ``jit``
  and loop unswitching; eager execution never does. ``rounded(x, zero)`` XORs the product's bits
  with ``zero = runtime_zero(step)``, a zero the compiler cannot prove, which hides the product
  from that rewrite: every path computes ``round(round(a * b) + c)``. Every product that feeds a
  sum in the library goes through ``rounded``.
* **Reduction order.** ``jnp.sum`` leaves the order of additions to the compiler (a fused
  reduction inside ``jit`` differs from an eager one). ``row_sum`` and ``prefix_sum`` add in an
  order that depends only on the row length.

This module is the bottom layer of the package: it imports nothing from ``dynaq_jax``.
"""

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, Int


def runtime_zero(count: Int[Array, "*B"]) -> Int[Array, "*B"]:
    """``count >> 31``: zero for any non-negative int32 count (the agent passes its real-step
    count), but a value the compiler cannot know."""
    return jnp.right_shift(jnp.asarray(count, jnp.int32), 31)


def rounded(x: Float[Array, "*B"], zero: Int[Array, "*B"]) -> Float[Array, "*B"]:
    """``x`` itself, as a float32 the compiler cannot fuse into a following add.

    ``bitcast(bitcast(x) ^ zero)`` with ``zero = runtime_zero(...)``: see the module docstring.
    """
    bits = jax.lax.bitcast_convert_type(jnp.asarray(x, jnp.float32), jnp.int32)
    return jax.lax.bitcast_convert_type(bits ^ zero, jnp.float32)


_SEQUENTIAL_PREFIX_MAX = 32


def prefix_sum(x: Float[Array, "... K"]) -> Float[Array, "... K"]:
    """``cumsum(x, axis=-1)``, fast and bit-deterministic on every backend and batch shape.

    XLA:CPU lowers ``jnp.cumsum`` to a reduce-window that does ``O(K^2)`` work. Short rows use
    ``K - 1`` sequential adds; long rows a log-depth ``associative_scan``. Both are elementwise adds
    whose order depends only on ``K``, so results do not depend on the batch shape.
    """
    k = x.shape[-1]
    if k > _SEQUENTIAL_PREFIX_MAX:
        scanned: Float[Array, "... K"] = jax.lax.associative_scan(jnp.add, x, axis=-1)
        return scanned
    parts = [x[..., 0]]
    for j in range(1, k):
        parts.append(parts[-1] + x[..., j])
    return jnp.stack(parts, axis=-1)


def row_sum(x: Float[Array, "*N S"]) -> Float[Array, "*N"]:
    """``sum_j x[..., j]`` in a fixed order: zero-pad the last axis to a power of two, then add its
    two halves until one element is left.

    Elementwise additions the compiler may not reorder, so the sum has the same bits eagerly, under
    ``jit`` and under ``vmap``. (The last element of ``prefix_sum`` is deterministic too, but
    computes every prefix: at ``S = 64`` about 8x slower.)
    """
    n = x.shape[-1]
    width = 1 << max(n - 1, 0).bit_length()
    x = jnp.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, width - n)])
    while width > 1:
        width //= 2
        x = x[..., :width] + x[..., width:]
    return x[..., 0]


def first_argmax(x: Float[Array, "*N M"]) -> Int[Array, "*N"]:
    """``argmax_j x[..., j]``, ties to the lowest ``j`` (as ``jnp.argmax``, without NaNs).

    Written as ``min {j : x[..., j] = max x}``: two plain reductions, which XLA:CPU vectorises;
    ``jnp.argmax``'s variadic reduction runs about 10x slower on long rows.
    """
    n = x.shape[-1]
    top = jnp.max(x, axis=-1, keepdims=True)
    return jnp.min(jnp.where(x == top, jnp.arange(n, dtype=jnp.int32), n), axis=-1)


__all__ = ["first_argmax", "prefix_sum", "rounded", "row_sum", "runtime_zero"]
