"""The whole experiment as one compiled call: ``lax.while_loop``/``lax.scan`` over real steps,
``vmap`` over seeds and hyperparameters, seeds sharded over devices and, on each device, passed
through lanes sized for the cache (``dynaq_jax.lanes``).

Two modes:

* episode mode (``n_episodes``): run until every seed has finished ``n_episodes`` episodes. In
  lockstep a seed that is done idles (its updates are masked, not selected) until the slowest seed
  finishes; streamed through lanes (``dynaq_jax.lanes``, on CPU from 256 seeds) its lane starts
  the next seed.
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
from typing import Any, cast

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import PartitionSpec
from jaxtyping import Array, Bool, Float, Int

from dynaq_jax.agent import init
from dynaq_jax.checks import typed_jit
from dynaq_jax.config import DynaQConfig
from dynaq_jax.distributed import (
    SEEDS_AXIS,
    gather_result,
    global_mesh,
    local_mesh,
    on_host,
    pad_rows,
    seed_devices,
    to_global,
)
from dynaq_jax.lanes import LanePlan, Progress, check_lanes, in_batches, plan_lanes, stream
from dynaq_jax.progress import LIVE_BAR, ProgressBar, progress_update
from dynaq_jax.run_args import Env, RunPlan, as_keys, check_run, resolve_run
from dynaq_jax.seed_step import EpisodeMetrics, SeedCarry, TrainResult, init_carry, real_step
from dynaq_jax.state import DynaQState, dropped_message
from dynaq_jax.types import Key

ProgressFn = Callable[[Int[Array, ""], Int[Array, ""]], None]


def _run_batch(
    env: Env,
    configs: DynaQConfig,
    keys: Key,
    plan: RunPlan,
    *,
    max_total_steps: int,
    progress: ProgressFn | None,
    lanes: LanePlan | None = None,
) -> TrainResult:
    """Train a batch of seeds: ``keys`` ``[N]``, config leaves ``[N]``. Traceable.

    ``lanes=None``: all seeds at once, in lockstep (``_run``). Otherwise the seeds pass through the
    lanes (``dynaq_jax.lanes``): consecutive batches in step-budget mode, a stream in episode
    mode. A batch of one runs unbatched: XLA compiles a size-1 vmap axis into code whose float
    results can differ from every other batch size (and from eager), which would break
    ``train_seeds(keys)[i] == train(keys[i])``.
    """
    if keys.shape[0] == 1:
        cfg = jax.tree.map(lambda x: x[0], configs)
        one = _run(env, cfg, keys[0], plan, max_total_steps, progress, batched=False)
        return jax.tree.map(lambda x: x[None], one)  # type: ignore[no-any-return]
    if lanes is None:
        return _run(env, configs, keys, plan, max_total_steps, progress, batched=True)
    if plan.n_steps is not None:
        return _run_in_batches(env, configs, keys, plan, progress, lanes.lanes)
    return _run_stream(env, configs, keys, plan, max_total_steps, progress, lanes)


def _run(
    env: Env,
    configs: DynaQConfig,
    keys: Key,
    plan: RunPlan,
    max_total_steps: int,
    progress: ProgressFn | None,
    *,
    batched: bool,
) -> TrainResult:
    """The loop over a batch in lockstep (``batched``: seed axis first on keys and configs) or
    one seed. The loop over real steps is outside the ``vmap`` over seeds, so progress is reported
    once per chunk for the whole batch, and a finished seed idles (masked) until the last one is
    done."""
    n_episodes, n_steps, chunk = plan.n_episodes, plan.n_steps, plan.chunk

    def one_step(c: SeedCarry, cfg: DynaQConfig) -> tuple[SeedCarry, Float[Array, ""]]:
        return real_step(env, cfg, c, plan.time_limit, n_episodes)

    def start(k: Key) -> SeedCarry:
        return init_carry(env, configs, k, plan.capacity)

    carry = jax.vmap(start)(keys) if batched else start(keys)
    batched_step = jax.vmap(one_step) if batched else one_step

    def steps(c: SeedCarry, length: int) -> tuple[SeedCarry, Float[Array, "K ..."]]:
        return jax.lax.scan(lambda x, _: batched_step(x, configs), c, None, length=length)

    step_rewards: Float[Array, "*B T"] | None
    if n_steps is not None:
        # Step-budget mode: exactly n_steps real steps, in chunks for progress reports.
        def chunk_body(c: SeedCarry, _: None) -> tuple[SeedCarry, Float[Array, "K ..."]]:
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

        def cond(c: SeedCarry) -> Bool[Array, ""]:
            return jnp.any(c.episode < n_episodes) & jnp.all(c.t < max_total_steps)

        def body(c: SeedCarry) -> SeedCarry:
            c, _ = steps(c, chunk)
            if progress is not None:
                progress(jnp.sum(jnp.minimum(c.episode, n_episodes)), jnp.sum(c.t))
            return c

        carry = jax.lax.while_loop(cond, body, carry)
        step_rewards = None
    return _result(carry, step_rewards)


def _result(c: SeedCarry, step_rewards: Float[Array, "*B T"] | None) -> TrainResult:
    return TrainResult(c.agent, c.metrics, c.episode, c.t, step_rewards)


def _run_in_batches(
    env: Env,
    configs: DynaQConfig,
    keys: Key,
    plan: RunPlan,
    progress: ProgressFn | None,
    batch: int,
) -> TrainResult:
    """Step-budget mode: the seeds as consecutive batches of ``batch`` in lockstep
    (``lanes.in_batches``), each batch's state small enough to stay in the cache."""
    per_seed = plan.n_steps or 0

    def run(items: tuple[DynaQConfig, Key], first: Int[Array, ""], new: Int[Array, ""]) -> Any:
        report: ProgressFn | None = None
        if progress is not None:

            def report(done: Int[Array, ""], steps: Int[Array, ""]) -> None:
                # Never below the batches before (the last batch may redo a few seeds).
                total = jnp.maximum(first * per_seed + steps, (first + new) * per_seed)
                progress(total, total)

        return _run(env, items[0], items[1], plan, 2**31 - 1, report, batched=True)

    out: TrainResult = in_batches(run, (configs, keys), keys.shape[0], batch)
    return out


