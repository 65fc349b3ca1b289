"""Beyond one machine: the compiled loop on JAX's multi-controller runtime.

Every process of a run calls ``join`` (``jax.distributed.initialize``) before any JAX work; then
``jax.devices()`` lists the devices of every process, and ``train_seeds`` / ``train_sweep`` split
the seed (and config) axis over all of them: a global mesh, one shard per device, each process
computing only its own devices' shards. Each process then gets the whole result
(``gather_result``, which the trainers call unless ``gather=False``). Results are bit-identical to
one process: a seed's result never depends on which device ran it.

On CPU, JAX's gloo collectives connect the processes; two processes on one machine (127.0.0.1 and
a free port) are a complete multi-process run. On a cluster, ``join()`` without arguments lets
``jax.distributed.initialize`` detect the coordinator, the number of processes and this process's
id (SLURM, Open MPI, Kubernetes, Cloud TPU).
"""

import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding, PartitionSpec

T = TypeVar("T")
R = TypeVar("R")

SEEDS_AXIS = "seeds"
"""The mesh axis the seed (and config) axis is split over."""

EXIT_JOIN_TIMEOUT = 3
"""Exit status of a process that ``join`` ends because the run did not form in time."""


def process_count() -> int:
    """``jax.process_count()``: the processes of the run (1 without ``join``)."""
    return int(jax.process_count())


def process_index() -> int:
    """``jax.process_index()``: this process's id, ``0 .. process_count() - 1``."""
    return int(jax.process_index())


def is_multi_process() -> bool:
    """Whether JAX runs multi-controller (more than one process joined the run)."""
    return process_count() > 1


def is_writer() -> bool:
    """Whether this process writes files: process 0 only (every process of a run computes the
    same gathered results; one of them saves them)."""
    return process_index() == 0


def _parse_address(address: object) -> tuple[str, int]:
    if not isinstance(address, str) or address.count(":") < 1:
        raise ValueError(f"join: coordinator_address must be 'HOST:PORT', got {address!r}")
    host, _, port_text = address.rpartition(":")
    host = host.strip("[]")
    if not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(
            f"join: coordinator_address must be 'HOST:PORT' with a port in [1, 65535], "
            f"got {address!r}"
        )
    return host, int(port_text)


def _check_count(name: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"join: {name} must be an int, got {value!r}")
    if not lo <= int(value) <= hi:
        raise ValueError(f"join: {name}={int(value)} must lie in [{lo}, {hi}]")
    return int(value)


def wait_for_coordinator(host: str, port: int, timeout_s: float) -> None:
    """Try a TCP connection to ``host:port`` until one succeeds or ``timeout_s`` pass.

    Raises:
        TimeoutError: nothing accepted a connection there within ``timeout_s`` seconds.
    """
    deadline = time.monotonic() + timeout_s
    last: OSError | None = None
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            with socket.create_connection((host, port), timeout=min(1.0, left)):
                return
        except OSError as err:
            last = err
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0)))
    reason = f" ({last.strerror or last})" if last is not None else ""
    raise TimeoutError(
        f"join: could not reach the coordinator at {host}:{port} within {timeout_s:g} s{reason}; "
        "is process 0 running with the same --coordinator-address, and is the port open?"
    )


def _watchdog(message: str, timeout_s: float) -> threading.Timer:
    """A timer that prints ``message`` and ends the process when ``join`` overruns: JAX's
    coordination client would otherwise abort it a little later with a C++ check failure."""

    def fire() -> None:
        sys.stderr.write(message + "\n")
        sys.stderr.flush()
        os._exit(EXIT_JOIN_TIMEOUT)

    timer = threading.Timer(timeout_s, fire)
    timer.daemon = True
    timer.start()
    return timer


