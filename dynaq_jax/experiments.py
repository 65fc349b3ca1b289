"""The published protocols, as library functions: the seed notebook on FrozenLake and Sutton &
Barto's chapter 8 figures (8.2, 8.4, 8.5).

Each experiment has three parts, so that the command line (``dynaq-jax``) and the scripts in
``experiments/`` hold no logic of their own:

- a *protocol*: a frozen dataclass of every setting, validated on construction, whose defaults are
  the published ones (``FROZEN_LAKE``, ``DYNA_MAZE``, ``BLOCKING_MAZE``, ``SHORTCUT_MAZE``);
- ``run_*(protocol)``: trains every seed in one compiled call (``train_seeds``/``train_sweep``) and
  evaluates the final greedy policies exactly with the oracle; returns a result dataclass holding
  NumPy arrays and the ``Timing`` (compile time kept apart from run time);
- ``summarize_*``, ``format_*`` and ``write_*``: a JSON-ready summary, a compact terminal table, and
  the output folder (``metrics.npz``, CSV, ``summary.json``, PNG plots).

Seeds: run ``i`` trains with ``jax.random.split(jax.random.key(protocol.seed), runs)[i]``. Every
agent of one experiment uses the same keys (common random numbers): in the Dyna maze the first
episode is identical for every ``n``, because planning cannot change a zero ``Q`` before the first
reward.
"""

import csv
import dataclasses
import json
import math
import platform
import time
from collections import deque
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from dynaq_jax import plotting
from dynaq_jax.agent import state_values
from dynaq_jax.config import MODEL_KINDS, DynaQConfig, ModelKind
from dynaq_jax.envs import (
    ChangingMDP,
    TabularMDP,
    blocking_maze,
    dyna_maze,
    from_gymnasium,
    greedy,
    shortcut_maze,
    success_probability,
    value_iteration,
)
from dynaq_jax.envs.oracle import DEFAULT_SUCCESS_DISCOUNT
from dynaq_jax.io import save
from dynaq_jax.state import model_size
from dynaq_jax.train import TrainResult, memory_per_seed, train_seeds, train_sweep

FROZEN_LAKE_MAPS: tuple[str, ...] = ("4x4", "8x8")
"""The FrozenLake-v1 maps the ``frozen-lake`` experiment accepts (gymnasium's named maps)."""

SUCCESS_WINDOW = 100
"""The notebook's final success rate: the fraction of successes in the last 100 episodes."""

CURVE_WINDOW = 20
"""The notebook's moving-average and rolling-success window, in episodes."""

NOTEBOOK_REPORT_EVERY = 50
"""The notebook prints the average reward of the last 50 episodes and the model size every 50."""

NEAR_OPTIMAL_FACTOR = 1.5
"""Figure 8.2 read-out: the first episode whose mean length is at most 1.5 x the shortest path."""

DYNA_Q_LABELS: tuple[str, str] = ("Dyna-Q", "Dyna-Q+")

DPI = 100
"""Resolution of the PNG plots the writers make (``dpi`` argument)."""

_COMPILE_EVENTS = "/jax/core/compile/"


# -- validation helpers ---------------------------------------------------------------------------


