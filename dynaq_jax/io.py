"""Saving and loading agent states (and their metrics) as one validated ``.npz`` file.

``save(path, state, config, metrics)`` writes a zip archive that ``numpy.load`` can also read:

- ``metadata.json``: format name (``"dynaq-jax"``) and version (``3``), the library version,
  ``config.to_dict()``, ``n_states``, ``n_actions``, the batch shape, and for every array its
  dtype, shape and the SHA-256 digest of its bytes;
- ``state/<leaf>.npy``: one array per leaf of ``DynaQState``, named by its path (``q``, ``r``, ...,
  ``model.t_c``, ``planner.priority``), each of shape ``[*B, *shape]`` where ``shape`` is what
  ``init(n_states, n_actions, config)`` gives and ``B`` the batch shape shared by every leaf
  (``()`` for one agent, ``(seeds,)``, ``(configs, seeds)``, ...);
- ``metrics/<name>.npy``: one array per metric, when metrics were given.

The file is written to a hidden temporary file ``.NAME.<host>-<pid>-<random>.tmp`` in the same
directory and moved into place with ``os.replace``, so a reader never sees a half-written file and
a killed save leaves the target as it was; the next save to the same path removes the temporary
files of earlier saves that were killed (``file_layout.remove_stale_temps``). ``load`` checks
everything it reads (the zip structure, the metadata, the shapes ``init`` implies and each member's
size before reading it, the digests, the values each leaf may hold: ``file_layout.LEAF_RANGES``)
and raises ``DynaQFileError`` naming the file and the problem; it never unpickles.
"""

import contextlib
import json
import math
import os
import re
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from dynaq_jax.config import DynaQConfig
from dynaq_jax.file_layout import (
    ADDED_IN_V2,
    LEGACY_FIELDS,
    METADATA,
    NPY,
    NPY_MAX_HEADER,
    ZIP_ERRORS,
    array_digest,
    array_record,
    expected_leaves,
    fill_rebuilt_leaves,
    forget_temp,
    leaf_problem,
    legacy_expected,
    npy_header,
    remove_stale_temps,
    required_leaves,
    restore_queue,
    short_repr,
    state_leaves,
    state_structure,
    temp_path,
    write_error,
    write_npz,
    zip_problem,
)
from dynaq_jax.state import DynaQState
from dynaq_jax.version import __version__

FORMAT_NAME = "dynaq-jax"
"""The ``format`` entry of every file's metadata."""

FORMAT_VERSION = 3
"""The newest file format version this module writes and reads. Version 3 stores the state's
leaves by path (the transition model and the planner state as sub-pytrees). Versions 1 and 2 held
one flat array per field of the earlier 14-field state (version 2 added ``outcomes`` and
``dropped``); they load into the new layout (``LEGACY_FIELDS``), the arrays a model kind or planner
does not use (a deterministic agent's counts, a queue without sweeping) set aside."""

_STATE = "state/"
_METRICS = "metrics/"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_DTYPE_KINDS = "biufc"  # bool, signed and unsigned int, float, complex: no objects, no pickles

PathLike = str | os.PathLike[str]
Metrics = Mapping[str, Any] | tuple[Any, ...]
"""A flat mapping ``name -> array`` or a ``NamedTuple`` of arrays (stored by field name)."""


class DynaQFileError(ValueError):
    """A file that ``load`` cannot accept; the message names the file and what is wrong.

    Attributes:
        path: the file.
        problem: what is wrong with it.
    """

    def __init__(self, path: PathLike, problem: str) -> None:
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self) -> tuple[Any, ...]:
        return type(self), (self.path, self.problem)


class Loaded(NamedTuple):
    """What ``load`` returns.

    Attributes:
        state: the agent state, as JAX arrays with the saved dtypes (batched as it was saved).
        config: the config, rebuilt with ``DynaQConfig.from_dict`` (so validated).
        metrics: the metrics as NumPy arrays, in the order saved, or ``None`` if none were saved.
        metadata: the parsed ``metadata.json``.
    """

    state: DynaQState
    config: DynaQConfig
    metrics: dict[str, npt.NDArray[Any]] | None
    metadata: dict[str, Any]


