"""Tests for dynaq_jax.io: round trips, and every way a file can be wrong.

Files of format version 3 store the state's leaves by path (``q``, ..., ``model.t_c``,
``planner.priority``); versions 1 and 2 stored the 14 fields of the earlier flat state, which
``LEGACY_FIELDS`` maps to those paths. The fixtures written by the old code are checked in
``test_io_fixtures.py``.
"""

import hashlib
import io as pyio
import json
import pickle
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynaq_jax import DynaQConfig, DynaQState, init, step
from dynaq_jax.io import (
    FORMAT_VERSION,
    LEGACY_FIELDS,
    DynaQFileError,
    Loaded,
    load,
    save,
    state_leaves,
)

S, A = 5, 4
CONFIG = DynaQConfig(learning_rate=0.3, discount=0.9, epsilon=0.2, planning_steps=3)
TRANSITIONS = [
    (0, 1, 0.0, 1, False),
    (1, 2, 1.0, 3, True),
    (3, 0, 0.5, 2, False),
    (2, 3, -1.0, 0, False),
]


def run(config: DynaQConfig, key: jax.Array) -> DynaQState:
    """``init`` and a few ``step``s (vmappable over ``config`` and ``key``)."""
    state = init(S, A, config)
    for k, (s, a, r, s2, done) in zip(
        jax.random.split(key, len(TRANSITIONS)), TRANSITIONS, strict=True
    ):
        state = step(state, k, s, a, r, s2, done, config)
    return state


@pytest.fixture(scope="module")
def single() -> DynaQState:
    return run(CONFIG, jax.random.key(0))


@pytest.fixture(scope="module")
def seeds() -> DynaQState:
    state: DynaQState = jax.jit(jax.vmap(run, in_axes=(None, 0)))(
        CONFIG, jax.random.split(jax.random.key(1), 3)
    )
    return state


@pytest.fixture
def saved(tmp_path: Path, single: DynaQState) -> Path:
    return save(tmp_path / "agent.npz", single, CONFIG, {"returns": np.arange(4.0)}, compress=False)


def assert_bit_identical(a: Any, b: Any) -> None:
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


def assert_states_identical(loaded: DynaQState, original: DynaQState) -> None:
    assert type(loaded) is DynaQState
    assert jax.tree.structure(loaded) == jax.tree.structure(original)
    leaves, want = state_leaves(loaded), state_leaves(original)
    assert list(leaves) == list(want)
    for f, x in leaves.items():
        assert isinstance(x, jax.Array), f
        assert_bit_identical(x, want[f])


# -- helpers that edit a saved file ---------------------------------------------------------------


def npy(arr: np.ndarray) -> bytes:
    buf = pyio.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def record(arr: np.ndarray) -> dict[str, Any]:
    """A metadata record computed independently of the module under test."""
    digest = hashlib.sha256(np.ascontiguousarray(arr).tobytes()).hexdigest()
    return {"dtype": arr.dtype.str, "shape": list(arr.shape), "sha256": digest}


def rewrite(
    path: Path,
    edit_meta: Callable[[dict[str, Any]], None] | None = None,
    members: dict[str, bytes | None] | None = None,
) -> None:
    """Rewrite the archive: edit the parsed metadata, replace/add (bytes) or drop (None) members."""
    with zipfile.ZipFile(path) as zf:
        contents = {name: zf.read(name) for name in zf.namelist()}
    if edit_meta is not None:
        meta = json.loads(contents["metadata.json"])
        edit_meta(meta)
        contents["metadata.json"] = json.dumps(meta).encode()
    for name, data in (members or {}).items():
        if data is None:
            del contents[name]
        else:
            contents[name] = data
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in contents.items():
            zf.writestr(name, data)


def read_array(path: Path, name: str) -> np.ndarray:
    with zipfile.ZipFile(path) as zf, zf.open(f"state/{name}.npy") as f:
        return np.lib.format.read_array(f)