def _run_stream(
    env: Env,
    configs: DynaQConfig,
    keys: Key,
    plan: RunPlan,
    max_total_steps: int,
    progress: ProgressFn | None,
    lanes: LanePlan,
) -> TrainResult:
    """Episode mode: the seeds streamed through the lanes (``lanes.stream``). A seed is done once
    it has its episodes or, as alone, at the first multiple of ``chunk`` real steps at or past
    ``max_total_steps``; the lanes are looked at every ``check_every`` steps, a divisor of
    ``chunk``, so a seed stops on the same step as alone."""
    n_episodes = plan.n_episodes or 0
    cap = -(-max_total_steps // plan.chunk) * plan.chunk
    stop = cap if cap < 2**31 else None  # a seed stopped here idles (masked) until harvested
    Lane = tuple[SeedCarry, DynaQConfig]

    def start(i: Int[Array, ""]) -> Lane:
        cfg = jax.tree.map(lambda x: x[i], configs)
        return init_carry(env, cfg, keys[i], plan.capacity), cfg

    def advance(lane: Lane) -> Lane:
        def one(c: SeedCarry, cfg: DynaQConfig) -> SeedCarry:
            return real_step(env, cfg, c, plan.time_limit, n_episodes, stop)[0]

        def body(c: SeedCarry, _: None) -> tuple[SeedCarry, None]:
            return jax.vmap(one)(c, lane[1]), None

        return jax.lax.scan(body, lane[0], None, length=lanes.check_every)[0], lane[1]

    def finished(lane: Lane) -> Bool[Array, " L"]:
        c = lane[0]
        done = c.episode >= n_episodes
        return done if stop is None else done | (c.t >= stop)

    report = None
    if progress is not None:
        report = Progress(
            lambda lane: (jnp.minimum(lane[0].episode, n_episodes), lane[0].t),
            progress,
            max(plan.chunk // lanes.check_every, 1),
        )
    out, _ = stream(
        start, advance, finished, lambda lane: _result(lane[0], None), keys.shape[0], lanes, report
    )
    return out


# -- public API -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def _compile(
    plan: RunPlan,
    max_total_steps: int,
    n_dev: int,
    with_progress: bool,
    multi: bool = False,
    key_impl: str | None = None,
    lanes: LanePlan | None = None,
) -> Callable[[Env, DynaQConfig, Key], TrainResult]:
    """The jitted batch trainer ``(env, configs, keys) -> TrainResult``, cached on the run's static
    plan: a second call with the same sizes (even on another map of the same shape) reuses the
    compilation. Over several devices the seed axis is split with ``shard_map``: the first
    ``n_dev`` local devices, or (``multi``) every device of every process, with the inputs as
    global arrays and the keys as raw key data (``key_impl``: wrapped back inside; ``None``: the
    keys are raw already). ``lanes``: how each device's seeds pass through lanes.
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
            plan,
            max_total_steps=max_total_steps,
            progress=progress,
            lanes=lanes,
        )

    if n_dev == 1 and not multi:
        return typed_jit(local)
    mesh = global_mesh() if multi else local_mesh(n_dev)
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
    lanes: int | None = None,
) -> TrainResult:
    """Train one seed per key, with config leaves of shape ``[B]`` (one config per key).

    Multi-process (``jax.process_count() > 1`` and ``shard``): the batch is split over every
    device of every process; ``gather``: every process gets the whole result (else global arrays,
    and ``B`` must divide over the devices). ``lanes``: per device, as ``plan_lanes``.
    """
    n_keys = keys.shape[0]
    multi = shard and jax.process_count() > 1
    n_dev = jax.device_count() if multi else (seed_devices(n_keys) if shard else 1)
    padded = -(-n_keys // n_dev) * n_dev
    if padded != n_keys and multi and not gather:
        raise ValueError(
            f"train: {n_keys} agents (configs x seeds) do not divide over the {n_dev} devices of "
            f"the run's {jax.process_count()} processes; with gather=False give a multiple of "
            f"{n_dev} (gather=True pads with copies of the last seed and trims them)"
        )
    if padded != n_keys:  # shard_map needs equal shards: repeat the last seed, trim afterwards
        keys, configs = pad_rows((keys, configs), padded)
    key_impl: str | None = None
    if multi:
        if jnp.issubdtype(keys.dtype, jax.dtypes.prng_key):
            key_impl = str(jax.random.key_impl(keys))
            keys = jax.random.key_data(keys)
        env, (configs, keys) = (
            to_global(env, global_mesh(), False),
            to_global((configs, keys), global_mesh(), True),
        )
    sharing = n_dev if not multi else jax.local_device_count()
    lane_plan = _plan_lanes(env, configs, plan, padded // n_dev, lanes, sharing)
    trainer = _compile(plan, max_total_steps, n_dev, progress, multi, key_impl, lane_plan)
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


def _plan_lanes(
    env: Env, config: DynaQConfig, plan: RunPlan, per_device: int, lanes: int | None, devices: int
) -> LanePlan | None:
    # What a lane touches every real step: the agent state and the planning draws (an S-wide
    # count row and 32 bytes per draw); the episode metrics take one write per episode.
    draws = config.planning_steps * (4 * int(env.n_states) + 32)
    return plan_lanes(
        per_device,
        memory_per_seed(env, config) + draws,
        episodes=plan.n_steps is None,
        chunk=plan.chunk,
        lanes=lanes,
        backend=jax.local_devices()[0].platform,
        devices=devices,
    )


def lane_plan(
    env: Env,
    config: DynaQConfig,
    n_seeds: int,
    n_episodes: int | None = None,
    n_steps: int | None = None,
    *,
    max_episode_steps: int | None = None,
    chunk: int | None = None,
    lanes: int | None = None,
) -> LanePlan | None:
    """The lanes ``train_seeds`` runs ``n_seeds`` seeds through on each of ``min(local devices,
    n_seeds)`` devices (``dynaq_jax.lanes.plan_lanes``, with a lane's bytes: the agent state plus
    ``planning_steps * (4 S + 32)`` for the planning draws), or ``None``: all at once, in
    lockstep."""
    plan = resolve_run(env, n_episodes, n_steps, max_episode_steps, chunk)
    n_dev = seed_devices(n_seeds)
    return _plan_lanes(env, config, plan, -(-n_seeds // n_dev), check_lanes(lanes), n_dev)


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
    lanes: int | None = None,
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

    Lanes (``dynaq_jax.lanes``): on CPU the seeds of each device pass through ``B`` lanes sized for
    the cache. Step-budget mode runs them as consecutive batches of ``B``; episode mode, from
    ``lanes.STREAM_FROM`` seeds on, streams them: a lane whose seed has done its episodes starts
    the next seed, and the tail runs on fewer lanes, so few lanes idle while the slowest seeds
    finish. ``lanes`` sets ``B`` (an int ``>= 2``; ``len(keys)`` or more: all seeds at once, in
    lockstep, the default on GPU and TPU). The results are the same bits whatever the lanes.
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
        lanes=check_lanes(lanes),
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
    lanes: int | None = None,
) -> TrainResult:
    """Every config of a stacked sweep (``DynaQConfig.stack``, leaves ``[C]``) times every key
    ``[B]`` in one compiled call; results have shape ``[C, B, ...]``.

    Row ``(c, i)`` equals ``train(env, configs[c], keys[i])``. ``planning_steps`` and ``model`` are
    static: sweep them with one call per value (each compiles once). The ``C x B`` agents are
    split over the devices (of every process, multi-process) as in ``train_seeds``; ``gather``
    as there (with ``gather=False`` the result keeps the flat ``[C * B, ...]`` axis of global
    arrays: reshape after ``gather_result``), and so are the lanes (``lanes``: over the ``C x B``
    agents).
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
        lanes=check_lanes(lanes),
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
    "lane_plan",
    "memory_per_seed",
    "train",
    "train_seeds",
    "train_sweep",
]
