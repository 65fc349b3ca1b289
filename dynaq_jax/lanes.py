"""Lanes: the compiled loop runs ``B`` lanes and streams ``N`` seeds through them.

A batch of seeds run in lockstep pays for its slowest seed: in episode mode a seed that has done
its episodes idles (masked) until the last one is done, and a batch too large for the cache runs
every step from memory. Two schedules avoid both, without changing any seed's results (each seed
runs the same operations on the same key as alone; ``train_seeds(keys)[i] == train(keys[i])``):

* ``stream`` (episode mode): each of ``B`` lanes runs one seed. Every ``check_every`` real steps
  the loop looks at the lanes: the results of a seed that is done are written into its slot of the
  ``[N, ...]`` output, and the lane starts the next seed. Once no seed is left to start and few
  enough lanes are busy, the busy lanes are packed into a smaller batch (a compaction stage), so
  the tail of slow seeds does not run at the whole batch's cost.
* ``in_batches`` (step-budget mode, where every seed takes the same number of steps): the seeds run
  as consecutive batches of ``B``, each small enough for its state to stay in the cache.

``plan_lanes`` chooses ``B`` (``lanes=`` of ``train_seeds``/``train_sweep`` overrides it):

* on CPU from a cache budget: at most ``CACHE_BYTES // bytes per lane`` lanes (what a seed
  touches every step: its agent state and its planning draws; ``train`` computes it). Step-budget
  mode splits ``N`` seeds into equal batches of at most that many; episode mode, from
  ``STREAM_FROM`` seeds on, streams them through ``STREAM_LANES`` lanes (fewer for fewer seeds,
  at most the cache's),
  looked at every ``CHECK_EVERY`` steps or so, and the compaction stage has ``B // COMPACTION``
  lanes;
* on other backends (GPU, TPU) all seeds run at once, as before: a device runs its lanes in
  parallel, and fewer lanes would mean more sequential steps.

``lane_steps`` replays a stream's schedule on the host from the seeds' step counts: the lane-steps
it ran, busy or idle (the benchmark's idle fraction).
"""

import math
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Bool, Int

CACHE_BYTES = 16 * 2**20
"""The cache budget the CPU lanes are sized for: 16 MiB, half the development machine's shared
L3 (32 MiB; 512 KiB of L2 per core). With nothing else running, step-budget mode ran FrozenLake
seeds (14 KiB of agent state and planning draws each) fastest in batches of about 1000: 1000 seeds
at 36.8 M planning updates/s in one batch against 30.2-33.3 in batches of 143 to 500, and 10000
seeds at 34.1 M/s in batches of 1000 against 27.6 in batches of 2500, 27.7 in one batch and 29.5
in batches of 145 (best of 5 calls each). An earlier budget of 2 MiB (batches of 143) had been
tuned on the same machine at load 4-6, where smaller batches won. The devices of one process share
it: with two host devices (one per core), 10000 seeds ran at 52.3 M/s in batches of 556 per
device (8 MiB each) against 45.3 in batches of 1000 (best of 4 calls)."""
STREAM_FROM = 256
"""Episode mode streams seeds through lanes from this many seeds (per device) on."""
STREAM_LANES = 128
"""Episode mode's most lanes: halved while fewer than ``SEEDS_PER_LANE`` seeds would pass
through each, and fewer when the cache holds fewer. On the development machine, 1000 FrozenLake
seeds x 30 episodes against step mode in one batch of 1000 (the 16 MiB budget, same run, one
device): 128 lanes looked at every 10 steps 0.68, 64 and 256 lanes 0.66 and 0.69, a look every 5
steps 0.70. On two host devices (500 seeds each, the median of 8 paired rounds): 64 lanes 0.88,
128 lanes 0.84, 256 lanes 0.76."""
SEEDS_PER_LANE = 7
"""Episode mode halves ``STREAM_LANES`` until at least this many seeds pass through each lane (a
lane's last seed runs in the tail: the fewer seeds a lane runs, the more of its steps are tail)."""
COMPACTION = 8
"""The compaction stage has ``B // COMPACTION`` lanes."""
SLOTS = 16
"""Episode mode harvests up to ``max(SLOTS, B // 4)`` finished lanes per look."""
CHECK_EVERY = 10
"""Episode mode looks at the lanes every ``check_every`` real steps: the largest divisor of the
run's ``chunk`` up to this."""