# -- helpers --------------------------------------------------------------------------------------


def _same_dtype(a: np.dtype[Any], b: np.dtype[Any]) -> bool:
    """Equal up to byte order (files are little-endian; the host may not be)."""
    return a.newbyteorder("=") == b.newbyteorder("=")


def _to_host(where: str, name: str, value: Any) -> npt.NDArray[Any]:
    """A contiguous little-endian NumPy copy of ``value``; plain numeric dtypes only."""
    if isinstance(value, jax.core.Tracer):
        raise TypeError(f"{where}: {name} is a JAX tracer; call save outside jit/vmap")
    arr = np.asarray(jax.device_get(value))
    if arr.dtype.kind not in _DTYPE_KINDS or np.dtype(arr.dtype.str) != arr.dtype:
        raise TypeError(
            f"{where}: {name} has dtype {arr.dtype}; only bool, integer, float and complex arrays "
            "can be saved"
        )
    return np.asarray(arr.astype(arr.dtype.newbyteorder("<"), copy=False), order="C")


def _metric_items(metrics: Metrics) -> list[tuple[str, Any]]:
    fields = getattr(metrics, "_fields", None)
    if isinstance(metrics, tuple) and fields is not None:
        return list(zip(fields, metrics, strict=True))
    if isinstance(metrics, Mapping):
        return list(metrics.items())
    raise TypeError(
        "save: metrics must be a mapping name -> array or a NamedTuple, "
        f"got {type(metrics).__name__}"
    )


def _state_arrays(state: DynaQState, config: DynaQConfig) -> tuple[dict[str, Any], tuple[int, ...]]:
    """Host copies of the state's arrays and their common batch shape; checked against ``init``."""
    q = np.shape(state.q)
    if len(q) < 2:
        raise ValueError(f"save: state.q must have shape [*batch, S, A], got {q}")
    n_s, n_a = state.n_states, state.n_actions
    specs = expected_leaves(n_s, n_a, config)
    leaves = state_leaves(state)
    if set(leaves) != set(specs):
        raise ValueError(
            f"save: the state's leaves {sorted(leaves)} are not those init makes for this config "
            f"{sorted(specs)} (a state of another model kind or planner?)"
        )
    arrays: dict[str, Any] = {}
    batch: tuple[int, ...] | None = None
    for f, spec in specs.items():
        arr = _to_host("save", f"state.{f}", leaves[f])
        n_batch = arr.ndim - len(spec.shape)
        if n_batch < 0 or arr.shape[n_batch:] != spec.shape:
            raise ValueError(
                f"save: state.{f} has shape {arr.shape}, but n_states={n_s}, n_actions={n_a} "
                f"require [*batch, {', '.join(map(str, spec.shape))}]"
            )
        if batch is None:
            batch = arr.shape[:n_batch]
        elif arr.shape[:n_batch] != batch:
            raise ValueError(
                f"save: state.{f} has batch shape {arr.shape[:n_batch]}, other fields {batch}; "
                "every field must share the same leading batch dimensions"
            )
        if not _same_dtype(arr.dtype, spec.dtype):
            raise ValueError(f"save: state.{f} has dtype {arr.dtype}, init makes {spec.dtype}")
        problem = leaf_problem(f, arr, n_s, n_a)
        if problem is not None:  # load would refuse the file
            raise ValueError(f"save: state.{f} {problem}")
        arrays[f] = arr
    return arrays, batch if batch is not None else ()


# -- save -----------------------------------------------------------------------------------------


