"""The experiments' outputs: output folders, CSV and JSON files (``summary.json`` with the command
line and the versions), and the pieces of the terminal reports.

Output folders of the command line (``check_out``, ``staged_output``): ``--out`` is checked before
any training (creatable, writable, not the current folder, not a folder of other files), and a run
writes its files into a hidden sibling ``.NAME.partial-<pid>-<hex>`` that replaces ``NAME`` only
once every file is written (the old folder is renamed aside to ``.NAME.old-<pid>-<hex>``, the new
one renamed in, the old one removed). So ``--out`` is always one complete run: an interrupted run
(Ctrl-C) removes its partial folder, and one that is killed leaves it, recognisable by its name,
for the next run to the same ``--out`` to remove.

JSON is strict (``json.dumps(..., allow_nan=False)``): a number that is undefined (a rate over no
run time, the statistics of no solved seeds) is written as ``null``.
"""

import contextlib
import csv
import fnmatch
import json
import math
import os
import platform
import secrets
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import jax
import numpy as np

from dynaq_jax.version import __version__

DPI = 100
"""Resolution of the PNG plots the writers make (``dpi`` argument)."""


def path_cell(g: Mapping[str, Any]) -> str:
    """``optimal% (mean length)`` for the terminal tables."""
    length = f"{g['length']['mean']:.1f}" if g["length"] else "-"
    return f"{g['optimal_fraction']:.0%} ({length})"


def path_text(length: int, shortest: int) -> str:
    """The greedy path in words, for a plot's title (``length < 0``: it never arrives)."""
    if length < 0:
        return "the greedy path never reaches the goal"
    return f"greedy path from the start: {length} steps (shortest {shortest})"


def jsonable(x: Any) -> Any:
    """``x`` with NumPy values, paths and tuples made JSON-ready (non-finite floats: ``None``)."""
    if isinstance(x, Mapping):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, np.ndarray):
        return jsonable(x.tolist())
    if isinstance(x, np.generic):
        return jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def versions() -> dict[str, str]:
    """The versions of dynaq_jax, JAX, NumPy and Python (for ``summary.json``)."""
    return {
        "dynaq_jax": __version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def write_json(path: Path, data: Mapping[str, Any] | Sequence[Any]) -> Path:
    """Write ``jsonable(data)`` as indented, strict JSON (non-finite floats: ``null``); return
    ``path``. The file appears whole: it is written beside ``path`` and renamed onto it."""
    text = json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n"
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def with_summary(
    folder: Path, files: list[Path], summary: dict[str, Any], command: str | None
) -> list[Path]:
    """Write ``summary.json`` (the summary, the command line, the files written) last; return
    every file written."""
    path = folder / "summary.json"
    files.append(path)
    summary["command"] = command
    summary["files"] = [f.name for f in files]
    write_json(path, summary)
    return files


def write_csv(path: Path, header: Sequence[str], rows: Any) -> Path:
    """Write a CSV file: the header, then the rows; return ``path``."""
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def out_dir(out: str | Path) -> Path:
    """The output folder, made if needed, without an earlier run's ``summary.json`` (``ValueError``
    if ``out`` is a file). A writer writes ``summary.json`` last, so a folder without one is
    incomplete; the command line writes into a fresh folder anyway (``staged_output``)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output folder {path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    (path / "summary.json").unlink(missing_ok=True)
    return path


# -- output folders of the command line: checked first, written whole -----------------------------

OUTPUT_FILES: tuple[str, ...] = (
    "summary.json",
    "metrics.npz",
    "agents.npz",
    "episodes.csv",
    "seeds.csv",
    "steps_per_episode.csv",
    "cumulative_reward.csv",
    "learning_curves.png",
    "policy.png",
    "policy_optimal.png",
    "steps_per_episode.png",
    "cumulative_reward.png",
    "policy_dyna_q.png",
    "policy_dyna_q_plus.png",
    "bench.json",
    "scaling_*.png",
    "example84.json",
    "example84.png",
    "frozenlake_*.json",
    "explore.csv",
    "regret.csv",
    "explore.png",
)
"""The names (``fnmatch`` patterns) of the files the subcommands write. An existing ``--out`` is
replaced only if it holds nothing else: a run never deletes files it did not write."""

PARTIAL_TAG = ".partial-"
"""A run's folder while it is written: ``.NAME.partial-<pid>-<hex>`` beside ``NAME``."""
OLD_TAG = ".old-"
"""The replaced folder, until it is removed: ``.NAME.old-<pid>-<hex>``."""
_PROBE_TAG = ".probe-"


def is_output_file(name: str) -> bool:
    """Whether ``name`` is the name of a file some subcommand writes (``OUTPUT_FILES``), or the
    temporary name ``write_json`` writes one under (``.NAME.tmp-<pid>``)."""
    if name.startswith(".") and ".tmp-" in name:
        name = name[1:].rsplit(".tmp-", 1)[0]
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in OUTPUT_FILES)