def load_error(path: Path, *fragments: str) -> DynaQFileError:
    with pytest.raises(DynaQFileError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    return info.value


# -- round trips ----------------------------------------------------------------------------------


def test_round_trip_single(tmp_path: Path, single: DynaQState) -> None:
    path = save(tmp_path / "agent.npz", single, CONFIG)
    assert path == tmp_path / "agent.npz"
    loaded = load(path)
    assert isinstance(loaded, Loaded)
    assert_states_identical(loaded.state, single)
    assert loaded.config == CONFIG
    assert loaded.metrics is None
    meta = loaded.metadata
    assert meta["format"] == "dynaq-jax" and meta["format_version"] == FORMAT_VERSION
    assert (meta["n_states"], meta["n_actions"], meta["batch_shape"]) == (S, A, [])
    assert meta["config"] == CONFIG.to_dict()
    assert set(meta["state"]) == set(state_leaves(single))
    assert meta["state"]["model.t_c"] == record(np.asarray(single.t_c))
    assert isinstance(meta["library_version"], str)


def test_round_trip_seeds_with_metrics(tmp_path: Path, seeds: DynaQState) -> None:
    metrics = {"returns": jnp.arange(6.0).reshape(3, 2), "lengths": np.array([3, 1, 4], np.int64)}
    loaded = load(save(tmp_path / "seeds.npz", seeds, CONFIG, metrics))
    assert_states_identical(loaded.state, seeds)
    assert loaded.metadata["batch_shape"] == [3]
    assert loaded.metrics is not None and list(loaded.metrics) == ["returns", "lengths"]
    for name, value in metrics.items():
        assert isinstance(loaded.metrics[name], np.ndarray)
        assert_bit_identical(loaded.metrics[name], value)
    # the loaded state is a working agent: continuing it matches continuing the original
    more = jax.jit(jax.vmap(lambda st, key: step(st, key, 0, 2, 1.0, 4, False, CONFIG), (0, None)))
    key = jax.random.key(7)
    assert_states_identical(more(loaded.state, key), more(seeds, key))


class Curves(NamedTuple):
    episode_return: jax.Array
    steps: jax.Array


def test_round_trip_configs_by_seeds_namedtuple_metrics(tmp_path: Path) -> None:
    configs = DynaQConfig.stack([CONFIG, CONFIG.replace(learning_rate=0.7, epsilon=0.05)])
    keys = jax.random.split(jax.random.key(2), 3)
    state = jax.jit(jax.vmap(jax.vmap(run, in_axes=(None, 0)), in_axes=(0, None)))(configs, keys)
    assert state.q.shape == (2, 3, S, A)
    curves = Curves(episode_return=jnp.ones((2, 3, 5)), steps=jnp.zeros((2, 3, 5), jnp.int32))
    loaded = load(save(tmp_path / "sweep.npz", state, configs, curves))
    assert_states_identical(loaded.state, state)
    assert loaded.metadata["batch_shape"] == [2, 3]
    assert loaded.config.to_dict() == configs.to_dict()
    for leaf, original in zip(
        jax.tree.leaves(loaded.config), jax.tree.leaves(configs), strict=True
    ):
        assert_bit_identical(leaf, original)
    assert loaded.metrics is not None and list(loaded.metrics) == ["episode_return", "steps"]
    assert_bit_identical(loaded.metrics["steps"], curves.steps)


def test_empty_metrics_mapping_is_not_none(tmp_path: Path, single: DynaQState) -> None:
    assert load(save(tmp_path / "a.npz", single, CONFIG, {})).metrics == {}


FIELD_SPECS = jax.eval_shape(lambda: init(S, A, CONFIG))

# Exclusive upper bounds of the index leaves (every integer leaf is >= 0).
INDEX_BOUNDS = {
    "pairs": S * A,
    "n_pairs": S * A + A + 1,
    "model.outcomes": S,
    "model.next_state": S,
}


def holdable(name: str, arr: np.ndarray) -> np.ndarray:
    """Random bits made into values leaf ``name`` may hold: floats finite (counts and priorities
    also >= 0), integers >= 0 (indices below their bound); every other bit kept."""
    if arr.dtype.kind == "f":
        arr = np.where(np.isfinite(arr), arr, arr.dtype.type(1.5))
        return np.abs(arr) if name.startswith(("model.", "planner.")) else arr
    if arr.dtype.kind == "i":
        arr = arr & np.iinfo(arr.dtype).max
        return arr % INDEX_BOUNDS[name] if name in INDEX_BOUNDS else arr
    return arr


@settings(max_examples=15, deadline=None)
@given(
    batch=st.lists(st.integers(0, 3), max_size=2).map(tuple),
    seed=st.integers(0, 2**32 - 1),
    compress=st.booleans(),
)
def test_round_trip_arbitrary_contents(
    tmp_path_factory: pytest.TempPathFactory, batch: tuple[int, ...], seed: int, compress: bool
) -> None:
    """Any batch shape (even empty) and any bit patterns a leaf may hold (any finite float,
    negative zero and subnormals included; any index in range) come back exactly."""
    rng = np.random.default_rng(seed)
    leaves = []
    for name, spec in state_leaves(FIELD_SPECS).items():
        shape, dtype = batch + spec.shape, np.dtype(spec.dtype)
        raw = rng.integers(0, 256, size=(*shape, dtype.itemsize), dtype=np.uint8)
        arr = raw.view(dtype).reshape(shape) if dtype != np.bool_ else raw[..., 0] % 2 == 1
        leaves.append(jnp.asarray(holdable(name, arr)))
    state = jax.tree.unflatten(jax.tree.structure(FIELD_SPECS), leaves)
    path = save(tmp_path_factory.mktemp("h") / "x.npz", state, CONFIG, compress=compress)
    assert_states_identical(load(path).state, state)


def test_save_appends_suffix_and_replaces_atomically(tmp_path: Path, single: DynaQState) -> None:
    path = save(tmp_path / "run1", single, CONFIG)
    assert path == tmp_path / "run1.npz"
    first = path.read_bytes()
    assert save(tmp_path / "run1.npz", single, CONFIG) == path
    assert path.read_bytes() == first  # deterministic bytes for the same inputs
    other = single._replace(real_steps=single.real_steps + 1)
    save(path, other, CONFIG)
    assert int(load(path).state.real_steps) == int(single.real_steps) + 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run1.npz"]  # no temp files left
    load_error(tmp_path / "run1", "no such file", "run1.npz")  # hint at the suffix


def test_readable_by_plain_numpy(saved: Path, single: DynaQState) -> None:
    with np.load(saved, allow_pickle=False) as npz:
        assert_bit_identical(npz["state/q"], single.q)
        assert json.loads(npz["metadata.json"])["format"] == "dynaq-jax"


# -- save-side errors -----------------------------------------------------------------------------


def test_save_rejects_bad_inputs(tmp_path: Path, single: DynaQState, seeds: DynaQState) -> None:
    target = tmp_path / "x.npz"
    with pytest.raises(TypeError, match="DynaQState"):
        save(target, single._asdict(), CONFIG)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="DynaQConfig"):
        save(target, single, CONFIG.to_dict())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch"):
        save(target, single._replace(real_steps=seeds.real_steps), CONFIG)
    with pytest.raises(ValueError, match="t_c"):
        save(target, single._replace(model=single.model._replace(t_c=single.t_c[:, :, :2])), CONFIG)
    with pytest.raises(ValueError, match="leaves"):  # another model kind's state for this config
        save(target, init(S, A, CONFIG.replace(model="deterministic")), CONFIG)
    with pytest.raises(ValueError, match="dtype"):
        save(target, single._replace(visits=single.visits.astype(jnp.float32)), CONFIG)
    with pytest.raises(ValueError, match="metric name"):
        save(target, single, CONFIG, {"../evil": np.zeros(2)})
    with pytest.raises(TypeError, match="dtype"):
        save(target, single, CONFIG, {"names": np.array(["a", "b"], dtype=object)})
    with pytest.raises(TypeError, match="metrics"):
        save(target, single, CONFIG, [np.zeros(2)])  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError, match="directory"):
        save(tmp_path / "nope" / "x.npz", single, CONFIG)
    with pytest.raises(TypeError, match="outside jit"):
        jax.jit(lambda st: save(target, st, CONFIG))(single)
    assert list(tmp_path.iterdir()) == []


