"""Sutton & Barto Figures 8.7 and 8.8 (``expected_vs_sample``, ``trajectory_sampling``): the maths
each figure rests on, at tiny sizes, and both subcommands end to end.

Compilations are shared to keep the file cheap: the Figure 8.7 checks and its command use one
``b`` and one number of runs (one compilation of ``rms_curves``); the Figure 8.8 checks and its
command use one task shape and one set of settings (``TINY``), so the command's run reuses the
fixture's compiled calls and must reproduce its numbers exactly.
"""

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import matplotlib.image
import numpy as np
import pytest

from dynaq_jax.envs import greedy, policy_value
from dynaq_jax.experiments import cli, output
from dynaq_jax.experiments.expected_vs_sample import (
    ExpectedVsSampleProtocol,
    expected_update,
    formula_rms,
    rms_curves,
    sample_updates,
)
from dynaq_jax.experiments.trajectory_sampling import (
    METHODS,
    RandomTask,
    TrajectorySamplingProtocol,
    evaluation_horizon,
    greedy_start_value,
    make_tasks,
    optimal_start_values,
    planning_curve,
    planning_curves,
    task_mdp,
)
from dynaq_jax.numerics import runtime_zero

B = 5
"""The branching factor of the Figure 8.7 checks."""
RUNS = 4000
"""Runs of the Figure 8.7 checks: the RMS estimates are within about 1% (one s.e.)."""

TINY = TrajectorySamplingProtocol(
    states=8, branching=(2,), updates=800, eval_every=80, tasks=3, epsilon=0.1, seed=3
)
"""Figure 8.8 at a tiny size: 8 states, b = 2, 800 updates (50 uniform sweeps), 3 tasks."""


# -- Figure 8.7 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def rms() -> tuple[np.ndarray, np.ndarray]:
    keys = jax.random.split(jax.random.key(0), RUNS)
    sample, expected = rms_curves(keys, jnp.float32(1.0), branching=B)
    return np.asarray(sample, np.float64), np.asarray(expected, np.float64)


def test_the_expected_update_leaves_no_error() -> None:
    """One expected update sets the estimate to the exact mean of the successor values."""
    rng = np.random.default_rng(0)
    update = jax.jit(expected_update)
    for b in (2, 1000):
        values = rng.normal(size=b).astype(np.float32)
        estimate = float(update(jnp.asarray(values), runtime_zero(jnp.int32(b))))
        assert estimate == pytest.approx(np.mean(values.astype(np.float64)), abs=1e-6)


def test_expected_update_curve(rms: tuple[np.ndarray, np.ndarray]) -> None:
    """Error 1 until the update's b computations are done, zero (to rounding) after."""
    _, expected = rms
    assert expected.shape == (2 * B + 1,)
    np.testing.assert_allclose(expected[:B], 1.0, atol=1e-6)
    assert np.all(expected[B:] < 1e-6)


def test_sample_updates_are_running_means() -> None:
    """``Q_t = Q_{t-1} + (v_{I_t} - Q_{t-1}) / t``, ``I_t = floor(u_t b)``: the first update
    forgets the initial value, then Q_t is the mean of the t samples."""
    values = jnp.array([1.0, 2.0, 4.0, 8.0], jnp.float32)
    u = jnp.array([0.0, 0.3, 0.6, 0.9, 0.1], jnp.float32)  # indices 0, 1, 2, 3, 0
    q = np.asarray(jax.jit(sample_updates)(values, u, jnp.float32(5.0)))
    np.testing.assert_allclose(q, [5.0, 1.0, 1.5, 7 / 3, 15 / 4, 16 / 5], rtol=1e-6)


def test_sample_error_matches_the_book_formula(rms: tuple[np.ndarray, np.ndarray]) -> None:
    """The RMS error after t sample updates is sqrt((b - 1) / (b t)) (section 8.5), the initial
    error before any."""
    sample, _ = rms
    formula = formula_rms(B)
    assert sample[0] == pytest.approx(1.0, abs=1e-6)
    for t in (1, 2, B, 2 * B):
        assert sample[t] == pytest.approx(formula[t], rel=0.06), t
    assert sample[2 * B] == pytest.approx(np.sqrt((B - 1) / (B * 2 * B)), rel=0.06)
    assert formula[1] == pytest.approx(np.sqrt(0.8)) and formula[0] == 1.0
    with pytest.raises(ValueError, match="branching must be an int >= 2, got 1"):
        formula_rms(1)


# -- Figure 8.8 ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny() -> dict[str, Any]:
    """Both planners on TINY's tasks, and v*(start): the calls ``run_trajectory_sampling``
    makes for TINY."""
    p = TINY
    tasks, keys = make_tasks(p.seed, p.tasks, p.states, p.branching[0])
    horizon = evaluation_horizon(p.continuation)
    settings = {
        "updates": p.updates,
        "eval_every": p.eval_every,
        "epsilon": float(p.epsilon),
        "continuation": p.continuation,
        "horizon": horizon,
    }
    curves = {
        m: np.asarray(planning_curves(tasks, keys, method=m, **settings), np.float64)
        for m in METHODS
    }
    optimal = np.asarray(optimal_start_values(tasks, p.continuation), np.float64)
    return {"tasks": tasks, "keys": keys, "settings": settings, "curves": curves, "opt": optimal}