def _foreign_entries(folder: Path) -> list[str]:
    """The entries of ``folder`` that no run writes (sub-folders, other files), sorted."""
    return sorted(
        e.name
        for e in folder.iterdir()
        if e.is_symlink() or not e.is_file() or not is_output_file(e.name)
    )


def _target(out: str | Path) -> Path:
    """The absolute path of the output folder (a link to a folder: the folder it points to)."""
    path = Path(os.path.abspath(out))
    return path.resolve() if path.is_symlink() else path


def _sibling(final: Path, tag: str) -> Path:
    return final.parent / f".{final.name}{tag}{os.getpid()}-{secrets.token_hex(4)}"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name != "posix":  # os.kill(pid, 0) would send Ctrl-C on Windows: treat it as gone
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists but is not ours, or the check is not supported here
        return True
    return True


def leftovers(out: str | Path) -> list[Path]:
    """The partial and replaced folders that runs to ``out`` left behind (killed runs; not those
    of a run still going)."""
    final = _target(out)
    try:
        entries = list(final.parent.iterdir())
    except OSError:  # no parent yet, or one we cannot list
        return []
    found = []
    for entry in entries:
        for tag in (PARTIAL_TAG, OLD_TAG, _PROBE_TAG):
            prefix = f".{final.name}{tag}"
            if not entry.name.startswith(prefix):
                continue
            pid = entry.name[len(prefix) :].split("-")[0]
            if (
                entry.is_dir()
                and not entry.is_symlink()
                and not (pid.isdigit() and _pid_alive(int(pid)))
            ):
                found.append(entry)
    return sorted(found)


def remove_leftovers(out: str | Path) -> list[Path]:
    """Remove ``leftovers(out)``; return them."""
    found = leftovers(out)
    for entry in found:
        shutil.rmtree(entry, ignore_errors=True)
    return found


def _probe(folder: Path, name: str) -> None:
    """Make and remove a folder holding one small file in ``folder`` (``OSError`` if it cannot)."""
    probe = folder / name
    probe.mkdir()
    try:
        (probe / "probe").write_bytes(b"dynaq-jax")
    finally:
        shutil.rmtree(probe, ignore_errors=True)


def check_out(out: str | Path) -> Path:
    """Check the output folder ``out`` before any work; return its absolute path.

    Creates its parent folder, probes that a folder and a file can be written there, and removes
    what killed runs to ``out`` left (``remove_leftovers``). Raises ``ValueError``
    (``"--out OUT: reason"``) when ``out`` is empty, is the current folder or one above it (a run
    replaces its folder whole), exists and is not a folder, holds files no run writes, lies under a
    file, or cannot be created or written.
    """
    text = str(out)
    label = f"--out {text!r}" if not text or text != text.strip() else f"--out {text}"
    if not text.strip():
        raise ValueError(f"{label}: empty; name the output folder (e.g. runs/NAME)")
    final = _target(out)
    cwd = Path.cwd().resolve()
    if final.resolve() == cwd or final.resolve() in cwd.parents:
        raise ValueError(
            f"{label}: is the current folder or one above it; a run replaces its output folder "
            "whole, so name a folder of its own (e.g. runs/NAME)"
        )
    if final.exists() and not final.is_dir():
        raise ValueError(f"{label}: exists and is not a folder")
    if final.is_dir():
        try:
            foreign = _foreign_entries(final)
        except OSError as err:
            raise ValueError(f"{label}: cannot read it: {err.strerror or err}") from None
        if foreign:
            shown = ", ".join(foreign[:5]) + (", ..." if len(foreign) > 5 else "")
            raise ValueError(
                f"{label}: holds {len(foreign)} entries no dynaq-jax run writes ({shown}); a "
                "run replaces its output folder whole, so name a new or empty folder, or one "
                "an earlier run wrote"
            )
    try:
        above = final.parent
        while not above.exists() and above != above.parent:
            above = above.parent
        if not above.is_dir():
            raise ValueError(f"{label}: {above} is a file, not a folder")
        final.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"{label}: cannot create {final.parent}: {err.strerror or err}") from None
    try:
        _probe(final.parent, _sibling(final, _PROBE_TAG).name)
    except OSError as err:
        raise ValueError(
            f"{label}: cannot write in {final.parent}: {err.strerror or err}"
        ) from None
    remove_leftovers(final)
    return final


