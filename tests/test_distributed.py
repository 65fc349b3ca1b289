"""Multi-process runs: two CPU processes on localhost joined with ``jax.distributed``.

Each test starts two worker processes (``tests/distributed_worker.py``) on a free port with short
timeouts, and kills them if anything fails. Their results must be bit-identical to one process
(this one), and the work must span both processes' devices: every process ran only its own
seed shards, and together they ran all of them. Cost: each worker compiles one program; the
single-process reference is ``chain_env.chain_seeds`` (compiled once per session, shared with
``test_env_protocol``).
"""

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest

from dynaq_jax import DynaQConfig, distributed, train_seeds, train_sweep
from tests import distributed_worker as worker
from tests.chain_env import chain, chain_seeds, keys

ROOT = Path(__file__).resolve().parent.parent
WORKER = ROOT / "tests" / "distributed_worker.py"
TIMEOUT_S = 120
"""The most a pair of workers may take (a loaded CI machine); they usually take 10-20 s."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_pair(tmp_path: Path, mode: str, host_devices: int) -> list[subprocess.Popen[str]]:
    """Start processes 0 and 1 of a run on a free port."""
    address = f"127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("XLA_", "JAX_"))}
    env["JAX_PLATFORMS"] = "cpu"
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={host_devices}"
    return [
        subprocess.Popen(
            [sys.executable, str(WORKER), address, "2", str(pid), str(tmp_path), mode],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for pid in (0, 1)
    ]


def finish_pair(
    procs: list[subprocess.Popen[str]], tmp_path: Path
) -> list[tuple[dict[str, Any], list[np.ndarray]]]:
    """Wait for both workers (killed on failure or timeout); each one's ``(info, leaves)``."""
    logs = []
    try:
        deadline = time.monotonic() + TIMEOUT_S
        for p in procs:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            logs.append(out)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for pid, (p, log) in enumerate(zip(procs, logs, strict=True)):
        assert p.returncode == 0, f"process {pid} exited with {p.returncode}:\n{log[-3000:]}"
    results = []
    for pid in (0, 1):
        info = json.loads((tmp_path / f"info-{pid}.json").read_text())
        with np.load(tmp_path / f"result-{pid}.npz") as z:
            leaves = [z[f"arr_{i}"] for i in range(len(z.files))]
        results.append((info, leaves))
    return results


def reference() -> list[np.ndarray]:
    """The single-process result of the workers' run (``chain_env.chain_seeds``, 8 seeds; once
    per session, computed while the first pair of workers starts)."""
    return [np.asarray(x) for x in jax.tree.leaves(chain_seeds())]


def run_pair(
    tmp_path: Path, mode: str, host_devices: int
) -> tuple[list[tuple[dict[str, Any], list[np.ndarray]]], list[np.ndarray]]:
    procs = start_pair(tmp_path, mode, host_devices)
    try:
        ref = reference()
    except BaseException:
        for p in procs:
            p.kill()
            p.wait()
        raise
    return finish_pair(procs, tmp_path), ref


def check_pair(
    results: list[tuple[dict[str, Any], list[np.ndarray]]],
    reference: list[np.ndarray],
    n_dev: int,
    n: int,
) -> None:
    for pid, (info, leaves) in enumerate(results):
        assert info["process_count"] == 2
        assert info["device_count"] == n_dev
        assert info["local_device_count"] == n_dev // 2
        assert len(leaves) == len(reference)
        for got, want in zip(leaves, reference, strict=True):
            assert got.shape == (n, *want.shape[1:]), f"process {pid}"
            np.testing.assert_array_equal(got, want[:n], err_msg=f"process {pid}")


def test_two_processes_shards_span_both_and_gather_bit_identical(tmp_path: Path) -> None:
    """2 processes x 1 device, ``gather=False``: global arrays spanning both processes, one
    shard held by each; ``gather_result`` gives every process the result of one process."""
    results, ref = run_pair(tmp_path, "shards", host_devices=1)
    check_pair(results, ref, n_dev=2, n=2)
    for info, _ in results:
        assert info["spanned_processes"] == [0, 1]
        assert info["addressable_shards"] == 1
        assert info["fully_addressable"] is False


def test_two_processes_two_devices_each_padded_and_gathered(tmp_path: Path) -> None:
    """2 processes x 2 host devices, 6 seeds over 4 devices (padded to 8, trimmed): every
    process gets the whole result, equal to one process; each ran only its own two shards (the
    progress callback), and together all four."""
    results, ref = run_pair(tmp_path, "gather", host_devices=2)
    check_pair(results, ref, n_dev=4, n=worker.N_KEYS)
    shards = [set(info["shards_here"]) for info, _ in results]
    assert all(len(s) == 2 for s in shards), shards
    assert shards[0].isdisjoint(shards[1])
    assert shards[0] | shards[1] == {0, 1, 2, 3}


