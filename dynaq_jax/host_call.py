"""The host loop's device call: one agent packed into a few flat buffers, one compiled call per real
step (``dynaq_jax.gym_loop`` drives it).

A jitted call's fixed cost grows with the number of arrays it takes and returns: a ``DynaQState``
is about a dozen leaves, plus the key, eight host scalars and the config's leaves. Here the state
and its key lie in a few flat buffers (float32; int32, which also carries the bools and the key's
uint32 words bit for bit) of at most ``SMALL_BUFFER_BYTES`` each unless one array alone is larger,
the config's leaves in one float32 vector made once per run, and the host scalars of a real step
in one int32 vector (the reward's float32 bits among them). The compiled call unpacks them, runs
the same ``fused_step`` the loop has always run (Dyna-Q ``step``, then ``act``), packs the state
again into the donated buffers and returns them with the action: one compile per layout (state
shapes and config structure).

Packing is a bit-exact reshuffle (slices, reshapes, ``bool <-> int32``, ``uint32 <-> int32``
bitcasts): the agent computes exactly what it computes unpacked.
"""

import functools
import struct
from collections.abc import Callable
from typing import Any, NamedTuple, TypeAlias, cast

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Float, Int, Shaped

from dynaq_jax.agent import act, step
from dynaq_jax.config import DynaQConfig
from dynaq_jax.rng import split_key
from dynaq_jax.state import DynaQState
from dynaq_jax.types import BoolScalar, FloatScalar, IntScalar, Key

# -- the fused step -------------------------------------------------------------------------------


def fused_step(
    state: DynaQState,
    key: Key,
    s: IntScalar,
    a: IntScalar,
    r: FloatScalar,
    s_next: IntScalar,
    terminated: BoolScalar,
    learn: Bool[Array, ""],
    s_act: IntScalar,
    advance: BoolScalar,
    config: DynaQConfig,
) -> tuple[DynaQState, Key, Int[Array, ""]]:
    """One real step of tabular Dyna-Q (Sutton & Barto 2018, section 8.2, steps (d)-(f) then (b)):
    ``step`` on ``(s, a, r, s', terminated)`` (a masked no-op unless ``learn``), then
    ``a' = epsilon-greedy(Q', s_act)``.

    Keys: ``key -> (key', k_plan, k_act)``; the returned key is ``key'`` if ``advance``, else
    ``key`` itself, so that the next call draws the same ``k_act`` again. A vector env in
    ``NEXT_STEP`` autoreset mode uses that: the action drawn at an episode's last step is ignored
    by the env, and the next call (on the reset observation) must act with the key a single env
    would have used, which keeps sub-env ``i`` identical to ``train(env, seed + i)``.
    """
    key_next, k_plan, k_act = split_key(key, 3)
    state = step(state, k_plan, s, a, r, s_next, terminated, config, active=learn)
    action = act(state, k_act, s_act, config)
    return state, jnp.where(advance, key_next, key), action


# -- the layout -----------------------------------------------------------------------------------

_BITCAST = {np.dtype(np.uint32): np.dtype(np.int32)}
"""Leaf dtypes carried bit for bit in a buffer of another dtype of the same width."""
_WIDEN = {np.dtype(np.bool_): np.dtype(np.int32)}
"""Leaf dtypes carried as 0/1 in a buffer of a wider dtype."""


class Slot(NamedTuple):
    """Where one leaf lies: ``buffers[buffer][offset : offset + size]``, reshaped to ``shape``."""

    buffer: int
    offset: int
    size: int
    shape: tuple[int, ...]
    dtype: np.dtype[Any]


class Layout(NamedTuple):
    """How one agent's ``(state, key)`` lies in flat buffers (hashable: a compile-cache key)."""

    treedef: Any
    """``jax.tree.structure((state, key data))``."""
    slots: tuple[Slot, ...]
    buffer_dtypes: tuple[np.dtype[Any], ...]
    buffer_sizes: tuple[int, ...]
    key_impl: Any
    """``jax.random.key_impl`` of the key (its data shape follows from it)."""
    config_def: Any
    """``jax.tree.structure(config)``: the static fields; the leaves come in a vector."""


Buffers: TypeAlias = tuple[Shaped[Array, "*N F"], ...]
"""The packed agent(s): flat buffers (``Layout.buffer_dtypes``), a leading axis ``N`` for a
batch."""


def _carrier(dtype: np.dtype[Any]) -> np.dtype[Any]:
    return _BITCAST.get(dtype, _WIDEN.get(dtype, dtype))


