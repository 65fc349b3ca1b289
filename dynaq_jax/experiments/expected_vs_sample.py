"""Sutton & Barto Figure 8.7: expected against sample updates (``dynaq-jax expected-vs-sample``):
``EXPECTED_VS_SAMPLE``, ``run_expected_vs_sample``, then ``summarize_expected_vs_sample``,
``format_expected_vs_sample`` and ``write_expected_vs_sample``.

The case of the book (section 8.5): one state-action pair whose ``b`` successor states are equally
likely, with values ``v_1 .. v_b`` that are *correct* (drawn once per run from ``N(0, 1)``), and an
estimate ``Q`` that starts at error ``initial_error`` (1) from the true value
``q = (1/b) sum_i v_i``. Each ``max_a' Q(s', a')`` computation is one unit of computation:

- the expected update computes all ``b`` of them and sets ``Q = sum_i (1/b) v_i = q``: the error
  is ``initial_error`` until ``b`` computations, then zero (to float32 rounding);
- a sample update computes one: ``Q <- Q + (1/t) (v_{I_t} - Q)`` with ``I_t`` uniform on ``1..b``
  (the sample average, step size ``1/t``); its expected squared error after ``t`` updates is
  ``E[(Q_t - q)^2] = (b - 1) / (b t)`` (the variance of one draw, ``(1/b) sum_i (v_i - q)^2``,
  has mean ``(b - 1) / b`` over ``v ~ N(0, 1)``): the book's ``sqrt((b - 1) / (b t))``.

The simulation measures the RMS error over ``runs`` independent runs per ``b`` (one compiled call
per ``b``, ``vmap`` over runs) and sets it beside that formula. Runs of ``b`` use keys
``split(fold_in(key(seed), b), runs)``: adding a ``b`` leaves the others' numbers unchanged.
"""

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Annotated, Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int
from numpy.typing import NDArray

from dynaq_jax.backups import expected_value, full_backup
from dynaq_jax.experiments.common import Stopwatch
from dynaq_jax.experiments.options import (
    MAX_COUNT,
    FieldCheck,
    PositiveInt,
    Seed,
    check_fields,
)
from dynaq_jax.experiments.output import DPI, out_dir, versions, with_summary
from dynaq_jax.numerics import row_sum, runtime_zero
from dynaq_jax.plotting.updates import plot_expected_vs_sample
from dynaq_jax.rng import normal_pairs, split_key, uniforms
from dynaq_jax.types import Key

BOOK_BRANCHING = (2, 10, 100, 1_000, 10_000)
"""Figure 8.7's branching factors."""

MAX_CELLS = 10**8
"""The most errors held at once, ``runs x (2 b + 1)`` for the largest ``b`` (400 MB of float32)."""

BRANCHING = FieldCheck(
    int,
    "an int >= 2",
    minimum=2,
    maximum=MAX_COUNT,
    maximum_text="2147483647 (2**31 - 1)",
    many=True,
    metavar="B",
)
INITIAL_ERROR = FieldCheck(float, "a number > 0", minimum=0.0, strict=True, metavar="ERROR")
Branching = Annotated[tuple[int, ...], BRANCHING, BRANCHING.cli()]
"""One or more branching factors ``b >= 2``."""
InitialError = Annotated[float, INITIAL_ERROR, INITIAL_ERROR.cli()]
"""The error of the estimate before any update: a finite number ``> 0``."""


@dataclasses.dataclass(frozen=True)
class ExpectedVsSampleProtocol:
    """Sutton & Barto Figure 8.7: RMS error of one estimate against the number of ``max``
    computations, for the expected update and for sample updates (step size ``1/t``), at each
    branching factor ``b`` in ``branching`` (the book: 2, 10, 100, 1,000, 10,000), over ``runs``
    independent runs (successor values ``v ~ N(0, 1)``, initial error ``initial_error``)."""

    branching: Branching = BOOK_BRANCHING
    """the branching factors b (each >= 2); each runs 2 b sample updates"""
    runs: PositiveInt = 200
    """independent runs per b (each draws new successor values); the RMS is taken over them"""
    initial_error: InitialError = 1.0
    """the estimate's error before any update (the book: 1)"""
    seed: Seed = 0
    """base PRNG seed; the runs of b use jax.random.split(fold_in(key(SEED), b), RUNS)"""

    def __post_init__(self) -> None:
        where = type(self).__name__
        if isinstance(self.branching, int | np.integer) and not isinstance(self.branching, bool):
            object.__setattr__(self, "branching", (int(self.branching),))
        if not isinstance(self.branching, tuple | list) or not self.branching:
            raise ValueError(f"{where}: branching needs at least one value, got {self.branching!r}")
        check_fields(self)
        if len(set(self.branching)) != len(self.branching):
            raise ValueError(f"{where}: branching has repeated values: {list(self.branching)}")
        object.__setattr__(self, "branching", tuple(int(b) for b in self.branching))
        cells = self.runs * (2 * max(self.branching) + 1)
        if cells > MAX_CELLS:
            raise ValueError(
                f"{where}: runs x (2 b + 1) = {self.runs} x {2 * max(self.branching) + 1} = "
                f"{cells} errors held at once exceeds {MAX_CELLS}; use fewer runs or a smaller b"
            )


