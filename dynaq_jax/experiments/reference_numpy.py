"""The seed notebook's Dyna-Q, copied into NumPy as written: the benchmark's reference.

This module keeps the notebook's agent and training loop recognisable and keeps its flaws on
purpose, so that the notebook can be measured as written (see ``seeds/README.md``):

- acting breaks ties with ``np.argmax``, i.e. always toward action 0 (on FrozenLake: "left").
  With a zero-initialised Q table the greedy policy of the final table never reaches the goal on
  4x4 slippery;
- planning calls the Q-learning update with ``done=False`` always, so it bootstraps through
  terminal transitions;
- the model is a Python dict of last-seen ``(s', r)``, visited pairs are a list with an O(len)
  ``in`` check, and randomness comes from the global ``random`` and ``np.random`` modules.

``CountDynaQAgent`` swaps in the lecture notes' count model (``T_c`` initialised to ``1e-5``,
``T = T_c / sum T_c``, ``s' ~ T[s, a]``, ``R' = (1 - alpha) R + alpha r``) and is otherwise the
same.
``tie_break="random"`` (not the default) breaks ties uniformly among the maximal actions, which is
the one fix needed for the agent to learn at all; everything else stays as written.

Nothing runs at import. ``python -m dynaq_jax.experiments.reference_numpy --help`` for its command
line.
"""

# The legacy global np.random API is the notebook's, kept as written.
# ruff: noqa: NPY002

from __future__ import annotations

import argparse
import random
from collections.abc import Iterable, Sequence
from typing import Any, Literal, TypedDict

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

ModelKind = Literal["deterministic", "count"]
TieBreak = Literal["first", "random"]

T_C_PRIOR = 1e-5
"""The lecture notes' "very small number" that every ``T_c`` cell starts at."""


class DynaQAgent:
    """Dyna-Q agent with model-based planning (the notebook's class, as written).

    Additions that do not change behaviour: type hints, the ``tie_break`` switch (default
    ``"first"`` = ``np.argmax`` as written) and two counters, ``n_real_updates`` and
    ``n_planning_updates``.
    """

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        learning_rate: float = 0.1,
        discount_factor: float = 0.95,
        epsilon: float = 0.1,
        n_planning_steps: int = 10,
        tie_break: TieBreak = "first",
    ) -> None:
        self.n_states = n_states
        self.n_actions = n_actions
        self.lr = learning_rate
        self.gamma = discount_factor
        self.epsilon = epsilon
        self.n_planning_steps = n_planning_steps
        self.tie_break: TieBreak = tie_break

        # Q-table
        self.q_table: NDArray[np.float64] = np.zeros((n_states, n_actions))

        # Environment model: model[(s,a)] = (next_state, reward)
        self.model: dict[tuple[int, int], tuple[int, float]] = {}

        # Track visited state-action pairs for planning.
        # AS WRITTEN: a list, so the membership check in update_model is O(len(list)).
        self.visited_pairs: list[tuple[int, int]] = []

        # Instrumentation (not in the notebook): how many Q updates of each kind ran.
        self.n_real_updates = 0
        self.n_planning_updates = 0

    def select_action(self, state: int) -> int:
        """Epsilon-greedy action selection.

        AS WRITTEN (``tie_break="first"``): ``np.argmax`` returns the first maximal action, so with
        an all-zero row the greedy choice is always action 0.
        """
        if np.random.random() < self.epsilon:
            return int(np.random.randint(self.n_actions))
        if self.tie_break == "random":
            # The fix (not in the notebook): uniform among the maximal actions.
            row = self.q_table[state]
            return int(np.random.choice(np.flatnonzero(row == row.max())))
        return int(np.argmax(self.q_table[state]))

    def q_learning_update(
        self, state: int, action: int, reward: float, next_state: int, done: bool
    ) -> None:
        """Q-Learning update from real or simulated experience.

        ``Q[s,a] += lr * (r + gamma * (0 if done else max Q[s']) - Q[s,a])``.
        """
        current_q = self.q_table[state, action]
        max_next_q = 0 if done else np.max(self.q_table[next_state])
        new_q = current_q + self.lr * (reward + self.gamma * max_next_q - current_q)
        self.q_table[state, action] = new_q

    def update_model(self, state: int, action: int, reward: float, next_state: int) -> None:
        """Update environment model: remember the last-seen ``(s', r)`` for ``(s, a)``."""
        self.model[(state, action)] = (next_state, reward)
        if (state, action) not in self.visited_pairs:
            self.visited_pairs.append((state, action))

    def sample_model(self, state: int, action: int) -> tuple[int, float]:
        """The model's prediction for ``(s, a)``: here the stored last-seen ``(s', r)``."""
        return self.model[(state, action)]

    def planning(self) -> None:
        """Perform planning steps using learned model."""
        for _ in range(self.n_planning_steps):
            if not self.visited_pairs:
                break

            # Sample random previously visited state-action pair (python's global `random`)
            state, action = random.choice(self.visited_pairs)

            # Get predicted next state and reward from model
            next_state, reward = self.sample_model(state, action)

            # Update Q-table using simulated experience.
            # AS WRITTEN: done=False even when the real transition was terminal, so planning
            # bootstraps from max Q[terminal state].
            self.q_learning_update(state, action, reward, next_state, False)
            self.n_planning_updates += 1

    def step(self, state: int, action: int, reward: float, next_state: int, done: bool) -> None:
        """Complete Dyna-Q step: learn + plan."""
        # (a) Direct RL: Update Q from real experience
        self.q_learning_update(state, action, reward, next_state, done)
        self.n_real_updates += 1

        # (b) Model Learning: Update model
        self.update_model(state, action, reward, next_state)

        # (c) Planning: Learn from simulated experience
        self.planning()

    @property
    def model_size(self) -> int:
        """Number of ``(s, a)`` pairs the model knows (the notebook prints ``len(agent.model)``)."""
        return len(self.model)