# -- load-side errors: the file as a whole --------------------------------------------------------


def test_error_type_and_pickling(tmp_path: Path) -> None:
    err = load_error(tmp_path / "missing.npz", "no such file")
    assert isinstance(err, ValueError) and err.path == tmp_path / "missing.npz"
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.problem == err.problem


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    load_error(tmp_path, "not a regular file")


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"this is not an npz file at all\x00\x01\x02" * 10)
    load_error(path, "not a zip file")


def test_plain_npy_file(tmp_path: Path) -> None:
    path = tmp_path / "array.npz"
    with path.open("wb") as f:
        np.save(f, np.arange(3))
    load_error(path, "not a zip file")


@pytest.mark.parametrize("keep", [0.0, 0.1, 0.5, 0.9, 0.999])
def test_truncated_file(saved: Path, keep: float) -> None:
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)])
    load_error(saved, "truncated")


def test_corrupted_member_bytes(saved: Path) -> None:
    """A flipped byte inside a stored member: the zip CRC catches it before numpy sees it."""
    data = bytearray(saved.read_bytes())
    at = data.index(b"\x93NUMPY", data.index(b"state/model.t_c.npy")) + 200
    data[at] ^= 0xFF
    saved.write_bytes(bytes(data))
    load_error(saved, "'state/model.t_c'", "corrupted")


