"""Exploration options x planners on hard-exploration MDPs (``dynaq-jax explore``).

Every exploration option of ``DynaQConfig`` (epsilon-greedy, Dyna-Q+, R-max with ``m = 1`` and a
larger known-ness threshold, MBIE-EB, posterior sampling) runs with every planner on RiverSwim and
SixArms (Strehl and Littman 2008, rewards scaled into ``[0, 1]``) and FrozenLake 4x4 / 8x8.
Every ``eval_every`` real steps the greedy policy ``pi_t(s) = argmax_a Q_t[s, a]`` is evaluated
exactly with the env's tables (no rollouts):
``J(pi) = d_0^T (I - gamma P_pi)^{-1} r_pi`` (``P_pi`` the continuation matrix: terminated mass
leaves), against ``J* = d_0^T max_a Q*`` from value iteration. A seed *reaches* the optimum's
fraction ``0.9`` when ``J(pi_T) >= 0.9 J*`` at the last evaluation; the regret curve is the mean
normalised policy regret ``(J* - J(pi_t)) / J*`` over seeds at each evaluation, and the cumulative
regret its sum times ``eval_every`` (the exact regret of playing each evaluated greedy policy for
the next ``eval_every`` steps). The loop is one compiled ``lax.scan`` per (env, option, planner),
``vmap``ped over seeds.
"""

import dataclasses
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from tqdm.auto import tqdm

from dynaq_jax import agent, distributed
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import (
    TabularMDP,
    continuation_matrix,
    distinct_outcomes,
    expected_rewards,
    from_gymnasium,
    river_swim,
    six_arms,
    value_iteration,
)
from dynaq_jax.envs import reset as env_reset
from dynaq_jax.envs import step as env_step
from dynaq_jax.experiments.output import jsonable, with_summary, write_csv
from dynaq_jax.rng import split_key
from dynaq_jax.types import Key
from dynaq_jax.version import __version__

PLANNERS: tuple[str, ...] = ("sample", "expected", "sweeping")
REACH = 0.9
"""The fraction of the optimum's value a greedy policy must reach."""


@dataclasses.dataclass(frozen=True)
class ExploreEnv:
    """An env of the experiment: its tables, run length and evaluation interval."""

    name: str
    make: Callable[[], TabularMDP]
    n_steps: int
    eval_every: int


ENVS: dict[str, ExploreEnv] = {
    "river-swim": ExploreEnv(
        "river-swim", lambda: river_swim(time_limit=20, reward_scale=1e-4), 2000, 100
    ),
    "six-arms": ExploreEnv(
        "six-arms", lambda: six_arms(time_limit=20, reward_scale=1 / 6000), 2000, 100
    ),
    "frozen-lake-4x4": ExploreEnv(
        "frozen-lake-4x4",
        lambda: from_gymnasium("FrozenLake-v1", map_name="4x4", is_slippery=True),
        5000,
        250,
    ),
    "frozen-lake-8x8": ExploreEnv(
        "frozen-lake-8x8",
        lambda: from_gymnasium("FrozenLake-v1", map_name="8x8", is_slippery=True),
        20000,
        1000,
    ),
}
"""The envs: RiverSwim and SixArms with rewards scaled so the largest is 1 and episodes of 20
steps (the issue's protocol: 100 episodes, 2000 real steps); FrozenLake slippery with gymnasium's
time limits (100 and 200)."""

OPTIONS: dict[str, dict[str, Any]] = {
    "epsilon-greedy": {"epsilon": 0.1},
    "dyna-q+": {"epsilon": 0.1, "kappa": 1e-3},
    "r-max": {"epsilon": 0.0, "optimism": 1.0},
    "r-max m=20": {"epsilon": 0.0, "optimism": 1.0, "known_threshold": 20},
    "mbie-eb": {"epsilon": 0.0, "optimism": 1.0, "bonus_beta": 0.1},
    "posterior": {"epsilon": 0.0, "optimism": 1.0, "posterior": "planning"},
}
"""The exploration options, as changes to the base config (``r_max = 1``: every env's rewards
lie in ``[0, 1]``). Dyna-Q+ runs with the sample planner only (its untried actions are modelled by
sampling)."""

