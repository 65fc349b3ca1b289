"""The on-disk format that ``dynaq_jax.io`` reads and writes.

The layouts of a saved state: version 3 stores ``DynaQState``'s leaves by path; versions 1 and 2
stored one array per field of the earlier 14-field state. Also here: the values a saved leaf may
hold (``LEAF_RANGES``, ``leaf_problem``), the archive (``write_npz``; ``zip_problem`` and the
strict ``npy_header`` for reading it) and the hidden temporary files of ``save`` (``temp_path``,
``remove_stale_temps``).
"""

import ast
import contextlib
import functools
import hashlib
import io
import os
import re
import reprlib
import secrets
import socket
import stat
import struct
import threading
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
import numpy.typing as npt

from dynaq_jax.agent import init
from dynaq_jax.config import DynaQConfig
from dynaq_jax.planners.sweeping import (
    SweepQueue,
    block_maxima,
    predecessor_capacity,
    rebuild_queues,
)
from dynaq_jax.state import DynaQState

METADATA = "metadata.json"
"""The archive member holding the metadata."""
NPY = ".npy"
"""The suffix of every array member."""
ZIP_TIME = (1980, 1, 1, 0, 0, 0)
"""Every member's timestamp (fixed: the same inputs give the same bytes)."""

LEGACY_FIELDS: dict[str, str] = {
    "q": "q",
    "r": "r",
    "terminal": "terminal",
    "visits": "visits",
    "last_visit": "last_visit",
    "pairs": "pairs",
    "n_pairs": "n_pairs",
    "step": "real_steps",
    "t_c": "model.t_c",
    "t_c_cum": "model.t_c_cum",
    "outcomes": "model.outcomes",
    "dropped": "model.dropped",
    "next_state": "model.next_state",
    "priority": "planner.priority",
}
"""Version-1 and -2 field -> version-3 leaf path."""

ADDED_IN_V2 = ("outcomes", "dropped")

REBUILT_LEAVES = ("planner.block_max", "planner.preds", "planner.n_preds", "planner.overflow")
"""The sweeping queue's leaves that ``load`` rebuilds from the rest of the state when a file
lacks them (every version-1 and -2 file, and version-3 files saved before they existed):
``restore_queue``."""


def required_leaves(
    specs: dict[str, jax.ShapeDtypeStruct], state_meta: dict[str, Any], in_archive: list[str]
) -> dict[str, jax.ShapeDtypeStruct]:
    """``specs`` without the ``REBUILT_LEAVES`` that a file neither lists nor holds (saved
    before they existed): ``load`` rebuilds those instead of reading them."""
    return {
        f: spec
        for f, spec in specs.items()
        if f not in REBUILT_LEAVES or f in state_meta or f in in_archive
    }


def fill_rebuilt_leaves(
    fields: dict[str, Any], target: dict[str, jax.ShapeDtypeStruct], batch: tuple[int, ...]
) -> None:
    """Zeros for each of ``REBUILT_LEAVES`` that ``target`` has and ``fields`` lacks (then
    ``restore_queue`` rebuilds them)."""
    for f in REBUILT_LEAVES:
        if f in target and f not in fields:
            fields[f] = np.zeros(batch + tuple(target[f].shape), target[f].dtype)


def restore_queue(state: DynaQState, config: DynaQConfig) -> DynaQState:
    """A loaded state's sweeping queue made whole: its maxima recomputed from its priorities
    (``planners.sweeping.block_maxima``: derived data is never trusted from a file) and, where
    no agent's predecessor lists hold anything (a file saved before they existed, or an agent that
    has seen nothing), the lists rebuilt from the model (``rebuild_queues``, a no-op for the
    latter). Other planners' states are returned as they are."""
    queue = state.planner
    if not isinstance(queue, SweepQueue):
        return state
    if not np.any(np.asarray(queue.n_preds)) and not np.any(np.asarray(queue.overflow)):
        return rebuild_queues(state, config)
    return state._replace(planner=queue._replace(block_max=block_maxima(queue.priority)))


def leaf_name(path: tuple[Any, ...]) -> str:
    """``model.t_c`` for the path of ``state.model.t_c``."""
    return jax.tree_util.keystr(path, simple=True, separator=".")


@functools.lru_cache(maxsize=256)
def _layout(n_states: int, n_actions: int, structure: Any) -> tuple[Any, Any]:
    """``init``'s leaves (by path) and tree structure, cached on the config's tree structure (its
    static fields; the leaves do not change the state's layout)."""
    config = jax.tree.unflatten(structure, [0.0] * structure.num_leaves)
    shapes = jax.eval_shape(lambda: init(n_states, n_actions, config))
    leaves = {leaf_name(p): x for p, x in jax.tree_util.tree_leaves_with_path(shapes)}
    return leaves, jax.tree.structure(shapes)


