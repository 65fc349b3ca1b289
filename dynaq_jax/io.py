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

The file is written to a temporary file in the same directory and moved into place with
``os.replace``, so a reader never sees a half-written file. ``load`` checks everything it reads
(against the metadata, against the shapes ``init`` implies, and against the digests) and raises
``DynaQFileError`` naming the file and the problem; it never unpickles (``allow_pickle=False``).
"""

import contextlib
import hashlib
import io
import json
import os
import re
import secrets
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import numpy.typing as npt

from dynaq_jax.agent import init
from dynaq_jax.config import DynaQConfig
from dynaq_jax.file_layout import (
    ADDED_IN_V2,
    LEGACY_FIELDS,
    expected_leaves,
    leaf_name,
    legacy_expected,
    state_leaves,
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

_METADATA = "metadata.json"
_STATE = "state/"
_METRICS = "metrics/"
_NPY = ".npy"
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*\Z")
_DTYPE_KINDS = "biufc"  # bool, signed and unsigned int, float, complex: no objects, no pickles
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed member timestamps: the same inputs give the same bytes

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


def _digest(arr: npt.NDArray[Any]) -> str:
    """SHA-256 of the array's bytes in C order, as stored."""
    flat = np.ascontiguousarray(arr).reshape(-1).view(np.uint8)
    return hashlib.sha256(flat.data).hexdigest()


def _describe(arr: npt.NDArray[Any]) -> dict[str, Any]:
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": _digest(arr)}


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
        arrays[f] = arr
    return arrays, batch if batch is not None else ()


