"""The experiments' outputs: output folders, CSV and JSON files (``summary.json`` with the command
line and the versions), and the pieces of the terminal reports.
"""

import csv
import json
import math
import platform
from collections.abc import Mapping, Sequence
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


def write_json(path: Path, data: Mapping[str, Any]) -> Path:
    """Write ``jsonable(data)`` as indented JSON; return ``path``."""
    path.write_text(json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")
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
    """The output folder, made if needed (``ValueError`` if ``out`` is a file)."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output folder {path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


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
    "compact_number",
    "config_text",
    "jsonable",
    "out_dir",
    "path_cell",
    "path_text",
    "stats_header",
    "stats_row",
    "timing_line",
    "versions",
    "with_summary",
    "write_csv",
    "write_json",
]