def expected_leaves(
    n_states: int, n_actions: int, config: DynaQConfig
) -> dict[str, jax.ShapeDtypeStruct]:
    """Shape and dtype of every leaf of one agent's ``DynaQState`` (by path), as ``init`` makes
    them."""
    return dict(_layout(n_states, n_actions, jax.tree.structure(config))[0])


def state_structure(n_states: int, n_actions: int, config: DynaQConfig) -> Any:
    """The tree structure of the ``DynaQState`` that ``init`` makes (leaves in the order of
    ``expected_leaves``)."""
    return _layout(n_states, n_actions, jax.tree.structure(config))[1]


def legacy_expected(
    n_states: int, n_actions: int, config: DynaQConfig, version: int
) -> dict[str, jax.ShapeDtypeStruct]:
    """Shape and dtype of every field of the 14-field state of format versions 1 and 2."""
    k = config.outcome_slots
    sa, f32, i32 = (n_states, n_actions), np.dtype(np.float32), np.dtype(np.int32)

    def spec(shape: tuple[int, ...], dtype: np.dtype[Any]) -> jax.ShapeDtypeStruct:
        return jax.ShapeDtypeStruct(shape, dtype)  # type: ignore[no-untyped-call]

    out = {
        "q": spec(sa, f32),
        "t_c": spec((*sa, k or n_states), f32),
        "t_c_cum": spec((*sa, k or n_states), f32),
        "outcomes": spec((*sa, k) if k else (0,), i32),
        "r": spec(sa, f32),
        "terminal": spec((n_states,), np.dtype(np.bool_)),
        "next_state": spec(sa, i32),
        "visits": spec(sa, i32),
        "last_visit": spec(sa, i32),
        "pairs": spec((n_states * n_actions + n_actions,), i32),
        "n_pairs": spec((), i32),
        "step": spec((), i32),
        "priority": spec(sa, f32),
        "dropped": spec((), i32),
    }
    if version < 2:
        for f in ADDED_IN_V2:
            del out[f]
    return out


def state_leaves(state: DynaQState) -> dict[str, Any]:
    """Every leaf of ``state`` by its path name (``q``, ..., ``model.t_c``)."""
    return {leaf_name(p): x for p, x in jax.tree_util.tree_leaves_with_path(state)}


# -- the values a leaf may hold -------------------------------------------------------------------


class LeafRange(NamedTuple):
    """The values an integer or float leaf may hold: ``low <= x`` and, with ``high``,
    ``x < high(n_states, n_actions)``.

    Attributes:
        low: the smallest value allowed.
        high: the exclusive upper bound from ``(n_states, n_actions)``, or ``None``.
        what: what the values are, for the message.
    """

    low: int
    high: Callable[[int, int], int] | None
    what: str


LEAF_RANGES: dict[str, LeafRange] = {
    "visits": LeafRange(0, None, "visit counts"),
    "last_visit": LeafRange(0, None, "real-step numbers"),
    "pairs": LeafRange(0, lambda s, a: s * a, "flat pair indices s * n_actions + a"),
    "n_pairs": LeafRange(0, lambda s, a: s * a + a + 1, "a length of pairs"),
    "real_steps": LeafRange(0, None, "a step count"),
    "model.t_c": LeafRange(0, None, "transition counts"),
    "model.t_c_cum": LeafRange(0, None, "running sums of counts"),
    "model.outcomes": LeafRange(0, lambda s, a: s, "state indices"),
    "model.dropped": LeafRange(0, None, "a count"),
    "model.next_state": LeafRange(0, lambda s, a: s, "state indices"),
    "planner.priority": LeafRange(0, None, "priorities"),
    "planner.block_max": LeafRange(0, None, "priorities"),
    "planner.preds": LeafRange(0, lambda s, a: s * a, "flat pair indices s * n_actions + a"),
    "planner.n_preds": LeafRange(
        0, lambda s, a: predecessor_capacity(s, a) + 1, "lengths of predecessor lists"
    ),
    "planner.overflow": LeafRange(0, None, "a count"),
}
"""Leaf path -> its range, for every leaf a built-in model kind or planner keeps. Beyond these,
every float leaf must be finite (``q``, ``r``, and the leaves of any plug-in) and every bool leaf
must hold the bytes 0 or 1; the integer leaves of a plug-in are not checked."""


