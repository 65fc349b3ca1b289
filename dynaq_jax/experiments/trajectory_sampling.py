"""Sutton & Barto Figure 8.8: trajectory sampling against uniform updates
(``dynaq-jax trajectory-sampling``): ``TRAJECTORY_SAMPLING`` and ``run_trajectory_sampling``; the
read-outs (``summarize_trajectory_sampling``, ``format_trajectory_sampling``,
``write_trajectory_sampling``) are in ``trajectory_sampling_report``.

The tasks (section 8.6): ``|S|`` states, two actions in each; every ``(s, a)`` leads to one of
``b`` next states ``s'_k`` drawn uniformly at random when the task is made (with replacement),
all equally likely, each transition ``(s, a, k)`` with its own reward ``r_k ~ N(0, 1)``; on every
transition the episode ends with probability ``p = 0.1`` (reward 0, as in the common
reproduction). Undiscounted; episodes start in state 0.

Both planners make the same expected update (``expected_target``):
``Q(s, a) <- (1 - p) (1/b) sum_k [r_k + max_a' Q(s'_k, a')]``, in place; they differ in which
pairs they update: ``"uniform"`` cycles through all pairs in order, ``"on-policy"`` simulates
episodes from the start with the epsilon-greedy policy of the current ``Q`` (epsilon 0.1, ties at
random) and updates each pair it meets. Every ``eval_every`` updates the greedy policy's value of
the start state is computed exactly (``greedy_start_value``), not by rollouts; ``v*(start)`` of
each task comes from the oracle (``optimal_start_values``: value iteration on the task as a
``TabularMDP``). Everything is ``vmap``-ed over the tasks; both planners see the same tasks.

Had the terminating transition paid ``r_k`` too, the update would read ``Q <- (1/b) sum_k r_k +
(1 - p) (1/b) sum_k max Q(s'_k)``; every ``Q`` and every value would then be the ones here divided
by ``1 - p`` (the update is homogeneous in ``(r, Q)``; greedy and epsilon-greedy choices are
unchanged), so the curves would be 1/0.9 = 1.11 times higher.
"""

import dataclasses
import math
from collections.abc import Callable
from typing import Annotated, Literal, NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int
from numpy.typing import NDArray

from dynaq_jax.backups import expected_value, full_backup
from dynaq_jax.envs import TabularMDP, value_iteration
from dynaq_jax.experiments.common import Stopwatch
from dynaq_jax.experiments.options import (
    MAX_COUNT,
    Epsilon,
    FieldCheck,
    PositiveInt,
    Seed,
    check_fields,
)
from dynaq_jax.numerics import first_argmax, rounded, runtime_zero
from dynaq_jax.rng import normal_pairs, split_key, uniforms
from dynaq_jax.types import Key, QTable

Method = Literal["on-policy", "uniform"]
METHODS: tuple[Method, ...] = ("on-policy", "uniform")
N_ACTIONS = 2
START = 0
"""The start state of every episode."""

MAX_TABLE = 10**8
"""The most entries of the tasks' tables, ``tasks x states x 2 x b`` (two tables, 4 bytes each)."""
EVALUATION_TOLERANCE = 1e-9
"""``greedy_start_value`` sums the first ``H`` steps, ``(1 - p)^H <= EVALUATION_TOLERANCE``."""

BRANCHING = FieldCheck(
    int,
    "an int >= 1",
    minimum=1,
    maximum=MAX_COUNT,
    maximum_text="2147483647 (2**31 - 1)",
    many=True,
    metavar="B",
)
TERMINATION = FieldCheck(float, "a number in [0.01, 1]", minimum=0.01, maximum=1.0, metavar="PROB")
Branching = Annotated[tuple[int, ...], BRANCHING, BRANCHING.cli()]
"""One or more branching factors ``b >= 1``."""
Termination = Annotated[float, TERMINATION, TERMINATION.cli()]
"""The probability that a transition ends the episode, in ``[0.01, 1]``."""