BASE = DynaQConfig(learning_rate=0.1, discount=0.95, planning_steps=20, epsilon=0.1)
"""The issue's protocol: ``gamma = 0.95``, ``n = 20``, ``alpha = 0.1``."""


def model_for(env: TabularMDP, base: DynaQConfig = BASE) -> DynaQConfig:
    """``base`` with the compact count model sized from ``env``'s tables
    (``outcome_slots = distinct_outcomes(env)``: exact, as no pair has more outcomes; 3 for
    RiverSwim and slippery FrozenLake, 2 for SixArms). Every option works on it, and
    posterior sampling draws its Dirichlet over those slots instead of all ``S`` next states."""
    return base.replace(outcome_slots=distinct_outcomes(env))


def option_config(option: str, planner: str, base: DynaQConfig = BASE) -> DynaQConfig | None:
    """The config of ``option`` with ``planner``, or ``None`` where the pair does not exist
    (Dyna-Q+ with a full-backup planner)."""
    if option not in OPTIONS:
        raise ValueError(f"explore: unknown option {option!r}; choose from {list(OPTIONS)}")
    if option == "dyna-q+" and planner != "sample":
        return None
    return base.replace(planner=planner, **OPTIONS[option])


def optimal_value(env: TabularMDP, discount: float) -> Float[Array, ""]:
    """``J* = sum_s d_0(s) max_a Q*(s, a)`` (value iteration to ``1e-7``)."""
    q = value_iteration(env, discount, tol=1e-7, max_iters=100_000)
    return jnp.dot(env.initial, jnp.max(q, axis=-1))


def greedy_value(
    q: Float[Array, "S A"],
    p_cont: Float[Array, "S A S"],
    r_exp: Float[Array, "S A"],
    initial: Float[Array, " S"],
    discount: float,
) -> Float[Array, ""]:
    """The exact discounted value of the greedy policy of ``q`` from ``d_0``:
    ``J = d_0^T (I - gamma P_pi)^{-1} r_pi`` with ``pi(s) = argmax_a q[s, a]`` (ties to the
    lowest action), ``P_pi[s, s'] = P[s, pi(s), s']`` without terminated mass (Bellman's policy
    evaluation equation, Sutton & Barto eq. 4.4, solved directly)."""
    pi = jnp.argmax(q, axis=-1)
    n = q.shape[0]
    p_pi = p_cont[jnp.arange(n), pi]
    r_pi = r_exp[jnp.arange(n), pi]
    v = jnp.linalg.solve(jnp.eye(n, dtype=jnp.float32) - discount * p_pi, r_pi)
    return jnp.dot(initial, v)