def save(
    path: PathLike,
    state: DynaQState,
    config: DynaQConfig,
    metrics: Metrics | None = None,
    *,
    compress: bool = True,
) -> Path:
    """Write ``state``, ``config`` and optional ``metrics`` to one ``.npz`` file, atomically.

    Args:
        path: the file; ``.npz`` is appended when the name does not end in ``.npz`` in any
            case (``x`` -> ``x.npz``; ``x.NPZ`` is kept). An existing file is replaced; the
            directory must exist. Temporary files left by earlier saves to this path that were
            killed are removed.
        state: one agent or a batch: every field shaped ``[*B, *init_shape]`` with the same ``B``.
        config: the agent's config (one, or stacked for a sweep); stored as ``config.to_dict()``.
        metrics: a flat mapping ``name -> array`` or a ``NamedTuple`` of arrays (stored by field
            name); names are letters, digits, ``_``, ``.``, ``-``.
        compress: deflate the members (the ``T_c`` prior compresses very well).

    Returns:
        The path written.

    Raises:
        TypeError: ``state``, ``config`` or ``metrics`` of the wrong kind, JAX tracers, or
            non-numeric dtypes.
        ValueError: inconsistent shapes or dtypes, bad metric names, values ``load`` would
            refuse (a non-finite ``q``, an index out of range: ``file_layout.LEAF_RANGES``).
        OSError: the file cannot be written (the message and ``filename`` name ``path``).
    """
    if not isinstance(state, DynaQState):
        raise TypeError(f"save: state must be a DynaQState, got {type(state).__name__}")
    if not isinstance(config, DynaQConfig):
        raise TypeError(f"save: config must be a DynaQConfig, got {type(config).__name__}")
    if any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(config)):
        raise TypeError("save: config holds JAX tracers; call save outside jit/vmap")

    fields, batch = _state_arrays(state, config)
    arrays = {_STATE + f: arr for f, arr in fields.items()}
    metric_meta: dict[str, Any] | None = None
    if metrics is not None:
        metric_meta = {}
        for name, value in _metric_items(metrics):
            if not isinstance(name, str) or not _NAME.match(name):
                raise ValueError(
                    f"save: metric name {name!r} must be letters, digits, '_', '.' or '-' "
                    "(not starting with '.' or '-')"
                )
            arr = _to_host("save", f"metrics[{name!r}]", value)
            arrays[_METRICS + name] = arr
            metric_meta[name] = array_record(arr)

    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "config": config.to_dict(),
        "n_states": state.n_states,
        "n_actions": state.n_actions,
        "batch_shape": list(batch),
        "state": {f: array_record(arr) for f, arr in fields.items()},
        "metrics": metric_meta,
    }
    meta_bytes = json.dumps(metadata, indent=1, allow_nan=False).encode("utf-8")

    out = Path(path)
    if out.suffix.lower() != ".npz":
        out = out.with_name(out.name + ".npz")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"save: directory {out.parent} does not exist")
    remove_stale_temps(out)
    tmp = temp_path(out)
    try:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(tmp, flags, 0o666), "wb") as fh:
            write_npz(fh, meta_bytes, arrays, compress)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException as e:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(e, OSError):
            raise write_error(e, out) from e
        raise
    finally:
        forget_temp(tmp)
    with contextlib.suppress(OSError, AttributeError):  # make the rename durable (POSIX)
        dir_fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return out


# -- load -----------------------------------------------------------------------------------------

MAX_METADATA_BYTES = 64 * 2**20
"""The largest ``metadata.json`` read."""


def _read_member(path: Path, zf: zipfile.ZipFile, member: str, what: str, limit: int) -> bytes:
    """The bytes of ``member`` (CRC checked), refused before reading if it claims > ``limit``."""
    size = zf.getinfo(member).file_size
    if size > limit:
        raise DynaQFileError(
            path, f"{what} claims {size} bytes, more than its metadata allows ({limit})"
        )
    try:
        return zf.read(member)
    except ZIP_ERRORS as e:
        raise DynaQFileError(path, f"{what} is truncated or corrupted ({e})") from e