class CountDynaQAgent(DynaQAgent):
    """The notebook's agent with the lecture notes' count model instead of the dict model.

    ``T_c[s,a,s'] += 1`` per real transition (cells start at ``1e-5``), ``T = T_c / sum_s' T_c``,
    ``R'[s,a] = (1 - alpha) R[s,a] + alpha r`` with ``alpha`` the learning rate; planning samples
    ``s' ~ T[s,a,:]`` with ``np.random.choice`` and uses ``r = R[s,a]``. Everything else (argmax,
    ``done=False`` in planning, visited list, global RNGs) is inherited as written.
    """

    def __init__(
        self,
        n_states: int,
        n_actions: int,
        learning_rate: float = 0.1,
        discount_factor: float = 0.95,
        epsilon: float = 0.1,
        n_planning_steps: int = 10,
        tie_break: TieBreak = "first",
    ) -> None:
        super().__init__(
            n_states,
            n_actions,
            learning_rate,
            discount_factor,
            epsilon,
            n_planning_steps,
            tie_break,
        )
        self.T_c: NDArray[np.float64] = np.full((n_states, n_actions, n_states), T_C_PRIOR)
        self.R: NDArray[np.float64] = np.zeros((n_states, n_actions))

    @property
    def T(self) -> NDArray[np.float64]:
        """``T[s,a,s'] = T_c[s,a,s'] / sum_i T_c[s,a,s_i]``."""
        result: NDArray[np.float64] = self.T_c / self.T_c.sum(axis=2, keepdims=True)
        return result

    def update_model(self, state: int, action: int, reward: float, next_state: int) -> None:
        """Count the transition and smooth the reward: ``R' = (1 - alpha) R + alpha r``."""
        self.T_c[state, action, next_state] += 1
        self.R[state, action] = (1 - self.lr) * self.R[state, action] + self.lr * reward
        if (state, action) not in self.visited_pairs:
            self.visited_pairs.append((state, action))

    def sample_model(self, state: int, action: int) -> tuple[int, float]:
        """Hallucinate: ``s' ~ T[s, a, :]`` (``np.random``), ``r = R[s, a]``."""
        row = self.T_c[state, action]
        next_state = int(np.random.choice(self.n_states, p=row / row.sum()))
        return next_state, float(self.R[state, action])

    @property
    def model_size(self) -> int:
        """Number of ``(s, a)`` pairs the model has seen."""
        return len(self.visited_pairs)


