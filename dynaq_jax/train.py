"""The whole experiment as one compiled call: ``lax.while_loop``/``lax.scan`` over real steps,
``vmap`` over seeds and hyperparameters, seeds sharded over devices.

Two modes:

* episode mode (``n_episodes``): run until every seed has finished ``n_episodes`` episodes. A seed
  that is done idles (its updates are masked, not selected) until the slowest seed finishes.
* step-budget mode (``n_steps``): exactly ``n_steps`` real steps per seed; the reward of every step
  is recorded (cumulative-reward curves), and a changing maze switches at a global step.

An episode ends on termination or, when the environment has a time limit, on truncation; truncation
is not termination (it bootstraps) and never counts as success.
"""

import functools
import math
import warnings
from collections.abc import Callable
from types import SimpleNamespace
from typing import NamedTuple, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, PartitionSpec
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.agent import act, init, step
from dynaq_jax.checks import typed_jit
from dynaq_jax.config import DynaQConfig
from dynaq_jax.distributed import SEEDS_AXIS, gather_result, global_mesh, on_host, to_global
from dynaq_jax.envs.protocol import first_state, transition
from dynaq_jax.progress import LIVE_BAR, ProgressBar, progress_update
from dynaq_jax.rng import split_key
from dynaq_jax.run_args import Env, RunPlan, as_keys, check_run, resolve_run
from dynaq_jax.state import DynaQState, dropped_message, model_size
from dynaq_jax.types import Key


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


class _SeedCarry(NamedTuple):
    """One seed's loop state between real steps."""

    agent: DynaQState
    key: Key
    s: Int[Array, ""]
    t_ep: Int[Array, ""]
    ret: Float[Array, ""]
    episode: Int[Array, ""]
    t: Int[Array, ""]
    metrics: EpisodeMetrics


def _empty_metrics(n: int) -> EpisodeMetrics:
    return EpisodeMetrics(
        returns=jnp.zeros((n,), jnp.float32),
        lengths=jnp.zeros((n,), jnp.int32),
        success=jnp.zeros((n,), jnp.bool_),
        terminated=jnp.zeros((n,), jnp.bool_),
        model_size=jnp.zeros((n,), jnp.int32),
    )


def _init_carry(env: Env, config: DynaQConfig, key: Key, capacity: int) -> _SeedCarry:
    key, k_reset = jax.random.split(key)
    zero = jnp.zeros((), jnp.int32)
    return _SeedCarry(
        agent=init(env.n_states, env.n_actions, config),
        key=key,
        s=first_state(env, k_reset),
        t_ep=zero,
        ret=jnp.zeros((), jnp.float32),
        episode=zero,
        t=zero,
        metrics=_empty_metrics(capacity),
    )


