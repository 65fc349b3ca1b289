"""The host loop: Dyna-Q on any gymnasium env with Discrete spaces, one device call per real step.

The compiled loop (``train.py``) needs the env's tables (``TabularMDP``); this loop needs only
``reset``/``step``, so it runs envs without ``P``: the costly-world case, where every real step is
expensive and planning from the learned model is the point. Python steps the env; the agent lives
on the device, and each real step makes exactly one compiled call (``dynaq_jax.host_call``) that
fuses

    Dyna-Q ``step`` on the previous transition ``(s, a, r, s', terminated)``
    + epsilon-greedy ``act`` for the next state,

so the only value that crosses back to the host is the action. The agent state and its PRNG key
stay on the device between calls, packed into one donated buffer per dtype; the step's host scalars
travel as one int32 vector and the config's leaves as one float32 vector made once per run: four
arguments per call, one compile per env shape and config structure. The values the env hands back
are checked in plain Python on the way in (observations in the space, rewards finite in float32,
flags bools), with no device work.

Episode bookkeeping follows ``train.py``: terminated and truncated are kept apart (a truncated
transition bootstraps: the agent is given ``terminated=False``), success is termination on a
positive reward, and the metrics come back as the same ``TrainResult`` / ``EpisodeMetrics``.
"""

import warnings
from typing import Any, NamedTuple

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv

from dynaq_jax.agent import init
from dynaq_jax.checks import FLOAT32_MAX
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs.spaces import (
    DiscreteSpaces,
    check_count,
    check_seed,
    discrete_spaces,
    env_label,
    env_time_limit,
    flag_values,
    make_env,
    reward_values,
    state_index,
    state_indices,
    warn_if_env_truncates_first,
)
from dynaq_jax.host_call import (
    agent_call,
    config_vector,
    host_matrix,
    host_vector,
    layout_of,
    pack,
    unpack,
)
from dynaq_jax.progress import episode_bar
from dynaq_jax.state import DynaQState, dropped_message
from dynaq_jax.train import EpisodeMetrics, TrainResult

# -- the host boundary ----------------------------------------------------------------------------

_INT_TYPES = frozenset({int, np.int64, np.int32, np.int16, np.int8, np.uint32, np.uint16, np.uint8})
_REAL_TYPES = frozenset({float, int, np.float64, np.float32})


def _check_config(config: DynaQConfig) -> DynaQConfig:
    """One config (``TypeError``/``ValueError`` otherwise), checked once per run."""
    if not isinstance(config, DynaQConfig):
        raise TypeError(f"gym_loop: config must be a DynaQConfig, got {type(config).__name__}")
    if config.batch_shape:
        raise ValueError(
            f"gym_loop: config leaves have shape {config.batch_shape}; the host loop trains one "
            "config (run one call per config)"
        )
    return config


class _Boundary(NamedTuple):
    """The checks of one step's values from the env, in plain Python (the common types take a
    fast path; anything else goes through ``envs.spaces``, which raises the error naming it)."""

    where: str
    label: str
    sp: DiscreteSpaces

    def state(self, obs: Any) -> int:
        if type(obs) in _INT_TYPES:
            s = int(obs) - self.sp.obs_start
            if 0 <= s < self.sp.n_states:
                return s
        return state_index(self.where, self.label, obs, self.sp)

    def reward(self, reward: Any) -> float:
        if type(reward) in _REAL_TYPES and -FLOAT32_MAX <= reward <= FLOAT32_MAX:
            return float(reward)
        return float(reward_values(self.where, self.label, reward))

    def flag(self, name: str, value: Any) -> bool:
        if type(value) is bool or type(value) is np.bool_:
            return bool(value)
        return bool(flag_values(self.where, self.label, name, value))


# -- host-side metrics ----------------------------------------------------------------------------