def leaf_problem(name: str, arr: np.ndarray[Any, Any], n_states: int, n_actions: int) -> str | None:
    """What is wrong with the values of leaf ``name`` (``'holds nan at index (0, 1): must be
    finite'``), or ``None`` when every value is one the leaf may hold (``LEAF_RANGES``)."""
    if arr.dtype.kind == "b":
        raw = arr.view(np.uint8)
        return _first_bad(raw, raw > 1, "must be a bool (the byte 0 or 1)")
    rule = LEAF_RANGES.get(name)
    if arr.dtype.kind == "f":
        problem = _first_bad(arr, ~np.isfinite(arr), "must be finite")
        if problem is not None or rule is None:
            return problem
    if rule is None or arr.dtype.kind not in "iuf":
        return None
    high = None if rule.high is None else rule.high(n_states, n_actions)
    bad = arr < rule.low if high is None else (arr < rule.low) | (arr >= high)
    span = f">= {rule.low}" if high is None else f"in [{rule.low}, {high})"
    sizes = "" if high is None else f" for n_states={n_states}, n_actions={n_actions}"
    return _first_bad(arr, bad, f"{rule.what} must be {span}{sizes}")


def _first_bad(arr: np.ndarray[Any, Any], bad: np.ndarray[Any, Any], must: str) -> str | None:
    if not bad.any():
        return None
    at = np.unravel_index(int(np.argmax(bad)), arr.shape)
    index = tuple(int(i) for i in at)
    return f"holds {arr[index].item()!r} at index {index} ({int(bad.sum())} bad value(s)): {must}"


# -- a stored .npy member -------------------------------------------------------------------------

NPY_MAX_HEADER = 10_000
"""The longest ``.npy`` header read (``numpy.load``'s default limit; ``save`` writes ~120
bytes)."""

_NPY_MAGIC = b"\x93NUMPY"
_NPY_LENGTH = {(1, 0): "<H", (2, 0): "<I", (3, 0): "<I"}
_NPY_PLAIN = re.compile(
    r"\{'descr': '(?P<descr>[<>|=]?[a-zA-Z][0-9]{0,2})', 'fortran_order': False, "
    r"'shape': \((?P<shape>|[0-9]{1,19},|[0-9]{1,19}(?:, [0-9]{1,19})+)\), \} *\n\Z"
)


def npy_header(data: bytes) -> tuple[np.dtype[Any], tuple[int, ...], int]:
    """``(dtype, shape, offset of the data)`` of the ``.npy`` bytes ``data``, parsed strictly,
    without allocating anything the header claims.

    Accepts what ``numpy.lib.format.write_array`` writes for a C-ordered array of a plain dtype
    (a string ``descr``); anything else raises ``ValueError`` saying what (never another
    exception: the header is parsed with size limits and ``ast.literal_eval`` under guard).
    """
    if len(data) < 10 or data[:6] != _NPY_MAGIC:
        raise ValueError("not a .npy array (no NUMPY magic)")
    version = (data[6], data[7])
    if version not in _NPY_LENGTH:
        raise ValueError(f".npy format version {version[0]}.{version[1]} is not supported")
    fmt = _NPY_LENGTH[version]
    start = 8 + struct.calcsize(fmt)
    if len(data) < start:
        raise ValueError("the .npy header is truncated")
    (length,) = struct.unpack(fmt, data[8:start])
    if length > NPY_MAX_HEADER or start + length > len(data):
        raise ValueError(f"the .npy header claims {length} bytes: truncated or corrupted")
    text = data[start : start + length].decode(
        "utf-8" if version >= (3, 0) else "latin1", "replace"
    )
    plain = _NPY_PLAIN.match(text)  # what write_array writes for a plain C-ordered array
    if plain is not None:
        shape = tuple(int(d) for d in plain["shape"].replace(",", " ").split())
        header: object = {"descr": plain["descr"], "fortran_order": False, "shape": shape}
    else:
        try:
            header = ast.literal_eval(text)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError) as e:
            raise ValueError(f"the .npy header is not a literal ({type(e).__name__})") from None
    if not isinstance(header, dict) or set(header) != {"descr", "fortran_order", "shape"}:
        raise ValueError("the .npy header is not a dict of descr, fortran_order and shape")
    descr, fortran, shape = header["descr"], header["fortran_order"], header["shape"]
    if fortran is not False:
        raise ValueError("the .npy array is not stored in C order")
    if not isinstance(shape, tuple) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ValueError(f"the .npy header's shape {shape!r:.80} is not a tuple of ints >= 0")
    if not isinstance(descr, str):
        raise ValueError(f"the .npy header's dtype {descr!r:.80} is not a plain dtype")
    try:
        dtype = np.dtype(descr)
    except (TypeError, ValueError, SyntaxError) as e:
        raise ValueError(f"the .npy header's dtype {descr!r:.80} is not a dtype ({e})") from None
    if dtype.hasobject:
        raise ValueError(
            "the array holds Python objects, which are never unpickled (allow_pickle=False)"
        )
    return dtype, shape, start + length