def _real_step(
    env: Env, config: DynaQConfig, c: _SeedCarry, time_limit: int | None, n_episodes: int | None
) -> tuple[_SeedCarry, Float[Array, ""]]:
    """One real step: act, step the env, Dyna-Q ``step``, episode bookkeeping, reset on done."""
    active = jnp.asarray(True) if n_episodes is None else c.episode < n_episodes
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
    carry = _SeedCarry(
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


ProgressFn = Callable[[Int[Array, ""], Int[Array, ""]], None]


def _run_batch(
    env: Env,
    configs: DynaQConfig,
    keys: Key,
    *,
    n_episodes: int | None,
    n_steps: int | None,
    capacity: int,
    time_limit: int | None,
    chunk: int,
    max_total_steps: int,
    progress: ProgressFn | None,
) -> TrainResult:
    """Train a batch of seeds: ``keys`` ``[B]``, config leaves ``[B]``. Traceable.

    The loop over real steps is outside the ``vmap`` over seeds, so progress is reported once per
    chunk for the whole batch, and a finished seed idles (masked) until the last one is done.
    A batch of one runs unbatched: XLA compiles a size-1 vmap axis into code whose float results
    can differ from every other batch size (and from eager), which would break
    ``train_seeds(keys)[i] == train(keys[i])``.
    """
    if keys.shape[0] == 1:
        one = _run(
            env,
            jax.tree.map(lambda x: x[0], configs),
            keys[0],
            n_episodes=n_episodes,
            n_steps=n_steps,
            capacity=capacity,
            time_limit=time_limit,
            chunk=chunk,
            max_total_steps=max_total_steps,
            progress=progress,
            batched=False,
        )
        return jax.tree.map(lambda x: x[None], one)  # type: ignore[no-any-return]
    return _run(
        env,
        configs,
        keys,
        n_episodes=n_episodes,
        n_steps=n_steps,
        capacity=capacity,
        time_limit=time_limit,
        chunk=chunk,
        max_total_steps=max_total_steps,
        progress=progress,
        batched=True,
    )


def _run(
    env: Env,
    configs: DynaQConfig,
    keys: Key,
    *,
    n_episodes: int | None,
    n_steps: int | None,
    capacity: int,
    time_limit: int | None,
    chunk: int,
    max_total_steps: int,
    progress: ProgressFn | None,
    batched: bool,
) -> TrainResult:
    """The loop over a batch (``batched``: seed axis first on keys and configs) or one seed."""

    def real_step(c: _SeedCarry, cfg: DynaQConfig) -> tuple[_SeedCarry, Float[Array, ""]]:
        return _real_step(env, cfg, c, time_limit, n_episodes)

    def start(k: Key) -> _SeedCarry:
        return _init_carry(env, configs, k, capacity)

    carry = jax.vmap(start)(keys) if batched else start(keys)
    batched_step = jax.vmap(real_step) if batched else real_step

    def steps(c: _SeedCarry, length: int) -> tuple[_SeedCarry, Float[Array, "K ..."]]:
        return jax.lax.scan(lambda x, _: batched_step(x, configs), c, None, length=length)

    step_rewards: Float[Array, "*B T"] | None
    if n_steps is not None:
        # Step-budget mode: exactly n_steps real steps, in chunks for progress reports.
        def chunk_body(c: _SeedCarry, _: None) -> tuple[_SeedCarry, Float[Array, "K ..."]]:
            c, rewards = steps(c, chunk)
            if progress is not None:
                progress(jnp.sum(c.t), jnp.sum(c.t))
            return c, rewards

        n_chunks, rest = divmod(n_steps, chunk)
        carry, rewards = jax.lax.scan(chunk_body, carry, None, length=n_chunks)
        parts = [rewards.reshape(n_chunks * chunk, *rewards.shape[2:])]
        if rest:
            carry, tail = steps(carry, rest)
            parts.append(tail)
            if progress is not None:
                progress(jnp.sum(carry.t), jnp.sum(carry.t))
        step_rewards = jnp.moveaxis(jnp.concatenate(parts, axis=0), 0, -1)
    else:
        assert n_episodes is not None

        def cond(c: _SeedCarry) -> Bool[Array, ""]:
            return jnp.any(c.episode < n_episodes) & jnp.all(c.t < max_total_steps)

        def body(c: _SeedCarry) -> _SeedCarry:
            c, _ = steps(c, chunk)
            if progress is not None:
                progress(jnp.sum(jnp.minimum(c.episode, n_episodes)), jnp.sum(c.t))
            return c

        carry = jax.lax.while_loop(cond, body, carry)
        step_rewards = None
    return TrainResult(
        state=carry.agent,
        episodes=carry.metrics,
        episodes_done=carry.episode,
        steps_done=carry.t,
        step_rewards=step_rewards,
    )


# -- public API -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _compile(
    plan: RunPlan,
    max_total_steps: int,
    n_dev: int,
    with_progress: bool,
    multi: bool = False,
    key_impl: str | None = None,
) -> Callable[[Env, DynaQConfig, Key], TrainResult]:
    """The jitted batch trainer ``(env, configs, keys) -> TrainResult``, cached on the run's static
    plan: a second call with the same sizes (even on another map of the same shape) reuses the
    compilation. Over several devices the seed axis is split with ``shard_map``: the first
    ``n_dev`` local devices, or (``multi``) every device of every process, with the inputs as
    global arrays and the keys as raw key data (``key_impl``: wrapped back inside; ``None``: the
    keys are raw already).
    """

    def local(env: Env, configs: DynaQConfig, keys: Key, shard: Array | int = 0) -> TrainResult:
        progress: ProgressFn | None = None
        if with_progress:

            def progress(done: Int[Array, ""], steps: Int[Array, ""]) -> None:
                jax.debug.callback(progress_update, shard, done, steps)

        return _run_batch(
            env,
            configs,
            keys,
            n_episodes=plan.n_episodes,
            n_steps=plan.n_steps,
            capacity=plan.capacity,
            time_limit=plan.time_limit,
            chunk=plan.chunk,
            max_total_steps=max_total_steps,
            progress=progress,
        )

    if n_dev == 1 and not multi:
        return typed_jit(local)
    mesh = global_mesh() if multi else Mesh(np.array(jax.local_devices()[:n_dev]), (SEEDS_AXIS,))
    spec = PartitionSpec(SEEDS_AXIS)  # type: ignore[no-untyped-call]
    replicated = PartitionSpec()  # type: ignore[no-untyped-call]

    def sharded(env: Env, configs: DynaQConfig, keys: Key) -> TrainResult:
        def body(e: Env, cfg: DynaQConfig, k: Key) -> TrainResult:
            if key_impl is not None:
                k = jax.random.wrap_key_data(k, impl=key_impl)
            return local(e, cfg, k, jax.lax.axis_index(SEEDS_AXIS))

        # Each shard runs its own loop (no collectives): the carry's varying-axis types need no
        # checking.
        run = jax.shard_map(
            body,
            mesh=mesh,
            in_specs=(replicated, spec, spec),
            out_specs=spec,
            check_vma=False,
        )
        out: TrainResult = run(env, configs, keys)
        return out

    return typed_jit(sharded)