class _Metrics:
    """NumPy buffers for ``EpisodeMetrics`` of ``N`` agents and ``E`` episodes."""

    def __init__(self, n: int, n_episodes: int) -> None:
        self.returns = np.zeros((n, n_episodes), np.float32)
        self.lengths = np.zeros((n, n_episodes), np.int32)
        self.success = np.zeros((n, n_episodes), np.bool_)
        self.terminated = np.zeros((n, n_episodes), np.bool_)
        self.model_size = np.zeros((n, n_episodes), np.int32)

    def record(
        self, i: int, episode: int, ret: float, length: int, term: bool, r: float, size: int
    ) -> None:
        self.returns[i, episode] = ret
        self.lengths[i, episode] = length
        self.success[i, episode] = term and r > 0
        self.terminated[i, episode] = term
        self.model_size[i, episode] = size

    def to_jax(self) -> EpisodeMetrics:
        return EpisodeMetrics(
            returns=jnp.asarray(self.returns),
            lengths=jnp.asarray(self.lengths),
            success=jnp.asarray(self.success),
            terminated=jnp.asarray(self.terminated),
            model_size=jnp.asarray(self.model_size),
        )


def _warn_step_cap(where: str, max_total_steps: int, done: int, n_episodes: int) -> None:
    warnings.warn(
        f"{where}: stopped at max_total_steps={max_total_steps} after {done} of {n_episodes} "
        "episodes; the unfinished episodes' metrics are zero",
        stacklevel=3,
    )


# -- one env --------------------------------------------------------------------------------------