def _is_int(value: object, lo: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= lo


def _entry(path: Path, label: str, entry: object) -> tuple[np.dtype[Any], tuple[int, ...], str]:
    """Parse one ``{dtype, shape, sha256}`` record of the metadata."""
    dtype, shape, digest = None, None, None
    if isinstance(entry, dict) and set(entry) == {"dtype", "shape", "sha256"}:
        shape, digest = entry["shape"], entry["sha256"]
        if isinstance(shape, list) and all(_is_int(d, 0) for d in shape):
            with contextlib.suppress(TypeError, ValueError, SyntaxError):
                dtype = np.dtype(entry["dtype"]) if isinstance(entry["dtype"], str) else None
    if dtype is None or shape is None or not isinstance(digest, str):
        raise DynaQFileError(
            path, f"malformed metadata: the record of {label} is {short_repr(entry)}"
        )
    if dtype.kind not in _DTYPE_KINDS:
        raise DynaQFileError(path, f"{label} has unsupported dtype {dtype.str!r}")
    return dtype, tuple(shape), digest


Record = tuple[np.dtype[Any], tuple[int, ...], str]


def _checked_array(
    path: Path, member: str, label: str, record: Record, data: bytes
) -> npt.NDArray[Any]:
    """The array in ``data`` (``member``'s bytes), checked against its parsed metadata record:
    header (dtype, shape), size, digest. A read-only view of ``data``."""
    dtype, shape, digest = record
    count = math.prod(shape)
    try:
        got_dtype, got_shape, offset = npy_header(data)
    except ValueError as e:
        raise DynaQFileError(path, f"array {member!r} is truncated or corrupted ({e})") from e
    if got_shape != shape:
        raise DynaQFileError(
            path, f"{label} has shape {got_shape} in the archive, but the metadata records {shape}"
        )
    if got_dtype != dtype:
        raise DynaQFileError(
            path, f"{label} has dtype {got_dtype} in the archive, but the metadata records {dtype}"
        )
    if len(data) - offset != count * dtype.itemsize:
        raise DynaQFileError(
            path,
            f"array {member!r} is truncated or corrupted ({len(data) - offset} bytes of data, "
            f"{count * dtype.itemsize} expected)",
        )
    arr = np.frombuffer(data, dtype, count=count, offset=offset).reshape(shape)
    if array_digest(arr) != digest:
        raise DynaQFileError(
            path, f"{label} does not match its recorded digest: the file was modified or corrupted"
        )
    return arr


def _names(members: list[str], prefix: str) -> list[str]:
    return [m[len(prefix) : -len(NPY)] for m in members if m.startswith(prefix)]


def _parse_metadata(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    members = zf.namelist()
    if METADATA not in members:
        raise DynaQFileError(
            path, f"no {METADATA} entry: not a dynaq-jax file (a plain numpy .npz?)"
        )
    raw = _read_member(path, zf, METADATA, f"member {METADATA!r}", MAX_METADATA_BYTES)
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError, JSONDecodeError: ValueErrors
        raise DynaQFileError(path, f"{METADATA} is not valid JSON ({short_repr(e)})") from e
    if not isinstance(meta, dict):
        raise DynaQFileError(path, f"{METADATA} must hold a JSON object, got {type(meta).__name__}")

    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        raise DynaQFileError(
            path, f"not a dynaq-jax file: format is {short_repr(fmt)}, not {FORMAT_NAME!r}"
        )
    version = meta.get("format_version")
    if not isinstance(version, int) or not _is_int(version, 1):
        raise DynaQFileError(
            path,
            f"unknown format version {short_repr(version)} (this dynaq-jax reads {FORMAT_VERSION})",
        )
    if version > FORMAT_VERSION:
        raise DynaQFileError(
            path,
            f"format version {version} is newer than this dynaq-jax reads ({FORMAT_VERSION}); "
            f"the file was written by dynaq-jax {short_repr(meta.get('library_version'))}: upgrade",
        )

    for key in ("n_states", "n_actions"):
        value = meta.get(key)
        if not _is_int(value, 1):
            raise DynaQFileError(
                path,
                f"malformed metadata: {key} must be a positive int, got {short_repr(value)}",
            )
    batch = meta.get("batch_shape")
    if not isinstance(batch, list) or not all(_is_int(d, 0) for d in batch):
        raise DynaQFileError(
            path,
            f"malformed metadata: batch_shape must be a list of ints >= 0, got {short_repr(batch)}",
        )
    if not isinstance(meta.get("config"), dict):
        raise DynaQFileError(path, "malformed metadata: config must be a JSON object")
    if not isinstance(meta.get("state"), dict):
        raise DynaQFileError(path, "malformed metadata: state must map field -> record")
    if meta.get("metrics") is not None and not isinstance(meta["metrics"], dict):
        raise DynaQFileError(path, "malformed metadata: metrics must map name -> record, or null")
    return meta


def load(path: PathLike) -> Loaded:
    """Read a file written by ``save``, checking everything against its metadata.

    Checks, each failing with ``DynaQFileError`` naming the file and the problem: the file exists
    and is an intact zip archive (stored or deflated members whose sizes fit the file);
    ``metadata.json`` is present, valid JSON, of format ``"dynaq-jax"`` and a known version; the
    config is valid (``DynaQConfig`` validation); the archive holds exactly the ``DynaQState``
    fields (and the recorded metrics); every state array has shape ``[*batch_shape,
    *init(n_states, n_actions, config)'s shape]`` and ``init``'s dtype; every array matches its
    recorded dtype, shape (its member's size is checked before it is read) and SHA-256 digest;
    every state array holds values its leaf may hold (indices in range, counts ``>= 0``, floats
    finite: ``file_layout.LEAF_RANGES``; metrics may hold anything). Nothing is unpickled.

    Returns:
        ``Loaded(state, config, metrics, metadata)``; the state's arrays are bit-identical to the
        saved ones.
    """
    path = Path(path)
    if not path.exists():
        hint = ""
        if path.suffix.lower() != ".npz" and path.with_name(path.name + ".npz").exists():
            hint = f" (did you mean {path.name}.npz?)"
        raise DynaQFileError(path, f"no such file{hint}")
    if not path.is_file():
        raise DynaQFileError(path, "not a regular file")
    try:
        size = path.stat().st_size
        zf = zipfile.ZipFile(path)
    except ZIP_ERRORS as e:
        raise DynaQFileError(
            path, f"not a readable .npz archive: not a zip file, or truncated ({e})"
        ) from e
    with zf:
        problem = zip_problem(zf, size)
        if problem is not None:
            raise DynaQFileError(path, problem)
        return _load(path, zf)


def _load(path: Path, zf: zipfile.ZipFile) -> Loaded:
    members = zf.namelist()
    if len(set(members)) != len(members):
        raise DynaQFileError(path, "the archive holds duplicate members")
    meta = _parse_metadata(path, zf)
    for member in members:
        ok = member == METADATA or (member.endswith(NPY) and member.startswith((_STATE, _METRICS)))
        if not ok:
            raise DynaQFileError(path, f"unexpected archive member {member!r}")
    state_meta: dict[str, Any] = meta["state"]
    metric_meta: dict[str, Any] | None = meta["metrics"]
    # The bytes of every recorded array, each member's size checked against its record before
    # it is read; every CRC checked before the rest.
    raw: dict[str, tuple[Record, bytes]] = {}
    for group, records, kind in ((_STATE, state_meta, "state"), (_METRICS, metric_meta, "metrics")):
        for name, entry in (records or {}).items():
            if group + name + NPY in members:
                dtype, shape, digest = _entry(path, f"{kind} array {name!r}", entry)
                limit = math.prod(shape) * dtype.itemsize + NPY_MAX_HEADER + 16
                what = f"array {group + name!r}"
                data = _read_member(path, zf, group + name + NPY, what, limit)
                raw[group + name] = (dtype, shape, digest), data

    try:
        # Saved before DynaQConfig.tau_origin existed: trained with the first-visit stamping.
        meta["config"].setdefault("tau_origin", "first_visit")
        config = DynaQConfig.from_dict(meta["config"])
    except (ValueError, TypeError, RecursionError, OverflowError) as e:
        raise DynaQFileError(path, f"invalid config in metadata: {e}") from e

    n_s, n_a, batch = meta["n_states"], meta["n_actions"], tuple(meta["batch_shape"])
    version = meta["format_version"]
    try:
        target = expected_leaves(n_s, n_a, config)
        specs = target if version >= 3 else legacy_expected(n_s, n_a, config, version)
    except (ValueError, TypeError, OverflowError) as e:
        raise DynaQFileError(
            path, f"malformed metadata: n_states={n_s}, n_actions={n_a} give no valid state ({e})"
        ) from e

    # Which arrays: exactly the DynaQState fields (listed and present), the recorded metrics.
    in_archive = _names(members, _STATE)
    # version 1 predates these fields; their dense-model values are known (empty, zero)
    implied: dict[str, jax.ShapeDtypeStruct] = {}
    if version < 2:
        v2 = legacy_expected(n_s, n_a, config, 2)
        implied = {f: v2[f] for f in ADDED_IN_V2}
    specs = required_leaves(specs, state_meta, in_archive)  # the queue's may be rebuilt
    missing = [f for f in specs if f not in state_meta or f not in in_archive]
    if missing:
        raise DynaQFileError(
            path, f"missing state array(s) {', '.join(map(repr, missing))} (DynaQState field(s))"
        )
    extra = [n for n in dict.fromkeys([*state_meta, *in_archive]) if n not in specs]
    if extra:
        raise DynaQFileError(
            path,
            f"extra state array(s) {', '.join(map(repr, extra))}: not DynaQState leaves "
            f"{tuple(specs)}",
        )
    metric_names = _names(members, _METRICS)
    recorded = list(metric_meta) if metric_meta is not None else []
    unlisted = [n for n in metric_names if n not in recorded]
    if unlisted:
        raise DynaQFileError(
            path, f"metrics array(s) {', '.join(map(repr, unlisted))} not listed in the metadata"
        )
    absent = [n for n in recorded if n not in metric_names]
    if absent:
        raise DynaQFileError(path, f"missing metrics array(s) {', '.join(map(repr, absent))}")

    # Shapes and dtypes that n_states, n_actions and batch_shape imply, then the data itself.
    fields: dict[str, npt.NDArray[Any]] = {}
    for f, spec in specs.items():
        label = f"state array {f!r}"
        dtype, shape, _ = raw[_STATE + f][0]
        want = batch + tuple(spec.shape)
        if shape != want:
            raise DynaQFileError(
                path,
                f"{label} has shape {shape}, but n_states={n_s}, n_actions={n_a} and batch shape "
                f"{batch} require {want}",
            )
        if not _same_dtype(dtype, spec.dtype):
            raise DynaQFileError(path, f"{label} has dtype {dtype}, expected {spec.dtype}")
        arr = _checked_array(path, _STATE + f, label, *raw[_STATE + f])
        fields[f] = arr.astype(spec.dtype, copy=False)
    for f, spec in implied.items():
        fields[f] = np.zeros(batch + tuple(spec.shape), spec.dtype)
    if version < 3:  # the 14 fields of versions 1 and 2 -> the leaves this config's state has
        fields = {LEGACY_FIELDS[f]: x for f, x in fields.items() if LEGACY_FIELDS[f] in target}
        fill_rebuilt_leaves(fields, target, batch)
        if set(fields) != set(target):
            raise DynaQFileError(
                path,
                f"a version-{version} file lacks state leaves {sorted(set(target) - set(fields))}",
            )
        for name, spec in target.items():
            if fields[name].shape != batch + tuple(spec.shape):
                raise DynaQFileError(
                    path,
                    f"a version-{version} file cannot hold this config's state: {name} has shape "
                    f"{fields[name].shape}, the config needs {batch + tuple(spec.shape)} (version "
                    "1 predates the compact model)",
                )
    fill_rebuilt_leaves(fields, target, batch)
    for name, arr in fields.items():  # the values: intact bytes may still be out of range
        problem = leaf_problem(name, arr, n_s, n_a)
        if problem is not None:
            raise DynaQFileError(path, f"state array {name!r} {problem}")
    metrics: dict[str, npt.NDArray[Any]] | None = None
    if metric_meta is not None:
        metrics = {}
        for name in metric_meta:
            member = _METRICS + name
            arr = _checked_array(path, member, f"metrics array {name!r}", *raw[member])
            metrics[name] = np.array(arr, arr.dtype.newbyteorder("="))  # writable, native

    leaves = [jnp.asarray(fields[name]) for name in target]  # init's leaf order
    state = restore_queue(jax.tree.unflatten(state_structure(n_s, n_a, config), leaves), config)
    return Loaded(state=state, config=config, metrics=metrics, metadata=meta)


__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "LEGACY_FIELDS",
    "DynaQFileError",
    "Loaded",
    "load",
    "save",
    "state_leaves",
]