def _train_batch(
    env: Env,
    configs: DynaQConfig,
    keys: Key,
    plan: RunPlan,
    *,
    max_total_steps: int,
    progress: bool,
    shard: bool,
    gather: bool = True,
) -> TrainResult:
    """Train one seed per key, with config leaves of shape ``[B]`` (one config per key).

    Multi-process (``jax.process_count() > 1`` and ``shard``): the batch is split over every
    device of every process; ``gather``: every process gets the whole result (else global arrays,
    and ``B`` must divide over the devices).
    """
    n_keys = keys.shape[0]
    multi = shard and jax.process_count() > 1
    if multi:
        n_dev = jax.device_count()
    else:
        n_dev = min(len(jax.local_devices()), n_keys) if shard else 1
    padded = -(-n_keys // n_dev) * n_dev
    if padded != n_keys and multi and not gather:
        raise ValueError(
            f"train: {n_keys} agents (configs x seeds) do not divide over the {n_dev} devices of "
            f"the run's {jax.process_count()} processes; with gather=False give a multiple of "
            f"{n_dev} (gather=True pads with copies of the last seed and trims them)"
        )
    if padded != n_keys:  # shard_map needs equal shards: repeat the last seed, trim afterwards
        keys, configs = jax.tree.map(
            lambda x: jnp.concatenate([x, jnp.repeat(x[-1:], padded - n_keys, axis=0)]),
            (keys, configs),
        )
    key_impl: str | None = None
    if multi:
        if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
            key_impl = str(jax.random.key_impl(keys))
            keys = jax.random.key_data(keys)
        env, (configs, keys) = (
            to_global(env, global_mesh(), False),
            to_global((configs, keys), global_mesh(), True),
        )
    trainer = _compile(plan, max_total_steps, n_dev, progress, multi, key_impl)
    if progress and (not multi or jax.process_index() == 0):
        per_seed = plan.n_episodes if plan.n_episodes is not None else plan.n_steps
        mine = n_keys if not multi else padded // n_dev * jax.local_device_count()
        LIVE_BAR[0] = ProgressBar(mine * (per_seed or 0), "episode" if plan.n_episodes else "step")
    try:
        out: TrainResult = trainer(env, configs, keys)
        out = jax.block_until_ready(out)  # type: ignore[no-untyped-call]
    finally:
        bar, LIVE_BAR[0] = LIVE_BAR[0], None
        if bar is not None:
            bar.close()
    if multi and gather:
        out = gather_result(out)
    if padded != n_keys:
        out = jax.tree.map(lambda x: x[:n_keys], out)
    if plan.n_steps is not None:
        most = int(np.max(on_host(out.episodes_done)))
        if most > plan.capacity:
            warnings.warn(
                f"train: up to {most} episodes finished but only the first {plan.capacity} are "
                "recorded in TrainResult.episodes (pass n_episodes to record more); "
                "step_rewards holds every step",
                stacklevel=3,
            )
    elif plan.n_episodes is not None:
        short = int(np.sum(on_host(out.episodes_done) < plan.n_episodes))
        if short:
            warnings.warn(
                f"train: stopped at max_total_steps={max_total_steps} with {short} of {n_keys} "
                f"seed(s) short of n_episodes={plan.n_episodes} (see TrainResult.episodes_done); "
                "their unfinished episodes' metrics are zero",
                RuntimeWarning,
                stacklevel=3,
            )
    dropped = cast(DynaQState, SimpleNamespace(dropped=on_host(out.state.dropped)))
    message = dropped_message("train", dropped, configs.outcome_slots)
    if message is not None:
        warnings.warn(message, RuntimeWarning, stacklevel=3)
    return out


def _broadcast_config(config: DynaQConfig, n: int) -> DynaQConfig:
    out: DynaQConfig = jax.tree.map(
        lambda x: jnp.broadcast_to(jnp.asarray(x, jnp.float32), (n,)), config
    )
    return out


def train(
    env: Env,
    config: DynaQConfig,
    key: Key,
    n_episodes: int | None = None,
    n_steps: int | None = None,
    *,
    max_episode_steps: int | None = None,
    max_total_steps: int = 2**31 - 1,
    chunk: int | None = None,
    progress: bool = False,
) -> TrainResult:
    """Train one agent (one seed) in ``env``; the whole loop is one compiled call.

    Each real step: ``a ~ act`` (epsilon-greedy, random tie-break); ``(s', r, terminated) ~ env``;
    the Dyna-Q ``step`` (direct update, model update, ``planning_steps`` planned updates); on
    termination or truncation (``t_ep >= time limit``) the episode's metrics are recorded and the
    env is reset. Episode mode stops after ``n_episodes`` episodes; step-budget mode after
    ``n_steps`` steps (recording the first ``n_episodes``, or up to 4096, episodes).

    ``max_episode_steps`` overrides the env's time limit; ``max_total_steps`` (in ``[1, 2**31 -
    1]``) caps an episode-mode run whose episodes might never end: it is checked between chunks of
    ``chunk`` real steps (so a run may pass it by less than a chunk), and a run it stops warns
    (``RuntimeWarning``). ``train_seeds(keys)[i]`` equals ``train(keys[i])``.

    Raises:
        TypeError: ``env`` or ``config`` of the wrong type.
        ValueError: an invalid env (``validate_mdp``), run length, ``max_total_steps`` or key.
    """
    one = jnp.asarray(key) if not isinstance(key, int | np.integer) else None
    typed = one is not None and jnp.issubdtype(one.dtype, jax.dtypes.prng_key)
    if one is None or (typed and one.ndim != 0) or (not typed and one.shape != (2,)):
        raise ValueError(
            f"train: key must be one PRNG key (jax.random.key(seed)), got {key!r}; for a batch "
            "of keys use train_seeds"
        )
    out = train_seeds(
        env,
        config,
        jnp.expand_dims(one, 0),
        n_episodes,
        n_steps,
        max_episode_steps=max_episode_steps,
        max_total_steps=max_total_steps,
        chunk=chunk,
        progress=progress,
        shard=False,
    )
    return jax.tree.map(lambda x: x[0], out)  # type: ignore[no-any-return]


def train_seeds(
    env: Env,
    config: DynaQConfig,
    keys: Key,
    n_episodes: int | None = None,
    n_steps: int | None = None,
    *,
    max_episode_steps: int | None = None,
    max_total_steps: int = 2**31 - 1,
    chunk: int | None = None,
    progress: bool = False,
    shard: bool = True,
    gather: bool = True,
) -> TrainResult:
    """Train one agent per key (``keys`` ``[B]``, from ``jax.random.split``) in one compiled call.

    Result ``i`` equals ``train(env, config, keys[i], ...)`` exactly. ``env`` is any env of the
    protocol (``dynaq_jax.envs.protocol``: ``TabularMDP``, the changing mazes, the adapters,
    your own). With ``shard=True`` and several local devices (GPUs, or CPU devices from
    ``XLA_FLAGS=--xla_force_host_platform_device_count=N`` set before JAX starts), the seed axis
    is split over them; the results are identical to one device.

    Multi-process (every process called ``dynaq_jax.distributed.join`` and calls this with the
    same arguments): the seed axis is split over every device of every process (a global mesh;
    ``B`` not a multiple of the device count is padded with copies of the last seed, trimmed
    from the result). With ``gather=True`` every process gets the whole result; with
    ``gather=False`` it gets global arrays holding its own devices' shards (``B`` must then be a
    multiple of ``jax.device_count()``), and ``dynaq_jax.distributed.gather_result(result)``
    (called in every process) gathers them. The results are bit-identical to one process.
    """
    max_total_steps = check_run(config, max_total_steps)
    if config.batch_shape:
        raise ValueError(
            f"train_seeds: config leaves have shape {config.batch_shape}; "
            "use train_sweep for a stacked config"
        )
    plan = resolve_run(env, n_episodes, n_steps, max_episode_steps, chunk)
    keys = as_keys(keys)
    return _train_batch(
        env,
        _broadcast_config(config, keys.shape[0]),
        keys,
        plan,
        max_total_steps=max_total_steps,
        progress=progress,
        shard=shard,
        gather=gather,
    )


def train_sweep(
    env: Env,
    configs: DynaQConfig,
    keys: Key,
    n_episodes: int | None = None,
    n_steps: int | None = None,
    *,
    max_episode_steps: int | None = None,
    max_total_steps: int = 2**31 - 1,
    chunk: int | None = None,
    progress: bool = False,
    shard: bool = True,
    gather: bool = True,
) -> TrainResult:
    """Every config of a stacked sweep (``DynaQConfig.stack``, leaves ``[C]``) times every key
    ``[B]`` in one compiled call; results have shape ``[C, B, ...]``.

    Row ``(c, i)`` equals ``train(env, configs[c], keys[i])``. ``planning_steps`` and ``model`` are
    static: sweep them with one call per value (each compiles once). The ``C x B`` agents are
    split over the devices (of every process, multi-process) as in ``train_seeds``; ``gather``
    as there (with ``gather=False`` the result keeps the flat ``[C * B, ...]`` axis of global
    arrays: reshape after ``gather_result``).
    """
    max_total_steps = check_run(configs, max_total_steps)
    if len(configs.batch_shape) != 1:
        raise ValueError(
            "train_sweep: configs must be stacked along one axis (DynaQConfig.stack), "
            f"got leaves of shape {configs.batch_shape}"
        )
    plan = resolve_run(env, n_episodes, n_steps, max_episode_steps, chunk)
    keys = as_keys(keys)
    n_cfg, n_keys = configs.batch_shape[0], keys.shape[0]
    flat_cfg = jax.tree.map(
        lambda x: jnp.repeat(jnp.broadcast_to(jnp.asarray(x, jnp.float32), (n_cfg,)), n_keys),
        configs,
    )
    flat_keys = jnp.concatenate([keys] * n_cfg, axis=0)
    out = _train_batch(
        env,
        flat_cfg,
        flat_keys,
        plan,
        max_total_steps=max_total_steps,
        progress=progress,
        shard=shard,
        gather=gather,
    )
    if not gather and jax.process_count() > 1 and shard:
        return out
    return jax.tree.map(  # type: ignore[no-any-return]
        lambda x: x.reshape(n_cfg, n_keys, *x.shape[1:]), out
    )


def memory_per_seed(env: Env, config: DynaQConfig) -> int:
    """Bytes of agent state per seed (``T_c`` dominates: ``4 * S * A * S``)."""
    shapes = jax.eval_shape(lambda: init(env.n_states, env.n_actions, config))
    return int(sum(math.prod(x.shape) * x.dtype.itemsize for x in jax.tree.leaves(shapes)))


__all__ = [
    "EpisodeMetrics",
    "TrainResult",
    "memory_per_seed",
    "train",
    "train_seeds",
    "train_sweep",
]