# -- the archive ----------------------------------------------------------------------------------


def array_digest(arr: npt.NDArray[Any]) -> str:
    """SHA-256 of the array's bytes in C order, as stored."""
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return hashlib.sha256(flat.data).hexdigest()


def array_record(arr: npt.NDArray[Any]) -> dict[str, Any]:
    """The metadata record of ``arr``: its dtype, shape and digest."""
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": array_digest(arr)}


def write_npz(
    fh: io.BufferedWriter, metadata: bytes, arrays: dict[str, npt.NDArray[Any]], compress: bool
) -> None:
    """The archive: ``metadata.json``, then ``<name>.npy`` for each of ``arrays``."""
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fh, "w", compression=method, allowZip64=True) as zf:
        info = zipfile.ZipInfo(METADATA, date_time=ZIP_TIME)
        info.compress_type = method
        info.external_attr = 0o644 << 16
        zf.writestr(info, metadata)
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + NPY, date_time=ZIP_TIME)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


ZIP_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    EOFError,
    OSError,
    ValueError,
    zlib.error,
    struct.error,
    NotImplementedError,  # an unknown zip version, compression method or flag
    RuntimeError,  # an encrypted member
    OverflowError,
)
"""What reading a corrupted zip archive or member may raise (``zipfile``, ``zlib``, I/O)."""

DEFLATE_RATIO = 1032
"""Deflate's largest expansion of its input."""


def zip_problem(zf: zipfile.ZipFile, size: int) -> str | None:
    """What is wrong with the archive's directory, read before any member is: encryption, a
    compression other than stored or deflated, sizes that a file of ``size`` bytes cannot hold
    (so reading a member never allocates more than deflate could expand the file to), a local
    header that does not repeat its central directory record (``local_header_problem``)."""
    for info in zf.infolist():
        name = info.filename
        if info.flag_bits & 0x61:  # encrypted, strongly encrypted, patched data
            return f"member {name!r} has zip flags {info.flag_bits:#x}: corrupted"
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            return f"member {name!r} uses zip compression method {info.compress_type}: corrupted"
        stored = info.compress_type == zipfile.ZIP_STORED
        if (
            (stored and info.file_size != info.compress_size)
            or info.file_size > DEFLATE_RATIO * info.compress_size + 64
            or not 0 <= info.header_offset <= size - info.compress_size
        ):
            return (
                f"member {name!r} claims {info.file_size} bytes ({info.compress_size} compressed) "
                "that the file cannot hold: truncated or corrupted"
            )
        try:
            problem = local_header_problem(zf, info)
        except (OSError, ValueError, struct.error) as e:
            problem = f"unreadable local header ({e})"
        if problem is not None:
            return f"member {name!r}: {problem}: corrupted"
    return None


_LOCAL = struct.Struct("<4s2B4H3L2H")  # a zip local file header (APPNOTE 4.3.7)


