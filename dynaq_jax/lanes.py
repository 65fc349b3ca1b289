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
  ``STREAM_FROM`` seeds on, streams them through ``B = max(MIN_LANES, N // SEEDS_PER_LANE)``
  lanes (at most the cache's), so that about ``SEEDS_PER_LANE`` seeds pass through each lane and
  the tail is short, and the compaction stage has ``B // COMPACTION`` lanes;
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

CACHE_BYTES = 4 * 2**20
"""The cache budget the CPU lanes are sized for: 4 MiB. On the 2-core development machine
(512 KiB of L2 per core, a 32 MiB L3 shared with other machines) step-budget mode ran 1000
FrozenLake seeds about 1.5 times as fast in batches of 250 (3.6 MB of agent state and planning
draws) as in one batch of 1000."""
STREAM_FROM = 512
"""Episode mode streams seeds through lanes from this many seeds (per device) on."""
SEEDS_PER_LANE = 8
"""Episode mode: about this many seeds pass through each lane."""
MIN_LANES = 128
"""Episode mode: at least this many lanes (a smaller batch pays its per-step overhead more)."""
COMPACTION = 8
"""The compaction stage has ``B // COMPACTION`` lanes."""
CHECK_EVERY = 8
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
) -> LanePlan | None:
    """The lanes for ``n_items`` seeds (on one device), or ``None``: all seeds at once, in lockstep.

    ``lanes`` given: ``B = lanes`` (``None`` when ``lanes >= n_items``). Otherwise on CPU step
    mode splits ``N`` into ``ceil(N / cache_lanes)`` equal batches when it exceeds the cache's
    lanes, and episode mode streams ``N >= STREAM_FROM`` seeds through
    ``B = min(cache_lanes, max(MIN_LANES, N // SEEDS_PER_LANE))`` lanes; on other backends
    ``None``. Episode mode's stages are ``(B, B // COMPACTION)`` (``(B,)`` when that is below 2).
    """
    fit = cache_lanes(bytes_per_lane)
    if lanes is not None:
        b = lanes
    elif backend != "cpu":
        return None
    elif not episodes:
        b = math.ceil(n_items / math.ceil(n_items / fit))
    elif n_items < STREAM_FROM:
        return None
    else:
        b = min(fit, max(MIN_LANES, n_items // SEEDS_PER_LANE))
    if b >= n_items:
        return None
    if not episodes:
        return LanePlan((b,), chunk)
    tail = b // COMPACTION
    return LanePlan((b, tail) if tail >= 2 else (b,), check_every_for(chunk))


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
    axis first); ``harvest`` turns one lane's carry into its item's result. Stage ``k`` runs
    ``plan.stages[k]`` lanes: lanes ``0 .. B - 1`` start items ``0 .. B - 1``; after every
    ``advance`` each finished lane (in lane order) writes its result and starts the next item, or
    idles once none is left; the stage ends when no item is left to start and at most
    ``plan.stages[k + 1]`` lanes are busy (the busy lanes move, in order, into the next stage's
    lanes) or, in the last stage, when no lane is busy. Traceable; ``n_items > plan.lanes >= 2``.
    """
    first = jnp.arange(plan.lanes, dtype=jnp.int32)
    carry = jax.vmap(start)(first)
    shapes = jax.eval_shape(harvest, _lane(carry, jnp.zeros((), jnp.int32)))
    out = jax.tree.map(lambda s: jnp.zeros((n_items, *s.shape), s.dtype), shapes)
    zero = jnp.zeros((), jnp.int32)
    loop = _Loop(carry, first, jnp.asarray(plan.lanes, jnp.int32), out, zero, zero, zero)

    def take(lp: _Loop, fin: Bool[Array, " L"]) -> _Loop:
        """Write the finished lanes' results; start the next items in them."""
        if progress is not None:
            done, steps = progress.units(lp.carry)
            lp = lp._replace(
                done=lp.done + jnp.sum(jnp.where(fin, done, 0)),
                steps=lp.steps + jnp.sum(jnp.where(fin, steps, 0)),
            )
        lanes = jnp.nonzero(fin, size=fin.shape[0], fill_value=0)[0]

        def one(j: Int[Array, ""], lp: _Loop) -> _Loop:
            lane = lanes[j]
            mine = _lane(lp.carry, lane)
            out = _put(lp.out, harvest(mine), lp.item[lane])
            more = lp.next_item < n_items
            fresh = start(jnp.minimum(lp.next_item, n_items - 1))
            kept = jax.tree.map(lambda f, m: jnp.where(more, f, m), fresh, mine)
            return lp._replace(
                carry=_put(lp.carry, kept, lane),
                item=lp.item.at[lane].set(jnp.where(more, lp.next_item, -1)),
                next_item=lp.next_item + more.astype(jnp.int32),
                out=out,
            )

        out: _Loop = jax.lax.fori_loop(0, jnp.sum(fin, dtype=jnp.int32), one, lp)
        return out

    looks = []
    for k, lanes in enumerate(plan.stages):
        if k:
            busy = loop.item >= 0
            order = jnp.nonzero(busy, size=lanes, fill_value=0)[0]
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

        def body(lp: _Loop) -> _Loop:
            carry = advance(lp.carry)
            fin = finished(carry) & (lp.item >= 0)
            lp = take(lp._replace(carry=carry, looks=lp.looks + 1), fin)
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
    every lane of the stage, and a seed is seen done at the first look after its last step.
    """
    counts = np.maximum(np.asarray(steps, np.int64).reshape(-1), 1)
    n = counts.shape[0]
    if plan is None:
        return int(n * chunk * np.max(-(-counts // chunk)))
    k = plan.check_every
    looks = -(-counts // k)
    left = looks[: plan.lanes].copy()  # looks left of each lane's seed; -1: an idle lane
    nxt, total = plan.lanes, 0
    for i, lanes in enumerate(plan.stages):
        if i:
            kept = left[left > 0]
            left = np.concatenate([kept, np.full(lanes - kept.shape[0], -1, np.int64)])
        after = plan.stages[i + 1] if i + 1 < len(plan.stages) else 0
        while True:
            busy_lanes = left > 0
            busy = int(np.count_nonzero(busy_lanes))
            if busy == 0 or (after and nxt >= n and busy <= after):
                break
            # No seed finishes before the next of them does: jump there.
            jump = int(np.min(left[busy_lanes]))
            total += lanes * k * jump
            left[busy_lanes] -= jump
            for lane in np.flatnonzero(busy_lanes & (left == 0)):
                if nxt < n:
                    left[lane] = looks[nxt]
                    nxt += 1
                else:
                    left[lane] = -1
    return total


__all__ = [
    "CACHE_BYTES",
    "CHECK_EVERY",
    "COMPACTION",
    "MIN_LANES",
    "SEEDS_PER_LANE",
    "STREAM_FROM",
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