SMALL_BUFFER_BYTES = 512
"""The most bytes ``layout_of`` puts in one buffer (a larger leaf gets a buffer of its own).

XLA:CPU runs a program's thunks one after another in the calling thread when every buffer they
touch is at most 512 bytes (its ``ThunkExecutor``'s fixed threshold); otherwise it spreads them
over its thread pool, and waking the pool's threads costs more than a small agent's whole step.
Buffers this small keep a state whose arrays are small (FrozenLake's deterministic or compact
models) on the sequential path; a larger array (the dense ``T_c``) takes the pool either way."""


def layout_of(
    state: DynaQState,
    key: Key,
    config: DynaQConfig,
    *,
    buffer_bytes: int | None = SMALL_BUFFER_BYTES,
) -> Layout:
    """The layout of one agent ``(state, key)`` under ``config``: every leaf's place in the flat
    buffers ``buffers[b] = concat_i ravel(leaf_i)`` over the leaves ``i`` placed in ``b``. A leaf
    goes to the first buffer of its carrier dtype (float32; int32 also carries bool as 0/1 and
    uint32 bit for bit) with room for it within ``buffer_bytes`` (``None``: no limit, one buffer
    per carrier), else to a new buffer. Shapes only."""
    data = jax.random.key_data(key)
    leaves, treedef = jax.tree.flatten((state, data))
    dtypes: list[np.dtype[Any]] = []
    sizes: list[int] = []
    slots = []
    for leaf in leaves:
        dtype = np.dtype(leaf.dtype)
        carrier = _carrier(dtype)
        size = int(np.prod(leaf.shape, dtype=np.int64))
        room = [
            i
            for i, (d, n) in enumerate(zip(dtypes, sizes, strict=True))
            if d == carrier and (buffer_bytes is None or (n + size) * d.itemsize <= buffer_bytes)
        ]
        if room:
            b = room[0]
        else:
            b = len(dtypes)
            dtypes.append(carrier)
            sizes.append(0)
        slots.append(Slot(b, sizes[b], size, tuple(int(d) for d in leaf.shape), dtype))
        sizes[b] += size
    return Layout(
        treedef,
        tuple(slots),
        tuple(dtypes),
        tuple(sizes),
        jax.random.key_impl(key),
        jax.tree.structure(config),
    )


def _to_carrier(leaf: Array, slot: Slot, carrier: np.dtype[Any]) -> Array:
    flat = jnp.ravel(leaf)
    if slot.dtype in _BITCAST:
        return jax.lax.bitcast_convert_type(flat, carrier)
    return flat.astype(carrier)


def _from_carrier(flat: Array, slot: Slot) -> Array:
    if slot.dtype in _BITCAST:
        flat = jax.lax.bitcast_convert_type(flat, slot.dtype)
    elif slot.dtype in _WIDEN:
        flat = flat != 0
    return flat.reshape(slot.shape)


def _pack_one(layout: Layout, state: DynaQState, key: Key) -> Buffers:
    leaves = jax.tree.leaves((state, jax.random.key_data(key)))
    parts: list[list[Array]] = [[] for _ in layout.buffer_dtypes]
    for leaf, slot in zip(leaves, layout.slots, strict=True):
        parts[slot.buffer].append(_to_carrier(leaf, slot, layout.buffer_dtypes[slot.buffer]))
    return tuple(
        jnp.concatenate(p) if p else jnp.zeros((0,), d)
        for p, d in zip(parts, layout.buffer_dtypes, strict=True)
    )


def _unpack_one(layout: Layout, buffers: Buffers) -> tuple[DynaQState, Key]:
    leaves = [
        _from_carrier(jax.lax.slice(buffers[s.buffer], (s.offset,), (s.offset + s.size,)), s)
        for s in layout.slots
    ]
    state, data = jax.tree.unflatten(layout.treedef, leaves)
    return state, jax.random.wrap_key_data(data, impl=layout.key_impl)


@functools.lru_cache(maxsize=64)
def _packer(layout: Layout, batched: bool) -> Callable[[DynaQState, Key], Buffers]:
    fn = functools.partial(_pack_one, layout)
    return cast(Callable[[DynaQState, Key], Buffers], jax.jit(jax.vmap(fn) if batched else fn))


@functools.lru_cache(maxsize=64)
def _unpacker(layout: Layout, batched: bool) -> Callable[[Buffers], tuple[DynaQState, Key]]:
    fn = functools.partial(_unpack_one, layout)
    out = jax.jit(jax.vmap(fn) if batched else fn)
    return cast(Callable[[Buffers], tuple[DynaQState, Key]], out)


def pack(layout: Layout, state: DynaQState, key: Key, *, batched: bool = False) -> Buffers:
    """``(state, key) -> buffers``: ``buffers[c] = concat_i ravel(leaf_i)`` in ``layout``'s order
    (the inverse of ``unpack``, bit for bit). ``batched``: a leading axis ``N`` on every leaf
    and buffer."""
    return _packer(layout, batched)(state, key)