@dataclasses.dataclass(frozen=True)
class TrajectorySamplingProtocol:
    """Sutton & Barto Figure 8.8: the start state's value under the greedy policy against the
    number of expected updates, for updates spread uniformly and along simulated on-policy
    episodes, on ``tasks`` random tasks of ``states`` states for each ``b`` in ``branching``.

    The book: 1,000 states with b = 1, 3, 10 over 20,000 updates, and 10,000 states with b = 1
    over 200,000, 200 tasks per curve (``--tasks 200``; ``--states 10000 --branching 1 --updates
    200000 --eval-every 5000``). The default is the 1,000-state panel with fewer tasks.
    """

    states: PositiveInt = 1_000
    """states |S| of each task (two actions each)"""
    branching: Branching = (1, 3, 10)
    """the branching factors b: next states of each (s, a)"""
    updates: PositiveInt = 20_000
    """expected updates each planner makes (computation time)"""
    eval_every: PositiveInt = 500
    """evaluate the greedy policy exactly after every this many updates (must divide updates)"""
    tasks: PositiveInt = 20
    """random tasks per curve (the book: 200)"""
    epsilon: Epsilon = 0.1
    """exploration rate of the simulated on-policy episodes, in [0, 1]"""
    termination: Termination = 0.1
    """probability that a transition ends the episode"""
    seed: Seed = 0
    """base PRNG seed; task i of b uses split(fold_in(key(SEED), b), TASKS)[i]"""

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
        if self.eval_every > self.updates or self.updates % self.eval_every:
            raise ValueError(
                f"{where}: eval_every must divide updates, got eval_every={self.eval_every} and "
                f"updates={self.updates}"
            )
        entries = self.tasks * self.states * N_ACTIONS * max(self.branching)
        if entries > MAX_TABLE:
            raise ValueError(
                f"{where}: tasks x states x 2 x b = {self.tasks} x {self.states} x 2 x "
                f"{max(self.branching)} = {entries} table entries exceeds {MAX_TABLE}; use fewer "
                "tasks or states, or a smaller b"
            )
        if self.tasks * (self.updates // self.eval_every + 1) > MAX_TABLE:
            raise ValueError(
                f"{where}: tasks x evaluations = {self.tasks} x "
                f"{self.updates // self.eval_every + 1} exceeds {MAX_TABLE}; evaluate less often"
            )

    @property
    def continuation(self) -> float:
        """``1 - termination``: the probability that a transition does not end the episode."""
        return 1.0 - self.termination

    @property
    def evaluations(self) -> int:
        """Points on each curve: after ``0, eval_every, ..., updates`` updates."""
        return self.updates // self.eval_every + 1


TRAJECTORY_SAMPLING = TrajectorySamplingProtocol()
"""Figure 8.8's upper panel (1,000 states, b = 1, 3, 10, 20,000 updates) over 20 tasks."""


# -- the tasks -------------------------------------------------------------------------------------


class RandomTask(NamedTuple):
    """One random task of section 8.6: ``(s, a)`` leads to ``next_states[s, a, k]`` with reward
    ``rewards[s, a, k]``, ``k`` uniform on ``0 .. b-1``, unless the episode ends first."""

    next_states: Int[Array, "S A K"]
    rewards: Float[Array, "S A K"]


def random_task(key: Key, n_states: int, branching: int) -> RandomTask:
    """A task of Sutton & Barto section 8.6: ``s'_k ~ U{0 .. |S|-1}`` and ``r_k ~ N(0, 1)`` for
    every ``(s, a, k)``, independently (``rng.uniforms``; the normals by Box-Muller,
    ``rng.normal_pairs``)."""
    shape = (n_states, N_ACTIONS, branching)
    size = math.prod(shape)
    k_next, k_reward = split_key(key, 2)
    nxt = jnp.minimum((uniforms(k_next, shape) * n_states).astype(jnp.int32), n_states - 1)
    u = uniforms(k_reward, (2, -(-size // 2)))
    rewards = jnp.concatenate(normal_pairs(u[0], u[1]))[:size].reshape(shape)
    return RandomTask(nxt, rewards)


def task_mdp(task: RandomTask, continuation: float) -> TabularMDP:
    """The task as a ``TabularMDP`` with ``b + 1`` outcomes per pair: ``s'_k`` with probability
    ``(1 - p) / b`` and reward ``r_k`` (``k < b``), and termination with probability ``p``
    (reward 0); the initial state is ``START``. The oracle's input (Sutton & Barto section 8.6)."""
    n_s, n_a, b = task.next_states.shape
    c = jnp.float32(continuation)
    probs = jnp.concatenate(
        [jnp.full((n_s, n_a, b), c / b, jnp.float32), jnp.full((n_s, n_a, 1), 1.0 - c)], -1
    )
    here = jnp.broadcast_to(jnp.arange(n_s, dtype=jnp.int32)[:, None, None], (n_s, n_a, 1))
    terminated = jnp.concatenate(
        [jnp.zeros((n_s, n_a, b), jnp.bool_), jnp.ones((n_s, n_a, 1), jnp.bool_)], -1
    )
    return TabularMDP(
        probs=probs,
        next_states=jnp.concatenate([task.next_states, here], -1),
        rewards=jnp.concatenate([task.rewards, jnp.zeros((n_s, n_a, 1), jnp.float32)], -1),
        terminated=terminated,
        initial=jnp.zeros(n_s, jnp.float32).at[START].set(1.0),
        name=f"random task ({n_s} states, b = {b})",
    )


# -- the updates -----------------------------------------------------------------------------------


def expected_target(
    task: RandomTask,
    q: QTable,
    s: Int[Array, ""],
    a: Int[Array, ""],
    continuation: Float[Array, ""] | float,
    zero: Int[Array, ""],
) -> Float[Array, ""]:
    """The expected update's new value of ``Q(s, a)`` (Sutton & Barto eq. 8.1, section 8.6):

    ``(1 - p) sum_k (1/b) [r_k + max_a' Q(s'_k, a')]``

    (termination: reward 0, no bootstrap), as ``backups.full_backup(R, E[max Q], 1 - p)`` with
    ``R = (1 - p) (1/b) sum_k r_k`` and ``E[max Q] = (1/b) sum_k max_a' Q(s'_k, a')``
    (``backups.expected_value``). It costs ``b`` max computations: one unit of computation time.
    """
    b = task.next_states.shape[-1]
    probs = jnp.full((b,), 1.0 / b, jnp.float32)
    best_next = jnp.max(q[task.next_states[s, a]], axis=-1)
    r_hat = rounded(continuation * expected_value(probs, task.rewards[s, a], zero), zero)
    return full_backup(r_hat, expected_value(probs, best_next, zero), continuation, zero)


class PlanningState(NamedTuple):
    """One planner's state on one task: ``Q``, the simulated state (on-policy), the key, and
    the number of updates made."""

    q: QTable
    s: Int[Array, ""]
    key: Key
    t: Int[Array, ""]


def uniform_step(task: RandomTask, st: PlanningState, continuation: float) -> PlanningState:
    """Update ``i = t mod 2|S|``, the pair ``(i // 2, i mod 2)``: ``expected_target`` in place,
    sweeping all pairs in order (Sutton & Barto section 8.6, the uniform distribution)."""
    i = st.t % (task.next_states.shape[0] * N_ACTIONS)
    s, a = i // N_ACTIONS, i % N_ACTIONS
    new = expected_target(task, st.q, s, a, continuation, runtime_zero(st.t))
    return st._replace(q=st.q.at[s, a].set(new), t=st.t + 1)


def on_policy_step(
    task: RandomTask, st: PlanningState, epsilon: float, continuation: float
) -> PlanningState:
    """One step of a simulated episode (Sutton & Barto section 8.6, the on-policy
    distribution): at ``s``, ``a`` is epsilon-greedy in ``Q`` (ties at random); ``Q(s, a)`` gets
    ``expected_target``; then the episode ends with probability ``p`` (the next episode starts
    at ``START``) or moves to ``s'_k``, ``k`` uniform. Five uniforms per step
    (``rng.uniforms``)."""
    key, sub = split_key(st.key, 2)
    u = uniforms(sub, (5,))
    q_s = st.q[st.s]
    greedy = jnp.where(q_s[0] == q_s[1], u[2] < 0.5, q_s[1] > q_s[0]).astype(jnp.int32)
    a = jnp.where(u[0] < epsilon, (u[1] < 0.5).astype(jnp.int32), greedy)
    new = expected_target(task, st.q, st.s, a, continuation, runtime_zero(st.t))
    b = task.next_states.shape[-1]
    k = jnp.minimum((u[3] * b).astype(jnp.int32), b - 1)
    s_next = jnp.where(u[4] < 1.0 - continuation, START, task.next_states[st.s, a, k])
    return PlanningState(st.q.at[st.s, a].set(new), s_next.astype(jnp.int32), key, st.t + 1)


# -- the exact evaluation --------------------------------------------------------------------------


def evaluation_horizon(continuation: float, tol: float = EVALUATION_TOLERANCE) -> int:
    """The fewest steps ``H`` with ``(1 - p)^H <= tol`` (1 when ``p = 1``): the steps that
    ``greedy_start_value`` sums."""
    if not 0.0 <= continuation < 1.0:
        raise ValueError(f"evaluation_horizon: continuation must lie in [0, 1), got {continuation}")
    if continuation == 0.0:
        return 1
    return max(1, math.ceil(math.log(tol) / math.log(continuation)))


def greedy_start_value(
    task: RandomTask, q: QTable, continuation: float, horizon: int
) -> Float[Array, ""]:
    """The value of the start state under the greedy policy ``pi(s) = argmax_a Q(s, a)`` (ties to
    the lowest action), exactly: the Bellman expectation equation of the task (Sutton & Barto
    eq. 4.4; section 8.6's episodes, undiscounted, ending with probability ``p``)

    ``v(s) = (1 - p) (1/b) sum_k [r(s, pi(s), k) + v(s'_k)]``,

    iterated ``H = horizon`` times from ``v = 0``: ``v_H(start)`` is the expected reward of the
    first ``H`` steps, and ``|v_pi(start) - v_H(start)| <= (1 - p)^H (1 - p) max|r| / p``
    (``evaluation_horizon``: ``(1 - p)^H <= 1e-9``). For ``b = 1`` the greedy chain from the start
    is one path, and ``v_H(start) = sum_{t < H} (1 - p)^{t+1} r_t`` is summed along it (``H``
    steps instead of ``H`` sweeps of every state).
    """
    n_s, _, b = task.next_states.shape
    c = jnp.float32(continuation)
    if b == 1:

        def walk(
            _: Int[Array, ""], carry: tuple[Int[Array, ""], Float[Array, ""], Float[Array, ""]]
        ) -> tuple[Int[Array, ""], Float[Array, ""], Float[Array, ""]]:
            s, value, weight = carry
            a = first_argmax(q[s])
            return task.next_states[s, a, 0], value + weight * task.rewards[s, a, 0], weight * c

        init = (jnp.int32(START), jnp.float32(0.0), c)
        _, value, _ = jax.lax.fori_loop(0, horizon, walk, init)
        out: Float[Array, ""] = value
        return out
    pi = first_argmax(q)
    rows = jnp.arange(n_s)
    nxt = task.next_states[rows, pi]
    r_bar = jnp.mean(task.rewards[rows, pi], axis=-1)

    def sweep(_: Int[Array, ""], v: Float[Array, " S"]) -> Float[Array, " S"]:
        new: Float[Array, " S"] = c * (r_bar + jnp.mean(v[nxt], axis=-1))
        return new

    v: Float[Array, " S"] = jax.lax.fori_loop(0, horizon, sweep, jnp.zeros(n_s, jnp.float32))
    return v[START]


def _optimal_impl(tasks: RandomTask, continuation: float) -> Float[Array, " T"]:
    def one(task: RandomTask) -> Float[Array, ""]:
        q = value_iteration(task_mdp(task, continuation), 1.0, tol=1e-6, max_iters=100_000)
        return jnp.max(q[START])

    return jax.vmap(one)(tasks)


optimal_start_values = cast(
    Callable[[RandomTask, float], Float[Array, " T"]],
    jax.jit(_optimal_impl, static_argnames=("continuation",)),
)
"""``optimal_start_values(tasks, continuation)``: ``v*(start) = max_a Q*(start, a)`` of each task
(a stack ``[T, ...]``), by the oracle's value iteration on ``task_mdp`` (undiscounted; the
termination makes it a ``(1 - p)``-contraction, stopped at a change ``<= 1e-6``), ``vmap``-ed.
The ceiling of every greedy policy's value (Bellman optimality, Sutton & Barto eq. 4.2)."""


# -- the curves ------------------------------------------------------------------------------------


def planning_curve(
    task: RandomTask,
    key: Key,
    *,
    method: Method,
    updates: int,
    eval_every: int,
    epsilon: float,
    continuation: float,
    horizon: int,
) -> Float[Array, " E"]:
    """One planner on one task: ``greedy_start_value`` after ``0, eval_every, ..., updates``
    expected updates (``uniform_step`` or ``on_policy_step``, from ``Q = 0`` and the start
    state): one curve of Sutton & Barto Figure 8.8. ``[updates // eval_every + 1]``."""
    n_s = task.next_states.shape[0]

    def step(_: Int[Array, ""], st: PlanningState) -> PlanningState:
        if method == "uniform":
            return uniform_step(task, st, continuation)
        return on_policy_step(task, st, epsilon, continuation)

    def chunk(st: PlanningState, _: None) -> tuple[PlanningState, Float[Array, ""]]:
        st = jax.lax.fori_loop(0, eval_every, step, st)
        return st, greedy_start_value(task, st.q, continuation, horizon)

    q0 = jnp.zeros((n_s, N_ACTIONS), jnp.float32)
    st0 = PlanningState(q0, jnp.int32(START), key, jnp.int32(0))
    _, values = jax.lax.scan(chunk, st0, None, length=updates // eval_every)
    first = greedy_start_value(task, q0, continuation, horizon)
    return jnp.concatenate([first[None], values])


def _curves_impl(
    tasks: RandomTask,
    keys: Key,
    method: Method,
    updates: int,
    eval_every: int,
    epsilon: float,
    continuation: float,
    horizon: int,
) -> Float[Array, "T E"]:
    def one(task: RandomTask, key: Key) -> Float[Array, " E"]:
        return planning_curve(
            task,
            key,
            method=method,
            updates=updates,
            eval_every=eval_every,
            epsilon=epsilon,
            continuation=continuation,
            horizon=horizon,
        )

    return jax.vmap(one)(tasks, keys)


planning_curves = cast(
    Callable[..., Float[Array, "T E"]],
    jax.jit(
        _curves_impl,
        static_argnames=(
            "method",
            "updates",
            "eval_every",
            "epsilon",
            "continuation",
            "horizon",
        ),
    ),
)
"""``planning_curves(tasks, keys, method=, updates=, eval_every=, epsilon=, continuation=,
horizon=)``: ``planning_curve`` ``vmap``-ed over a stack of tasks and their keys, ``[T, E]``. One
compilation per shape and settings."""


def make_tasks(seed: int, n_tasks: int, n_states: int, branching: int) -> tuple[RandomTask, Key]:
    """The tasks of ``b = branching`` and their planning keys: task ``i`` is
    ``random_task(k_i)``, ``k_i = split(fold_in(key(seed), b), n_tasks)[i]``, and plans with
    ``fold_in(k_i, 1)`` (both planners with the same key)."""
    keys = jax.random.split(jax.random.fold_in(jax.random.key(seed), branching), n_tasks)
    return _random_tasks(keys, n_states, branching), _planning_keys(keys)


def _random_tasks_impl(keys: Key, n_states: int, branching: int) -> RandomTask:
    return jax.vmap(lambda k: random_task(k, n_states, branching))(keys)


_random_tasks = cast(
    Callable[[Key, int, int], RandomTask],
    jax.jit(_random_tasks_impl, static_argnums=(1, 2)),
)
_planning_keys = cast(Callable[[Key], Key], jax.jit(jax.vmap(lambda k: jax.random.fold_in(k, 1))))


@dataclasses.dataclass(frozen=True)
class TrajectorySamplingResult:
    """What ``run_trajectory_sampling`` returns.

    Attributes:
        protocol: the settings.
        updates: ``[E]``, the updates made at each evaluation (``0 .. updates``).
        values: ``values[b][method]``: ``[tasks, E]``, the start state's value under the greedy
            policy.
        optimal: ``optimal[b]``: ``[tasks]``, ``v*(start)`` of each task.
        horizon: the steps ``greedy_start_value`` summed.
        max_abs_reward: the largest ``|r|`` over all tasks (for the evaluation's error bound).
        compile_s, run_s: the wall time, compilation apart.
    """

    protocol: TrajectorySamplingProtocol
    updates: NDArray[np.int64]
    values: dict[int, dict[str, NDArray[np.float64]]]
    optimal: dict[int, NDArray[np.float64]]
    horizon: int
    max_abs_reward: float
    compile_s: float
    run_s: float


def run_trajectory_sampling(
    protocol: TrajectorySamplingProtocol = TRAJECTORY_SAMPLING, *, progress: bool = False
) -> TrajectorySamplingResult:
    """Figure 8.8: for each ``b``, ``tasks`` random tasks, both planners on each
    (``planning_curves``, one compiled call per planner) and ``v*(start)``
    (``optimal_start_values``)."""
    p = protocol
    horizon = evaluation_horizon(p.continuation)
    values: dict[int, dict[str, NDArray[np.float64]]] = {}
    optimal: dict[int, NDArray[np.float64]] = {}
    max_r = 0.0
    with Stopwatch() as watch:
        for b in p.branching:
            tasks, keys = make_tasks(p.seed, p.tasks, p.states, b)
            max_r = max(max_r, float(jnp.max(jnp.abs(tasks.rewards))))
            values[b] = {}
            for method in METHODS:
                curves = planning_curves(
                    tasks,
                    keys,
                    method=method,
                    updates=p.updates,
                    eval_every=p.eval_every,
                    epsilon=float(p.epsilon),
                    continuation=p.continuation,
                    horizon=horizon,
                )
                values[b][method] = np.asarray(jax.device_get(curves), np.float64)
                if progress:
                    end = values[b][method][:, -1].mean()
                    print(f"b = {b}, {method}: {end:.3f} after {p.updates:,} updates", flush=True)
            optimal[b] = np.asarray(optimal_start_values(tasks, p.continuation), np.float64)
    compile_s = min(watch.compile_s, watch.total_s)
    return TrajectorySamplingResult(
        protocol=p,
        updates=np.arange(p.evaluations, dtype=np.int64) * p.eval_every,
        values=values,
        optimal=optimal,
        horizon=horizon,
        max_abs_reward=max_r,
        compile_s=compile_s,
        run_s=watch.total_s - compile_s,
    )


__all__ = [
    "METHODS",
    "START",
    "TRAJECTORY_SAMPLING",
    "PlanningState",
    "RandomTask",
    "TrajectorySamplingProtocol",
    "TrajectorySamplingResult",
    "evaluation_horizon",
    "expected_target",
    "greedy_start_value",
    "make_tasks",
    "on_policy_step",
    "optimal_start_values",
    "planning_curve",
    "planning_curves",
    "random_task",
    "run_trajectory_sampling",
    "task_mdp",
    "uniform_step",
]