def train_dyna_q(
    env: gym.Env[Any, Any],
    agent: DynaQAgent,
    n_episodes: int = 300,
    max_steps: int = 100,
    *,
    seed: int | None = None,
    verbose: bool = False,
) -> tuple[list[float], list[int]]:
    """The notebook's training loop: returns per-episode rewards and lengths.

    Additions: ``seed`` is passed to the first ``env.reset`` only (later resets continue the env's
    own RNG, as in the notebook); ``verbose`` enables the notebook's every-50-episodes print.
    """
    episode_rewards: list[float] = []
    episode_lengths: list[int] = []

    for episode in range(n_episodes):
        state_obs, _ = env.reset(seed=seed if episode == 0 else None)
        state = int(state_obs)
        total_reward = 0.0

        step = 0
        for step in range(max_steps):  # noqa: B007 (step is used after the loop, as written)
            action = agent.select_action(state)
            next_obs, reward, terminated, truncated, _ = env.step(action)
            next_state = int(next_obs)
            done = bool(terminated or truncated)

            # Dyna-Q step (learning + planning)
            agent.step(state, action, float(reward), next_state, done)

            total_reward += float(reward)
            state = next_state

            if done:
                break

        episode_rewards.append(total_reward)
        episode_lengths.append(step + 1)

        if verbose and (episode + 1) % 50 == 0:
            avg_reward = np.mean(episode_rewards[-50:])
            print(
                f"Episode {episode + 1}, Avg Reward: {avg_reward:.3f}, "
                f"Model size: {agent.model_size}"
            )

    return episode_rewards, episode_lengths


class NotebookRun(TypedDict):
    """The result of one ``run_notebook`` call."""

    seed: int
    model: ModelKind
    tie_break: TieBreak
    rewards: NDArray[np.float64]
    """Per-episode total reward, shape ``[n_episodes]``."""
    lengths: NDArray[np.int64]
    """Per-episode number of real steps, shape ``[n_episodes]``."""
    successes: NDArray[np.bool_]
    """``rewards > 0`` (the notebook's success test), shape ``[n_episodes]``."""
    q_table: NDArray[np.float64]
    """The final Q table, shape ``[S, A]``."""
    model_size: int
    real_steps: int
    planning_updates: int
    T: NDArray[np.float64] | None
    """``T = T_c / sum T_c`` for the count model, shape ``[S, A, S]``; ``None`` otherwise."""
    R: NDArray[np.float64] | None
    """The smoothed reward model for the count model, shape ``[S, A]``; ``None`` otherwise."""


def make_env(map_name: str = "4x4", is_slippery: bool = True) -> gym.Env[Any, Any]:
    """``gym.make('FrozenLake-v1', ...)`` as in the notebook (plus the map name)."""
    return gym.make("FrozenLake-v1", map_name=map_name, is_slippery=is_slippery, render_mode=None)


def run_notebook(
    seed: int,
    n_episodes: int = 300,
    max_steps: int = 100,
    n_planning_steps: int = 50,
    model: ModelKind = "deterministic",
    map_name: str = "4x4",
    is_slippery: bool = True,
    *,
    learning_rate: float = 0.1,
    discount_factor: float = 0.95,
    epsilon: float = 0.1,
    tie_break: TieBreak = "first",
    verbose: bool = False,
) -> NotebookRun:
    """Run the notebook once, reproducibly: seeds ``np.random``, ``random`` and the first reset.

    Note that, as in the notebook, this sets the *global* ``np.random`` and ``random`` states.
    """
    if model not in ("deterministic", "count"):
        raise ValueError(f"model must be 'deterministic' or 'count', got {model!r}")
    if tie_break not in ("first", "random"):
        raise ValueError(f"tie_break must be 'first' or 'random', got {tie_break!r}")
    np.random.seed(seed)
    random.seed(seed)
    env = make_env(map_name, is_slippery)
    try:
        n_states = int(env.observation_space.n)  # type: ignore[attr-defined]
        n_actions = int(env.action_space.n)  # type: ignore[attr-defined]
        agent_cls = CountDynaQAgent if model == "count" else DynaQAgent
        agent = agent_cls(
            n_states=n_states,
            n_actions=n_actions,
            learning_rate=learning_rate,
            discount_factor=discount_factor,
            epsilon=epsilon,
            n_planning_steps=n_planning_steps,
            tie_break=tie_break,
        )
        rewards, lengths = train_dyna_q(
            env, agent, n_episodes=n_episodes, max_steps=max_steps, seed=seed, verbose=verbose
        )
    finally:
        env.close()
    rewards_arr = np.asarray(rewards, dtype=np.float64)
    return NotebookRun(
        seed=seed,
        model=model,
        tie_break=tie_break,
        rewards=rewards_arr,
        lengths=np.asarray(lengths, dtype=np.int64),
        successes=rewards_arr > 0,
        q_table=agent.q_table.copy(),
        model_size=agent.model_size,
        real_steps=agent.n_real_updates,
        planning_updates=agent.n_planning_updates,
        T=agent.T.copy() if isinstance(agent, CountDynaQAgent) else None,
        R=agent.R.copy() if isinstance(agent, CountDynaQAgent) else None,
    )


