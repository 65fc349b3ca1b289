"""Shared pieces of the experiments: the timing of training calls, the seeds' keys, the exact
read-outs of final policies (oracle success probabilities, greedy paths in mazes) and the spread
of per-seed values.

Seeds: run ``i`` trains with ``jax.random.split(jax.random.key(seed), runs)[i]`` (``seed_keys``).
Every agent of one experiment uses the same keys (common random numbers).
"""

import dataclasses
import math
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from numpy.typing import NDArray

from dynaq_jax.config import DynaQConfig, ModelKind
from dynaq_jax.envs import TabularMDP, greedy, success_probability, value_iteration
from dynaq_jax.envs.oracle import DEFAULT_SUCCESS_DISCOUNT
from dynaq_jax.experiments.options import NON_NEGATIVE_INT
from dynaq_jax.train import TrainResult

_COMPILE_EVENTS = "/jax/core/compile/"


def make_config(
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
        """Real environment steps per second of run time (all seeds together); NaN (``null`` in
        JSON) when the run time is 0."""
        return self.real_steps / self.run_s if self.run_s > 0 else float("nan")

    @property
    def planning_updates_per_s(self) -> float:
        """Planned Q updates per second of run time (all seeds together); NaN (``null`` in JSON)
        when the run time is 0."""
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
            "devices": jax.device_count(),
            "processes": jax.process_count(),
        }


class Stopwatch:
    """Wall time of a block and the JAX compile time spent inside it (``jax.monitoring``)."""

    def __init__(self) -> None:
        self.compile_s = 0.0
        self.total_s = 0.0
        self._start = 0.0

    def _listen(self, event: str, duration_secs: float, **kwargs: str | int) -> None:
        if event.startswith(_COMPILE_EVENTS):
            self.compile_s += duration_secs

    def __enter__(self) -> "Stopwatch":
        jax.monitoring.register_event_duration_secs_listener(self._listen)
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.total_s = time.perf_counter() - self._start
        jax.monitoring.unregister_event_duration_listener(self._listen)

    def timing(self, real_steps: int, planning_updates: int) -> Timing:
        compile_s = min(self.compile_s, self.total_s)
        return Timing(compile_s, self.total_s - compile_s, real_steps, planning_updates)


def timed_training(
    fn: Any, *args: Any, planning_steps: int | Sequence[int], **kwargs: Any
) -> tuple[TrainResult, Timing]:
    """Call a trainer and time it; ``planning_steps`` per leading result row (or one for all)."""
    with Stopwatch() as watch:
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


def seed_keys(seed: int, n: int) -> jax.Array:
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
    NON_NEGATIVE_INT.check("horizon_optimal_success", "horizon", horizon)
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


def drawn_policy(q: NDArray[np.floating[Any]]) -> NDArray[np.int64]:
    """The greedy policy ``argmax_a Q[s, a]`` to draw on a map, ``-1`` (no arrow) where every
    action ties (a state the agent learned nothing about, e.g. never visited)."""
    q = np.asarray(q)
    policy: NDArray[np.int64] = q.argmax(axis=-1).astype(np.int64)
    policy[np.all(q == q.max(axis=-1, keepdims=True), axis=-1)] = -1
    return policy


def median_index(values: NDArray[np.float64]) -> int:
    """Index of the (lower) median value; the first such seed on ties."""
    order = np.argsort(values, kind="stable")
    return int(order[(len(values) - 1) // 2])


__all__ = [
    "ArrayLikeFloat",
    "Stopwatch",
    "Timing",
    "drawn_policy",
    "greedy_path_lengths",
    "greedy_path_summary",
    "horizon_optimal_success",
    "make_config",
    "median_index",
    "optimal_policy",
    "seed_keys",
    "shortest_path_length",
    "spread",
    "success_probabilities",
    "timed_training",
]