def join(
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout_s: int = 300,
    initialize: Callable[..., None] | None = None,
) -> None:
    """Join a multi-process run: ``jax.distributed.initialize(coordinator_address,
    num_processes, process_id)`` with clear errors and a bounded wait.

    Call it in every process before any JAX computation. Without arguments, JAX detects the run
    from the cluster's environment (SLURM, Open MPI, Kubernetes, Cloud TPU). With a coordinator
    address (``HOST:PORT`` of process 0, which serves it), give all three. A process other than
    0 first checks that the coordinator accepts connections (``wait_for_coordinator``: a
    ``TimeoutError`` naming the address after ``timeout_s``); any process whose run has not
    formed after ``timeout_s`` (another process never came) prints a message naming the address
    and the processes, and exits with status ``EXIT_JOIN_TIMEOUT``, since JAX's coordination
    client would abort it anyway. ``initialize`` replaces ``jax.distributed.initialize`` (tests).

    Raises:
        ValueError: a malformed address, counts out of range, only some of the three given, or
            JAX's own refusal (e.g. auto-detection found no cluster, or JAX already computed).
        TimeoutError: a process other than 0 could not reach the coordinator in time.
    """
    given = [coordinator_address is not None, num_processes is not None, process_id is not None]
    timeout_s = _check_count("timeout_s", timeout_s, 1, 24 * 3600)
    init = initialize if initialize is not None else jax.distributed.initialize
    if any(given) and not all(given):
        raise ValueError(
            "join: give coordinator_address, num_processes and process_id together, or none of "
            "them (jax.distributed.initialize then detects the cluster), got "
            f"coordinator_address={coordinator_address!r}, num_processes={num_processes!r}, "
            f"process_id={process_id!r}"
        )
    if not any(given):
        try:
            init(initialization_timeout=timeout_s)
        except (ValueError, RuntimeError) as err:
            raise ValueError(
                f"join: jax.distributed.initialize() could not detect a multi-process run from "
                f"this environment ({err}); pass coordinator_address, num_processes and process_id"
            ) from err
        return
    host, port = _parse_address(coordinator_address)
    n = _check_count("num_processes", num_processes, 1, 2**20)
    pid = _check_count("process_id", process_id, 0, n - 1)
    start = time.monotonic()
    if pid != 0:
        wait_for_coordinator(host, port, timeout_s)
    left = max(1, int(timeout_s - (time.monotonic() - start)))
    timer = _watchdog(
        f"dynaq-jax: error: join: the run of {n} processes at {coordinator_address} did not form "
        f"within {timeout_s} s (this is process {pid}); start every process with the same "
        "coordinator address and number of processes, each with its own process id",
        left,
    )
    try:
        init(
            coordinator_address=coordinator_address,
            num_processes=n,
            process_id=pid,
            initialization_timeout=left + 30,
        )
    except (ValueError, RuntimeError) as err:
        raise ValueError(f"join: jax.distributed.initialize refused: {err}") from err
    finally:
        timer.cancel()


# -- one process, several cores -------------------------------------------------------------------

DEVICE_FLAG = "--xla_force_host_platform_device_count"
"""The ``XLA_FLAGS`` flag that sets the number of host (CPU) devices."""


def cpu_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS reports one, else
    ``os.cpu_count()``; at least 1)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def flagged_cpu_devices(flags: str | None = None) -> int | None:
    """The host device count that ``XLA_FLAGS`` (``flags``; default the environment's) sets with
    ``--xla_force_host_platform_device_count=N``, or ``None`` where it sets none."""
    text = os.environ.get("XLA_FLAGS", "") if flags is None else flags
    found = None
    for flag in text.split():
        name, _, value = flag.partition("=")
        if name == DEVICE_FLAG:
            found = int(value) if value.strip().isdigit() else None
    return found