def task_at(tasks: RandomTask, i: int) -> RandomTask:
    return RandomTask(tasks.next_states[i], tasks.rewards[i])


def linear_solve_start_value(task: RandomTask, q: np.ndarray, continuation: float) -> float:
    """v = c (r_pi + P_pi v), solved directly in float64."""
    nxt, rew = np.asarray(task.next_states), np.asarray(task.rewards, np.float64)
    n_s, _, b = nxt.shape
    pi = np.argmax(q, axis=-1)
    p_pi = np.zeros((n_s, n_s))
    for s in range(n_s):
        for k in range(b):
            p_pi[s, nxt[s, pi[s], k]] += continuation / b
    r_pi = continuation * rew[np.arange(n_s), pi].mean(-1)
    return float(np.linalg.solve(np.eye(n_s) - p_pi, r_pi)[0])


def test_the_exact_evaluator_is_the_linear_solve(tiny: dict[str, Any]) -> None:
    """``greedy_start_value`` (sweeps for b > 1, the path for b = 1) equals a direct solve of the
    greedy policy's Bellman equation, and the oracle's ``policy_value`` on the task's MDP."""
    c = TINY.continuation
    horizon = evaluation_horizon(c)
    assert 0.9**horizon <= 1e-9 < 0.9 ** (horizon - 1)
    evaluate = jax.jit(greedy_start_value, static_argnums=(2, 3))
    as_mdp = jax.jit(task_mdp, static_argnums=1)
    rng = np.random.default_rng(0)
    path_task = RandomTask(  # b = 1: the greedy chain from the start is one path
        jnp.asarray(rng.integers(0, TINY.states, (TINY.states, 2, 1)), jnp.int32),
        jnp.asarray(rng.normal(size=(TINY.states, 2, 1)), jnp.float32),
    )
    for task in (task_at(tiny["tasks"], 0), path_task):
        for _ in range(3):
            q = rng.normal(size=(TINY.states, 2)).astype(np.float32)
            exact = linear_solve_start_value(task, q, c)
            ours = float(evaluate(task, jnp.asarray(q), c, horizon))
            assert ours == pytest.approx(exact, abs=1e-5)
            if task.next_states.shape[-1] > 1:
                env = as_mdp(task, c)
                oracle = policy_value(env, greedy(jnp.asarray(q)), 1.0, horizon)
                assert float(oracle) == pytest.approx(exact, abs=1e-5)


def test_vmap_over_tasks_equals_single_tasks(tiny: dict[str, Any]) -> None:
    single = jax.jit(
        planning_curve,
        static_argnames=("method", "updates", "eval_every", "epsilon", "continuation", "horizon"),
    )
    tasks, keys = tiny["tasks"], tiny["keys"]
    for i in range(TINY.tasks):
        one = single(task_at(tasks, i), keys[i], method="on-policy", **tiny["settings"])
        np.testing.assert_allclose(np.asarray(one), tiny["curves"]["on-policy"][i], atol=1e-5)


def test_greedy_values_stay_below_the_optimum(tiny: dict[str, Any]) -> None:
    """No greedy policy beats v*(start); 50 uniform sweeps reach it; the optimum is the
    Bellman optimality equation's solution (value iteration in float64 here)."""
    opt = tiny["opt"]
    for m in METHODS:
        curve = tiny["curves"][m]
        assert curve.shape == (TINY.tasks, TINY.evaluations)
        assert np.all(curve <= opt[:, None] + 1e-4), m
    np.testing.assert_allclose(tiny["curves"]["uniform"][:, -1], opt, atol=1e-4)
    task = task_at(tiny["tasks"], 0)
    nxt, rew = np.asarray(task.next_states), np.asarray(task.rewards, np.float64)
    q = np.zeros(nxt.shape[:2])
    for _ in range(400):
        q = TINY.continuation * (rew + q.max(-1)[nxt]).mean(-1)
    assert opt[0] == pytest.approx(q[0].max(), abs=1e-4)


def test_protocols_reject_bad_values() -> None:
    cases: list[tuple[Any, str]] = [
        (lambda: TrajectorySamplingProtocol(updates=100, eval_every=30), "eval_every must divide"),
        (
            lambda: TrajectorySamplingProtocol(branching=(0,)),
            "branching must be an int >= 1, got 0",
        ),
        (lambda: TrajectorySamplingProtocol(branching=(3, 3)), "repeated values: [3, 3]"),
        (lambda: TrajectorySamplingProtocol(termination=0.0), "termination must be a number in"),
        (lambda: TrajectorySamplingProtocol(tasks=10**6, states=10**4), "table entries exceeds"),
        (lambda: ExpectedVsSampleProtocol(branching=(1,)), "branching must be an int >= 2, got 1"),
        (lambda: ExpectedVsSampleProtocol(initial_error=float("nan")), "initial_error must be"),
        (lambda: ExpectedVsSampleProtocol(runs=10**6), "errors held at once exceeds"),
    ]
    for make, needle in cases:
        with pytest.raises(ValueError, match=None) as err:
            make()
        assert needle in str(err.value), (needle, str(err.value))