EXPECTED_VS_SAMPLE = ExpectedVsSampleProtocol()
"""Figure 8.7's branching factors (2 .. 10,000), initial error 1, 200 runs per b."""


# -- the updates -----------------------------------------------------------------------------------


def successor_values(key: Key, branching: int) -> Float[Array, " b"]:
    """The values of the ``b`` successor states, ``v_i ~ N(0, 1)`` independently (Sutton & Barto
    section 8.5: they are assumed correct; the common reproduction draws them so), by Box-Muller
    from ``rng.uniforms`` (``rng.normal_pairs``)."""
    half = -(-branching // 2)
    u = uniforms(key, (2, half))
    return jnp.concatenate(normal_pairs(u[0], u[1]))[:branching]


def true_value(values: Float[Array, " b"]) -> Float[Array, ""]:
    """The value the updates estimate, ``q = (1/b) sum_i v_i`` (equally likely successors, no
    reward, no discount: Sutton & Barto section 8.5), summed in a fixed order
    (``numerics.row_sum``)."""
    return row_sum(values) / values.shape[-1]


def expected_update(values: Float[Array, " b"], zero: Int[Array, ""]) -> Float[Array, ""]:
    """The expected update of the pair: ``Q <- sum_{s'} p(s' | s, a) [r + gamma max_a' Q(s', a')]``
    (Sutton & Barto eq. 8.1) with ``p = 1/b``, ``r = 0``, ``gamma = 1`` and ``max_a' Q(s'_i, a')
    = v_i``: ``Q = sum_i (1/b) v_i`` (``backups.full_backup`` over ``backups.expected_value``).
    It costs ``b`` max computations and leaves no error. ``zero`` is a
    ``numerics.runtime_zero``."""
    b = values.shape[-1]
    probs = jnp.full((b,), 1.0 / b, jnp.float32)
    return full_backup(jnp.float32(0.0), expected_value(probs, values, zero), 1.0, zero)


def sample_updates(
    values: Float[Array, " b"], u: Float[Array, " T"], initial: Float[Array, ""]
) -> Float[Array, " T1"]:
    """The estimate after ``t = 0 .. T`` sample updates with the sample-average step size
    (Sutton & Barto eq. 8.2 with ``alpha = 1/t``, section 8.5):

    ``Q_0 = initial``, ``Q_t = Q_{t-1} + (1/t) (v_{I_t} - Q_{t-1})``, ``I_t = floor(u_t b)``

    (``u_t ~ U[0, 1)``, so ``I_t`` is uniform on the ``b`` successors). ``Q_t`` for ``t >= 1`` is
    the mean of the ``t`` sampled values: ``initial`` is forgotten by the first update. One
    ``max`` computation per update. Returns ``[T + 1]``.
    """
    b = values.shape[-1]
    idx = jnp.minimum((u * b).astype(jnp.int32), b - 1)
    steps = jnp.arange(1, u.shape[-1] + 1, dtype=jnp.float32)

    def body(q: Float[Array, ""], x: tuple[Float[Array, ""], Float[Array, ""]]) -> Any:
        v, t = x
        q = q + (v - q) / t
        return q, q

    _, qs = jax.lax.scan(body, jnp.asarray(initial, jnp.float32), (values[idx], steps))
    return jnp.concatenate([jnp.asarray(initial, jnp.float32)[None], qs])


def one_run(
    key: Key, branching: int, initial_error: Float[Array, ""] | float
) -> tuple[Float[Array, " T1"], Float[Array, " T1"]]:
    """One run at branching factor ``b``: the errors ``Q - q`` after ``c = 0 .. 2b``
    computations, of sample updates (``sample_updates``, one computation each) and of the
    expected update (``expected_update``, ``b`` computations each: error ``initial_error`` for
    ``c < b``, its own afterwards). Sutton & Barto section 8.5, Figure 8.7."""
    k_values, k_draws = split_key(key, 2)
    values = successor_values(k_values, branching)
    q = true_value(values)
    u = uniforms(k_draws, (2 * branching,))
    start = q + jnp.asarray(initial_error, jnp.float32)
    sample = sample_updates(values, u, start) - q
    zero = runtime_zero(jnp.minimum((u[0] * branching).astype(jnp.int32), branching - 1))
    after = expected_update(values, zero) - q
    c = jnp.arange(2 * branching + 1)
    expected = jnp.where(c < branching, start - q, after)
    return sample, expected


def _rms_curves_impl(
    keys: Key, initial_error: Float[Array, ""], branching: int
) -> tuple[Float[Array, " T1"], Float[Array, " T1"]]:
    sample, expected = jax.vmap(lambda k: one_run(k, branching, initial_error))(keys)
    return jnp.sqrt(jnp.mean(sample**2, axis=0)), jnp.sqrt(jnp.mean(expected**2, axis=0))


rms_curves = cast(
    Callable[..., tuple[Float[Array, " T1"], Float[Array, " T1"]]],
    jax.jit(_rms_curves_impl, static_argnames=("branching",)),
)
"""``rms_curves(keys [R], initial_error, branching=b)``: the RMS over the runs (``vmap`` of
``one_run``) of the sample updates' and the expected update's errors, ``[2b + 1]`` each. One
compilation per ``b`` and number of runs."""


def formula_rms(branching: int, initial_error: float = 1.0) -> NDArray[np.float64]:
    """The book's RMS error of sample updates after ``t = 0 .. 2b`` of them:
    ``sqrt((b - 1) / (b t))`` for ``t >= 1`` (Sutton & Barto section 8.5), ``initial_error`` at
    ``t = 0``. Raises ``ValueError`` unless ``b >= 2``."""
    BRANCHING.check("formula_rms", "branching", (branching,))
    t = np.arange(2 * branching + 1, dtype=np.float64)
    out = np.full(t.shape, float(initial_error))
    out[1:] = np.sqrt((branching - 1) / (branching * t[1:]))
    return out


# -- the experiment --------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ExpectedVsSampleResult:
    """What ``run_expected_vs_sample`` returns: per ``b``, the RMS errors ``[2b + 1]`` after
    ``c = 0 .. 2b`` computations (``sample``, ``expected``) and the book's formula; the wall time
    (``compile_s``, ``run_s``)."""

    protocol: ExpectedVsSampleProtocol
    sample: dict[int, NDArray[np.float64]]
    expected: dict[int, NDArray[np.float64]]
    formula: dict[int, NDArray[np.float64]]
    compile_s: float
    run_s: float


def run_expected_vs_sample(
    protocol: ExpectedVsSampleProtocol = EXPECTED_VS_SAMPLE, *, progress: bool = False
) -> ExpectedVsSampleResult:
    """Figure 8.7: ``rms_curves`` for every ``b`` of the protocol (one compiled call each)."""
    p = protocol
    base = jax.random.key(p.seed)
    sample: dict[int, NDArray[np.float64]] = {}
    expected: dict[int, NDArray[np.float64]] = {}
    formula: dict[int, NDArray[np.float64]] = {}
    with Stopwatch() as watch:
        for b in p.branching:
            keys = jax.random.split(jax.random.fold_in(base, b), p.runs)
            s, e = jax.device_get(rms_curves(keys, jnp.float32(p.initial_error), branching=b))
            sample[b] = np.asarray(s, np.float64)
            expected[b] = np.asarray(e, np.float64)
            formula[b] = formula_rms(b, p.initial_error)
            if progress:
                print(f"b = {b:,}: {p.runs} runs of {2 * b:,} sample updates", flush=True)
    compile_s = min(watch.compile_s, watch.total_s)
    return ExpectedVsSampleResult(
        p, sample, expected, formula, compile_s, watch.total_s - compile_s
    )


READOUT_FRACTIONS = (0.1, 0.5, 1.0, 2.0)
"""The summary reads the RMS errors at ``x b`` computations for these ``x`` (where ``x b`` is a
whole number ``>= 1``)."""


def _at(b: int) -> list[int]:
    return [int(x * b) for x in READOUT_FRACTIONS if x * b >= 1 and float(x * b).is_integer()]


def summarize_expected_vs_sample(result: ExpectedVsSampleResult) -> dict[str, Any]:
    """The JSON-ready summary: per ``b``, the RMS errors at ``0.1 b``, ``0.5 b``, ``b`` and ``2b``
    computations (simulated and by the formula), the largest relative gap between them over
    ``t = 1 .. 2b``, and the expected update's error after its ``b`` computations."""
    p = result.protocol
    rows = []
    for b in p.branching:
        s, f = result.sample[b], result.formula[b]
        gap = np.abs(s[1:] - f[1:]) / f[1:]
        rows.append(
            {
                "branching": b,
                "computations": _at(b),
                "sample_rms": [float(s[c]) for c in _at(b)],
                "formula_rms": [float(f[c]) for c in _at(b)],
                "max_relative_gap": float(gap.max()),
                "expected_rms_before": float(result.expected[b][b - 1]),
                "expected_rms_after": float(result.expected[b][b]),
                "sample_rms_curve": s,
            }
        )
    return {
        "experiment": "expected-vs-sample",
        "figure": "Sutton & Barto (2018) Figure 8.7",
        "protocol": dataclasses.asdict(p),
        "rows": rows,
        "timing": {"compile_s": result.compile_s, "run_s": result.run_s},
        "versions": versions(),
    }


def format_expected_vs_sample(summary: Mapping[str, Any]) -> str:
    """The terminal report of a ``summarize_expected_vs_sample`` summary."""
    p = summary["protocol"]
    lines = [
        "Expected vs sample updates (Sutton & Barto Figure 8.7): RMS error of the estimate over "
        f"{p['runs']} runs per b, initial error {p['initial_error']:g}, seed {p['seed']}",
        "",
        f"{'b':>8}{'computations':>14}{'sample RMS':>12}{'formula':>10}",
    ]
    for r in summary["rows"]:
        for c, s, f in zip(r["computations"], r["sample_rms"], r["formula_rms"], strict=True):
            lines.append(f"{r['branching']:>8,}{c:>14,}{s:>12.4f}{f:>10.4f}")
        lines.append(
            f"{'':>8}expected update: {r['expected_rms_before']:.3g} before b computations, "
            f"{r['expected_rms_after']:.2g} after; largest gap sample/formula "
            f"{r['max_relative_gap']:.1%}"
        )
    t = summary["timing"]
    lines += ["", "formula: sqrt((b - 1) / (b t)) after t sample updates (the book's)"]
    lines.append(f"time: compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s")
    return "\n".join(lines)


def write_expected_vs_sample(
    result: ExpectedVsSampleResult,
    out: str | Path,
    *,
    command: str | None = None,
    dpi: int = DPI,
) -> list[Path]:
    """Write the output folder and return the files written.

    - ``metrics.npz``: per ``b``, ``sample_rms_b{b}``, ``expected_rms_b{b}`` and
      ``formula_rms_b{b}`` (``[2b + 1]``: after ``0 .. 2b`` computations), and ``branching``;
    - ``summary.json`` (the table, ``summarize_expected_vs_sample``);
    - ``learning_curves.png``: Figure 8.7.
    """
    folder = out_dir(out)
    p = result.protocol
    files: list[Path] = []
    arrays: dict[str, Any] = {"branching": np.asarray(p.branching)}
    for b in p.branching:
        arrays[f"sample_rms_b{b}"] = result.sample[b]
        arrays[f"expected_rms_b{b}"] = result.expected[b]
        arrays[f"formula_rms_b{b}"] = result.formula[b]
    metrics = folder / "metrics.npz"
    np.savez_compressed(metrics, **arrays)
    files.append(metrics)
    b_max = max(p.branching)
    files.append(
        plot_expected_vs_sample(
            result.sample,
            result.expected[b_max],
            folder / "learning_curves.png",
            formula=result.formula,
            title=(
                f"Figure 8.7: expected vs sample updates, RMS over {p.runs} runs "
                f"(initial error {p.initial_error:g})"
            ),
            dpi=dpi,
        )
    )
    return with_summary(folder, files, summarize_expected_vs_sample(result), command)


def markdown_table(summary: Mapping[str, Any]) -> str:
    """The summary as a markdown table: one line per ``b``, the RMS error at ``b`` and ``2b``
    computations (simulated, formula) and the expected update's error after ``b``."""
    lines = [
        "| b | sample RMS at b (formula) | sample RMS at 2b (formula) | expected update at b "
        "| largest gap to formula |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in summary["rows"]:
        pairs = zip(r["sample_rms"], r["formula_rms"], strict=True)
        at = dict(zip(r["computations"], pairs, strict=True))
        b = r["branching"]
        cells = [f"{at[c][0]:.4f} ({at[c][1]:.4f})" for c in (b, 2 * b)]
        lines.append(
            f"| {b:,} | {cells[0]} | {cells[1]} | {r['expected_rms_after']:.1g} | "
            f"{r['max_relative_gap']:.1%} |"
        )
    return "\n".join(lines)


__all__ = [
    "BOOK_BRANCHING",
    "EXPECTED_VS_SAMPLE",
    "MAX_CELLS",
    "ExpectedVsSampleProtocol",
    "ExpectedVsSampleResult",
    "expected_update",
    "format_expected_vs_sample",
    "formula_rms",
    "markdown_table",
    "one_run",
    "rms_curves",
    "run_expected_vs_sample",
    "sample_updates",
    "successor_values",
    "summarize_expected_vs_sample",
    "true_value",
    "write_expected_vs_sample",
]