def unpack(layout: Layout, buffers: Buffers, *, batched: bool = False) -> tuple[DynaQState, Key]:
    """``buffers -> (state, key)``: each leaf is ``buffers[c][offset : offset + size]`` reshaped
    (and cast back from its carrier), the inverse of ``pack`` bit for bit."""
    return _unpacker(layout, batched)(buffers)


def config_vector(config: DynaQConfig) -> Float[Array, " L"]:
    """The config's numeric leaves ``(learning_rate, discount, epsilon, kappa, theta, optimism)``
    as one float32 vector, made once per run (the static fields travel in ``Layout.config_def``).
    """
    return jnp.asarray(np.asarray(jax.tree.leaves(config), np.float32))


# -- the host scalars -----------------------------------------------------------------------------

HOST_FIELDS = ("s", "a", "s_next", "terminated", "learn", "s_act", "advance", "r_bits")
"""The int32 vector of one real step, in this order; ``r_bits`` is the float32 reward's bits."""

_F32 = struct.Struct("<f")
_I32 = struct.Struct("<i")


def float32_bits(r: float) -> int:
    """The bits of ``float32(r)`` as a signed int32 (``np.float32(r).view(np.int32)``); ``r``
    must be finite in float32 (checked by the caller)."""
    return int(_I32.unpack(_F32.pack(r))[0])


def host_vector(
    s: int, a: int, r: float, s_next: int, terminated: bool, learn: bool, s_act: int, advance: bool
) -> Int[np.ndarray, " 8"]:
    """One real step's host scalars as the int32 vector ``HOST_FIELDS`` (plain Python values in,
    checked by the caller; no device work)."""
    return np.array(
        (s, a, s_next, terminated, learn, s_act, advance, float32_bits(r)), dtype=np.int32
    )


def host_matrix(
    s: np.ndarray,
    a: np.ndarray,
    r: np.ndarray,
    s_next: np.ndarray,
    terminated: np.ndarray,
    learn: np.ndarray,
    s_act: np.ndarray,
    advance: np.ndarray,
) -> Int[np.ndarray, "N 8"]:
    """``host_vector`` for ``N`` sub-envs at once: row ``i`` holds sub-env ``i``'s scalars."""
    bits = np.asarray(r, np.float64).astype(np.float32).view(np.int32)
    return np.stack(
        [
            np.asarray(s, np.int32),
            np.asarray(a, np.int32),
            np.asarray(s_next, np.int32),
            np.asarray(terminated, np.int32),
            np.asarray(learn, np.int32),
            np.asarray(s_act, np.int32),
            np.asarray(advance, np.int32),
            bits,
        ],
        axis=-1,
    )


# -- the compiled call ----------------------------------------------------------------------------


def _call_one(
    layout: Layout, buffers: Buffers, cfg: Float[Array, " L"], host: Int[Array, " 8"]
) -> tuple[Buffers, Int[Array, ""]]:
    state, key = _unpack_one(layout, buffers)
    config = jax.tree.unflatten(layout.config_def, [cfg[i] for i in range(cfg.shape[0])])
    r = jax.lax.bitcast_convert_type(host[7], jnp.float32)
    flag = host != 0
    state, key, action = fused_step(
        state, key, host[0], host[1], r, host[2], flag[3], flag[4], host[5], flag[6], config
    )
    return _pack_one(layout, state, key), action


AgentCall: TypeAlias = Callable[
    [Buffers, Float[Array, " L"], Int[np.ndarray, "*N 8"]],
    tuple[Buffers, Int[Array, "*N"]],
]


@functools.lru_cache(maxsize=64)
def agent_call(layout: Layout, batched: bool = False) -> AgentCall:
    """The compiled real step ``(buffers, config vector, host) -> (buffers', a')``: unpack, then
    ``fused_step`` (Sutton & Barto 8.2: direct RL, model learning, planning, then
    epsilon-greedy acting), then pack; ``buffers`` are donated (updated in place). ``batched``:
    ``N`` agents, one per row of the buffers and of ``host`` (one config for all).

    One compiled program per ``(layout, batched)``, cached here: the same state shapes and
    config structure never compile twice.
    """
    fn = functools.partial(_call_one, layout)
    if batched:
        fn = jax.vmap(fn, in_axes=(0, None, 0))
    return cast(AgentCall, jax.jit(fn, donate_argnums=(0,)))


__all__ = [
    "HOST_FIELDS",
    "AgentCall",
    "Buffers",
    "Layout",
    "Slot",
    "agent_call",
    "config_vector",
    "float32_bits",
    "fused_step",
    "host_matrix",
    "host_vector",
    "layout_of",
    "pack",
    "unpack",
]