def local_header_problem(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
    """How ``info``'s local header disagrees with its central directory record (flags, method,
    time, CRC, sizes: a zip that readers of either would read differently), or ``None``. With a
    data descriptor (flag 0x8) the local CRC and sizes are not compared."""
    if zf.fp is None:
        return "the archive is closed"
    zf.fp.seek(info.header_offset)
    head = zf.fp.read(_LOCAL.size)
    if len(head) != _LOCAL.size or head[:4] != b"PK\x03\x04":
        return "no local header where the directory points"
    _, _, _, flags, method, time_, date, crc, csize, usize, n_name, n_extra = _LOCAL.unpack(head)
    zf.fp.seek(n_name, 1)
    extra = zf.fp.read(n_extra)
    y, mo, d, h, mi, sec = info.date_time
    central = (info.flag_bits, info.compress_type, (h << 11) | (mi << 5) | (sec // 2))
    if (flags, method, time_) != central or date != ((y - 1980) << 9) | (mo << 5) | d:
        return "the local header's flags, method or time differ from the directory's"
    if flags & 0x8:
        return None
    sizes = [usize, csize]
    while len(extra) >= 4 and 0xFFFFFFFF in sizes:  # zip64: the sizes in an extra record
        tag, length = struct.unpack("<HH", extra[:4])
        if tag == 1:
            big = extra[4 : 4 + length]
            for i in (0, 1):
                if sizes[i] == 0xFFFFFFFF and len(big) >= 8:
                    sizes[i], big = int.from_bytes(big[:8], "little"), big[8:]
            break
        extra = extra[4 + length :]
    if (crc, sizes[1], sizes[0]) != (info.CRC, info.compress_size, info.file_size):
        return "the local header's CRC or sizes differ from the directory's"
    return None


def short_repr(value: object) -> str:
    """A repr of at most ~100 characters (metadata is untrusted: maybe huge, maybe deep)."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 100


# -- the temporary files of save -----------------------------------------------------------------

STALE_TEMP_SECONDS = 3600.0
"""A temporary file untouched this long is stale whoever wrote it (a live save writes to its own
file continuously, so its modification time stays recent)."""

_HOST = hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]
_TEMP = re.compile(r"(?:(?P<host>[0-9a-f]{8})-(?P<pid>[0-9]{1,10})-)?[0-9a-f]{12}\Z")
_LIVE: set[str] = set()  # the temporary files this process is writing now
_LIVE_LOCK = threading.Lock()


def temp_path(out: Path) -> Path:
    """``.NAME.<host>-<pid>-<random>.tmp`` next to ``out``, registered as live."""
    tmp = out.with_name(f".{out.name}.{_HOST}-{os.getpid()}-{secrets.token_hex(6)}.tmp")
    with _LIVE_LOCK:
        _LIVE.add(str(tmp))
    return tmp


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (a zombie counts until it is reaped)."""
    if os.name != "posix":  # no signal 0 to probe with: only the age rule applies
        return True
    if pid < 1:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def remove_stale_temps(out: Path) -> None:
    """Remove the temporary files of earlier saves to ``out`` that were killed mid-write.

    A temporary file of this host is stale when its writer's pid is dead (or it is this process's
    pid and not one of its live saves); any temporary file (another host's, or one from before
    names held the pid) is stale once untouched for ``STALE_TEMP_SECONDS``. So a concurrent save
    to the same path, in this process or another, never loses its file (the later ``os.replace``
    wins). Errors are ignored: the save goes on.
    """
    prefix = f".{out.name}."
    with contextlib.suppress(OSError):
        names = [n for n in os.listdir(out.parent) if n.startswith(prefix) and n.endswith(".tmp")]
        for name in names:
            m = _TEMP.match(name[len(prefix) : -len(".tmp")])
            tmp = out.with_name(name)
            if m is None:
                continue
            with contextlib.suppress(OSError):
                st = os.lstat(tmp)
                stale = time.time() - st.st_mtime > STALE_TEMP_SECONDS
                if m["host"] == _HOST and not stale:
                    pid = int(m["pid"])
                    with _LIVE_LOCK:
                        mine = str(tmp) in _LIVE
                    stale = not mine if pid == os.getpid() else not _pid_alive(pid)
                if stale and stat.S_ISREG(st.st_mode):
                    os.unlink(tmp)


def write_error(e: OSError, out: Path) -> OSError:
    """``e`` (same type and errno) naming the target ``out``, not the temporary file."""
    message = f"save: cannot write {out}: {e.strerror or e}"
    return type(e)(message) if e.errno is None else type(e)(e.errno, message, str(out))


def forget_temp(tmp: Path) -> None:
    """``tmp`` is no longer being written (moved into place, or removed)."""
    with _LIVE_LOCK:
        _LIVE.discard(str(tmp))


__all__ = [
    "ADDED_IN_V2",
    "DEFLATE_RATIO",
    "LEAF_RANGES",
    "LEGACY_FIELDS",
    "METADATA",
    "NPY",
    "NPY_MAX_HEADER",
    "REBUILT_LEAVES",
    "STALE_TEMP_SECONDS",
    "ZIP_ERRORS",
    "ZIP_TIME",
    "LeafRange",
    "array_digest",
    "array_record",
    "expected_leaves",
    "fill_rebuilt_leaves",
    "forget_temp",
    "leaf_name",
    "leaf_problem",
    "legacy_expected",
    "local_header_problem",
    "npy_header",
    "remove_stale_temps",
    "required_leaves",
    "restore_queue",
    "short_repr",
    "state_leaves",
    "state_structure",
    "temp_path",
    "write_error",
    "write_npz",
    "zip_problem",
]
