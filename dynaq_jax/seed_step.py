"""One seed's part of the compiled loop: its carry between real steps, its start, and the real
step with the episode bookkeeping; the result types of ``train``.

``dynaq_jax.train`` runs these steps for a batch of seeds in lockstep, or streams the seeds through
lanes (``dynaq_jax.lanes``); either way every seed runs the same sequence of operations on the same
key, so its results do not depend on how it was batched.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.agent import act, init, step
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs.protocol import JaxEnv, first_state, transition
from dynaq_jax.rng import split_key
from dynaq_jax.state import DynaQState, model_size
from dynaq_jax.types import Key

Env = JaxEnv


class EpisodeMetrics(NamedTuple):
    """Per-episode metrics, shape ``[*B, E]`` (``E`` episodes recorded)."""

    returns: Float[Array, "*B E"]
    """Undiscounted return ``sum_t r_t`` of the episode."""
    lengths: Int[Array, "*B E"]
    """Real steps in the episode (never more than the time limit)."""
    success: Bool[Array, "*B E"]
    """The episode terminated (not truncated) on a positive reward."""
    terminated: Bool[Array, "*B E"]
    """The episode ended by termination rather than by the time limit."""
    model_size: Int[Array, "*B E"]
    """Distinct ``(s, a)`` pairs tried so far, at the end of the episode."""


class TrainResult(NamedTuple):
    """What ``train`` returns: the final agent and its history (batch dims ``*B`` in front)."""

    state: DynaQState
    episodes: EpisodeMetrics
    episodes_done: Int[Array, "*B"]
    """Episodes completed (in step-budget mode it may exceed the recorded ``E``)."""
    steps_done: Int[Array, "*B"]
    """Real steps taken."""
    step_rewards: Float[Array, "*B T"] | None
    """Step-budget mode: reward of every real step; ``None`` in episode mode."""


class SeedCarry(NamedTuple):
    """One seed's loop state between real steps."""

    agent: DynaQState
    key: Key
    s: Int[Array, ""]
    t_ep: Int[Array, ""]
    ret: Float[Array, ""]
    episode: Int[Array, ""]
    t: Int[Array, ""]
    metrics: EpisodeMetrics


def empty_metrics(n: int) -> EpisodeMetrics:
    """Room for ``n`` episodes' metrics, all zero (``False``) until an episode ends."""
    return EpisodeMetrics(
        returns=jnp.zeros((n,), jnp.float32),
        lengths=jnp.zeros((n,), jnp.int32),
        success=jnp.zeros((n,), jnp.bool_),
        terminated=jnp.zeros((n,), jnp.bool_),
        model_size=jnp.zeros((n,), jnp.int32),
    )


def init_carry(env: Env, config: DynaQConfig, key: Key, capacity: int) -> SeedCarry:
    """A seed's start: ``key, k_reset = split(key)``, a fresh agent (``agent.init``: ``Q = 0``, an
    empty model), ``s_0 ~ reset(k_reset)`` (the env's initial distribution), every counter 0 and
    room for ``capacity`` episodes (Sutton & Barto 8.2, Tabular Dyna-Q: "Initialize Q(s, a) and
    Model(s, a)")."""
    key, k_reset = jax.random.split(key)
    zero = jnp.zeros((), jnp.int32)
    return SeedCarry(
        agent=init(env.n_states, env.n_actions, config),
        key=key,
        s=first_state(env, k_reset),
        t_ep=zero,
        ret=jnp.zeros((), jnp.float32),
        episode=zero,
        t=zero,
        metrics=empty_metrics(capacity),
    )


def real_step(
    env: Env,
    config: DynaQConfig,
    c: SeedCarry,
    time_limit: int | None,
    n_episodes: int | None,
    max_steps: int | None = None,
) -> tuple[SeedCarry, Float[Array, ""]]:
    """One real step of Tabular Dyna-Q (Sutton & Barto 8.2, steps (a)-(f)): ``a ~ act`` (epsilon-
    greedy), ``(s', r, terminated) ~ env``, the agent's ``step`` (direct update, model update,
    planning); then the episode's bookkeeping (``return += r``; on termination or truncation,
    ``t_ep >= time_limit``, the metrics are recorded and ``s ~ reset``).

    In episode mode a seed is active while ``episode < n_episodes`` (and, given ``max_steps``,
    ``t < max_steps``); an inactive step is a masked no-op that leaves the agent and the metrics as
    they are. Returns the new carry and the reward (0 where inactive)."""
    active = jnp.asarray(True) if n_episodes is None else c.episode < n_episodes
    if max_steps is not None:
        active = active & (c.t < max_steps)
    key, k_act, k_env, k_plan, k_reset = split_key(c.key, 5)
    a = act(c.agent, k_act, c.s, config)
    s_next, r, term = transition(env, k_env, c.t, c.s, a)
    agent = step(c.agent, k_plan, c.s, a, r, s_next, term, config, active=active)
    t_ep = c.t_ep + 1
    ret = c.ret + r
    trunc = jnp.asarray(False) if time_limit is None else (t_ep >= time_limit) & ~term
    done = (term | trunc) & active
    idx = jnp.where(done, c.episode, 2**31 - 1)  # out of range: dropped

    def record(arr: Array, value: Array) -> Array:
        return arr.at[idx].set(value, mode="drop")

    m = c.metrics
    metrics = EpisodeMetrics(
        returns=record(m.returns, ret),
        lengths=record(m.lengths, t_ep),
        success=record(m.success, term & (r > 0)),
        terminated=record(m.terminated, term),
        model_size=record(m.model_size, model_size(agent)),
    )
    s_new = jnp.where(done, first_state(env, k_reset), s_next)
    carry = SeedCarry(
        agent=agent,
        key=key,
        s=s_new,
        t_ep=jnp.where(done, 0, t_ep),
        ret=jnp.where(done, 0.0, ret),
        episode=c.episode + done.astype(jnp.int32),
        t=c.t + active.astype(jnp.int32),
        metrics=metrics,
    )
    return carry, jnp.where(active, r, 0.0)


__all__ = ["EpisodeMetrics", "SeedCarry", "TrainResult", "empty_metrics", "init_carry", "real_step"]