def run_many(seeds: Iterable[int], **kwargs: Any) -> list[NotebookRun]:
    """``[run_notebook(seed, **kwargs) for seed in seeds]``."""
    return [run_notebook(seed, **kwargs) for seed in seeds]


def policy_success_probability(
    policy: NDArray[np.integer[Any]],
    transitions: dict[int, dict[int, list[tuple[float, int, float, bool]]]],
    initial_distribution: NDArray[np.floating[Any]],
    horizon: int = 100,
) -> float:
    """Exact probability that a deterministic policy collects a positive reward within ``horizon``.

    Propagates the state distribution ``d_{t+1}[s'] = sum_s d_t[s] P(s' | s, pi(s))`` through
    gymnasium's ``P[s][a] = [(prob, s', r, terminated), ...]``; mass leaving through a terminal
    transition stops, and mass on a transition with ``r > 0`` counts as success (on FrozenLake
    the only such transition enters the goal, which is terminal).
    """
    n_states = len(transitions)
    if policy.shape != (n_states,):
        raise ValueError(f"policy must have shape ({n_states},), got {policy.shape}")
    # Dense matrices of the policy's transitions: continuing mass and success mass.
    cont = np.zeros((n_states, n_states))
    win = np.zeros(n_states)
    for s in range(n_states):
        for prob, s_next, r, terminated in transitions[s][int(policy[s])]:
            if r > 0:
                win[s] += prob
            if not terminated:
                cont[s, s_next] += prob
    d = np.asarray(initial_distribution, dtype=np.float64)
    success = 0.0
    for _ in range(horizon):
        success += float(d @ win)
        d = d @ cont
    return success


def greedy_success_probability(
    q_table: NDArray[np.floating[Any]],
    map_name: str = "4x4",
    is_slippery: bool = True,
    horizon: int = 100,
) -> float:
    """Exact success probability of ``np.argmax(Q, axis=1)`` on FrozenLake within ``horizon``.

    The greedy policy uses ``np.argmax`` like the notebook, i.e. ties go to action 0.
    """
    env = make_env(map_name, is_slippery)
    try:
        unwrapped: Any = env.unwrapped
        transitions = unwrapped.P
        initial = np.asarray(unwrapped.initial_state_distrib, dtype=np.float64)
    finally:
        env.close()
    policy = np.argmax(q_table, axis=1)
    return policy_success_probability(policy, transitions, initial, horizon)


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seeds", type=int, default=10, help="run seeds 0..N-1 (default 10)")
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--planning-steps", type=int, default=50)
    parser.add_argument("--model", choices=["deterministic", "count"], default="deterministic")
    parser.add_argument("--tie-break", choices=["first", "random"], default="first")
    parser.add_argument("--map", default="4x4", dest="map_name")
    parser.add_argument("--not-slippery", action="store_true")
    args = parser.parse_args(argv)

    runs = run_many(
        range(args.seeds),
        n_episodes=args.episodes,
        max_steps=args.max_steps,
        n_planning_steps=args.planning_steps,
        model=args.model,
        map_name=args.map_name,
        is_slippery=not args.not_slippery,
        tie_break=args.tie_break,
    )
    print(
        f"FrozenLake-v1 {args.map_name} slippery={not args.not_slippery} model={args.model} "
        f"tie_break={args.tie_break} n={args.planning_steps} episodes={args.episodes}"
    )
    print("seed  success(last 100)  model size  real steps  planning updates  greedy success")
    greedy = []
    for run in runs:
        g = greedy_success_probability(
            run["q_table"], args.map_name, not args.not_slippery, args.max_steps
        )
        greedy.append(g)
        print(
            f"{run['seed']:4d}  {run['successes'][-100:].mean():17.3f}  {run['model_size']:10d}"
            f"  {run['real_steps']:10d}  {run['planning_updates']:16d}  {g:14.3f}"
        )
    last100 = np.mean([run["successes"][-100:].mean() for run in runs])
    print(f"mean  {last100:17.3f}  {'':10s}  {'':10s}  {'':16s}  {np.mean(greedy):14.3f}")


if __name__ == "__main__":
    _main()