def test_plain_numpy_npz(tmp_path: Path, single: DynaQState) -> None:
    path = tmp_path / "plain.npz"
    np.savez(path, q=np.asarray(single.q))
    load_error(path, "no metadata.json", "not a dynaq-jax file")


def test_unexpected_member(saved: Path) -> None:
    rewrite(saved, members={"notes.txt": b"hello"})
    load_error(saved, "unexpected archive member 'notes.txt'")


def test_duplicate_members(saved: Path) -> None:
    with pytest.warns(UserWarning, match="Duplicate"), zipfile.ZipFile(saved, "a") as zf:
        zf.writestr("state/q.npy", b"second copy")
    load_error(saved, "duplicate members")


def test_pickled_member_is_never_unpickled(saved: Path) -> None:
    buf = pyio.BytesIO()
    np.lib.format.write_array(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    rewrite(saved, members={"state/q.npy": buf.getvalue()})
    load_error(saved, "'state/q'", "corrupted", "allow_pickle=False")


# -- load-side errors: metadata -------------------------------------------------------------------


def test_metadata_missing(saved: Path) -> None:
    rewrite(saved, members={"metadata.json": None})
    load_error(saved, "no metadata.json")


def test_metadata_not_json(saved: Path) -> None:
    rewrite(saved, members={"metadata.json": b'{"format": "dynaq-jax", '})
    load_error(saved, "metadata.json is not valid JSON")


def test_metadata_not_an_object(saved: Path) -> None:
    rewrite(saved, members={"metadata.json": b"[1, 2, 3]"})
    load_error(saved, "must hold a JSON object")


def test_wrong_format_name(saved: Path) -> None:
    rewrite(saved, lambda m: m.update(format="something-else"))
    load_error(saved, "not a dynaq-jax file", "'something-else'")


def test_newer_format_version(saved: Path) -> None:
    rewrite(saved, lambda m: m.update(format_version=FORMAT_VERSION + 1))
    load_error(saved, f"format version {FORMAT_VERSION + 1} is newer", "upgrade")


@pytest.mark.parametrize("version", [0, -3, "1", 1.0, None, True])
def test_unknown_format_version(saved: Path, version: object) -> None:
    rewrite(saved, lambda m: m.update(format_version=version))
    load_error(saved, "unknown format version")


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"learning_rate": 5}, "learning_rate"),
        ({"model": "neural"}, "model"),
        ({"planning_steps": -1}, "planning_steps"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_config(saved: Path, change: dict[str, Any], fragment: str) -> None:
    rewrite(saved, lambda m: m["config"].update(change))
    load_error(saved, "invalid config", fragment)


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("n_states", S + 1, "n_states=6"),
        ("n_actions", A - 1, "n_actions=3"),
        ("batch_shape", [2], "batch shape (2,)"),
    ],
)
def test_sizes_disagree_with_arrays(saved: Path, key: str, value: object, fragment: str) -> None:
    rewrite(saved, lambda m: m.update({key: value}))
    load_error(saved, "state array 'q' has shape", fragment, "require")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("n_states", 0),
        ("n_states", 10**19),
        ("n_actions", "4"),
        ("batch_shape", [-1]),
        ("state", []),
    ],
)
def test_malformed_metadata(saved: Path, key: str, value: object) -> None:
    rewrite(saved, lambda m: m.update({key: value}))
    load_error(saved, "malformed metadata", key)


