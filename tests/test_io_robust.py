"""Robustness of dynaq_jax.io against killed saves, corrupt files and odd paths.

What each test guards:
- ``test_killed_save_keeps_target_and_next_save_removes_its_temp``: a save killed (SIGKILL,
  SIGTERM) mid-write in a child process leaves the target as it was and its hidden temp file; a
  save while the child still writes keeps the child's live temp file; the next save after the
  kill removes it.
- ``test_stale_temp_rules``: which temp files a save removes (dead writer, this process's finished
  writes, files untouched for ``STALE_TEMP_SECONDS``) and which it keeps (live writers, other hosts'
  fresh files, other targets' files, names it did not make).
- ``test_concurrent_saves_in_threads``: saves to one path from two threads never remove each
  other's temp files; the last replace wins and no temp file is left.
- ``test_corrupt_structure_raises_file_error``: corruptions that escaped as ``tokenize.TokenError``,
  ``NotImplementedError``, ``RuntimeError``, ``RecursionError`` and ``MemoryError`` (an npy header
  or record claiming 3.64 TiB) raise ``DynaQFileError``.
- ``test_out_of_range_values_raise_file_error``: arrays edited with recomputed digests (an index out
  of range, a negative count, a NaN) raise ``DynaQFileError`` naming the array and the value;
  ``test_save_refuses_what_load_would``: ``save`` raises ``ValueError`` for the same states.
- ``test_byte_flip_scan``: every byte of a small file flipped two ways gives ``DynaQFileError`` or
  a bit-identical load, nothing else.
- ``test_suffix_is_case_insensitive`` and ``test_write_errors_name_the_target``: ``x.NPZ`` is kept
  as given; an unwritable target raises an ``OSError`` naming it, not the temp file.
"""

import json
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import jax.numpy as jnp
import numpy as np
import pytest

import dynaq_jax as dq
from dynaq_jax import file_layout
from dynaq_jax.io import DynaQFileError, load, save, state_leaves

S, A = 5, 4
CONFIG = dq.DynaQConfig(learning_rate=0.3, discount=0.9, epsilon=0.2, planning_steps=2)
ROOT = Path(__file__).resolve().parent.parent


def agent(n_states: int = S, n_actions: int = A, config: dq.DynaQConfig = CONFIG) -> dq.DynaQState:
    """A fresh agent with some values (made without compiling anything)."""
    state = dq.init(n_states, n_actions, config)
    q = jnp.arange(n_states * n_actions, dtype=jnp.float32).reshape(n_states, n_actions) / 7
    return state._replace(q=q, visits=state.visits.at[0, 1].set(2), real_steps=jnp.asarray(2))


def leaves_bytes(state: dq.DynaQState) -> dict[str, tuple[str, tuple[int, ...], bytes]]:
    return {
        name: (np.asarray(x).dtype.str, np.shape(x), np.asarray(x).tobytes())
        for name, x in state_leaves(state).items()
    }


def temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- item 1: temp files of killed saves -----------------------------------------------------------

CHILD = """
import sys, time
import jax.numpy as jnp
import numpy.lib.format as fmt
import dynaq_jax as dq
from dynaq_jax.io import save

real, written = fmt.write_array, []

def write_then_stall(fp, arr, *args, **kwargs):  # stall mid-write, after the third array
    real(fp, arr, *args, **kwargs)
    written.append(arr.shape)
    if len(written) == 3:
        print("writing", flush=True)
        time.sleep(300)

fmt.write_array = write_then_stall
config = dq.DynaQConfig(planning_steps=2)
state = dq.init(int(sys.argv[2]), 4, config)._replace(real_steps=jnp.asarray(7, jnp.int32))
save(sys.argv[1], state, config, compress=False)
print("finished", flush=True)
"""


def start_child(target: Path) -> subprocess.Popen[str]:
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, str(target), "200"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_line(proc: subprocess.Popen[str], want: str, timeout: float = 120.0) -> None:
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(timeout):
            raise AssertionError(f"the child printed nothing in {timeout} s")
        line = proc.stdout.readline().strip()
    assert line == want, (
        line,
        proc.stderr.read() if proc.poll() is not None and proc.stderr else "",
    )


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killed_save_keeps_target_and_next_save_removes_its_temp(
    tmp_path: Path, sig: signal.Signals
) -> None:
    target = tmp_path / "agent.npz"
    first = agent()
    save(target, first, CONFIG)
    before = target.read_bytes()
    child = start_child(target)
    try:
        wait_for_line(child, "writing")
        [live] = temps(tmp_path)  # the child's hidden temp file, half written
        assert live.startswith(".agent.npz.") and f"-{child.pid}-" in live
        # a save while the child writes keeps the child's live temp file
        save(target, first, CONFIG)
        assert temps(tmp_path) == [live] and target.read_bytes() == before
        child.send_signal(sig)
        child.wait(timeout=60)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -sig
    assert target.read_bytes() == before  # the target is untouched by the killed save
    assert temps(tmp_path) == [live]  # and the killed save left its temp file
    second = first._replace(real_steps=first.real_steps + 1)
    save(target, second, CONFIG)  # the next save to the path removes it
    assert temps(tmp_path) == []
    assert leaves_bytes(load(target).state) == leaves_bytes(second)