def _check_int(where: str, name: str, value: object, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or int(value) < lo:
        what = "a positive int" if lo == 1 else f"an int >= {lo}"
        raise ValueError(f"{where}: {name} must be {what}, got {value!r}")
    return int(value)


def _check_model(where: str, model: object) -> None:
    if model not in MODEL_KINDS:
        raise ValueError(f"{where}: unknown model {model!r}; choose from {list(MODEL_KINDS)}")


def _config(
    where: str,
    *,
    learning_rate: float,
    discount: float,
    epsilon: float,
    planning_steps: int,
    model: ModelKind,
    kappa: float,
) -> DynaQConfig:
    """A validated ``DynaQConfig``; its ``ValueError`` is prefixed with ``where``."""
    try:
        return DynaQConfig(
            learning_rate=float(learning_rate),
            discount=float(discount),
            epsilon=float(epsilon),
            planning_steps=planning_steps,
            model=model,
            kappa=float(kappa),
        )
    except (TypeError, ValueError) as err:
        raise ValueError(f"{where}: {err}") from None


# -- protocols ------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FrozenLakeProtocol:
    """The seed notebook's protocol over many seeds (defaults: the notebook's settings).

    FrozenLake-v1 (slippery), ``episodes`` episodes of at most ``max_steps`` steps, Dyna-Q with
    ``planning_steps`` planned updates per real step. ``model`` defaults to the lecture notes'
    count model (the library's default; the right model for a slippery lake); ``"deterministic"``
    is the notebook's last-seen model. ``kappa > 0`` makes it Dyna-Q+.
    """

    map_name: str = "4x4"
    seeds: int = 100
    episodes: int = 300
    max_steps: int = 100
    planning_steps: int = 50
    model: ModelKind = "count"
    kappa: float = 0.0
    learning_rate: float = 0.1
    discount: float = 0.95
    epsilon: float = 0.1
    slippery: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        where = type(self).__name__
        if self.map_name not in FROZEN_LAKE_MAPS:
            raise ValueError(
                f"{where}: unknown map {self.map_name!r}; choose from {list(FROZEN_LAKE_MAPS)}"
            )
        _check_int(where, "seeds", self.seeds, 1)
        _check_int(where, "episodes", self.episodes, 1)
        _check_int(where, "max_steps", self.max_steps, 1)
        _check_int(where, "seed", self.seed, 0)
        _check_model(where, self.model)
        self.config()

    def config(self) -> DynaQConfig:
        """The agent's ``DynaQConfig``."""
        return _config(
            type(self).__name__,
            learning_rate=self.learning_rate,
            discount=self.discount,
            epsilon=self.epsilon,
            planning_steps=self.planning_steps,
            model=self.model,
            kappa=self.kappa,
        )


@dataclasses.dataclass(frozen=True)
class DynaMazeProtocol:
    """Sutton & Barto Figure 8.2: steps per episode in the Dyna maze for several ``n``.

    ``runs`` runs (the book: 30) of ``episodes`` episodes (50) for each ``n`` in
    ``planning_steps`` (0, 5, 50); alpha 0.1, gamma 0.95, epsilon 0.1; the book's deterministic
    (last-seen) model.
    """

    runs: int = 30
    episodes: int = 50
    planning_steps: tuple[int, ...] = (0, 5, 50)
    learning_rate: float = 0.1
    discount: float = 0.95
    epsilon: float = 0.1
    model: ModelKind = "deterministic"
    seed: int = 0

    def __post_init__(self) -> None:
        where = type(self).__name__
        _check_int(where, "runs", self.runs, 1)
        _check_int(where, "episodes", self.episodes, 1)
        _check_int(where, "seed", self.seed, 0)
        steps = tuple(self.planning_steps)
        if not steps:
            raise ValueError(f"{where}: planning_steps needs at least one value")
        for n in steps:
            _check_int(where, "planning_steps", n, 0)
        if len(set(steps)) != len(steps):
            raise ValueError(f"{where}: planning_steps has repeated values: {list(steps)}")
        object.__setattr__(self, "planning_steps", tuple(int(n) for n in steps))
        _check_model(where, self.model)
        for n in self.planning_steps:
            self.config(n)

    def config(self, planning_steps: int) -> DynaQConfig:
        """The ``DynaQConfig`` of the agent with ``n = planning_steps``."""
        return _config(
            type(self).__name__,
            learning_rate=self.learning_rate,
            discount=self.discount,
            epsilon=self.epsilon,
            planning_steps=planning_steps,
            model=self.model,
            kappa=0.0,
        )


MazeKind = Literal["blocking", "shortcut"]


@dataclasses.dataclass(frozen=True)
class ChangingMazeProtocol:
    """Sutton & Barto Figures 8.4 and 8.5: Dyna-Q against Dyna-Q+ in a maze that changes.

    ``runs`` runs of exactly ``steps`` real steps (step-budget mode); the walls move at global
    step ``switch_step``. Both agents share every setting but ``kappa`` (0 for Dyna-Q), so they
    run as one compiled sweep. Defaults: ``BLOCKING_MAZE`` and ``SHORTCUT_MAZE``.
    """

    maze: MazeKind
    runs: int
    steps: int
    switch_step: int
    planning_steps: int
    kappa: float
    learning_rate: float = 1.0
    discount: float = 0.95
    epsilon: float = 0.1
    model: ModelKind = "deterministic"
    seed: int = 0

    def __post_init__(self) -> None:
        where = type(self).__name__
        if self.maze not in ("blocking", "shortcut"):
            raise ValueError(
                f"{where}: unknown maze {self.maze!r}; choose 'blocking' or 'shortcut'"
            )
        _check_int(where, "runs", self.runs, 1)
        steps = _check_int(where, "steps", self.steps, 1)
        switch = _check_int(where, "switch_step", self.switch_step, 0)
        if switch > steps:
            raise ValueError(
                f"{where}: switch_step must lie in [0, steps] = [0, {steps}], got {switch}"
            )
        _check_int(where, "seed", self.seed, 0)
        _check_model(where, self.model)
        if not (isinstance(self.kappa, int | float) and self.kappa > 0):
            raise ValueError(f"{where}: kappa (the Dyna-Q+ bonus) must be > 0, got {self.kappa!r}")
        self.configs()

    def configs(self) -> tuple[DynaQConfig, DynaQConfig]:
        """The ``DynaQConfig`` of Dyna-Q (``kappa = 0``) and of Dyna-Q+ (``kappa``)."""
        plain = _config(
            type(self).__name__,
            learning_rate=self.learning_rate,
            discount=self.discount,
            epsilon=self.epsilon,
            planning_steps=self.planning_steps,
            model=self.model,
            kappa=0.0,
        )
        return plain, plain.replace(kappa=float(self.kappa))

    def env(self) -> ChangingMDP:
        """The blocking or shortcut maze, switching at ``switch_step``."""
        make = blocking_maze if self.maze == "blocking" else shortcut_maze
        return make(switch_step=self.switch_step)


FROZEN_LAKE = FrozenLakeProtocol()
"""The notebook: FrozenLake-v1 4x4 slippery, 300 episodes of at most 100 steps, n = 50, alpha 0.1,
gamma 0.95, epsilon 0.1, over 100 seeds."""

DYNA_MAZE = DynaMazeProtocol()
"""Figure 8.2: the Dyna maze, n = 0, 5, 50, 50 episodes, 30 runs, alpha 0.1, gamma 0.95,
epsilon 0.1."""

BLOCKING_MAZE = ChangingMazeProtocol(
    maze="blocking", runs=30, steps=3000, switch_step=1000, planning_steps=10, kappa=1e-4
)
"""Figure 8.4: 3000 steps, walls move at 1000, alpha 1.0, n = 10, Dyna-Q+ kappa 1e-4."""

SHORTCUT_MAZE = ChangingMazeProtocol(
    maze="shortcut", runs=30, steps=6000, switch_step=3000, planning_steps=50, kappa=1e-3
)
"""Figure 8.5: 6000 steps, a shortcut opens at 3000, alpha 1.0, n = 50, Dyna-Q+ kappa 1e-3."""


# -- timing ---------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Timing:
    """Wall-clock cost of the training calls, compilation kept apart.

    ``compile_s`` sums JAX's compile events (tracing, lowering, XLA compilation) reported through
    ``jax.monitoring``; ``run_s`` is the rest of the wall time of the training calls (the compiled
    loop, progress callbacks and the transfer of results). The oracle's evaluation is not included.
    """

    compile_s: float
    run_s: float
    real_steps: int
    planning_updates: int

    @property
    def real_steps_per_s(self) -> float:
        """Real environment steps per second of run time (all seeds together)."""
        return self.real_steps / self.run_s if self.run_s > 0 else float("nan")

    @property
    def planning_updates_per_s(self) -> float:
        """Planned Q updates per second of run time (all seeds together)."""
        return self.planning_updates / self.run_s if self.run_s > 0 else float("nan")

    def __add__(self, other: "Timing") -> "Timing":
        return Timing(
            self.compile_s + other.compile_s,
            self.run_s + other.run_s,
            self.real_steps + other.real_steps,
            self.planning_updates + other.planning_updates,
        )

    def to_dict(self) -> dict[str, Any]:
        """The timing as JSON-ready values, with the rates and the devices used."""
        return {
            "compile_s": self.compile_s,
            "run_s": self.run_s,
            "real_steps": self.real_steps,
            "real_steps_per_s": self.real_steps_per_s,
            "planning_updates": self.planning_updates,
            "planning_updates_per_s": self.planning_updates_per_s,
            "backend": jax.default_backend(),
            "devices": jax.local_device_count(),
        }


class _Stopwatch:
    """Wall time of a block and the JAX compile time spent inside it (``jax.monitoring``)."""

    def __init__(self) -> None:
        self.compile_s = 0.0
        self.total_s = 0.0
        self._start = 0.0

    def _listen(self, event: str, duration_secs: float, **kwargs: str | int) -> None:
        if event.startswith(_COMPILE_EVENTS):
            self.compile_s += duration_secs

    def __enter__(self) -> "_Stopwatch":
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.total_s = time.perf_counter() - self._start
        jax.monitoring.unregister_event_duration_listener(self._listen)

    def timing(self, real_steps: int, planning_updates: int) -> Timing:
        compile_s = min(self.compile_s, self.total_s)
        return Timing(compile_s, self.total_s - compile_s, real_steps, planning_updates)


def _timed_training(
    fn: Any, *args: Any, planning_steps: int | Sequence[int], **kwargs: Any
) -> tuple[TrainResult, Timing]:
    """Call a trainer and time it; ``planning_steps`` per leading result row (or one for all)."""
    with _Stopwatch() as watch:
        out: TrainResult = fn(*args, **kwargs)
        out = jax.device_get(out)
    steps = np.asarray(out.steps_done, np.int64)
    if isinstance(planning_steps, int):
        updates = int(steps.sum()) * planning_steps
    else:
        per_row = steps.reshape(len(planning_steps), -1).sum(axis=1)
        updates = int(np.dot(per_row, np.asarray(planning_steps, np.int64)))
    return out, watch.timing(int(steps.sum()), updates)


# -- small numerical helpers ----------------------------------------------------------------------


def _keys(seed: int, n: int) -> jax.Array:
    return jax.random.split(jax.random.key(seed), n)


ArrayLikeFloat = NDArray[np.floating[Any]] | NDArray[np.integer[Any]] | NDArray[np.bool_]
"""Per-seed values: floats, ints or flags."""


def spread(x: ArrayLikeFloat) -> dict[str, float]:
    """Mean and spread of per-seed values: mean, s.d. (``ddof=1``), s.e., min, 10th percentile,
    median, 90th percentile, max."""
    arr = np.asarray(x, np.float64).reshape(-1)
    n = arr.size
    sd = float(arr.std(ddof=1)) if n > 1 else 0.0
    p10, median, p90 = (float(v) for v in np.percentile(arr, (10, 50, 90)))
    return {
        "mean": float(arr.mean()),
        "sd": sd,
        "se": sd / math.sqrt(n) if n > 1 else 0.0,
        "min": float(arr.min()),
        "p10": p10,
        "median": median,
        "p90": p90,
        "max": float(arr.max()),
    }


def shortest_path_length(env: TabularMDP) -> int:
    """Fewest steps from a start state to a rewarded terminal transition (breadth-first search
    over the outcomes with positive probability; the Dyna maze: 14).

    Raises:
        ValueError: no rewarded terminal transition can be reached.
    """
    probs = np.asarray(env.probs)
    nxt = np.asarray(env.next_states)
    win = np.any((probs > 0) & np.asarray(env.terminated) & (np.asarray(env.rewards) > 0), (1, 2))
    cont = (probs > 0) & ~np.asarray(env.terminated)
    frontier = deque((int(s), 1) for s in np.flatnonzero(np.asarray(env.initial) > 0))
    seen = {s for s, _ in frontier}
    while frontier:
        s, depth = frontier.popleft()
        if win[s]:
            return depth
        for s_next in np.unique(nxt[s][cont[s]]):
            if int(s_next) not in seen:
                seen.add(int(s_next))
                frontier.append((int(s_next), depth + 1))
    raise ValueError(f"{env.name}: no rewarded terminal transition is reachable from the start")


def success_probabilities(
    env: TabularMDP, policies: NDArray[np.integer[Any]] | jax.Array, horizon: int
) -> NDArray[np.float64]:
    """``success_probability(env, policies[b], horizon)`` for a batch of deterministic policies
    ``[B, S]``, in one vmapped (and once compiled) call."""
    pols = jnp.asarray(policies, jnp.int32)
    if pols.ndim != 2 or pols.shape[1] != env.n_states:
        raise ValueError(f"policies must have shape [B, {env.n_states}], got {pols.shape}")
    if bool(jnp.any((pols < 0) | (pols >= env.n_actions))):
        raise ValueError(f"policy actions must lie in [0, {env.n_actions})")
    probs = jax.vmap(lambda p: success_probability(env, p, horizon))(pols)
    return np.asarray(probs, np.float64)


def greedy_path_lengths(env: TabularMDP, q: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """Steps the greedy policy ``argmax_a Q[b, s, a]`` (ties to the lowest action) of each Q table
    ``[B, S, A]`` takes from the start to a rewarded terminal transition in a deterministic MDP
    (a maze); ``-1`` where it never gets there (it walks into a loop).

    Raises:
        ValueError: the MDP is not deterministic (one outcome of probability 1 per ``(s, a)``)
            or has more than one start state.
    """
    probs = np.asarray(env.probs)
    if not np.all(probs.max(axis=-1) == 1.0) or np.count_nonzero(np.asarray(env.initial)) != 1:
        raise ValueError(f"greedy_path_lengths: {env.name} is not a deterministic one-start maze")
    best = probs.argmax(axis=-1)
    nxt = np.take_along_axis(np.asarray(env.next_states), best[..., None], -1)[..., 0]
    win = np.take_along_axis(
        np.asarray(env.terminated) & (np.asarray(env.rewards) > 0), best[..., None], -1
    )[..., 0]
    policies = np.asarray(q).argmax(axis=-1)
    start = int(np.flatnonzero(np.asarray(env.initial))[0])
    out = np.full(policies.shape[0], -1, np.int64)
    for b, pi in enumerate(policies):
        s = start
        for t in range(1, env.n_states + 1):  # a path without repeats has at most S steps
            a = pi[s]
            if win[s, a]:
                out[b] = t
                break
            s = nxt[s, a]
    return out


def horizon_optimal_success(env: TabularMDP, horizon: int) -> float:
    """The highest probability any policy, even one that depends on the time left, has of a
    rewarded terminal transition within ``horizon`` steps: backward induction in float64,

    ``V_0 = 0``, ``V_h(s) = max_a sum_k p_k (1[term_k and r_k > 0] + (1 - term_k) V_{h-1}(s'_k))``,
    and the result is ``sum_s initial(s) V_horizon(s)``. An upper bound for every stationary policy
    (``optimal_success_probability`` evaluates one: on FrozenLake 4x4 within 100 steps 0.740
    against this bound's 0.744; on 8x8, where 100 steps are short, 0.514 against 0.641).
    """
    _check_int("horizon_optimal_success", "horizon", horizon, 0)
    probs = np.asarray(env.probs, np.float64)
    term = np.asarray(env.terminated)
    win = np.sum(probs * (term & (np.asarray(env.rewards) > 0)), axis=-1)
    cont = np.where(term, 0.0, probs)
    nxt = np.asarray(env.next_states)
    v = np.zeros(env.n_states)
    for _ in range(horizon):
        v = np.max(win + np.sum(cont * v[nxt], axis=-1), axis=-1)
    return float(np.asarray(env.initial, np.float64) @ v)


def optimal_policy(env: TabularMDP) -> tuple[NDArray[np.int32], NDArray[np.float32]]:
    """The oracle's policy ``greedy(Q*)`` and ``V* = max_a Q*`` at the discount 0.9999 that
    ``optimal_success_probability`` uses (``V*`` is then close to the probability of ever
    succeeding)."""
    q = value_iteration(env, DEFAULT_SUCCESS_DISCOUNT, tol=1e-7, max_iters=100_000)
    return np.asarray(greedy(q)), np.asarray(jnp.max(q, axis=-1))


def greedy_path_summary(paths: NDArray[np.int64], shortest: int) -> dict[str, Any]:
    """Summary of ``greedy_path_lengths`` over runs: the fraction that reach the goal, the
    fraction that walk a shortest path, and the spread of the lengths of those that arrive."""
    paths = np.asarray(paths).reshape(-1)
    arrived = paths[paths > 0]
    return {
        "reaches_goal_fraction": float(np.mean(paths > 0)),
        "optimal_fraction": float(np.mean(paths == shortest)),
        "length": spread(arrived) if arrived.size else None,
    }


def _path_cell(g: Mapping[str, Any]) -> str:
    """``optimal% (mean length)`` for the terminal tables."""
    length = f"{g['length']['mean']:.1f}" if g["length"] else "-"
    return f"{g['optimal_fraction']:.0%} ({length})"


def drawn_policy(q: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """The greedy policy ``argmax_a Q[s, a]`` to draw on a map, ``-1`` (no arrow) where every
    action ties (a state the agent learned nothing about, e.g. never visited)."""
    q = np.asarray(q)
    policy: NDArray[np.int64] = q.argmax(axis=-1).astype(np.int64)
    policy[np.all(q == q.max(axis=-1, keepdims=True), axis=-1)] = -1
    return policy


def _path_text(length: int, shortest: int) -> str:
    if length < 0:
        return "the greedy path never reaches the goal"
    return f"greedy path from the start: {length} steps (shortest {shortest})"


def _median_index(values: NDArray[np.float64]) -> int:
    """Index of the (lower) median value; the first such seed on ties."""
    order = np.argsort(values, kind="stable")
    return int(order[(len(values) - 1) // 2])


def _jsonable(x: Any) -> Any:
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_jsonable(v) for v in x]
    if isinstance(x, Path):
        return str(x)
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, np.generic):
        return _jsonable(x.item())
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


def _versions() -> dict[str, str]:
    from dynaq_jax import __version__

    return {
        "dynaq_jax": __version__,
        "jax": jax.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
    }


def _write_json(path: Path, data: Mapping[str, Any]) -> Path:
    path.write_text(json.dumps(_jsonable(data), indent=2, allow_nan=False) + "\n")
    return path


def _with_summary(
    folder: Path, files: list[Path], summary: dict[str, Any], command: str | None
) -> list[Path]:
    """Write ``summary.json`` (the summary, the command line, the files written) last; return
    every file written."""
    path = folder / "summary.json"
    files.append(path)
    summary["command"] = command
    summary["files"] = [f.name for f in files]
    _write_json(path, summary)
    return files


def _write_csv(path: Path, header: Sequence[str], rows: Any) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _out_dir(out: str | Path) -> Path:
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"output folder {path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _g(x: float) -> str:
    """A compact number: 3 significant digits, thousands as k, millions as M."""
    if not math.isfinite(x):
        return "n/a"
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(x) >= scale:
            return f"{x / scale:.3g}{suffix}"
    return f"{x:.3g}"


def _timing_line(t: Mapping[str, Any]) -> str:
    return (
        f"time: compile {t['compile_s']:.1f} s, run {t['run_s']:.1f} s; "
        f"{_g(t['real_steps'])} real steps ({_g(t['real_steps_per_s'])}/s), "
        f"{_g(t['planning_updates'])} planning updates ({_g(t['planning_updates_per_s'])}/s) "
        f"on {t['devices']} {t['backend']} device(s)"
    )


def _stats_row(label: str, s: Mapping[str, float], width: int, fmt: str = ".3f") -> str:
    cells = "".join(f"{s[k]:>8{fmt}}" for k in ("mean", "sd", "min", "median", "max"))
    return f"{label:<{width}}{cells}"


def _stats_header(width: int) -> str:
    return f"{'':<{width}}" + "".join(f"{k:>8}" for k in ("mean", "s.d.", "min", "median", "max"))


def _config_text(cfg: Mapping[str, Any]) -> str:
    text = (
        f"n = {cfg['planning_steps']}, {cfg['model']} model, alpha {cfg['learning_rate']:g}, "
        f"gamma {cfg['discount']:g}, epsilon {cfg['epsilon']:g}"
    )
    if cfg["kappa"]:
        text += f", kappa {cfg['kappa']:g} (Dyna-Q+)"
    return text


# -- FrozenLake: the seed notebook ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class FrozenLakeResult:
    """What ``run_frozen_lake`` returns (arrays on the host, leading axis: seeds).

    Attributes:
        protocol: the settings.
        env: the FrozenLake MDP (``time_limit = protocol.max_steps``).
        train: ``train_seeds``' result: final agents and per-episode metrics ``[seeds, episodes]``.
        success_last: per seed, the fraction of successful episodes among the last 100 (the
            notebook's "final success rate").
        greedy_success: per seed, the exact probability that the final greedy policy reaches the
            goal within ``max_steps`` steps.
        optimal_success: the same for the oracle's policy (``optimal_success_probability``).
        best_success: the highest success probability within ``max_steps`` of any policy, also
            one that depends on the time left (``horizon_optimal_success``).
        optimal_policy: the oracle's policy ``greedy(Q*)`` ``[S]`` (``optimal_policy``).
        optimal_values: ``max_a Q*`` ``[S]``.
        model_size: per seed, the distinct ``(s, a)`` pairs tried (the notebook's model size).
        policy_seed: the seed drawn on the policy map: the median of ``greedy_success``.
        timing: compile and run time of the training call.
    """

    protocol: FrozenLakeProtocol
    env: TabularMDP
    train: TrainResult
    success_last: NDArray[np.float64]
    greedy_success: NDArray[np.float64]
    optimal_success: float
    best_success: float
    optimal_policy: NDArray[np.int32]
    optimal_values: NDArray[np.float32]
    model_size: NDArray[np.int64]
    policy_seed: int
    timing: Timing


def frozen_lake_env(protocol: FrozenLakeProtocol = FROZEN_LAKE) -> TabularMDP:
    """FrozenLake-v1 with the protocol's map and slipperiness, time limit ``max_steps``."""
    env = from_gymnasium("FrozenLake-v1", map_name=protocol.map_name, is_slippery=protocol.slippery)
    return dataclasses.replace(env, time_limit=protocol.max_steps)


def run_frozen_lake(
    protocol: FrozenLakeProtocol = FROZEN_LAKE, *, progress: bool = False
) -> FrozenLakeResult:
    """Train ``protocol.seeds`` Dyna-Q agents on FrozenLake in one compiled call and evaluate them.

    Each agent runs the notebook's loop (``train_seeds`` in episode mode: ``episodes`` episodes,
    each ending on termination or after ``max_steps`` steps). Afterwards the greedy policy of each
    final ``Q`` is evaluated exactly (``success_probability`` with horizon ``max_steps``) and
    compared with the oracle's ``optimal_success_probability``.
    """
    env = frozen_lake_env(protocol)
    config = protocol.config()
    out, timing = _timed_training(
        train_seeds,
        env,
        config,
        _keys(protocol.seed, protocol.seeds),
        n_episodes=protocol.episodes,
        progress=progress,
        planning_steps=config.planning_steps,
    )
    window = min(SUCCESS_WINDOW, protocol.episodes)
    success_last = np.asarray(out.episodes.success, np.float64)[:, -window:].mean(axis=1)
    # The learned greedy policies and the oracle's, evaluated exactly in one call.
    optimal_pi, optimal_v = optimal_policy(env)
    policies = np.concatenate([np.asarray(greedy(out.state.q)), optimal_pi[None]])
    probs = success_probabilities(env, policies, protocol.max_steps)
    greedy_p = probs[:-1]
    return FrozenLakeResult(
        protocol=protocol,
        env=env,
        train=out,
        success_last=success_last,
        greedy_success=greedy_p,
        optimal_success=float(probs[-1]),
        best_success=horizon_optimal_success(env, protocol.max_steps),
        optimal_policy=optimal_pi,
        optimal_values=optimal_v,
        model_size=np.asarray(model_size(out.state), np.int64),
        policy_seed=_median_index(greedy_p),
        timing=timing,
    )


def _env_title(r: FrozenLakeResult) -> str:
    p = r.protocol
    slip = "slippery" if p.slippery else "not slippery"
    return f"FrozenLake-v1 {p.map_name} ({slip})"


def summarize_frozen_lake(result: FrozenLakeResult) -> dict[str, Any]:
    """The JSON-ready summary: the notebook's numbers (final success rate, model size, its
    every-50-episodes print) over seeds, the exact greedy and optimal success probabilities, and
    the timing."""
    p, out = result.protocol, result.train
    config = p.config()
    returns = np.asarray(out.episodes.returns, np.float64)
    sizes = np.asarray(out.episodes.model_size, np.float64)
    checkpoints = [
        {
            "episode": e,
            "avg_reward_last_50": float(returns[:, max(0, e - NOTEBOOK_REPORT_EVERY) : e].mean()),
            "model_size": float(sizes[:, e - 1].mean()),
        }
        for e in range(NOTEBOOK_REPORT_EVERY, p.episodes + 1, NOTEBOOK_REPORT_EVERY)
    ]
    i = result.policy_seed
    return {
        "experiment": "frozen-lake",
        "env": {
            "name": "FrozenLake-v1",
            "map": p.map_name,
            "slippery": p.slippery,
            "n_states": result.env.n_states,
            "n_actions": result.env.n_actions,
            "time_limit": p.max_steps,
        },
        "protocol": dataclasses.asdict(p),
        "config": config.to_dict(),
        "seeds": p.seeds,
        "episodes": p.episodes,
        "success_window": min(SUCCESS_WINDOW, p.episodes),
        "success_rate_last_episodes": spread(result.success_last),
        "model_size": spread(result.model_size),
        "greedy_success_probability": spread(result.greedy_success),
        "optimal_success_probability": result.optimal_success,
        "best_success_probability_within_limit": result.best_success,
        "greedy_success_probability_per_seed": result.greedy_success,
        "notebook_checkpoints": checkpoints,
        "policy_map_seed": {
            "index": i,
            "rule": "median greedy success probability over seeds",
            "greedy_success_probability": float(result.greedy_success[i]),
        },
        "real_steps_per_seed": spread(np.asarray(out.steps_done)),
        "memory_per_seed_bytes": memory_per_seed(result.env, config),
        "timing": result.timing.to_dict(),
        "versions": _versions(),
    }


def format_frozen_lake(summary: Mapping[str, Any]) -> str:
    """The terminal report of a ``summarize_frozen_lake`` summary: a compact table."""
    env, proto = summary["env"], summary["protocol"]
    slip = "slippery" if env["slippery"] else "not slippery"
    n_pairs = env["n_states"] * env["n_actions"]
    w = 36
    lines = [
        f"Dyna-Q on FrozenLake-v1 {env['map']} ({slip}): {summary['seeds']} seeds x "
        f"{summary['episodes']} episodes of at most {env['time_limit']} steps",
        _config_text(summary["config"]) + f", seed {proto['seed']}",
        "",
    ]
    if summary["notebook_checkpoints"]:
        lines += [
            "the notebook's print, mean over seeds:",
            f"{'episode':>9}{'avg reward (last 50)':>23}{'model size':>13}",
        ]
        lines += [
            f"{c['episode']:>9}{c['avg_reward_last_50']:>23.3f}{c['model_size']:>13.1f}"
            for c in summary["notebook_checkpoints"]
        ]
        lines.append("")
    lines += [
        _stats_header(w),
        _stats_row(
            f"success rate, last {summary['success_window']} episodes",
            summary["success_rate_last_episodes"],
            w,
        ),
        _stats_row("greedy policy: P(goal) exact", summary["greedy_success_probability"], w),
        f"{'optimal policy: P(goal) exact':<{w}}{summary['optimal_success_probability']:>8.3f}"
        "   (oracle: greedy(Q*), one action per state)",
        f"{'best possible within the limit':<{w}}"
        f"{summary['best_success_probability_within_limit']:>8.3f}"
        "   (backward induction: may depend on the time left)",
        _stats_row(f"model size (of {n_pairs} pairs)", summary["model_size"], w, ".1f"),
        "",
        "P(goal): probability that the greedy policy of the final Q reaches the goal within "
        f"{env['time_limit']} steps (oracle)",
        _timing_line(summary["timing"]),
    ]
    return "\n".join(lines)


def write_frozen_lake(
    result: FrozenLakeResult, out: str | Path, *, command: str | None = None, dpi: int = DPI
) -> list[Path]:
    """Write the output folder and return the files written.

    - ``metrics.npz``: per-episode ``returns``, ``lengths``, ``success``, ``terminated``,
      ``model_size`` ``[seeds, episodes]`` and per-seed ``success_last``, ``greedy_success``,
      ``final_model_size``, ``steps_done``, with ``optimal_success`` (plain ``numpy.load``);
    - ``agents.npz``: the final agents with their config (``dynaq_jax.load``);
    - ``episodes.csv`` (one row per seed and episode), ``seeds.csv`` (one row per seed);
    - ``summary.json`` (``summarize_frozen_lake``, with ``command`` and the file list);
    - ``learning_curves.png`` (the notebook's two panels, mean over seeds with a 10-90 percentile
      band), ``policy.png`` (greedy policy and ``max_a Q`` of the median seed),
      ``policy_optimal.png`` (the oracle's policy and values).
    """
    folder = _out_dir(out)
    p, tr = result.protocol, result.train
    ep = tr.episodes
    files: list[Path] = []
    metrics = folder / "metrics.npz"
    np.savez_compressed(
        metrics,
        returns=np.asarray(ep.returns),
        lengths=np.asarray(ep.lengths),
        success=np.asarray(ep.success),
        terminated=np.asarray(ep.terminated),
        model_size=np.asarray(ep.model_size),
        success_last=result.success_last,
        greedy_success=result.greedy_success,
        optimal_success=np.float64(result.optimal_success),
        final_model_size=result.model_size,
        steps_done=np.asarray(tr.steps_done),
    )
    files.append(metrics)
    files.append(save(folder / "agents.npz", tr.state, p.config()))

    n_seeds, n_episodes = np.shape(ep.returns)
    returns, lengths = np.asarray(ep.returns), np.asarray(ep.lengths)
    success, term, sizes = (
        np.asarray(ep.success),
        np.asarray(ep.terminated),
        np.asarray(ep.model_size),
    )
    files.append(
        _write_csv(
            folder / "episodes.csv",
            ["seed", "episode", "return", "length", "success", "terminated", "model_size"],
            (
                [
                    i,
                    e + 1,
                    f"{returns[i, e]:g}",
                    int(lengths[i, e]),
                    int(success[i, e]),
                    int(term[i, e]),
                    int(sizes[i, e]),
                ]
                for i in range(n_seeds)
                for e in range(n_episodes)
            ),
        )
    )
    files.append(
        _write_csv(
            folder / "seeds.csv",
            ["seed", "success_last", "greedy_success", "model_size", "real_steps"],
            (
                [
                    i,
                    f"{result.success_last[i]:.6g}",
                    f"{result.greedy_success[i]:.6g}",
                    int(result.model_size[i]),
                    int(np.asarray(tr.steps_done)[i]),
                ]
                for i in range(n_seeds)
            ),
        )
    )

    title = f"Dyna-Q on {_env_title(result)}, {_config_text(p.config().to_dict())}"
    files.append(
        plotting.plot_learning_curves(
            returns,
            success,
            folder / "learning_curves.png",
            dpi=dpi,
            window=CURVE_WINDOW,
            title=title,
        )
    )
    i = result.policy_seed
    layout = result.env.layout
    assert layout is not None
    files.append(
        plotting.plot_policy_map(
            layout,
            drawn_policy(np.asarray(tr.state.q)[i]),
            np.asarray(state_values(jax.tree.map(lambda x: x[i], tr.state))),
            folder / "policy.png",
            dpi=dpi,
            title=(
                f"Greedy policy and max_a Q of seed {i} of {n_seeds}\n(the median seed by "
                f"P(goal) = {result.greedy_success[i]:.2f}; optimal {result.optimal_success:.2f})"
            ),
            action_arrows="frozen_lake",
        )
    )
    files.append(
        plotting.plot_policy_map(
            layout,
            result.optimal_policy,
            result.optimal_values,
            folder / "policy_optimal.png",
            dpi=dpi,
            title=(
                f"Oracle: greedy(Q*) and max_a Q*, gamma {DEFAULT_SUCCESS_DISCOUNT}\n"
                f"P(goal within {p.max_steps} steps) = {result.optimal_success:.2f}"
            ),
            action_arrows="frozen_lake",
        )
    )
    return _with_summary(folder, files, summarize_frozen_lake(result), command)


# -- Figure 8.2: the Dyna maze --------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DynaMazeResult:
    """What ``run_dyna_maze`` returns.

    Attributes:
        protocol: the settings.
        env: the Dyna maze.
        lengths: steps per episode ``[len(planning_steps), runs, episodes]``.
        trains: one ``train_seeds`` result per ``n``.
        shortest_path: the shortest path's length (14).
        greedy_path: ``[len(planning_steps), runs]``: steps the final greedy policy takes from the
            start to the goal (``-1``: it never gets there); a shortest path takes
            ``shortest_path``.
        timing: compile and run time of all training calls.
    """

    protocol: DynaMazeProtocol
    env: TabularMDP
    lengths: NDArray[np.int64]
    trains: tuple[TrainResult, ...]
    shortest_path: int
    greedy_path: NDArray[np.int64]
    timing: Timing


def run_dyna_maze(
    protocol: DynaMazeProtocol = DYNA_MAZE, *, progress: bool = False
) -> DynaMazeResult:
    """Figure 8.2: for each ``n``, ``runs`` agents of ``episodes`` episodes in the Dyna maze.

    One compiled call per ``n`` (``planning_steps`` is static); every ``n`` uses the same keys.
    """
    env = dyna_maze()
    keys = _keys(protocol.seed, protocol.runs)
    shortest = shortest_path_length(env)
    trains: list[TrainResult] = []
    timing = Timing(0.0, 0.0, 0, 0)
    paths: list[NDArray[np.int64]] = []
    for n in protocol.planning_steps:
        out, t = _timed_training(
            train_seeds,
            env,
            protocol.config(n),
            keys,
            n_episodes=protocol.episodes,
            progress=progress,
            planning_steps=n,
        )
        trains.append(out)
        timing = timing + t
        paths.append(greedy_path_lengths(env, np.asarray(out.state.q)))
    lengths = np.stack([np.asarray(t.episodes.lengths, np.int64) for t in trains])
    return DynaMazeResult(
        protocol=protocol,
        env=env,
        lengths=lengths,
        trains=tuple(trains),
        shortest_path=shortest,
        greedy_path=np.stack(paths),
        timing=timing,
    )


READOUT_EPISODES = (1, 2, 3, 5, 10, 25, 50)
"""Episodes at which the Figure 8.2 summary reads the mean steps per episode."""


def summarize_dyna_maze(result: DynaMazeResult) -> dict[str, Any]:
    """The JSON-ready summary: per ``n``, the mean steps-per-episode curve, read-outs at a few
    episodes, the first episode whose mean is within ``1.5 x`` the shortest path, and the path the
    final greedy policy walks (``greedy_path_summary``)."""
    p = result.protocol
    threshold = NEAR_OPTIMAL_FACTOR * result.shortest_path
    agents = []
    for k, n in enumerate(p.planning_steps):
        per_run = result.lengths[k].astype(np.float64)
        mean = per_run.mean(axis=0)
        below = np.flatnonzero(mean <= threshold)
        agents.append(
            {
                "planning_steps": n,
                "steps_per_episode_mean": mean,
                "steps_at_episode": {
                    str(e): float(mean[e - 1]) for e in READOUT_EPISODES if e <= p.episodes
                },
                "first_episode_near_optimal": int(below[0]) + 1 if below.size else None,
                "last_10_episodes_mean": float(mean[-10:].mean()),
                "greedy_path": greedy_path_summary(result.greedy_path[k], result.shortest_path),
                "real_steps": int(np.asarray(result.trains[k].steps_done).sum()),
            }
        )
    return {
        "experiment": "maze",
        "env": {"name": result.env.name, "shortest_path": result.shortest_path},
        "protocol": dataclasses.asdict(p),
        "config": p.config(p.planning_steps[0]).to_dict() | {"planning_steps": p.planning_steps},
        "runs": p.runs,
        "episodes": p.episodes,
        "near_optimal_threshold": threshold,
        "agents": agents,
        "timing": result.timing.to_dict(),
        "versions": _versions(),
    }


def format_dyna_maze(summary: Mapping[str, Any]) -> str:
    """The terminal report of a ``summarize_dyna_maze`` summary."""
    proto = summary["protocol"]
    episodes = [e for e in READOUT_EPISODES if e <= summary["episodes"]]
    lines = [
        f"Dyna maze (Sutton & Barto Figure 8.2): {summary['runs']} runs x {summary['episodes']} "
        f"episodes, shortest path {summary['env']['shortest_path']} steps",
        f"{proto['model']} model, alpha {proto['learning_rate']:g}, gamma {proto['discount']:g}, "
        f"epsilon {proto['epsilon']:g}, seed {proto['seed']}",
        "",
        "mean steps per episode:",
        f"{'n':>4}"
        + "".join(f"{'ep ' + str(e):>8}" for e in episodes)
        + f"{'near-opt at':>13}{'greedy path':>18}",
    ]
    for a in summary["agents"]:
        first = a["first_episode_near_optimal"]
        lines.append(
            f"{a['planning_steps']:>4}"
            + "".join(f"{a['steps_at_episode'][str(e)]:>8.1f}" for e in episodes)
            + f"{('ep ' + str(first)) if first else 'never':>13}"
            + f"{_path_cell(a['greedy_path']):>18}"
        )
    lines += [
        "",
        f"near-opt at: first episode whose mean length is <= {summary['near_optimal_threshold']:g}"
        " (1.5 x shortest)",
        "greedy path: runs whose final greedy policy walks a shortest path (mean length of the "
        "paths that reach the goal)",
        _timing_line(summary["timing"]),
    ]
    return "\n".join(lines)


def write_dyna_maze(
    result: DynaMazeResult, out: str | Path, *, command: str | None = None, dpi: int = DPI
) -> list[Path]:
    """Write the output folder and return the files written.

    - ``metrics.npz``: ``lengths`` ``[n values, runs, episodes]``, ``planning_steps``,
      ``greedy_path`` ``[n values, runs]`` (``greedy_path_lengths``);
    - ``steps_per_episode.csv``: one row per ``n``, run and episode;
    - ``summary.json``; ``steps_per_episode.png`` (Figure 8.2, from episode 2 as in the book);
      ``policy.png`` (greedy policy and ``max_a Q`` of the first run with the largest ``n``).
    """
    folder = _out_dir(out)
    p = result.protocol
    files: list[Path] = []
    metrics = folder / "metrics.npz"
    np.savez_compressed(
        metrics,
        lengths=result.lengths,
        planning_steps=np.asarray(p.planning_steps),
        greedy_path=result.greedy_path,
    )
    files.append(metrics)
    n_values, runs, episodes = result.lengths.shape
    files.append(
        _write_csv(
            folder / "steps_per_episode.csv",
            ["planning_steps", "run", "episode", "steps"],
            (
                [p.planning_steps[k], i, e + 1, int(result.lengths[k, i, e])]
                for k in range(n_values)
                for i in range(runs)
                for e in range(episodes)
            ),
        )
    )
    files.append(
        plotting.plot_steps_per_episode(
            {f"n = {n}": result.lengths[k] for k, n in enumerate(p.planning_steps)},
            folder / "steps_per_episode.png",
            dpi=dpi,
            optimal=float(result.shortest_path),
            start_episode=2 if episodes >= 2 else 1,
            title=(
                f"Dyna maze (Figure 8.2): steps per episode, {p.model} model, "
                f"alpha {p.learning_rate:g}, epsilon {p.epsilon:g}"
            ),
        )
    )
    k = int(np.argmax(p.planning_steps))
    state = jax.tree.map(lambda x: x[0], result.trains[k].state)
    layout = result.env.layout
    assert layout is not None
    files.append(
        plotting.plot_policy_map(
            layout,
            drawn_policy(np.asarray(state.q)),
            np.asarray(state_values(state)),
            folder / "policy.png",
            dpi=dpi,
            title=(
                f"Dyna maze, n = {p.planning_steps[k]}: greedy policy and max_a Q of the first "
                f"run after {episodes} episodes\n"
                + _path_text(int(result.greedy_path[k, 0]), result.shortest_path)
            ),
            action_arrows="maze",
        )
    )
    return _with_summary(folder, files, summarize_dyna_maze(result), command)


# -- Figures 8.4 and 8.5: the blocking and shortcut mazes -----------------------------------------


@dataclasses.dataclass(frozen=True)
class ChangingMazeResult:
    """What ``run_changing_maze`` returns (leading axes: agent (Dyna-Q, Dyna-Q+), run).

    Attributes:
        protocol: the settings.
        env: the changing maze.
        train: ``train_sweep``'s result ``[2, runs, ...]``.
        step_rewards: reward of every real step ``[2, runs, steps]``.
        shortest_path: the shortest path in the maze in force at the end.
        greedy_path: ``[2, runs]``: steps the final greedy policy takes from the start to the goal
            of the maze in force at the end (after the change when ``switch_step < steps``);
            ``-1``: it never gets there.
        timing: compile and run time of the sweep.
    """

    protocol: ChangingMazeProtocol
    env: ChangingMDP
    train: TrainResult
    step_rewards: NDArray[np.float32]
    shortest_path: int
    greedy_path: NDArray[np.int64]
    timing: Timing

    @property
    def final_env(self) -> TabularMDP:
        """The maze in force at the last step (``before`` when ``switch_step == steps``)."""
        return self.env.at(self.protocol.steps - 1)

    @property
    def cumulative_reward(self) -> NDArray[np.float64]:
        """Cumulative reward after each step ``[2, runs, steps]``."""
        return np.cumsum(self.step_rewards.astype(np.float64), axis=-1)


def run_changing_maze(
    protocol: ChangingMazeProtocol = BLOCKING_MAZE, *, progress: bool = False
) -> ChangingMazeResult:
    """Figures 8.4/8.5: Dyna-Q and Dyna-Q+ for exactly ``steps`` real steps in a changing maze.

    Both agents run as one compiled sweep (``train_sweep`` over ``kappa``, step-budget mode) with
    the same keys; the walls move at global step ``switch_step``.
    """
    env = protocol.env()
    out, timing = _timed_training(
        train_sweep,
        env,
        DynaQConfig.stack(protocol.configs()),
        _keys(protocol.seed, protocol.runs),
        n_steps=protocol.steps,
        progress=progress,
        planning_steps=protocol.planning_steps,
    )
    final = env.at(protocol.steps - 1)  # the maze of the last step
    shortest = shortest_path_length(final)
    q = np.asarray(out.state.q)
    paths = greedy_path_lengths(final, q.reshape(-1, *q.shape[2:]))
    assert out.step_rewards is not None
    return ChangingMazeResult(
        protocol=protocol,
        env=env,
        train=out,
        step_rewards=np.asarray(out.step_rewards, np.float32),
        shortest_path=shortest,
        greedy_path=paths.reshape(q.shape[:2]),
        timing=timing,
    )


def summarize_changing_maze(result: ChangingMazeResult) -> dict[str, Any]:
    """The JSON-ready summary: per agent, cumulative reward at the change and at the end (mean and
    spread over runs), the reward gained after the change and the path the final greedy policy walks
    in the final maze (``greedy_path_summary``); how often Dyna-Q+ ends ahead, and the step from
    which its mean cumulative reward stays above Dyna-Q's (``None`` if it ends behind)."""
    p = result.protocol
    cum = result.cumulative_reward
    at_switch = cum[..., p.switch_step - 1] if p.switch_step > 0 else np.zeros(cum.shape[:2])
    end = cum[..., -1]
    mean = cum.mean(axis=1)
    behind = np.flatnonzero(mean[1] <= mean[0])
    if mean[1, -1] <= mean[0, -1]:
        ahead_from = None
    else:
        ahead_from = int(behind[-1]) + 2 if behind.size else 1
    agents = []
    for k, label in enumerate(DYNA_Q_LABELS):
        cfg = result.protocol.configs()[k]
        agents.append(
            {
                "agent": label,
                "kappa": float(cfg.kappa),
                "cumulative_reward_at_switch": spread(at_switch[k]),
                "cumulative_reward_at_end": spread(end[k]),
                "reward_after_switch": spread(end[k] - at_switch[k]),
                "greedy_path": greedy_path_summary(result.greedy_path[k], result.shortest_path),
            }
        )
    return {
        "experiment": p.maze,
        "env": {
            "name": result.env.before.name.removesuffix("-before"),
            "switch_step": p.switch_step,
            "shortest_path_final": result.shortest_path,
        },
        "protocol": dataclasses.asdict(p),
        "config": result.protocol.configs()[1].to_dict(),
        "runs": p.runs,
        "steps": p.steps,
        "agents": agents,
        "plus_ahead_at_end_fraction": float(np.mean(end[1] > end[0])),
        "plus_ahead_from_step": ahead_from,
        "plus_minus_plain_at_end": spread(end[1] - end[0]),
        "timing": result.timing.to_dict(),
        "versions": _versions(),
    }


def format_changing_maze(summary: Mapping[str, Any]) -> str:
    """The terminal report of a ``summarize_changing_maze`` summary."""
    proto, env = summary["protocol"], summary["env"]
    figure = "8.4" if proto["maze"] == "blocking" else "8.5"
    w = 10
    lines = [
        f"{proto['maze'].capitalize()} maze (Sutton & Barto Figure {figure}): {summary['runs']} "
        f"runs x {summary['steps']} steps, walls move at step {env['switch_step']}",
        _config_text(summary["config"]) + f", seed {proto['seed']}",
        "",
        "cumulative reward, mean ± s.e. over runs:",
        f"{'agent':<{w}}{'at switch':>16}{'at end':>16}{'after switch':>16}{'greedy path':>16}",
    ]
    for a in summary["agents"]:

        def cell(s: Mapping[str, float]) -> str:
            return f"{s['mean']:.1f} ± {s['se']:.1f}"

        lines.append(
            f"{a['agent']:<{w}}{cell(a['cumulative_reward_at_switch']):>16}"
            f"{cell(a['cumulative_reward_at_end']):>16}{cell(a['reward_after_switch']):>16}"
            f"{_path_cell(a['greedy_path']):>16}"
        )
    diff = summary["plus_minus_plain_at_end"]
    lines += [
        "",
        f"Dyna-Q+ minus Dyna-Q at the end: {diff['mean']:.1f} ± {diff['se']:.1f}; Dyna-Q+ ahead "
        f"in {summary['plus_ahead_at_end_fraction']:.0%} of runs"
        + (
            f"; its mean stays ahead from step {summary['plus_ahead_from_step']}"
            if summary["plus_ahead_from_step"]
            else ""
        ),
        "greedy path: runs whose final greedy policy walks a shortest path "
        f"({env['shortest_path_final']} steps) of the final maze (mean length of the paths that "
        "reach the goal)",
        _timing_line(summary["timing"]),
    ]
    return "\n".join(lines)


def write_changing_maze(
    result: ChangingMazeResult, out: str | Path, *, command: str | None = None, dpi: int = DPI
) -> list[Path]:
    """Write the output folder and return the files written.

    - ``metrics.npz``: ``step_rewards`` ``[2, runs, steps]`` (agent 0 Dyna-Q, 1 Dyna-Q+),
      ``kappa``, ``greedy_path`` ``[2, runs]`` (``greedy_path_lengths``), ``switch_step``;
    - ``cumulative_reward.csv``: one row per step: mean and s.e. of each agent's cumulative reward;
    - ``summary.json``; ``cumulative_reward.png`` (Figure 8.4 or 8.5);
      ``policy_dyna_q.png``, ``policy_dyna_q_plus.png`` (each agent's final greedy policy and
      ``max_a Q`` in the final maze, first run).
    """
    folder = _out_dir(out)
    p = result.protocol
    files: list[Path] = []
    metrics = folder / "metrics.npz"
    np.savez_compressed(
        metrics,
        step_rewards=result.step_rewards,
        kappa=np.asarray([c.kappa for c in p.configs()], np.float64),
        greedy_path=result.greedy_path,
        switch_step=np.int64(p.switch_step),
    )
    files.append(metrics)
    cum = result.cumulative_reward
    mean = cum.mean(axis=1)
    se = cum.std(axis=1, ddof=1) / math.sqrt(p.runs) if p.runs > 1 else np.zeros_like(mean)
    files.append(
        _write_csv(
            folder / "cumulative_reward.csv",
            ["step", "dyna_q_mean", "dyna_q_se", "dyna_q_plus_mean", "dyna_q_plus_se"],
            (
                [
                    t + 1,
                    f"{mean[0, t]:.6g}",
                    f"{se[0, t]:.6g}",
                    f"{mean[1, t]:.6g}",
                    f"{se[1, t]:.6g}",
                ]
                for t in range(p.steps)
            ),
        )
    )
    figure = "8.4" if p.maze == "blocking" else "8.5"
    labels = [
        f"{label} (kappa {c.kappa:g})" if c.kappa else label
        for label, c in zip(DYNA_Q_LABELS, p.configs(), strict=True)
    ]
    files.append(
        plotting.plot_cumulative_reward(
            {label: cum[k] for k, label in enumerate(labels)},
            folder / "cumulative_reward.png",
            dpi=dpi,
            change_step=p.switch_step,
            title=(
                f"{p.maze.capitalize()} maze (Figure {figure}): n = {p.planning_steps}, "
                f"alpha {p.learning_rate:g}, epsilon {p.epsilon:g}, {p.model} model"
            ),
        )
    )
    final = result.final_env
    layout = final.layout
    assert layout is not None
    when = "after the change" if p.switch_step < p.steps else "before any change"
    for k, (label, name) in enumerate(zip(DYNA_Q_LABELS, ("dyna_q", "dyna_q_plus"), strict=True)):
        state = jax.tree.map(lambda x, k=k: x[k, 0], result.train.state)
        files.append(
            plotting.plot_policy_map(
                layout,
                drawn_policy(np.asarray(state.q)),
                np.asarray(state_values(state)),
                folder / f"policy_{name}.png",
                dpi=dpi,
                title=(
                    f"{p.maze.capitalize()} maze {when}: {label} greedy policy and max_a Q, "
                    f"first run, step {p.steps}\n"
                    + _path_text(int(result.greedy_path[k, 0]), result.shortest_path)
                ),
                action_arrows="maze",
            )
        )
    return _with_summary(folder, files, summarize_changing_maze(result), command)


__all__ = [
    "BLOCKING_MAZE",
    "DYNA_MAZE",
    "DYNA_Q_LABELS",
    "FROZEN_LAKE",
    "FROZEN_LAKE_MAPS",
    "SHORTCUT_MAZE",
    "ChangingMazeProtocol",
    "ChangingMazeResult",
    "DynaMazeProtocol",
    "DynaMazeResult",
    "FrozenLakeProtocol",
    "FrozenLakeResult",
    "Timing",
    "drawn_policy",
    "format_changing_maze",
    "format_dyna_maze",
    "format_frozen_lake",
    "frozen_lake_env",
    "greedy_path_lengths",
    "greedy_path_summary",
    "horizon_optimal_success",
    "optimal_policy",
    "run_changing_maze",
    "run_dyna_maze",
    "run_frozen_lake",
    "shortest_path_length",
    "spread",
    "success_probabilities",
    "summarize_changing_maze",
    "summarize_dyna_maze",
    "summarize_frozen_lake",
    "write_changing_maze",
    "write_dyna_maze",
    "write_frozen_lake",
]