def test_malformed_array_record(saved: Path) -> None:
    rewrite(saved, lambda m: m["state"]["r"].pop("sha256"))
    load_error(saved, "malformed metadata", "state array 'r'")


# -- load-side errors: arrays ---------------------------------------------------------------------


def test_tampered_state_array(saved: Path) -> None:
    q = read_array(saved, "q").copy()
    q[0, 0] += 1.0
    rewrite(saved, members={"state/q.npy": npy(q)})
    load_error(
        saved,
        "array 'q' does not match its recorded digest: the file was modified or corrupted",
    )


def test_tampered_metrics_array(saved: Path) -> None:
    rewrite(saved, members={"metrics/returns.npy": npy(np.arange(4.0) + 1)})
    load_error(saved, "metrics array 'returns' does not match its recorded digest")


def test_wrong_shape_with_recomputed_digest(saved: Path) -> None:
    """A consistent record for a wrongly shaped array: the check against n_states fires."""
    bad = np.zeros((S + 1, A, S), np.float32)

    def edit(meta: dict[str, Any]) -> None:
        meta["state"]["model.t_c"] = record(bad)

    rewrite(saved, edit, {"state/model.t_c.npy": npy(bad)})
    load_error(
        saved, "state array 'model.t_c' has shape (6, 4, 5)", "n_states=5", "require (5, 4, 5)"
    )


def test_wrong_pairs_length(saved: Path) -> None:
    bad = np.zeros((S * A,), np.int32)  # S*A, not S*A + A
    rewrite(saved, lambda m: m["state"].update(pairs=record(bad)), {"state/pairs.npy": npy(bad)})
    load_error(saved, "state array 'pairs' has shape (20,)", f"require ({S * A + A},)")


def test_archive_shape_differs_from_record(saved: Path) -> None:
    """The record is right but the stored array is not (digest recomputed): shape check fires."""
    bad = np.zeros((S, A + 1), np.float32)
    rewrite(saved, lambda m: m["state"]["r"].update(sha256=record(bad)["sha256"]))
    rewrite(saved, members={"state/r.npy": npy(bad)})
    load_error(saved, "state array 'r' has shape (5, 5) in the archive", "records (5, 4)")


def test_wrong_dtype(saved: Path) -> None:
    bad = read_array(saved, "visits").astype(np.int64)
    rewrite(saved, lambda m: m["state"].update(visits=record(bad)), {"state/visits.npy": npy(bad)})
    load_error(saved, "state array 'visits' has dtype int64, expected int32")


def test_archive_dtype_differs_from_record(saved: Path) -> None:
    bad = read_array(saved, "q").astype(np.float64)
    rewrite(saved, members={"state/q.npy": npy(bad)})
    load_error(saved, "state array 'q' has dtype float64 in the archive")


def test_missing_state_array(saved: Path) -> None:
    rewrite(saved, members={"state/model.t_c.npy": None})
    load_error(saved, "missing state array(s) 'model.t_c'")


def test_missing_state_record(saved: Path) -> None:
    rewrite(saved, lambda m: m["state"].pop("terminal"))
    load_error(saved, "missing state array(s) 'terminal'")


def test_extra_state_array(saved: Path) -> None:
    extra = np.zeros((S,), np.float32)
    rewrite(saved, lambda m: m["state"].update(v=record(extra)), {"state/v.npy": npy(extra)})
    load_error(saved, "extra state array(s) 'v'", "not DynaQState leaves")


def test_extra_state_array_unlisted(saved: Path) -> None:
    rewrite(saved, members={"state/v.npy": npy(np.zeros(3))})
    load_error(saved, "extra state array(s) 'v'")