def _write_npz(
    fh: io.BufferedWriter, metadata: bytes, arrays: dict[str, npt.NDArray[Any]], compress: bool
) -> None:
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(fh, "w", compression=method, allowZip64=True) as zf:
        info = zipfile.ZipInfo(_METADATA, date_time=_ZIP_TIME)
        info.compress_type = method
        info.external_attr = 0o644 << 16
        zf.writestr(info, metadata)
        for name, arr in arrays.items():
            info = zipfile.ZipInfo(name + _NPY, date_time=_ZIP_TIME)
            info.compress_type = method
            info.external_attr = 0o644 << 16
            with zf.open(info, "w", force_zip64=True) as member:
                np.lib.format.write_array(member, arr, allow_pickle=False)


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
        path: the file; ``.npz`` is appended when the name lacks it (as ``numpy.savez`` does).
            An existing file is replaced; the directory must exist.
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
        ValueError: inconsistent shapes or dtypes, bad metric names.
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
            metric_meta[name] = _describe(arr)

    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "library_version": __version__,
        "config": config.to_dict(),
        "n_states": state.n_states,
        "n_actions": state.n_actions,
        "batch_shape": list(batch),
        "state": {f: _describe(arr) for f, arr in fields.items()},
        "metrics": metric_meta,
    }
    meta_bytes = json.dumps(metadata, indent=1, allow_nan=False).encode("utf-8")

    out = Path(path)
    if out.suffix != ".npz":
        out = out.with_name(out.name + ".npz")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"save: directory {out.parent} does not exist")
    tmp = out.with_name(f".{out.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            _write_npz(fh, meta_bytes, arrays, compress)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError, AttributeError):  # make the rename durable (POSIX)
        dir_fd = os.open(out.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    return out


# -- load -----------------------------------------------------------------------------------------

_CORRUPT = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError, zlib.error)


def _read_member(path: Path, zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except _CORRUPT as e:
        raise DynaQFileError(path, f"member {name!r} is truncated or corrupted ({e})") from e


def _read_array(path: Path, zf: zipfile.ZipFile, name: str) -> npt.NDArray[Any]:
    try:
        with zf.open(name + _NPY) as member:
            arr = np.lib.format.read_array(member, allow_pickle=False)
            if member.read(1):
                raise ValueError("trailing bytes after the array data")
    except _CORRUPT as e:
        raise DynaQFileError(path, f"array {name!r} is truncated or corrupted ({e})") from e
    return arr


def _is_int(value: object, lo: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= lo


def _entry(path: Path, label: str, entry: object) -> tuple[np.dtype[Any], tuple[int, ...], str]:
    """Parse one ``{dtype, shape, sha256}`` record of the metadata."""
    bad = DynaQFileError(path, f"malformed metadata: the record of {label} is {entry!r}")
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "sha256"}:
        raise bad
    dtype_s, shape, digest = entry["dtype"], entry["shape"], entry["sha256"]
    if not isinstance(dtype_s, str) or not isinstance(digest, str):
        raise bad
    if not isinstance(shape, list) or not all(_is_int(d, 0) for d in shape):
        raise bad
    try:
        dtype = np.dtype(dtype_s)
    except TypeError:
        raise bad from None
    if dtype.kind not in _DTYPE_KINDS:
        raise DynaQFileError(path, f"{label} has unsupported dtype {dtype_s!r}")
    return dtype, tuple(shape), digest


def _checked_array(
    path: Path, zf: zipfile.ZipFile, member: str, label: str, entry: object
) -> npt.NDArray[Any]:
    """Read ``member`` and check it against its metadata record: dtype, shape, digest."""
    dtype, shape, digest = _entry(path, label, entry)
    arr = _read_array(path, zf, member)
    if arr.shape != shape:
        raise DynaQFileError(
            path, f"{label} has shape {arr.shape} in the archive, but the metadata records {shape}"
        )
    if arr.dtype != dtype:
        raise DynaQFileError(
            path, f"{label} has dtype {arr.dtype} in the archive, but the metadata records {dtype}"
        )
    if _digest(arr) != digest:
        raise DynaQFileError(
            path, f"{label} does not match its recorded digest: the file was modified or corrupted"
        )
    return arr


def _names(members: list[str], prefix: str) -> list[str]:
    return [m[len(prefix) : -len(_NPY)] for m in members if m.startswith(prefix)]


def _parse_metadata(path: Path, zf: zipfile.ZipFile) -> dict[str, Any]:
    members = zf.namelist()
    if _METADATA not in members:
        raise DynaQFileError(
            path, f"no {_METADATA} entry: not a dynaq-jax file (a plain numpy .npz?)"
        )
    raw = _read_member(path, zf, _METADATA)
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise DynaQFileError(path, f"{_METADATA} is not valid JSON ({e})") from e
    if not isinstance(meta, dict):
        raise DynaQFileError(
            path, f"{_METADATA} must hold a JSON object, got {type(meta).__name__}"
        )

    fmt = meta.get("format")
    if fmt != FORMAT_NAME:
        raise DynaQFileError(path, f"not a dynaq-jax file: format is {fmt!r}, not {FORMAT_NAME!r}")
    version = meta.get("format_version")
    if not isinstance(version, int) or not _is_int(version, 1):
        raise DynaQFileError(
            path, f"unknown format version {version!r} (this dynaq-jax reads {FORMAT_VERSION})"
        )
    if version > FORMAT_VERSION:
        raise DynaQFileError(
            path,
            f"format version {version} is newer than this dynaq-jax reads ({FORMAT_VERSION}); "
            f"the file was written by dynaq-jax {meta.get('library_version')!r}: upgrade",
        )

    for key in ("n_states", "n_actions"):
        if not _is_int(meta.get(key), 1):
            raise DynaQFileError(
                path, f"malformed metadata: {key} must be a positive int, got {meta.get(key)!r}"
            )
    batch = meta.get("batch_shape")
    if not isinstance(batch, list) or not all(_is_int(d, 0) for d in batch):
        raise DynaQFileError(
            path, f"malformed metadata: batch_shape must be a list of ints >= 0, got {batch!r}"
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
    and is an intact zip archive; ``metadata.json`` is present, valid JSON, of format
    ``"dynaq-jax"`` and a known version; the config is valid (``DynaQConfig`` validation); the
    archive holds exactly the ``DynaQState`` fields (and the recorded metrics); every state array
    has shape ``[*batch_shape, *init(n_states, n_actions, config)'s shape]`` and ``init``'s dtype;
    every array matches its recorded dtype, shape and SHA-256 digest. Nothing is unpickled.

    Returns:
        ``Loaded(state, config, metrics, metadata)``; the state's arrays are bit-identical to the
        saved ones.
    """
    path = Path(path)
    if not path.exists():
        hint = ""
        if path.suffix != ".npz" and path.with_name(path.name + ".npz").exists():
            hint = f" (did you mean {path.name}.npz?)"
        raise DynaQFileError(path, f"no such file{hint}")
    if not path.is_file():
        raise DynaQFileError(path, "not a regular file")
    try:
        zf = zipfile.ZipFile(path)
    except _CORRUPT as e:
        raise DynaQFileError(
            path, f"not a readable .npz archive: not a zip file, or truncated ({e})"
        ) from e
    with zf:
        return _load(path, zf)


def _load(path: Path, zf: zipfile.ZipFile) -> Loaded:
    members = zf.namelist()
    if len(set(members)) != len(members):
        raise DynaQFileError(path, "the archive holds duplicate members")
    meta = _parse_metadata(path, zf)
    try:
        config = DynaQConfig.from_dict(meta["config"])
    except (ValueError, TypeError) as e:
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
    metric_meta: dict[str, Any] | None = meta["metrics"]

    # Which arrays: exactly the DynaQState fields (listed and present), the recorded metrics.
    for member in members:
        ok = member == _METADATA or (
            member.endswith(_NPY) and member.startswith((_STATE, _METRICS))
        )
        if not ok:
            raise DynaQFileError(path, f"unexpected archive member {member!r}")
    state_meta: dict[str, Any] = meta["state"]
    in_archive = _names(members, _STATE)
    # version 1 predates these fields; their dense-model values are known (empty, zero)
    implied: dict[str, jax.ShapeDtypeStruct] = {}
    if version < 2:
        v2 = legacy_expected(n_s, n_a, config, 2)
        implied = {f: v2[f] for f in ADDED_IN_V2}
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
    fields: dict[str, jax.Array] = {}
    for f, spec in specs.items():
        label = f"state array {f!r}"
        dtype, shape, _ = _entry(path, label, state_meta[f])
        want = batch + tuple(spec.shape)
        if shape != want:
            raise DynaQFileError(
                path,
                f"{label} has shape {shape}, but n_states={n_s}, n_actions={n_a} and batch shape "
                f"{batch} require {want}",
            )
        if not _same_dtype(dtype, spec.dtype):
            raise DynaQFileError(path, f"{label} has dtype {dtype}, expected {spec.dtype}")
        arr = _checked_array(path, zf, _STATE + f, label, state_meta[f])
        fields[f] = jnp.asarray(arr.astype(spec.dtype, copy=False))
    for f, spec in implied.items():
        fields[f] = jnp.zeros(batch + tuple(spec.shape), spec.dtype)
    if version < 3:  # the 14 fields of versions 1 and 2 -> the leaves this config's state has
        fields = {LEGACY_FIELDS[f]: x for f, x in fields.items() if LEGACY_FIELDS[f] in target}
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
    shapes = jax.eval_shape(lambda: init(n_s, n_a, config))
    paths = [leaf_name(p) for p, _ in jax.tree_util.tree_leaves_with_path(shapes)]
    state = jax.tree.unflatten(jax.tree.structure(shapes), [fields[p] for p in paths])

    metrics: dict[str, npt.NDArray[Any]] | None = None
    if metric_meta is not None:
        metrics = {}
        for name, entry in metric_meta.items():
            arr = _checked_array(path, zf, _METRICS + name, f"metrics array {name!r}", entry)
            metrics[name] = arr.astype(arr.dtype.newbyteorder("="), copy=False)

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
