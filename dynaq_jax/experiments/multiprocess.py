"""The command line in a multi-process run: joining it, and who writes the output folder.

Every process of the run starts the same ``dynaq-jax`` command with the join options
(``JoinOptions``: ``--coordinator-address HOST:PORT --num-processes N --process-id I``, or
``--distributed`` for ``jax.distributed.initialize()``'s own detection on SLURM, Open MPI,
Kubernetes or Cloud TPU). The seeds are split over every device of every process and each
process gets the whole result (``train_seeds``'s gather). Process 0 checks ``--out``, writes the
output folder and prints the report; the other processes run the same steps (they take part in
every collective of the run) with a private temporary folder, removed afterwards, and print one
line.
"""

import contextlib
import dataclasses
import io
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, TypeVar

import tyro

from dynaq_jax import distributed

C = TypeVar("C")

JOIN_HELP = "join a multi-process run (jax.distributed); process 0 writes --out"


@dataclasses.dataclass(frozen=True)
class JoinOptions:
    """How this process joins a multi-process run (none of them: a single-process run)."""

    coordinator_address: Annotated[str | None, tyro.conf.arg(metavar="HOST:PORT")] = None
    """process 0's address, where it serves the run (with --num-processes and --process-id)"""
    num_processes: Annotated[int | None, tyro.conf.arg(metavar="N")] = None
    """the number of processes of the run"""
    process_id: Annotated[int | None, tyro.conf.arg(metavar="I")] = None
    """this process's id, 0 .. N - 1"""
    distributed: bool = False
    """join a run that jax.distributed detects (SLURM, Open MPI, Kubernetes, Cloud TPU)"""
    join_timeout: int = 300
    """seconds to wait for every process to join before giving up"""

    @property
    def wanted(self) -> bool:
        """Whether any join option was given."""
        given = (self.coordinator_address, self.num_processes, self.process_id)
        return self.distributed or any(v is not None for v in given)


SINGLE = JoinOptions()
"""No join: a single-process run."""


def join_run(options: JoinOptions) -> None:
    """``distributed.join`` with the command line's options (nothing without them). Every error
    is a ``ValueError`` naming the option (the command prints ``dynaq-jax: error: ...``)."""
    if not options.wanted:
        return
    if options.distributed and options.coordinator_address is not None:
        raise ValueError(
            "--distributed detects the run; --coordinator-address names it: give one of them"
        )
    try:
        distributed.join(
            options.coordinator_address,
            options.num_processes,
            options.process_id,
            timeout_s=options.join_timeout,
        )
    except TimeoutError as err:
        raise ValueError(str(err)) from None
    except ValueError as err:
        text = str(err)
        for name, flag in (
            ("coordinator_address", "--coordinator-address"),
            ("num_processes", "--num-processes"),
            ("process_id", "--process-id"),
            ("timeout_s", "--join-timeout"),
        ):
            text = text.replace(name, flag)
        raise ValueError(text) from None


def use_cpu_devices(devices: int | None, multi_process: bool) -> None:
    """``distributed.use_cpu_devices`` for ``--cpu-devices`` (``None``: one device per core, or
    in a multi-process run one per process, JAX's default). Errors name the option."""
    if devices is None and multi_process:
        return
    try:
        distributed.use_cpu_devices(devices)
    except ValueError as err:
        text = str(err).replace("must be None or an int", "must be an int")
        raise ValueError(text.replace("use_cpu_devices: n", "--cpu-devices")) from None


def writes(joined: bool) -> bool:
    """Whether this process writes the output folder: process 0 of a run it ``joined``, or a
    process that joined none, which is then the only one (known without asking JAX, which would
    start it before a command has chosen its devices)."""
    return not joined or distributed.is_writer()


def run_as_writer_or_not(
    command: C, out: Path, run: Callable[[C], int], *, joined: bool = True
) -> int:
    """``run(command)`` on the writer (``writes(joined)``); on any other process, ``run`` on the
    same command with ``out`` replaced by a private temporary folder (removed afterwards), its
    output muted, and one line printed instead."""
    if writes(joined):
        return run(command)
    scratch = Path(tempfile.mkdtemp(prefix="dynaq-jax-process-"))
    try:
        other = dataclasses.replace(command, out=scratch / "out")  # type: ignore[type-var]
        with contextlib.redirect_stdout(io.StringIO()):
            status = run(other)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(
        f"process {distributed.process_index()} of {distributed.process_count()}: done "
        f"(status {status}); process 0 wrote {out}"
    )
    return status


__all__ = [
    "JOIN_HELP",
    "SINGLE",
    "JoinOptions",
    "join_run",
    "run_as_writer_or_not",
    "use_cpu_devices",
    "writes",
]