def _commit(stage: Path, final: Path, keep: Callable[[str], bool] | None) -> None:
    """Put the written folder ``stage`` in the place of ``final`` (see ``staged_output``)."""
    if not final.exists():
        stage.rename(final)
        return
    if not final.is_dir():
        raise ValueError(f"--out {final}: exists and is not a folder")
    foreign = _foreign_entries(final)
    if foreign:
        raise ValueError(
            f"--out {final}: now holds entries no dynaq-jax run writes ({', '.join(foreign[:5])}); "
            "it is left as it was"
        )
    for entry in final.iterdir():
        if keep is not None and keep(entry.name) and not (stage / entry.name).exists():
            try:
                os.link(entry, stage / entry.name)
            except OSError:
                shutil.copy2(entry, stage / entry.name)
    old = _sibling(final, OLD_TAG)
    try:
        final.rename(old)
        stage.rename(final)
    except BaseException:
        if old.exists() and not final.exists():
            old.rename(final)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def staged_output(out: str | Path, keep: Callable[[str], bool] | None = None) -> Iterator[Path]:
    """A fresh folder to write a run's files into, which replaces the folder ``out`` whole when the
    block ends without an error.

    The folder is ``.NAME.partial-<pid>-<hex>`` beside ``out`` (same parent, so the renames stay
    on one file system). At the end the old ``out``, if any, is renamed aside, the new folder
    renamed in and the old one removed; files of the old folder for which ``keep(name)`` holds
    and that the run did not write are carried over first. On an error or an interrupt the partial
    folder is removed and ``out`` is left as it was; a killed run leaves its partial folder, which
    ``check_out`` and the next ``staged_output`` to ``out`` remove. ``ValueError`` if ``out``
    exists but is not a folder, or holds entries no run writes (``OUTPUT_FILES``).
    """
    final = _target(out)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final)
    stage = _sibling(final, PARTIAL_TAG)
    stage.mkdir()
    try:
        yield stage
        _commit(stage, final, keep)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise


def compact_number(x: float) -> str:
    """A compact number: 3 significant digits, thousands as k, millions as M."""
    if not math.isfinite(x):
        return "n/a"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def timing_line(t: Mapping[str, Any]) -> str:
    """The terminal report's line on compile and run time (``Timing.to_dict``)."""
    g = compact_number
    return (
        f"time: compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s; "
        f"{g(t['real_steps'])} real steps ({g(t['real_steps_per_s'])}/s), "
        f"{g(t['planning_updates'])} planning updates ({g(t['planning_updates_per_s'])}/s) "
        f"on {t['devices']} {t['backend']} device(s)"
    )


def stats_row(label: str, s: Mapping[str, float], width: int, fmt: str = ".3f") -> str:
    """A table row: ``label``, then the mean, s.d., min, median and max of a ``spread``."""
    cells = "".join(f"{s[k]:>8{fmt}}" for k in ("mean", "sd", "min", "median", "max"))
    return f"{label:<{width}}{cells}"


def stats_header(width: int) -> str:
    """The header of ``stats_row``'s columns."""
    return f"{'':<{width}}" + "".join(f"{k:>8}" for k in ("mean", "s.d.", "min", "median", "max"))


def config_text(cfg: Mapping[str, Any]) -> str:
    """A config (``DynaQConfig.to_dict``) in words: n, model, alpha, gamma, epsilon, kappa."""
    text = (
        f"n = {cfg['planning_steps']}, {cfg['model']} model, alpha {cfg['learning_rate']:g}, "
        f"gamma {cfg['discount']:g}, epsilon {cfg['epsilon']:g}"
    )
    if cfg["kappa"]:
        text += f", kappa {cfg['kappa']:g} (Dyna-Q+)"
    return text


__all__ = [
    "DPI",
    "OLD_TAG",
    "OUTPUT_FILES",
    "PARTIAL_TAG",
    "check_out",
    "compact_number",
    "config_text",
    "is_output_file",
    "jsonable",
    "leftovers",
    "out_dir",
    "path_cell",
    "path_text",
    "remove_leftovers",
    "staged_output",
    "stats_header",
    "stats_row",
    "timing_line",
    "versions",
    "with_summary",
    "write_csv",
    "write_json",
]
