"""The command line's join options: parsing, clear errors (no training, no JAX initialisation),
and who writes the output folder in a multi-process run.

(A whole two-process run of the command is not repeated here: ``test_distributed`` runs the
library's; the command adds only the join and the writer rule tested below.)
"""

import dataclasses
import socket
import time
from pathlib import Path
from typing import Any

import jax
import pytest

from dynaq_jax import distributed
from dynaq_jax.experiments import multiprocess
from dynaq_jax.experiments.cli import main, parse_args
from dynaq_jax.experiments.multiprocess import JoinOptions, run_as_writer_or_not


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_join_options_parse() -> None:
    args = ["maze", "--coordinator-address", "10.0.0.1:1234", "--num-processes", "4"]
    command = parse_args([*args, "--process-id", "3", "--join-timeout", "60", "--out", "x"])
    join = command.join  # type: ignore[union-attr]
    assert join == JoinOptions("10.0.0.1:1234", 4, 3, False, 60) and join.wanted
    plain = parse_args(["frozen-lake", "--out", "x"])
    assert not plain.join.wanted  # type: ignore[union-attr]
    assert parse_args(["shortcut", "--distributed"]).join.distributed  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--coordinator-address", "127.0.0.1:1234"], "give --coordinator-address, --num-proc"),
        (["--coordinator-address", "nohost", "--num-processes", "2", "--process-id", "0"], "PORT"),
        (["--coordinator-address", "h:1", "--num-processes", "2", "--process-id", "2"], "id=2"),
        (["--distributed", "--coordinator-address", "h:1"], "give one of them"),
        (["--distributed", "--join-timeout", "0"], "--join-timeout=0 must lie in"),
    ],
)
def test_bad_join_options_are_usage_errors(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert main(["maze", "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dynaq-jax: error: ") and message in err, err
    assert not out.exists()


def test_unreachable_coordinator_is_an_error_within_the_timeout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    start = time.monotonic()
    argv = ["maze", "--out", str(tmp_path / "run"), "--coordinator-address", f"127.0.0.1:{port}"]
    status = main([*argv, "--num-processes", "2", "--process-id", "1", "--join-timeout", "1"])
    assert status == 2 and time.monotonic() - start < 5
    err = capsys.readouterr().err
    assert f"could not reach the coordinator at 127.0.0.1:{port} within 1 s" in err
    assert not (tmp_path / "run").exists()


def test_auto_detection_without_a_cluster_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_cluster(**kw: Any) -> None:
        raise ValueError("coordinator_address should be defined.")

    monkeypatch.setattr(jax.distributed, "initialize", no_cluster)
    assert main(["maze", "--out", str(tmp_path / "run"), "--distributed"]) == 2
    assert "could not detect a multi-process run" in capsys.readouterr().err


@dataclasses.dataclass(frozen=True)
class Fake:
    out: Path


def write_into_out(c: Fake) -> int:
    c.out.mkdir(parents=True)
    (c.out / "summary.json").write_text("{}")
    print("the report")
    return 0


def test_only_process_0_writes_the_output_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "run"
    assert run_as_writer_or_not(Fake(out), out, write_into_out) == 0
    assert (out / "summary.json").exists() and "the report" in capsys.readouterr().out
    # process 1 of 2: same steps, a private folder removed afterwards, one line printed
    other = tmp_path / "other"
    seen: list[Path] = []

    def record(c: Fake) -> int:
        seen.append(c.out)
        return write_into_out(c)

    monkeypatch.setattr(distributed, "process_index", lambda: 1)
    monkeypatch.setattr(distributed, "process_count", lambda: 2)
    assert multiprocess.distributed.is_writer() is False
    assert run_as_writer_or_not(Fake(other), other, record) == 0
    assert not other.exists() and seen and seen[0] != other and not seen[0].exists()
    printed = capsys.readouterr().out
    assert printed == f"process 1 of 2: done (status 0); process 0 wrote {other}\n"