def test_stale_temp_rules(tmp_path: Path) -> None:
    target = tmp_path / "x.npz"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    probe = file_layout.temp_path(target)
    file_layout.forget_temp(probe)
    host = probe.name.split(".")[-2].split("-")[0]  # this host's tag
    other_host = "0" * 8 if host != "0" * 8 else "1" * 8
    me, parent = os.getpid(), os.getppid()
    live = file_layout.temp_path(target)  # a save of this process, in progress
    names = {
        f".x.npz.{host}-{dead.pid}-{'a' * 12}.tmp": "removed",  # writer dead
        f".x.npz.{host}-{me}-{'b' * 12}.tmp": "removed",  # this pid, not a live save
        live.name: "kept",
        f".x.npz.{host}-{parent}-{'c' * 12}.tmp": "kept",  # writer alive
        f".x.npz.{other_host}-{dead.pid}-{'d' * 12}.tmp": "kept",  # another host's, fresh
        f".x.npz.{other_host}-{dead.pid}-{'e' * 12}.tmp": "old, removed",
        f".x.npz.{'f' * 12}.tmp": "kept",  # the earlier naming (no pid), fresh
        f".x.npz.{'0' * 12}.tmp": "old, removed",
        f".y.npz.{host}-{dead.pid}-{'1' * 12}.tmp": "old, kept",  # another target's
        f".x.npz.{host}-{dead.pid}-notes.tmp": "old, kept",  # not a name save makes
        "x.npz.tmp": "old, kept",
    }
    old = time.time() - file_layout.STALE_TEMP_SECONDS - 60
    for name, fate in names.items():
        (tmp_path / name).write_bytes(b"partial")
        if fate.startswith("old"):
            os.utime(tmp_path / name, (old, old))
    try:
        save(target, agent(), CONFIG)
    finally:
        file_layout.forget_temp(live)
    left = {p.name for p in tmp_path.iterdir()} - {"x.npz"}
    assert left == {n for n, fate in names.items() if "kept" in fate}


def test_concurrent_saves_in_threads(tmp_path: Path) -> None:
    target = tmp_path / "agent.npz"
    states = [agent()._replace(real_steps=jnp.asarray(i, jnp.int32)) for i in range(2)]
    errors: list[BaseException] = []

    def work(state: dq.DynaQState) -> None:
        try:
            for _ in range(8):
                save(target, state, CONFIG, {"big": np.ones(200_000)}, compress=False)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert int(load(target).state.real_steps) in (0, 1)
    assert temps(tmp_path) == []


# -- item 2: corrupt files ------------------------------------------------------------------------


def npy(arr: np.ndarray) -> bytes:
    import io as pyio

    buf = pyio.BytesIO()
    np.lib.format.write_array(buf, arr, allow_pickle=False)
    return buf.getvalue()


def record(arr: np.ndarray) -> dict[str, Any]:
    return file_layout.array_record(arr)


def rewrite(
    path: Path,
    edit_meta: Any = None,
    members: dict[str, bytes] | None = None,
    raw_meta: bytes | None = None,
) -> None:
    """Rewrite the archive with valid CRCs: edit the metadata, replace members."""
    with zipfile.ZipFile(path) as zf:
        contents = {name: zf.read(name) for name in zf.namelist()}
    if edit_meta is not None:
        meta = json.loads(contents["metadata.json"])
        edit_meta(meta)
        contents["metadata.json"] = json.dumps(meta).encode()
    if raw_meta is not None:
        contents["metadata.json"] = raw_meta
    contents.update(members or {})
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in contents.items():
            zf.writestr(name, data)


def central(data: bytes, member: str) -> int:
    """Offset of ``member``'s central directory record."""
    at = data.find(b"PK\x01\x02")
    while at >= 0:
        n = int.from_bytes(data[at + 28 : at + 30], "little")
        if data[at + 46 : at + 46 + n] == member.encode():
            return at
        at = data.find(b"PK\x01\x02", at + 4)
    raise AssertionError(member)


def patch_central(path: Path, member: str, offset: int, value: bytes) -> None:
    data = bytearray(path.read_bytes())
    at = central(bytes(data), member) + offset
    data[at : at + len(value)] = value
    path.write_bytes(bytes(data))