# -- the command line ------------------------------------------------------------------------------

TINY_87 = ["expected-vs-sample", "--branching", str(B), "--runs", str(RUNS)]
TINY_88 = [
    "trajectory-sampling",
    *("--states", "8", "--branching", "2", "--updates", "800", "--eval-every", "80"),
    *("--tasks", "3", "--seed", "3"),
]


def run_cli(argv: list[str], out: Path) -> tuple[int, str]:
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = cli.main([*argv, "--no-progress", "--out", str(out)])
    return code, stdout.getvalue()


def load_summary(folder: Path) -> dict[str, Any]:
    """The folder holds exactly the files its summary lists, each a name runs write, PNGs real."""
    summary: dict[str, Any] = json.loads((folder / "summary.json").read_text())
    assert sorted(summary["files"]) == sorted(p.name for p in folder.iterdir())
    assert all(output.is_output_file(name) for name in summary["files"])
    for png in folder.glob("*.png"):
        image = matplotlib.image.imread(png)
        assert image.ndim == 3 and min(image.shape[:2]) > 200
        assert len(np.unique(image[::4, ::4, :3].reshape(-1, 3), axis=0)) > 10
    return summary


def test_expected_vs_sample_command(tmp_path: Path, rms: tuple[np.ndarray, np.ndarray]) -> None:
    code, stdout = run_cli(TINY_87, tmp_path / "fig87")
    assert code == 0
    s = load_summary(tmp_path / "fig87")
    assert {"metrics.npz", "learning_curves.png", "summary.json"} == set(s["files"])
    assert s["experiment"] == "expected-vs-sample" and s["protocol"]["runs"] == RUNS
    (row,) = s["rows"]
    assert row["branching"] == B and row["expected_rms_after"] < 1e-6
    with np.load(tmp_path / "fig87" / "metrics.npz") as m:
        assert m[f"sample_rms_b{B}"].shape == (2 * B + 1,)
        np.testing.assert_allclose(m[f"formula_rms_b{B}"], formula_rms(B))
        # other keys than the fixture's (fold_in of b), the same statistics
        np.testing.assert_allclose(m[f"sample_rms_b{B}"][1:], formula_rms(B)[1:], rtol=0.06)
    assert "Figure 8.7" in stdout and "wrote 3 files" in stdout


def test_trajectory_sampling_command(tmp_path: Path, tiny: dict[str, Any]) -> None:
    out = tmp_path / "fig88"
    code, stdout = run_cli(TINY_88, out)
    assert code == 0
    s = load_summary(out)
    assert s["experiment"] == "trajectory-sampling" and s["protocol"]["tasks"] == 3
    assert s["updates"] == list(range(0, 801, 80))
    with np.load(out / "metrics.npz") as m:
        assert m["values"].shape == (1, 2, 3, TINY.evaluations)
        for j, method in enumerate(METHODS):  # the fixture's calls, reproduced exactly
            np.testing.assert_array_equal(m["values"][0, j], tiny["curves"][method])
        np.testing.assert_array_equal(m["optimal"][0], tiny["opt"])
    (row,) = s["rows"]
    assert row["optimal_start_value"]["mean"] == pytest.approx(tiny["opt"].mean())
    assert row["planners"]["uniform"]["final_fraction_of_optimal"] == pytest.approx(1.0, abs=1e-4)
    assert s["evaluation"]["error_bound"] < 1e-6
    assert "Figure 8.8" in stdout and "v*(start)" in stdout
    # the folder holds only files a run writes: a second run replaces it whole
    code, _ = run_cli(TINY_88, out)
    assert code == 0 and load_summary(out)["files"] == s["files"]


def test_command_line_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Bad values are usage errors (status 2) naming the value, before any work."""
    for argv, needle in (
        (["trajectory-sampling", "--updates", "100", "--eval-every", "30"], "eval_every=30"),
        (["trajectory-sampling", "--termination", "0"], "argument --termination"),
        (["expected-vs-sample", "--branching", "1"], "must be an int >= 2, got '1'"),
        (["expected-vs-sample", "--runs", "0"], "must be a positive int, got '0'"),
    ):
        code = cli.main([*argv, "--out", str(tmp_path / "x")])
        err = capsys.readouterr().err
        assert code == 2 and "dynaq-jax: error:" in err and needle in err, (argv, err)
        assert not (tmp_path / "x").exists()
