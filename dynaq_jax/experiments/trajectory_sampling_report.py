"""Figure 8.8's read-outs (``dynaq-jax trajectory-sampling``): the JSON summary, the terminal
report, a markdown table and the output folder of a ``run_trajectory_sampling`` result
(``dynaq_jax.experiments.trajectory_sampling``)."""

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from dynaq_jax.experiments.common import spread
from dynaq_jax.experiments.output import DPI, out_dir, versions, with_summary
from dynaq_jax.experiments.trajectory_sampling import METHODS, TrajectorySamplingResult
from dynaq_jax.plotting.updates import plot_trajectory_sampling

READOUT_FRACTIONS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
"""The summary reads each curve at these fractions of the updates (the nearest evaluation)."""


def _mean_se(x: NDArray[np.float64]) -> dict[str, float]:
    s = spread(x)
    return {"mean": s["mean"], "se": s["se"]}


def summarize_trajectory_sampling(result: TrajectorySamplingResult) -> dict[str, Any]:
    """The JSON-ready summary: per ``b``, ``v*(start)`` (mean, s.e.), and per planner the mean
    curve and its read-outs (mean ± s.e. over tasks at ``READOUT_FRACTIONS`` of the updates);
    the paired difference on-policy - uniform there; the first evaluation from which the uniform
    mean stays at or above the on-policy mean (``None``: never)."""
    p = result.protocol
    x = result.updates
    at = sorted({int(np.argmin(np.abs(x - f * p.updates))) for f in READOUT_FRACTIONS})
    rows = []
    for b in p.branching:
        on, uni = result.values[b]["on-policy"], result.values[b]["uniform"]
        ahead = uni.mean(0) >= on.mean(0)
        stays = [i for i in range(1, len(x)) if ahead[i:].all()]
        diff = on - uni
        rows.append(
            {
                "branching": b,
                "optimal_start_value": _mean_se(result.optimal[b]),
                "readout_updates": [int(x[i]) for i in at],
                "planners": {
                    m: {
                        "mean_curve": result.values[b][m].mean(0),
                        "readouts": [_mean_se(result.values[b][m][:, i]) for i in at],
                        "final_fraction_of_optimal": float(
                            result.values[b][m][:, -1].mean() / result.optimal[b].mean()
                        ),
                    }
                    for m in METHODS
                },
                "on_policy_minus_uniform": [_mean_se(diff[:, i]) for i in at],
                "uniform_ahead_from": int(x[stays[0]]) if stays else None,
            }
        )
    bound = p.continuation**result.horizon * p.continuation * result.max_abs_reward / p.termination
    return {
        "experiment": "trajectory-sampling",
        "figure": "Sutton & Barto (2018) Figure 8.8",
        "protocol": dataclasses.asdict(p),
        "updates": x,
        "rows": rows,
        "evaluation": {
            "method": "exact: the greedy policy's Bellman expectation equation iterated "
            f"{result.horizon} times",
            "horizon": result.horizon,
            "error_bound": bound,
        },
        "timing": {"compile_s": result.compile_s, "run_s": result.run_s},
        "versions": versions(),
    }


def format_trajectory_sampling(summary: Mapping[str, Any]) -> str:
    """The terminal report of a ``summarize_trajectory_sampling`` summary."""
    p = summary["protocol"]
    lines = [
        f"Trajectory sampling (Sutton & Barto Figure 8.8): {p['states']:,} states, "
        f"{p['tasks']} tasks per curve, {p['updates']:,} expected updates, epsilon "
        f"{p['epsilon']:g}, termination {p['termination']:g}, seed {p['seed']}",
        "value of the start state under the greedy policy (exact), mean ± s.e. over tasks:",
        "",
    ]
    for r in summary["rows"]:
        head = "".join(f"{u:>16,}" for u in r["readout_updates"])
        opt = r["optimal_start_value"]
        lines.append(f"b = {r['branching']}: v*(start) {opt['mean']:.3f} ± {opt['se']:.3f}")
        lines.append(f"{'updates':>12}{head}")
        for m in METHODS:
            cells = "".join(
                f"{c['mean']:>9.3f} ± {c['se']:<4.2f}" for c in r["planners"][m]["readouts"]
            )
            lines.append(f"{m:>12}{cells}")
        ahead = r["uniform_ahead_from"]
        lines.append(
            f"{'':>12}uniform at or above on-policy from "
            + (f"{ahead:,} updates on" if ahead is not None else "no evaluation on")
        )
        lines.append("")
    t = summary["timing"]
    e = summary["evaluation"]
    lines.append(
        f"evaluation: {e['horizon']} steps summed, error <= {e['error_bound']:.1e}; time: "
        f"compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s"
    )
    return "\n".join(lines)


def markdown_table(summary: Mapping[str, Any]) -> str:
    """The summary as a markdown table: one line per ``b`` and planner, the mean ± s.e. at each
    read-out, and ``v*(start)``."""
    rows = summary["rows"]
    updates = rows[0]["readout_updates"]
    head = ["b", "planner", *(f"{u:,} updates" for u in updates), "v*(start)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        opt = r["optimal_start_value"]
        for m in METHODS:
            cells = [f"{c['mean']:.2f} ± {c['se']:.2f}" for c in r["planners"][m]["readouts"]]
            lines.append(
                f"| {r['branching']} | {m} | " + " | ".join(cells) + f" | {opt['mean']:.2f} |"
            )
    return "\n".join(lines)


def write_trajectory_sampling(
    result: TrajectorySamplingResult,
    out: str | Path,
    *,
    command: str | None = None,
    dpi: int = DPI,
) -> list[Path]:
    """Write the output folder and return the files written.

    - ``metrics.npz``: ``updates`` ``[E]``, ``branching``, ``values`` ``[b values, 2 planners
      (on-policy, uniform), tasks, E]``, ``optimal`` ``[b values, tasks]``;
    - ``summary.json`` (``summarize_trajectory_sampling``);
    - ``learning_curves.png``: Figure 8.8 (a panel for this number of states).
    """
    folder = out_dir(out)
    p = result.protocol
    files: list[Path] = []
    metrics = folder / "metrics.npz"
    np.savez_compressed(
        metrics,
        updates=result.updates,
        branching=np.asarray(p.branching),
        values=np.stack([[result.values[b][m] for m in METHODS] for b in p.branching]),
        optimal=np.stack([result.optimal[b] for b in p.branching]),
    )
    files.append(metrics)
    files.append(
        plot_trajectory_sampling(
            result.updates,
            {(b, m): result.values[b][m] for b in p.branching for m in METHODS},
            folder / "learning_curves.png",
            optimum={b: float(result.optimal[b].mean()) for b in p.branching},
            title=(
                f"Figure 8.8: {p.states:,} states, mean ± s.e. over {p.tasks} tasks (exact values)"
            ),
            dpi=dpi,
        )
    )
    return with_summary(folder, files, summarize_trajectory_sampling(result), command)


__all__ = [
    "READOUT_FRACTIONS",
    "format_trajectory_sampling",
    "markdown_table",
    "summarize_trajectory_sampling",
    "write_trajectory_sampling",
]