def test_missing_metrics_array(saved: Path) -> None:
    rewrite(saved, members={"metrics/returns.npy": None})
    load_error(saved, "missing metrics array(s) 'returns'")


def test_unlisted_metrics_array(saved: Path) -> None:
    rewrite(saved, members={"metrics/extra.npy": npy(np.zeros(2))})
    load_error(saved, "metrics array(s) 'extra' not listed in the metadata")


# -- compact model and the version-1 format -------------------------------------------------------


def test_round_trip_compact(tmp_path: Path) -> None:
    config = CONFIG.replace(outcome_slots=2)
    state = run(config, jax.random.key(3))
    assert state.model.outcomes.shape == (S, A, 2)
    loaded = load(save(tmp_path / "compact.npz", state, config))
    assert_states_identical(loaded.state, state)
    assert loaded.config == config


def test_compact_file_with_dense_config_is_rejected(tmp_path: Path) -> None:
    config = CONFIG.replace(outcome_slots=2)
    path = save(tmp_path / "compact.npz", run(config, jax.random.key(3)), config)
    rewrite(path, lambda m: m["config"].update(outcome_slots=0))
    # the slots model's leaves are not the dense model's
    load_error(path, "extra state array(s) 'model.outcomes', 'model.dropped'", "leaves")

    # without them, the counts' shape does not fit the dense model
    def drop(meta: dict[str, Any]) -> None:
        del meta["state"]["model.outcomes"], meta["state"]["model.dropped"]

    rewrite(path, drop, {"state/model.outcomes.npy": None, "state/model.dropped.npy": None})
    load_error(path, "'model.t_c' has shape", f"require {(S, A, S)}")


def to_legacy(
    path: Path, version: int, extra: dict[str, np.ndarray], drop: tuple[str, ...] = ()
) -> None:
    """Rewrite a version-3 file as version ``version`` wrote it: members and records under the
    old field names (``LEGACY_FIELDS``), the old fields the new state lacks added (``extra``),
    the fields of ``drop`` removed, and without ``outcome_slots`` before version 2."""
    new_to_old = {new: old for old, new in LEGACY_FIELDS.items()}
    with zipfile.ZipFile(path) as zf:
        members = [n for n in zf.namelist() if n.startswith("state/")]
    names = [m[len("state/") : -len(".npy")] for m in members]
    arrays = {new_to_old[name]: read_array(path, name) for name in names} | extra
    for name in drop:
        del arrays[name]

    def edit(meta: dict[str, Any]) -> None:
        meta["format_version"] = version
        meta["state"] = {name: record(arr) for name, arr in arrays.items()}
        if version < 2:
            del meta["config"]["outcome_slots"]

    rewrite(path, edit, dict.fromkeys(members))
    rewrite(path, members={f"state/{name}.npy": npy(arr) for name, arr in arrays.items()})


# The old fields a count agent with the sample planner no longer has.
V1_EXTRA = {"next_state": np.zeros((S, A), np.int32), "priority": np.zeros((S, A), np.float32)}


def test_version_1_file_reads_as_dense_state(saved: Path, single: DynaQState) -> None:
    to_legacy(saved, 1, V1_EXTRA)
    with zipfile.ZipFile(saved) as zf:
        assert "state/t_c.npy" in zf.namelist() and "state/outcomes.npy" not in zf.namelist()
    loaded = load(saved)
    assert loaded.metadata["format_version"] == 1
    assert_states_identical(loaded.state, single)
    assert loaded.config == CONFIG


def test_version_2_file_reads_as_dense_state(saved: Path, single: DynaQState) -> None:
    extra = V1_EXTRA | {"outcomes": np.zeros((0,), np.int32), "dropped": np.zeros((), np.int32)}
    to_legacy(saved, 2, extra)
    loaded = load(saved)
    assert loaded.metadata["format_version"] == 2
    assert_states_identical(loaded.state, single)
    assert loaded.config == CONFIG


def test_version_1_file_missing_a_v1_field(saved: Path) -> None:
    to_legacy(saved, 1, V1_EXTRA, drop=("visits",))
    load_error(saved, "missing state array(s) 'visits'")