# -- joining: bad input ---------------------------------------------------------------------------


def test_unreachable_coordinator_fails_within_the_timeout() -> None:
    """A process other than 0 that cannot reach the coordinator gets a clear error in time (and
    JAX is never initialized: the check comes first)."""
    port = free_port()
    calls: list[dict[str, Any]] = []
    start = time.monotonic()
    with pytest.raises(TimeoutError, match=rf"could not reach the coordinator at 127.0.0.1:{port}"):
        distributed.join(
            f"127.0.0.1:{port}", 2, 1, timeout_s=1, initialize=lambda **kw: calls.append(kw)
        )
    assert time.monotonic() - start < 5
    assert calls == []


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("127.0.0.1", 2, 0), "must be 'HOST:PORT'"),
        (("127.0.0.1:0", 2, 0), "port in"),
        (("127.0.0.1:99999", 2, 0), "port in"),
        (("127.0.0.1:1234", 0, 0), "num_processes=0"),
        (("127.0.0.1:1234", 2, 2), r"process_id=2 must lie in \[0, 1\]"),
        (("127.0.0.1:1234", 2, -1), "process_id=-1"),
        (("127.0.0.1:1234", 2, True), "process_id must be an int"),
        (("127.0.0.1:1234", None, 0), "together"),
    ],
)
def test_bad_join_arguments(args: tuple[Any, ...], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        distributed.join(*args, initialize=lambda **kw: None)


def test_join_passes_its_arguments_and_auto_detection_errors_are_clear() -> None:
    calls: list[dict[str, Any]] = []
    distributed.join("127.0.0.1:1234", 1, 0, timeout_s=5, initialize=lambda **kw: calls.append(kw))
    assert calls[0]["coordinator_address"] == "127.0.0.1:1234"
    assert (calls[0]["num_processes"], calls[0]["process_id"]) == (1, 0)

    def no_cluster(**kw: Any) -> None:
        raise ValueError("coordinator_address should be defined.")

    with pytest.raises(ValueError, match="could not detect a multi-process run"):
        distributed.join(initialize=no_cluster)
    with pytest.raises(ValueError, match="timeout_s=0"):
        distributed.join(timeout_s=0, initialize=lambda **kw: None)


def test_single_process_helpers() -> None:
    assert distributed.process_count() == 1 and distributed.process_index() == 0
    assert distributed.is_writer() and not distributed.is_multi_process()
    x = jax.numpy.arange(3)
    assert distributed.gather_result(x) is x
    np.testing.assert_array_equal(distributed.on_host(x), [0, 1, 2])


def test_sizes_that_do_not_divide_are_rejected_without_gather(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Multi-process with ``gather=False``: 6 seeds over 4 devices is an error naming the sizes
    (with ``gather=True`` they are padded, as the 2 x 2 run above shows). Checked before any
    compilation; the process and device counts are faked."""
    monkeypatch.setattr(jax, "process_count", lambda: 2)
    monkeypatch.setattr(jax, "device_count", lambda: 4)
    with pytest.raises(ValueError, match=r"6 agents .* do not divide over the 4 devices of the"):
        train_seeds(chain(), DynaQConfig(), keys(6), 3, gather=False)
    stacked = DynaQConfig.stack([DynaQConfig(), DynaQConfig(epsilon=0.2)])
    with pytest.raises(ValueError, match=r"give a multiple of 4 \(gather=True pads"):
        train_sweep(chain(), stacked, keys(3), 3, gather=False)


def test_explore_splits_its_seeds_over_the_processes(tmp_path: Path) -> None:
    """``dynaq-jax explore`` in two processes: each runs its own block of the seeds (3 of 5, the
    last block padded) and both get every cell's rows, equal to one process's bit for bit."""
    from dynaq_jax.experiments import explore

    procs = start_pair(tmp_path, "explore", host_devices=1)
    try:
        rows = explore.run(**worker.EXPLORE_RUN)  # type: ignore[arg-type]
    except BaseException:
        for p in procs:
            p.kill()
            p.wait()
        raise
    want = [np.asarray([r.final_ratio, r.reached, r.cumulative_regret]) for r in rows]
    want += [np.asarray(r.regret_curve) for r in rows]
    for pid, (info, leaves) in enumerate(finish_pair(procs, tmp_path)):
        assert info["process_count"] == 2
        assert info["seeds_here"] == [3, 3], f"process {pid}"
        for got, ref in zip(leaves, want, strict=True):
            np.testing.assert_array_equal(got, ref, err_msg=f"process {pid}")