def _run_seeds(
    env: TabularMDP, config: DynaQConfig, keys: Key, n_steps: int, eval_every: int
) -> Float[Array, "N C"]:
    """``J(pi_t)`` at each of the ``n_steps // eval_every`` evaluations, for every seed."""
    p_cont = continuation_matrix(env)
    r_exp = expected_rewards(env)
    limit = env.time_limit if env.time_limit is not None else 2**31 - 1
    n_s, n_a = env.n_states, env.n_actions
    gamma = float(config.discount)

    def one(key: Key) -> Float[Array, " C"]:
        key, k0 = split_key(key, 2)
        start = (agent.init(n_s, n_a, config), key, env_reset(env, k0), jnp.zeros((), jnp.int32))

        def real_step(c: Any, _: None) -> tuple[Any, None]:
            state, key, s, t_ep = c
            key, k_act, k_env, k_plan, k_reset = split_key(key, 5)
            a = agent.act(state, k_act, s, config)
            s_next, r, term = env_step(env, k_env, s, a)
            state = agent.step(state, k_plan, s, a, r, s_next, term, config)
            t_ep = t_ep + 1
            done = term | (t_ep >= limit)
            s_new = jnp.where(done, env_reset(env, k_reset), s_next)
            return (state, key, s_new, jnp.where(done, 0, t_ep)), None

        def evaluation(c: Any, _: None) -> tuple[Any, Float[Array, ""]]:
            c, _ = jax.lax.scan(real_step, c, None, length=eval_every)
            return c, greedy_value(c[0].q, p_cont, r_exp, env.initial, gamma)

        _, values = jax.lax.scan(evaluation, start, None, length=n_steps // eval_every)
        return values

    # The process's seeds split over its devices (one per core from the command line).
    return distributed.over_local_devices(jax.vmap(one), keys)


@dataclasses.dataclass(frozen=True)
class ExploreRow:
    """One (env, option, planner) cell of the results table."""

    env: str
    option: str
    planner: str
    outcome_slots: int
    """The compact model's slots the cell ran with (``model_for``)."""
    reached: float
    """Fraction of seeds with ``J(pi_T) >= 0.9 J*`` at the last evaluation."""
    final_ratio: float
    """Mean ``J(pi_T) / J*`` over seeds."""
    cumulative_regret: float
    """Mean over seeds of ``sum_t (J* - J(pi_t)) / J* * eval_every``."""
    regret_curve: tuple[float, ...]
    """Mean ``(J* - J(pi_t)) / J*`` at each evaluation."""


CELL_FORMAT = 1
"""The format of a finished cell's file (``save_cell``)."""


def cell_file(cell_dir: Path, env: str, option: str, planner: str) -> Path:
    """Where ``run(cell_dir=...)`` keeps a finished cell: ``<env>__<option>__<planner>.npz``."""
    return cell_dir / f"{env}__{option}__{planner}.npz".replace(" ", "_").replace("=", "-")


def resume_folder(out: str | Path) -> Path:
    """The command line's folder of finished cells for the output folder ``out``: the hidden
    sibling ``.NAME.cells``, kept until the run's output is written (a run stopped part way
    leaves it, and the same command resumes from it)."""
    final = Path(out).resolve()
    return final.parent / f".{final.name}.cells"


def save_cell(path: Path, meta: dict[str, Any], values: np.ndarray) -> Path:
    """A finished cell's ``J(pi_t)`` values ``[seeds, evaluations]`` and the settings that made
    them (``meta``), written whole or not at all (a temporary file renamed into place)."""
    tmp = path.with_name(f".{path.stem}.tmp.npz")
    np.savez(tmp, meta=np.asarray(json.dumps(meta, sort_keys=True)), values=values)
    os.replace(tmp, path)
    return path


def load_cell(path: Path, meta: dict[str, Any]) -> np.ndarray | None:
    """The values ``save_cell`` wrote for these settings, or ``None`` if there is no file.
    ``ValueError`` naming the file if it is unreadable or was saved with other settings (the
    field named): a finished cell is never reused for a different run."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            saved = json.loads(str(z["meta"]))
            values = np.asarray(z["values"])
    except Exception as e:
        raise ValueError(
            f"explore: finished-cell file {path} is unreadable ({type(e).__name__}: {e}); "
            "delete it to run the cell again"
        ) from None
    if not isinstance(saved, dict) or saved != meta:
        got = saved if isinstance(saved, dict) else {}
        diff = ", ".join(
            f"{k}={got.get(k)!r} there, {v!r} here" for k, v in meta.items() if got.get(k) != v
        )
        raise ValueError(
            f"explore: finished-cell file {path} was saved by a run with other settings "
            f"({diff or 'unknown fields'}); delete {path.parent} or use the same settings"
        )
    want = (meta["n_seeds"], meta["n_steps"] // meta["eval_every"])
    if values.shape != want or values.dtype != np.float32:
        raise ValueError(
            f"explore: finished-cell file {path} holds values of shape {values.shape} and dtype "
            f"{values.dtype}, not {want} float32; delete it to run the cell again"
        )
    return values


def run(
    envs: tuple[str, ...] = tuple(ENVS),
    options: tuple[str, ...] = tuple(OPTIONS),
    planners: tuple[str, ...] = PLANNERS,
    n_seeds: int = 100,
    seed: int = 0,
    steps: dict[str, int] | None = None,
    progress: bool = True,
    cell_dir: Path | None = None,
) -> list[ExploreRow]:
    """Run every (env, option, planner) cell on ``n_seeds`` seeds (the same keys in every cell).
    In a multi-process run (``distributed.join``) each process runs its own block of the seeds
    (``distributed.share_rows``) and every process gets all of them back: the same rows as one
    process, bit for bit.

    ``cell_dir``: a folder where each finished cell's values are saved as soon as it is done
    (``save_cell``) and where a cell already there with the same settings is read instead of run
    (``load_cell``), so a run stopped part way resumes at its first unfinished cell with the same
    rows as an uninterrupted one. One process only (``ValueError`` otherwise: every process of a
    run must run the same cells).

    ``steps`` overrides an env's real-step budget (rounded down to its evaluation interval, at
    least one evaluation)."""
    if n_seeds < 1:
        raise ValueError(f"explore: n_seeds must be >= 1, got {n_seeds}")
    for name in envs:
        if name not in ENVS:
            raise ValueError(f"explore: unknown env {name!r}; choose from {list(ENVS)}")
    for p in planners:
        if p not in PLANNERS:
            raise ValueError(f"explore: unknown planner {p!r}; choose from {list(PLANNERS)}")
    if cell_dir is not None:
        if distributed.is_multi_process():
            raise ValueError("explore: cell_dir (resuming) works with one process only")
        cell_dir.mkdir(parents=True, exist_ok=True)
    keys = jax.random.split(jax.random.key(seed), n_seeds)
    cells = [(e, o, p) for e in envs for o in options for p in planners if option_config(o, p)]
    rows: list[ExploreRow] = []
    made: dict[str, tuple[TabularMDP, float]] = {}
    with tqdm(total=len(cells), unit="cell", disable=not progress, dynamic_ncols=True) as bar:
        for env_name, option, planner in cells:
            spec = ENVS[env_name]
            if env_name not in made:
                mdp = spec.make()
                made[env_name] = (mdp, float(optimal_value(mdp, float(BASE.discount))))
            mdp, j_star = made[env_name]
            every = min(spec.eval_every, (steps or {}).get(env_name, spec.n_steps))
            n_steps = max((steps or {}).get(env_name, spec.n_steps) // every, 1) * every
            config = option_config(option, planner, model_for(mdp))
            assert config is not None
            meta = jsonable(
                {
                    "format": CELL_FORMAT,
                    "version": __version__,
                    "env": env_name,
                    "option": option,
                    "planner": planner,
                    "n_seeds": n_seeds,
                    "seed": seed,
                    "n_steps": n_steps,
                    "eval_every": every,
                    "config": config.to_dict(),
                }
            )
            path = None if cell_dir is None else cell_file(cell_dir, env_name, option, planner)
            done = None if path is None else load_cell(path, meta)
            if done is None:
                mine = distributed.share_rows(keys)  # all of them with one process
                done = distributed.gather_rows(
                    np.asarray(_run_seeds(mdp, config, mine, n_steps, every)), n_seeds
                )
                if path is not None:
                    save_cell(path, meta, done)
            values = done.astype(np.float64)
            regret = (j_star - values) / j_star
            rows.append(
                ExploreRow(
                    env=env_name,
                    option=option,
                    planner=planner,
                    outcome_slots=config.outcome_slots,
                    reached=float(np.mean(values[:, -1] >= REACH * j_star)),
                    final_ratio=float(np.mean(values[:, -1] / j_star)),
                    cumulative_regret=float(np.mean(regret.sum(-1) * every)),
                    regret_curve=tuple(float(x) for x in regret.mean(0)),
                )
            )
            bar.update(1)
    return rows


def format_explore(rows: list[ExploreRow]) -> str:
    """The terminal table: per env, the fraction of seeds reaching 0.9 of the optimum for every
    option (rows) and planner (columns), then each option's best planner's cumulative regret."""
    lines: list[str] = []
    for env in dict.fromkeys(r.env for r in rows):
        sub = [r for r in rows if r.env == env]
        planners = list(dict.fromkeys(r.planner for r in sub))
        lines.append(f"{env}: fraction of seeds with J(greedy) >= {REACH} J* at the end")
        lines.append(f"  {'option':<16}" + "".join(f"{p:>10}" for p in planners))
        for option in dict.fromkeys(r.option for r in sub):
            cells = {r.planner: r for r in sub if r.option == option}
            text = "".join(
                f"{cells[p].reached:>10.2f}" if p in cells else f"{'-':>10}" for p in planners
            )
            lines.append(f"  {option:<16}{text}")
    return "\n".join(lines)


def plot_explore(rows: list[ExploreRow], path: Path, eval_every: dict[str, int]) -> Path:
    """Regret curves: one panel per env, ``(J* - J(pi_t)) / J*`` against real steps, one line per
    (option, planner)."""
    envs = list(dict.fromkeys(r.env for r in rows))
    fig = Figure(figsize=(max(5.0 * len(envs), 9.0), 5.6))
    FigureCanvasAgg(fig)
    styles = {"sample": "-", "expected": "--", "sweeping": ":"}
    colors = {o: f"C{i}" for i, o in enumerate(dict.fromkeys(r.option for r in rows))}
    for i, env in enumerate(envs):
        ax = fig.add_subplot(1, len(envs), i + 1)
        for r in (r for r in rows if r.env == env):
            x = eval_every[env] * np.arange(1, len(r.regret_curve) + 1)
            ax.plot(
                x,
                r.regret_curve,
                styles.get(r.planner, "-"),
                color=colors[r.option],
                label=f"{r.option} / {r.planner}",
                linewidth=1.2,
            )
        ax.set_title(env)
        ax.set_xlabel("real steps")
        ax.set_ylabel("(J* - J(greedy)) / J*")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    handles, labels = fig.axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
    rows_of_legend = -(-len(labels) // 4)
    fig.tight_layout(rect=(0.0, min(0.05 * rows_of_legend + 0.02, 0.5), 1.0, 1.0))
    fig.savefig(path, dpi=110)
    return path


def write_explore(
    rows: list[ExploreRow], folder: Path, n_seeds: int, command: str | None = None
) -> list[Path]:
    """``explore.csv`` (the table), ``regret.csv`` (the curves), ``explore.png`` and
    ``summary.json``; return the files written."""
    files = [
        write_csv(
            folder / "explore.csv",
            ["env", "option", "planner", "reached", "final_ratio", "cumulative_regret"],
            [
                (r.env, r.option, r.planner, r.reached, r.final_ratio, r.cumulative_regret)
                for r in rows
            ],
        ),
        write_csv(
            folder / "regret.csv",
            ["env", "option", "planner", "real_steps", "regret"],
            [
                (r.env, r.option, r.planner, ENVS[r.env].eval_every * (i + 1), x)
                for r in rows
                for i, x in enumerate(r.regret_curve)
            ],
        ),
    ]
    every = {e: ENVS[e].eval_every for e in ENVS}
    files.append(plot_explore(rows, folder / "explore.png", every))
    summary = {
        "seeds": n_seeds,
        "reach": REACH,
        "base_config": BASE.to_dict(),
        "outcome_slots": {r.env: r.outcome_slots for r in rows},
        "options": OPTIONS,
        "rows": [dataclasses.asdict(r) for r in rows],
    }
    return with_summary(folder, files, summary, command)


__all__ = [
    "BASE",
    "CELL_FORMAT",
    "ENVS",
    "OPTIONS",
    "PLANNERS",
    "REACH",
    "ExploreEnv",
    "ExploreRow",
    "cell_file",
    "format_explore",
    "greedy_value",
    "load_cell",
    "model_for",
    "optimal_value",
    "option_config",
    "plot_explore",
    "resume_folder",
    "run",
    "save_cell",
    "write_explore",
]