def bad_npy_header(path: Path) -> None:
    """An npy header with an unclosed parenthesis (numpy fell back to tokenize: TokenError)."""
    with zipfile.ZipFile(path) as zf:
        data = zf.read("state/q.npy")
    data = data.replace(b"(5, 4), }", b"(5, 4 , }")
    rewrite(path, members={"state/q.npy": data})


def deep_metadata(path: Path) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    rewrite(path, raw_meta=b'{"format": "dynaq-jax", "format_version": 3, "config": ' + deep + b"}")


def huge_header(path: Path, *, record_too: bool) -> None:
    """The metric's npy header claims shape (10**12,): 3.64 TiB of float32, over 8 bytes of data
    (numpy allocated it first: MemoryError)."""
    data = npy(np.zeros(2, np.float32))
    text = data[10:128].decode("latin1")
    claim = text.replace("(2,), }", "(1000000000000,), }").rstrip().ljust(len(text) - 1) + "\n"
    data = data[:10] + claim.encode("latin1") + data[128:]

    def edit(meta: dict[str, Any]) -> None:
        if record_too:
            meta["metrics"]["m"]["shape"] = [10**12]

    rewrite(path, edit, {"metrics/m.npy": data})


CORRUPTIONS = {
    "npy header tokenize error": (bad_npy_header, "array 'state/q' is truncated or corrupted"),
    "zip file version": (
        lambda p: patch_central(p, "state/q.npy", 6, b"\xff\x00"),
        "not a readable .npz archive",
    ),
    "compression method": (
        lambda p: patch_central(p, "state/q.npy", 10, b"\x63\x00"),
        "compression method 99",
    ),
    "encrypted flag": (lambda p: patch_central(p, "state/r.npy", 8, b"\x01\x00"), "zip flags"),
    "declared size": (
        lambda p: patch_central(p, "state/r.npy", 24, b"\xff\xff\xff\x7f"),
        "that the file cannot hold",
    ),
    "deep metadata": (deep_metadata, "metadata.json is not valid JSON"),
    "npy header claims 3.64 TiB": (
        lambda p: huge_header(p, record_too=False),
        "metrics array 'm' has shape (1000000000000,) in the archive",
    ),
    "npy header and record claim 3.64 TiB": (
        lambda p: huge_header(p, record_too=True),
        "4000000000000 expected",
    ),
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_structure_raises_file_error(tmp_path: Path, corruption: str) -> None:
    path = save(tmp_path / "a.npz", agent(), CONFIG, {"m": np.zeros(2, np.float32)}, compress=False)
    corrupt, fragment = CORRUPTIONS[corruption]
    corrupt(path)
    with pytest.raises(DynaQFileError) as info:
        load(path)
    assert str(path) in str(info.value) and fragment in str(info.value), str(info.value)


def with_value(arr: np.ndarray, value: Any) -> np.ndarray:
    out = np.array(arr)
    out.reshape(-1)[0] = value
    return out


SWEEPING = CONFIG.replace(planner="sweeping", theta=0.0)
# leaf, config, bad value, fragments of the message
BAD_VALUES = [
    ("model.next_state", CONFIG.replace(model="deterministic"), 999, ["holds 999", "[0, 5)"]),
    ("n_pairs", CONFIG, -5, ["holds -5", "[0, 25)"]),
    ("n_pairs", CONFIG, S * A + A + 1, ["holds 25", "a length of pairs"]),
    ("pairs", CONFIG, S * A, ["holds 20", "[0, 20)"]),
    ("q", CONFIG, np.nan, ["holds nan", "must be finite"]),
    ("r", CONFIG, -np.inf, ["holds -inf", "must be finite"]),
    ("visits", CONFIG, -1, ["holds -1", "visit counts must be >= 0"]),
    ("last_visit", CONFIG, -3, ["holds -3"]),
    ("real_steps", CONFIG, -1, ["holds -1", "a step count"]),
    ("model.t_c", CONFIG, -1.0, ["holds -1.0", "transition counts"]),
    ("model.t_c_cum", CONFIG, np.nan, ["holds nan"]),
    ("model.outcomes", CONFIG.replace(outcome_slots=2), S, ["holds 5", "state indices"]),
    ("model.dropped", CONFIG.replace(outcome_slots=2), -2, ["holds -2"]),
    ("planner.priority", SWEEPING, -0.5, ["holds -0.5", "priorities"]),
    ("terminal", CONFIG, 2, ["holds 2", "bool"]),
]


@pytest.mark.parametrize(
    ("leaf", "config", "value", "fragments"), BAD_VALUES, ids=[f"{b[0]}={b[2]}" for b in BAD_VALUES]
)
def test_out_of_range_values_raise_file_error(
    tmp_path: Path, leaf: str, config: dq.DynaQConfig, value: Any, fragments: list[str]
) -> None:
    path = save(tmp_path / "a.npz", dq.init(S, A, config), config)
    with zipfile.ZipFile(path) as zf, zf.open(f"state/{leaf}.npy") as f:
        arr = np.lib.format.read_array(f)
    bad = with_value(arr.view(np.uint8) if arr.dtype == np.bool_ else arr, value)
    bad = bad.view(np.bool_) if arr.dtype == np.bool_ else bad
    rewrite(path, lambda m: m["state"].update({leaf: record(bad)}), {f"state/{leaf}.npy": npy(bad)})
    with pytest.raises(DynaQFileError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and f"state array {leaf!r}" in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_save_refuses_what_load_would(tmp_path: Path) -> None:
    state = agent()
    with pytest.raises(ValueError, match=r"state\.q holds nan at index \(0, 0\).*finite"):
        save(tmp_path / "a.npz", state._replace(q=state.q.at[0, 0].set(jnp.nan)), CONFIG)
    with pytest.raises(ValueError, match=r"state\.pairs holds 20 .*\[0, 20\)"):
        save(tmp_path / "a.npz", state._replace(pairs=state.pairs.at[0].set(S * A)), CONFIG)
    assert list(tmp_path.iterdir()) == []


# -- item 3: a byte-flip scan ---------------------------------------------------------------------


def test_byte_flip_scan(tmp_path: Path) -> None:
    """Every byte of a small uncompressed file, xor 0x01 and xor 0xFF: ``DynaQFileError`` or a
    load bit-identical to the original, never another exception or a different load."""
    config = dq.DynaQConfig(planning_steps=1)
    state = agent(2, 2, config)
    path = save(tmp_path / "tiny.npz", state, config, {"m": np.arange(2.0)}, compress=False)
    want = load(path)
    expected = (leaves_bytes(want.state), want.config.to_dict(), want.metadata)
    data = path.read_bytes()
    problems: list[str] = []
    fd = os.open(path, os.O_RDWR)
    try:
        for i in range(len(data)):
            for flip in (0x01, 0xFF):
                os.pwrite(fd, bytes([data[i] ^ flip]), i)
                try:
                    got = load(path)
                except DynaQFileError:
                    pass
                except BaseException as e:  # any other exception is the failure
                    problems.append(f"byte {i} ^ {flip:#x}: {type(e).__name__}: {e}"[:300])
                else:
                    assert got.metrics is not None and want.metrics is not None
                    same = (
                        leaves_bytes(got.state),
                        got.config.to_dict(),
                        got.metadata,
                    ) == expected and got.metrics["m"].tobytes() == want.metrics["m"].tobytes()
                    if not same:
                        problems.append(f"byte {i} ^ {flip:#x}: loads, but differently")
                os.pwrite(fd, data[i : i + 1], i)
    finally:
        os.close(fd)
    assert not problems, f"{len(problems)} flips escaped:\n" + "\n".join(problems[:20])


# -- item 4: paths --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "written"),
    [
        ("x.NPZ", "x.NPZ"),
        ("x.Npz", "x.Npz"),
        ("x.npz", "x.npz"),
        ("x", "x.npz"),
        ("x.bak", "x.bak.npz"),
    ],
)
def test_suffix_is_case_insensitive(tmp_path: Path, name: str, written: str) -> None:
    state = agent()
    assert save(tmp_path / name, state, CONFIG) == tmp_path / written
    assert sorted(p.name for p in tmp_path.iterdir()) == [written]
    assert leaves_bytes(load(tmp_path / written).state) == leaves_bytes(state)


def test_write_errors_name_the_target(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = agent()
    target = tmp_path / "agent.npz"
    real_open = os.open

    def refuse_temps(file: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if str(file).endswith(".tmp"):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, flags, *args, **kwargs)

    with monkeypatch.context() as m:  # a read-only folder, even as root
        m.setattr(os, "open", refuse_temps)
        with pytest.raises(PermissionError) as info:
            save(target, state, CONFIG)
    assert info.value.filename == str(target) and str(target) in str(info.value)
    assert ".tmp" not in str(info.value), str(info.value)
    # a real failure of the final move: the target is a folder
    target.mkdir()
    with pytest.raises(IsADirectoryError) as moved:
        save(target, state, CONFIG)
    assert moved.value.filename == str(target) and ".tmp" not in str(moved.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["agent.npz"]  # no temp file left


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="root writes into read-only folders (the monkeypatched test above covers the message)",
)
def test_read_only_folder_names_the_target(tmp_path: Path) -> None:  # pragma: no cover - not root
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError) as info:
            save(folder / "agent.npz", agent(), CONFIG)
    finally:
        folder.chmod(0o700)
    assert info.value.filename == str(folder / "agent.npz")