def use_cpu_devices(n: int | None = None) -> int:
    """Give this process ``n`` CPU devices (default: one per core, ``cpu_cores()``), so that
    ``train_seeds`` and ``train_sweep`` split their seeds over the cores; return the CPU devices
    the process has.

    On CPU, one XLA device runs each kernel of the compiled loop in turn, and splits only large
    ones over the cores; ``n`` devices run ``n`` shards of the seeds side by side (one per core),
    with the same results bit for bit (a seed's result never depends on its device). It is JAX's
    ``jax_num_cpu_devices``, which JAX reads once, when it starts its CPU client: call this right
    after ``import dynaq_jax``, before any JAX computation. ``XLA_FLAGS`` with
    ``--xla_force_host_platform_device_count=N`` (set before the process starts) is the same
    choice made outside; with ``n=None`` it is kept. Once JAX has computed, ``n=None`` keeps the
    devices JAX has. The command line calls it (``--cpu-devices``); a multi-process run keeps
    one CPU device per process unless given. Where JAX has no CPU backend (``JAX_PLATFORMS``
    naming only an accelerator), ``n=None`` returns 0. The CPU count does not change which
    devices ``train_seeds`` uses on a GPU or TPU: those of the default backend.

    Raises:
        ValueError: ``n`` not a positive int, or different from the count ``XLA_FLAGS`` sets, or
            JAX has already started with another count (the message says which and how many).
    """
    if n is not None and (isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1):
        raise ValueError(f"use_cpu_devices: n must be None or an int >= 1, got {n!r}")
    flagged = flagged_cpu_devices()
    if flagged is not None and n is not None and n != flagged:
        raise ValueError(
            f"use_cpu_devices: n={n} but XLA_FLAGS sets {DEVICE_FLAG}={flagged}; give one of them"
        )
    want = int(n) if n is not None else (flagged or cpu_cores())
    if flagged is None:
        try:
            jax.config.update("jax_num_cpu_devices", want)  # type: ignore[no-untyped-call]
        except RuntimeError:  # JAX has started: its CPU client has its devices
            pass
    try:
        have = len(jax.devices("cpu"))
    except RuntimeError as err:  # JAX_PLATFORMS without cpu: an accelerator-only process
        if n is None:
            return 0
        message = f"use_cpu_devices: n={n}, but JAX has no CPU backend here ({err})"
        raise ValueError(message) from None
    if n is not None and have != n:
        raise ValueError(
            f"use_cpu_devices: n={n} CPU devices asked for, but JAX has already started with "
            f"{have}; call it before any JAX computation (or set XLA_FLAGS={DEVICE_FLAG}={n} "
            "before the process starts)"
        )
    return have


# -- global arrays --------------------------------------------------------------------------------


def global_mesh() -> Mesh:
    """A one-axis mesh (``SEEDS_AXIS``) over every device of every process."""
    return Mesh(np.array(jax.devices()), (SEEDS_AXIS,))


def to_global(tree: T, mesh: Mesh, split: bool) -> T:
    """Every array leaf of ``tree`` (the same host values on every process) as a global array on
    ``mesh``: split along its first axis (``split``) or replicated; Python numbers are left as
    they are. Each process fills only its own devices' shards. (Typed PRNG keys: pass their
    ``jax.random.key_data``.)"""
    spec = PartitionSpec(SEEDS_AXIS) if split else PartitionSpec()  # type: ignore[no-untyped-call]
    sharding = NamedSharding(mesh, spec)

    def one(x: Any) -> Any:
        if not isinstance(x, jax.Array | np.ndarray | np.generic):
            return x
        host = np.asarray(x)
        return jax.make_array_from_callback(host.shape, sharding, lambda idx: host[idx])

    out: T = jax.tree.map(one, tree)
    return out


def gather_result(tree: T) -> T:
    """Every leaf of ``tree`` whole on every process: ``multihost_utils.process_allgather``
    (tiled along the split axis), back as device arrays. A no-op for arrays this process holds
    whole (one process, or results already gathered). Call it in every process."""
    leaves = jax.tree.leaves(tree)
    if all(getattr(x, "is_fully_addressable", True) for x in leaves):
        return tree
    host = multihost_utils.process_allgather(tree, tiled=True)
    out: T = jax.tree.map(jax.numpy.asarray, host)
    return out