C = TypeVar("C")
R = TypeVar("R")
X = TypeVar("X")


class LanePlan(NamedTuple):
    """How a run's seeds pass through lanes (static: part of the compiled trainer's cache key)."""

    stages: tuple[int, ...]
    """Lanes of each stage, decreasing (``stream``); ``in_batches`` runs batches of
    ``stages[0]``."""
    check_every: int
    """Real steps between two looks at the lanes (``stream``)."""
    slots: int = SLOTS
    """The most finished lanes a look harvests and refills (``stream``); the others wait, their
    seeds done (inactive), for the next look."""

    @property
    def lanes(self) -> int:
        """``B``: the lanes of the first stage."""
        return self.stages[0]


def check_lanes(lanes: object) -> int | None:
    """``lanes`` as given to the trainers: ``None`` (chosen by ``plan_lanes``) or an int ``>= 2``.

    Raises:
        ValueError: anything else (one lane would be a batch of one, which XLA compiles to code
            whose float results may differ from the unbatched seed's).
    """
    if lanes is None:
        return None
    if isinstance(lanes, bool) or not isinstance(lanes, int | np.integer) or lanes < 2:
        raise ValueError(f"train: lanes must be None or an int >= 2, got {lanes!r}")
    return int(lanes)


def cache_lanes(bytes_per_lane: int, budget: int = CACHE_BYTES) -> int:
    """The lanes whose state fits the cache budget: ``max(2, budget // bytes_per_lane)``."""
    return max(2, budget // max(int(bytes_per_lane), 1))


def check_every_for(chunk: int) -> int:
    """The largest divisor of ``chunk`` up to ``CHECK_EVERY``: a seed then starts and stops on the
    same step as alone (``max_total_steps`` is checked every ``chunk`` steps of the seed)."""
    return max(d for d in range(1, min(CHECK_EVERY, chunk) + 1) if chunk % d == 0)


def plan_lanes(
    n_items: int,
    bytes_per_lane: int,
    *,
    episodes: bool,
    chunk: int,
    lanes: int | None = None,
    backend: str = "cpu",
    devices: int = 1,
) -> LanePlan | None:
    """The lanes for ``n_items`` seeds (on one device), or ``None``: all seeds at once, in lockstep.

    ``lanes`` given: ``B = lanes`` (``None`` when ``lanes >= n_items``). Otherwise on CPU step
    mode splits ``N`` into ``ceil(N / cache_lanes)`` equal batches when it exceeds the cache's
    lanes, and episode mode streams ``N >= STREAM_FROM`` seeds through
    ``B = min(cache_lanes, STREAM_LANES)`` lanes, ``STREAM_LANES`` halved (down to 16) while
    ``N < SEEDS_PER_LANE * B``; on other backends ``None``. Episode mode's
    stages are ``(B, B // COMPACTION)`` (``(B,)`` when that is below 2), its looks every
    ``check_every_for(chunk)`` steps, harvesting up to ``max(SLOTS, B // 4)`` lanes each.
    ``devices``: the devices of this process, which share the cache (each gets
    ``CACHE_BYTES // devices``).
    """
    fit = cache_lanes(bytes_per_lane, CACHE_BYTES // max(devices, 1))
    if lanes is not None:
        b = lanes
    elif backend != "cpu":
        return None
    elif not episodes:
        b = math.ceil(n_items / math.ceil(n_items / fit))
    elif n_items < STREAM_FROM:
        return None
    else:
        b = STREAM_LANES
        while b > 16 and n_items < SEEDS_PER_LANE * b:
            b //= 2
        b = min(fit, b)
    if b >= n_items:
        return None
    if not episodes:
        return LanePlan((b,), chunk)
    tail = b // COMPACTION
    stages = (b, tail) if tail >= 2 else (b,)
    return LanePlan(stages, check_every_for(chunk), max(SLOTS, b // 4))


# -- step-budget mode: consecutive batches --------------------------------------------------------


def in_batches(
    fn: Callable[[X, Int[Array, ""], Int[Array, ""]], R], inputs: X, n_items: int, batch: int
) -> R:
    """``fn`` over consecutive batches of ``batch`` items of ``inputs`` (leading axis
    ``n_items``), the results in one ``[n_items, ...]`` output.

    Batch ``j`` covers items ``[s_j, s_j + batch)`` with ``s_j = min(j * batch, n_items - batch)``:
    the last batch may overlap the one before it, whose items it computes again, identically.
    ``fn(items, s_j, new)`` gets the batch's first item index and the first of its lanes whose item
    no batch before it ran (``j * batch - s_j``: for progress reports). Traceable.
    """
    n_batches = -(-n_items // batch)

    def piece(j: Int[Array, ""]) -> tuple[Int[Array, ""], R]:
        first = jnp.minimum(j * batch, n_items - batch)
        items = jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, first, batch, 0), inputs)
        return first, fn(items, first, j * batch - first)

    shapes = jax.eval_shape(lambda: piece(jnp.zeros((), jnp.int32))[1])
    out = jax.tree.map(lambda s: jnp.zeros((n_items, *s.shape[1:]), s.dtype), shapes)

    def body(j: Int[Array, ""], acc: R) -> R:
        first, res = piece(j)
        return jax.tree.map(  # type: ignore[no-any-return]
            lambda o, r: jax.lax.dynamic_update_slice_in_dim(o, r, first, 0), acc, res
        )

    return jax.lax.fori_loop(0, n_batches, body, out)  # type: ignore[no-any-return]


# -- episode mode: streaming through lanes --------------------------------------------------------


class Progress(NamedTuple):
    """What ``stream`` reports: ``units(carry)`` gives each lane's ``(done, steps)`` so far (its
    current item's), ``report(done, steps)`` is called with the run's totals every ``every``
    looks at the lanes."""

    units: Callable[[Any], tuple[Int[Array, " L"], Int[Array, " L"]]]
    report: Callable[[Int[Array, ""], Int[Array, ""]], None]
    every: int


class _Loop(NamedTuple):
    carry: Any
    """The lanes' carries, lane axis first."""
    item: Int[Array, " L"]
    """Each lane's item, ``-1`` for an idle lane."""
    next_item: Int[Array, ""]
    out: Any
    """The results, ``[N, ...]``."""
    looks: Int[Array, ""]
    done: Int[Array, ""]
    """Progress units of the items harvested so far."""
    steps: Int[Array, ""]


def _first_true(mask: Bool[Array, " L"], size: int) -> Int[Array, " K"]:
    """The indices of the first ``size`` true entries of ``mask``, in order, padded with
    ``len(mask)`` (``jnp.nonzero(mask, size=size, fill_value=len(mask))``, in fewer ops)."""
    n = mask.shape[0]
    rank = jnp.cumsum(mask, dtype=jnp.int32) - 1
    slot = jnp.where(mask & (rank < size), rank, size)  # size: dropped
    return jnp.full((size,), n, jnp.int32).at[slot].set(jnp.arange(n, dtype=jnp.int32), mode="drop")


def _lane(tree: C, lane: Int[Array, ""]) -> C:
    return jax.tree.map(  # type: ignore[no-any-return]
        lambda x: jax.lax.dynamic_index_in_dim(x, lane, keepdims=False), tree
    )


def _put(tree: C, value: Any, index: Int[Array, ""]) -> C:
    return jax.tree.map(  # type: ignore[no-any-return]
        lambda x, v: jax.lax.dynamic_update_index_in_dim(x, v, index, 0), tree, value
    )


def stream(
    start: Callable[[Int[Array, ""]], C],
    advance: Callable[[C], C],
    finished: Callable[[C], Bool[Array, " L"]],
    harvest: Callable[[C], R],
    n_items: int,
    plan: LanePlan,
    progress: Progress | None = None,
) -> tuple[R, Int[Array, " K"]]:
    """Run ``n_items`` items through the lanes of ``plan``; return their results ``[N, ...]``
    (item ``i`` at index ``i``) and the looks at the lanes of each stage (``lane_steps`` replays
    them on the host).

    ``start(i)`` is item ``i``'s first carry (one lane); ``advance`` runs ``plan.check_every``
    steps of every lane (lane axis first); ``finished`` says which lanes' items are done (lane
    axis first); ``harvest`` turns one lane's carry into its item's result. A finished item must
    stay as it is under ``advance`` (its steps masked), for it may wait a look or more.

    Stage ``k`` runs ``plan.stages[k]`` lanes; lanes ``0 .. B - 1`` start items ``0 .. B - 1``.
    Each look at the lanes first takes the finished lanes, at most ``plan.slots`` of them, lowest
    lane first: their results are written, and in the first stage the next items start in them
    (a lane idles once none is left); then every lane advances. A stage ends when no item is left
    to start and at most ``plan.stages[k + 1]`` lanes are busy (the busy lanes move, in order,
    into the next stage's lanes) or, in the last stage, when no lane is busy. Traceable;
    ``n_items > plan.lanes >= 2``.
    """
    first = jnp.arange(plan.lanes, dtype=jnp.int32)
    carry = jax.vmap(start)(first)
    shapes = jax.eval_shape(harvest, _lane(carry, jnp.zeros((), jnp.int32)))
    out = jax.tree.map(lambda s: jnp.zeros((n_items, *s.shape), s.dtype), shapes)
    zero = jnp.zeros((), jnp.int32)
    loop = _Loop(carry, first, jnp.asarray(plan.lanes, jnp.int32), out, zero, zero, zero)
    slots = jnp.arange(plan.slots, dtype=jnp.int32)

    def take(lp: _Loop, refill: bool) -> _Loop:
        """Harvest up to ``plan.slots`` finished lanes, all at once; ``refill``: start the next
        items in them."""
        n_lanes = lp.item.shape[0]
        fin = finished(lp.carry) & (lp.item >= 0)
        lane = _first_true(fin, plan.slots)
        taken = lane < n_lanes
        read = jnp.minimum(lane, n_lanes - 1)
        rows = jax.tree.map(lambda x: x.at[read].get(mode="promise_in_bounds"), lp.carry)
        item = jnp.where(taken, lp.item[read], n_items)  # n_items: dropped
        out = jax.tree.map(
            lambda o, r: o.at[item].set(r, mode="drop"), lp.out, jax.vmap(harvest)(rows)
        )
        if progress is not None:
            done, steps = progress.units(rows)
            lp = lp._replace(
                done=lp.done + jnp.sum(jnp.where(taken, done, 0)),
                steps=lp.steps + jnp.sum(jnp.where(taken, steps, 0)),
            )
        write = jnp.where(taken, lane, n_lanes)  # n_lanes: dropped
        if not refill:
            return lp._replace(out=out, item=lp.item.at[write].set(-1, mode="drop"))
        new = lp.next_item + slots
        more = taken & (new < n_items)
        fresh = jax.vmap(start)(jnp.minimum(new, n_items - 1))
        # The write depends on the read (through a select that never picks it), so XLA reads the
        # finished lanes before it overwrites them in place, instead of copying every lane.
        never = lp.next_item < 0
        fresh = jax.tree.map(lambda f, r: jnp.where(never, r, f), fresh, rows)
        return lp._replace(
            carry=jax.tree.map(lambda c, f: c.at[write].set(f, mode="drop"), lp.carry, fresh),
            item=lp.item.at[write].set(jnp.where(more, new, -1), mode="drop"),
            next_item=lp.next_item + jnp.sum(more, dtype=jnp.int32),
            out=out,
        )

    looks = []
    for k, lanes in enumerate(plan.stages):
        if k:
            busy = loop.item >= 0
            order = jnp.minimum(_first_true(busy, lanes), busy.shape[0] - 1)
            loop = loop._replace(
                carry=jax.tree.map(lambda x, o=order: x[o], loop.carry),
                item=jnp.where(jnp.arange(lanes) < jnp.sum(busy), loop.item[order], -1),
                looks=zero,
            )
        after = plan.stages[k + 1] if k + 1 < len(plan.stages) else 0

        def cond(lp: _Loop, after: int = after) -> Bool[Array, ""]:
            busy = jnp.sum(lp.item >= 0)
            if not after:
                return busy > 0
            return (busy > 0) & ~((lp.next_item >= n_items) & (busy <= after))

        def body(lp: _Loop, refill: bool = k == 0) -> _Loop:
            lp = take(lp, refill)
            lp = lp._replace(carry=advance(lp.carry), looks=lp.looks + 1)
            if progress is not None:

                def report(lp: _Loop) -> None:
                    done, steps = progress.units(lp.carry)
                    busy = lp.item >= 0
                    progress.report(
                        lp.done + jnp.sum(jnp.where(busy, done, 0)),
                        lp.steps + jnp.sum(jnp.where(busy, steps, 0)),
                    )

                jax.lax.cond(lp.looks % progress.every == 0, report, lambda _: None, lp)
            return lp

        loop = jax.lax.while_loop(cond, body, loop)
        looks.append(loop.looks)
    if progress is not None:
        progress.report(loop.done, loop.steps)  # every item harvested: the run's totals
    return loop.out, jnp.stack(looks)


def lane_steps(steps: Any, plan: LanePlan | None, chunk: int) -> int:
    """The lane-steps a run takes, busy or idle, when seed ``i`` takes ``steps[i]`` real steps
    (``TrainResult.steps_done``), in episode mode: the schedule replayed on the host.

    ``plan=None`` (lockstep): ``N * chunk * max_i ceil(steps[i] / chunk)``, every seed stepping
    until the slowest is done. A ``stream``: each look at the lanes costs ``check_every`` steps of
    every lane of the stage, and a seed is done after ``ceil(steps / check_every)`` of them (then
    waits, at most ``slots`` harvested per look, lowest lane first).
    """
    counts = np.maximum(np.asarray(steps, np.int64).reshape(-1), 1)
    n = counts.shape[0]
    if plan is None:
        return int(n * chunk * np.max(-(-counts // chunk)))
    k = plan.check_every
    looks = -(-counts // k)
    left = looks[: plan.lanes].copy()  # looks left of each lane's seed: 0 done, -1 an idle lane
    nxt, total = plan.lanes, 0
    for i, lanes in enumerate(plan.stages):
        if i:
            kept = left[left >= 0]
            left = np.concatenate([kept, np.full(lanes - kept.shape[0], -1, np.int64)])
        after = plan.stages[i + 1] if i + 1 < len(plan.stages) else 0
        while True:
            busy = int(np.count_nonzero(left >= 0))
            if busy == 0 or (after and nxt >= n and busy <= after):
                break
            harvest = np.flatnonzero(left == 0)[: plan.slots]  # the look's harvest
            for lane in harvest:
                if i == 0 and nxt < n:
                    left[lane] = looks[nxt]
                    nxt += 1
                else:
                    left[lane] = -1
            running = left > 0
            # Until the next seed is done nothing changes but the steps: jump there (one look
            # after a harvest, which may end the stage).
            wait = harvest.size or (left == 0).any() or not running.any()
            jump = 1 if wait else int(np.min(left[running]))
            total += lanes * k * jump
            left[running] -= jump
    return total


__all__ = [
    "CACHE_BYTES",
    "CHECK_EVERY",
    "COMPACTION",
    "SEEDS_PER_LANE",
    "SLOTS",
    "STREAM_FROM",
    "STREAM_LANES",
    "LanePlan",
    "Progress",
    "cache_lanes",
    "check_every_for",
    "check_lanes",
    "in_batches",
    "lane_steps",
    "plan_lanes",
    "stream",
]