def train(
    env: str | gym.Env[Any, Any] | VectorEnv[Any, Any, Any],
    config: DynaQConfig,
    n_episodes: int,
    seed: int,
    *,
    max_episode_steps: int | None = None,
    max_total_steps: int | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train one Dyna-Q agent in a real gymnasium env for ``n_episodes`` episodes (host loop).

    Per real step: ``(s', r, terminated, truncated) = env.step(a)``, then one device call:
    ``state = step(state, (s, a, r, s', terminated))`` (direct update, model update,
    ``planning_steps`` planned updates) and ``a' = act(state, s_next_act)``, where ``s_next_act``
    is ``s'``, or the reset observation when the episode ended. A truncation (the env's
    ``TimeLimit`` or ``max_episode_steps``) is passed as ``terminated=False``: it bootstraps.

    Args:
        env: a gymnasium env with Discrete observation and action spaces (``P`` not needed), or
            its id (made with ``gymnasium.make`` and closed afterwards). A
            ``gymnasium.vector.VectorEnv`` is handed to ``train_vector`` (results ``[N, E]``).
        config: the agent's hyperparameters (one config, not a stacked sweep).
        n_episodes: episodes to run.
        seed: ``env.reset(seed=seed)`` for the first episode; the agent's key is
            ``jax.random.key(seed)``. Same seed, same result.
        max_episode_steps: time limit overriding the env's (``TimeLimit`` wrapper or spec); an
            id is made with it, an env instance is truncated by this loop.
        max_total_steps: stop after this many real steps even if episodes remain (with a
            warning; unfinished episodes are recorded as zeros). ``None``: no cap.
        progress: show a tqdm bar over episodes.

    Returns:
        ``TrainResult`` like ``dynaq_jax.train.train``: the final agent, ``EpisodeMetrics`` of
        shape ``[E]``, ``episodes_done``, ``steps_done`` (real steps) and ``step_rewards=None``.

    Raises:
        ValueError: non-Discrete spaces (naming the env and the space), a non-positive
            ``n_episodes``/``max_episode_steps``/``max_total_steps``, a negative seed.
    """
    if isinstance(env, VectorEnv):
        return train_vector(
            env,
            config,
            n_episodes,
            seed,
            max_episode_steps=max_episode_steps,
            max_total_steps=max_total_steps,
            progress=progress,
        )
    where = "gym_loop.train"
    n_ep = check_count(where, "n_episodes", n_episodes)
    assert n_ep is not None
    limit = check_count(where, "max_episode_steps", max_episode_steps, allow_none=True)
    cap = check_count(where, "max_total_steps", max_total_steps, allow_none=True)
    seed = check_seed(where, seed)
    config = _check_config(config)
    gym_env, owned = make_env(where, env, limit)
    try:
        label = env_label(gym_env)
        sp = discrete_spaces(where, label, gym_env.observation_space, gym_env.action_space)
        if limit is not None and not owned:
            warn_if_env_truncates_first(where, label, env_time_limit(gym_env), limit)
        result = _run_single(gym_env, label, sp, config, n_ep, seed, limit, cap, progress)
        _warn_dropped("gym_loop.train", result, config)
        return result
    finally:
        if owned:
            gym_env.close()


def _warn_dropped(where: str, result: TrainResult, config: DynaQConfig) -> None:
    message = dropped_message(where, result.state, config.outcome_slots)
    if message is not None:
        warnings.warn(message, RuntimeWarning, stacklevel=3)


def _run_single(
    env: Any,
    label: str,
    sp: DiscreteSpaces,
    config: DynaQConfig,
    n_episodes: int,
    seed: int,
    limit: int | None,
    cap: int | None,
    progress: bool,
) -> TrainResult:
    where = "gym_loop.train"
    check = _Boundary(where, label, sp)
    agent = init(sp.n_states, sp.n_actions, config)
    key = jax.random.key(seed)
    layout = layout_of(agent, key, config)
    call = agent_call(layout)
    cfg = config_vector(config)
    buffers = pack(layout, agent, key)
    del agent, key  # the buffers hold them now (and are donated to each call)
    visited = np.zeros((sp.n_states, sp.n_actions), np.bool_)
    metrics = _Metrics(1, n_episodes)
    bar = episode_bar(progress, n_episodes)
    act_start = sp.act_start

    obs, _ = env.reset(seed=seed)
    s = check.state(obs)
    # No transition yet (learn=False): this call only draws the first action.
    buffers, a_dev = call(buffers, cfg, host_vector(0, 0, 0.0, 0, False, False, s, True))
    a = int(np.asarray(a_dev))
    episode = t_ep = steps = 0
    ret = 0.0
    try:
        while episode < n_episodes:
            if cap is not None and steps >= cap:
                _warn_step_cap(where, cap, episode, n_episodes)
                break
            obs, reward, term_raw, trunc_raw, _ = env.step(a + act_start)
            s_next = check.state(obs)
            r = check.reward(reward)
            term = check.flag("terminated", term_raw)
            trunc = check.flag("truncated", trunc_raw)
            t_ep += 1
            steps += 1
            ret += r
            visited[s, a] = True
            s_act = s_next
            if term or trunc or (limit is not None and t_ep >= limit):
                metrics.record(0, episode, ret, t_ep, term, r, int(visited.sum()))
                episode += 1
                t_ep, ret = 0, 0.0
                if bar is not None:
                    bar.update(1)
                if episode < n_episodes:
                    obs, _ = env.reset()
                    s_act = check.state(obs)
            host = host_vector(s, a, r, s_next, term, True, s_act, True)
            buffers, a_dev = call(buffers, cfg, host)
            s = s_act
            if episode < n_episodes:
                a = int(np.asarray(a_dev))  # the one device -> host transfer of the step
    finally:
        if bar is not None:
            bar.close()
    agent, _ = unpack(layout, buffers)
    agent = jax.block_until_ready(agent)  # type: ignore[no-untyped-call]
    return TrainResult(
        state=agent,
        episodes=jax.tree.map(lambda x: x[0], metrics.to_jax()),
        episodes_done=jnp.asarray(episode, jnp.int32),
        steps_done=jnp.asarray(steps, jnp.int32),
        step_rewards=None,
    )


# -- a vector env: one agent per sub-env ----------------------------------------------------------


def _autoreset_mode(vec_env: Any) -> AutoresetMode:
    mode = vec_env.metadata.get("autoreset_mode", AutoresetMode.NEXT_STEP)
    return mode if isinstance(mode, AutoresetMode) else AutoresetMode(mode)


def _vector_time_limit(vec_env: Any) -> int | None:
    envs = getattr(vec_env, "envs", None)
    if envs:
        return env_time_limit(envs[0])
    return env_time_limit(vec_env)


def train_vector(
    vec_env: VectorEnv[Any, Any, Any],
    config: DynaQConfig,
    n_episodes: int,
    seed: int,
    *,
    max_episode_steps: int | None = None,
    max_total_steps: int | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train one agent per sub-env of a gymnasium vector env, all agents in one vmapped call.

    Sub-env ``i`` is reset with ``seed + i`` (gymnasium's convention) and its agent's key is
    ``jax.random.key(seed + i)``, so agent ``i`` learns exactly what
    ``train(single_env, config, n_episodes, seed + i)`` learns. Each real vector step is one
    device call: ``vmap`` of the fused ``step``-then-``act`` (see ``train``).

    Autoreset (``vec_env.metadata["autoreset_mode"]``):

    * ``NEXT_STEP`` (default): after a done, the next ``step`` resets the sub-env and ignores its
      action; that step is not a transition and is not fed to the agent (nor counted in lengths).
    * ``SAME_STEP``: the transition ends in ``info["final_obs"]``; the returned obs is the reset.
    * ``DISABLED``: finished sub-envs are reset here with ``reset(options={"reset_mask": ...})``.

    ``max_episode_steps`` truncates sub-envs from this loop (and resets them with ``reset_mask``).
    A sub-env that has finished its ``n_episodes`` keeps stepping with the others, but its agent
    no longer learns (the ``active`` mask of the agent functions).

    Returns:
        ``TrainResult`` with a leading axis ``N = num_envs``: metrics ``[N, E]``,
        ``episodes_done`` and ``steps_done`` ``[N]`` (real, learned-from steps),
        ``step_rewards=None``.
    """
    where = "gym_loop.train_vector"
    if not isinstance(vec_env, VectorEnv):
        raise TypeError(
            f"{where}: vec_env must be a gymnasium.vector.VectorEnv, got {type(vec_env).__name__}"
        )
    n_ep = check_count(where, "n_episodes", n_episodes)
    assert n_ep is not None
    limit = check_count(where, "max_episode_steps", max_episode_steps, allow_none=True)
    cap = check_count(where, "max_total_steps", max_total_steps, allow_none=True)
    seed = check_seed(where, seed)
    config = _check_config(config)
    label = env_label(vec_env)
    sp = discrete_spaces(
        where, label, vec_env.single_observation_space, vec_env.single_action_space
    )
    if limit is not None:
        warn_if_env_truncates_first(where, label, _vector_time_limit(vec_env), limit)
    result = _run_vector(vec_env, label, sp, config, n_ep, seed, limit, cap, progress)
    _warn_dropped("gym_loop.train_vector", result, config)
    return result


def _run_vector(
    vec_env: Any,
    label: str,
    sp: DiscreteSpaces,
    config: DynaQConfig,
    n_episodes: int,
    seed: int,
    limit: int | None,
    cap: int | None,
    progress: bool,
) -> TrainResult:
    where = "gym_loop.train_vector"
    n = int(vec_env.num_envs)
    mode = _autoreset_mode(vec_env)
    one = init(sp.n_states, sp.n_actions, config)
    layout = layout_of(one, jax.random.key(seed), config)
    cfg = config_vector(config)
    # A size-1 vmap axis can compile to code whose floats differ from the unbatched call (see
    # train.py): one sub-env runs the unbatched call, so that it equals train(env, seed).
    batched = n > 1
    run = agent_call(layout, batched)
    if batched:
        agents: DynaQState = jax.tree.map(lambda x: jnp.stack([x] * n), one)
        keys = jnp.stack([jax.random.key(seed + i) for i in range(n)])
        buffers = pack(layout, agents, keys, batched=True)
    else:
        buffers = pack(layout, one, jax.random.key(seed))

    def call(
        s: np.ndarray,
        a: np.ndarray,
        r: np.ndarray,
        s_next: np.ndarray,
        term: np.ndarray,
        learn: np.ndarray,
        s_act: np.ndarray,
        advance: np.ndarray,
    ) -> np.ndarray:
        nonlocal buffers
        host = host_matrix(s, a, r, s_next, term, learn, s_act, advance)
        buffers, actions = run(buffers, cfg, host if batched else host[0])
        return np.asarray(actions).reshape(n)  # the one device -> host transfer of the step

    visited = np.zeros((n, sp.n_states, sp.n_actions), np.bool_)
    metrics = _Metrics(n, n_episodes)
    bar = episode_bar(progress, n * n_episodes)
    episode = np.zeros(n, np.int64)
    t_ep = np.zeros(n, np.int64)
    ret = np.zeros(n, np.float64)
    steps = np.zeros(n, np.int64)
    rows = np.arange(n)
    false, true = np.zeros(n, np.bool_), np.ones(n, np.bool_)
    zeros_i = np.zeros(n, np.int32)

    obs, _ = vec_env.reset(seed=seed)
    s = state_indices(where, label, obs, sp)
    a = call(zeros_i, zeros_i, np.zeros(n), zeros_i, false, false, s, true)
    pending = false.copy()  # NEXT_STEP: this sub-env's next step is its autoreset (no transition)
    total = 0
    try:
        while np.any(episode < n_episodes):
            if cap is not None and total >= cap:
                _warn_step_cap(where, cap, int(np.minimum(episode, n_episodes).sum()), n_episodes)
                break
            obs, reward, term_raw, trunc_raw, info = vec_env.step(a + sp.act_start)
            total += 1
            obs_now = state_indices(where, label, obs, sp)
            r = reward_values(where, label, reward)
            real = ~pending  # a real transition happened in these sub-envs
            term = flag_values(where, label, "terminated", term_raw) & real
            env_done = (term | flag_values(where, label, "truncated", trunc_raw)) & real
            s_next = obs_now.copy()
            if mode == AutoresetMode.SAME_STEP and np.any(env_done):
                final = info["final_obs"]
                for i in np.flatnonzero(env_done):
                    s_next[i] = state_index(where, label, final[i], sp)
            t_ep += real
            ret += np.where(real, r, 0.0)
            host_trunc = real & ~env_done & (t_ep >= limit) if limit is not None else false
            done = env_done | host_trunc
            learn = real & (episode < n_episodes)
            visited[rows[learn], s[learn], a[learn]] = True
            steps += learn
            for i in np.flatnonzero(done):
                if episode[i] < n_episodes:
                    size = int(visited[i].sum())
                    metrics.record(
                        int(i),
                        int(episode[i]),
                        float(ret[i]),
                        int(t_ep[i]),
                        bool(term[i]),
                        float(r[i]),
                        size,
                    )
                    if bar is not None:
                        bar.update(1)
                episode[i] += 1
            t_ep[done] = 0
            ret[done] = 0.0
            # The state to act from next: s', or the new episode's first observation.
            s_act = s_next.copy()
            if mode == AutoresetMode.SAME_STEP:
                s_act[env_done] = obs_now[env_done]
            reset_now = host_trunc | (env_done if mode == AutoresetMode.DISABLED else false)
            if np.any(reset_now):
                obs_reset, _ = vec_env.reset(options={"reset_mask": reset_now.copy()})
                fresh = state_indices(where, label, obs_reset, sp)
                s_act[reset_now] = fresh[reset_now]
            deferred = env_done & (mode == AutoresetMode.NEXT_STEP)
            a = call(s, a, r, s_next, term, learn, s_act, ~deferred)
            pending = deferred
            s = s_act
    finally:
        if bar is not None:
            bar.close()
    agents, _ = unpack(layout, buffers, batched=batched)
    if not batched:
        agents = jax.tree.map(lambda x: x[None], agents)
    agents = jax.block_until_ready(agents)  # type: ignore[no-untyped-call]
    return TrainResult(
        state=agents,
        episodes=metrics.to_jax(),
        episodes_done=jnp.asarray(np.minimum(episode, n_episodes), jnp.int32),
        steps_done=jnp.asarray(steps, jnp.int32),
        step_rewards=None,
    )


__all__ = ["train", "train_vector"]