def pad_rows(tree: T, size: int) -> T:
    """Every array leaf of ``tree`` with ``size`` rows along its first axis: the rows past its
    own count are copies of its last row (equal shards for ``shard_map`` or for every process;
    the copies are trimmed from the results)."""

    def one(x: Any) -> Any:
        extra = size - x.shape[0]
        return x if extra == 0 else jax.numpy.concatenate([x, jax.numpy.repeat(x[-1:], extra, 0)])

    out: T = jax.tree.map(one, tree)
    return out


def seed_devices(n: int) -> int:
    """The local devices ``n`` seeds (rows) are split over: ``min(local devices, n)``."""
    return min(len(jax.local_devices()), n)


def local_mesh(n_dev: int) -> Mesh:
    """A one-axis mesh (``SEEDS_AXIS``) over this process's first ``n_dev`` devices."""
    return Mesh(np.array(jax.local_devices()[:n_dev]), (SEEDS_AXIS,))


def over_local_devices(fn: Callable[[T], R], rows: T, devices: int | None = None) -> R:
    """``jax.jit(fn)(rows)`` with the rows split over this process's devices: ``fn`` maps a batch
    of rows (every leaf's leading axis) to a batch of results, one per row, each row's result
    depending on that row alone (``vmap`` of a per-row function). Each of ``min(devices, n)``
    local devices (default: all of them) runs ``fn`` on its block of ``ceil(n / devices)`` rows
    (the last block padded with copies of the last row, trimmed afterwards), with ``shard_map``;
    one device: plain ``jit``. Where ``fn`` is a ``vmap``, the results are those of one device,
    bit for bit. A new compilation each call: keep ``fn`` for calls that are few and long."""
    n = int(jax.tree.leaves(rows)[0].shape[0])
    n_dev = seed_devices(n) if devices is None else min(int(devices), n)
    if n_dev <= 1:
        return jax.jit(fn)(rows)  # type: ignore[no-any-return]
    padded = -(-n // n_dev) * n_dev
    mesh = local_mesh(n_dev)
    spec = PartitionSpec(SEEDS_AXIS)  # type: ignore[no-untyped-call]
    # Each device maps its own rows (no collectives): no varying-axis types to check.
    run = jax.shard_map(fn, mesh=mesh, in_specs=spec, out_specs=spec, check_vma=False)
    out = jax.jit(run)(pad_rows(rows, padded))
    return jax.tree.map(lambda x: x[:n], out)  # type: ignore[no-any-return]


def share_rows(x: jax.Array) -> jax.Array:
    """This process's block of the rows of ``x`` (the same rows on every process): process ``i``
    of ``P`` takes rows ``i m .. (i + 1) m - 1`` with ``m = ceil(n / P)``, the rows past ``n``
    being copies of the last one, so every process computes as many. For work split over
    processes with plain ``jit`` (no global arrays); ``gather_rows`` puts the results back
    together. ``x`` itself with one process."""
    n, count = x.shape[0], process_count()
    if count == 1:
        return x
    per = -(-n // count)
    start = process_index() * per
    return pad_rows(x, per * count)[start : start + per]


def gather_rows(local: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` rows of every process's ``local`` block stacked in process order
    (``share_rows``'s inverse): ``multihost_utils.process_allgather``, whole on every process.
    Call it in every process; ``local`` itself with one process."""
    if process_count() == 1:
        return local
    return np.asarray(multihost_utils.process_allgather(local, tiled=True))[:n]


def on_host(x: jax.Array) -> np.ndarray:
    """``x`` whole on this process as a NumPy array (``gather_result`` first when it is a global
    array; call it in every process)."""
    return np.asarray(gather_result(x))


__all__ = [
    "DEVICE_FLAG",
    "EXIT_JOIN_TIMEOUT",
    "SEEDS_AXIS",
    "cpu_cores",
    "flagged_cpu_devices",
    "gather_result",
    "gather_rows",
    "global_mesh",
    "is_multi_process",
    "is_writer",
    "join",
    "local_mesh",
    "on_host",
    "over_local_devices",
    "pad_rows",
    "process_count",
    "process_index",
    "seed_devices",
    "share_rows",
    "to_global",
    "use_cpu_devices",
    "wait_for_coordinator",
]
