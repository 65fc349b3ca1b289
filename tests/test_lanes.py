"""Lanes (dynaq_jax.lanes): seeds streamed through lanes, or run in consecutive batches, give each
seed the bits it gets alone, and the host replay of a stream's schedule counts its lane-steps.

- ``test_plan_lanes_rules``, ``test_lanes_argument_is_checked``: the lane plans ``train_seeds``
  picks (cache budget, episode-mode stream from ``STREAM_FROM`` seeds, GPU: all at once) and the
  errors for a bad ``lanes``; no compilation.
- ``test_stream_writes_every_item_and_the_replay_counts_its_steps``: a toy carry (a step count
  per item) through ``lanes.stream`` with refills, a compaction stage and (one harvest slot)
  finished lanes waiting their turn: every item's result lands in its slot, and ``lane_steps``
  replays the looks the loop made.
- ``test_streamed_sweep_equals_train_bit_for_bit``: ``train_sweep`` (2 configs x 8 keys on the
  slippery chain) streamed through 4 lanes with a 2-lane tail stage, some seeds stopped by
  ``max_total_steps``: every agent equals ``train(configs[c], keys[i])`` (final state, episode
  metrics, counts), and the progress reports end at the run's totals.
- ``test_step_mode_in_batches_equals_train_bit_for_bit``: step-budget mode in batches of 3 (the
  last overlapping the one before) equals ``train`` per key, step rewards included.

Compile budget: the streamed sweep (a 4-lane and a 2-lane body), the batched step-mode run, and
two unbatched ``train`` programs (episode mode with the step cap, step mode); the toy stream is a
few integer ops.
"""

import importlib
import itertools
import warnings
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynaq_jax as dq
from dynaq_jax import lanes
from tests.chain_env import chain, config, keys

train_module = importlib.import_module("dynaq_jax.train")  # dq.train is the function


def assert_same_bits(x: Any, y: Any) -> None:
    for a, b in zip(jax.tree.leaves(x), jax.tree.leaves(y), strict=True):
        a, b = np.asarray(a), np.asarray(b)
        assert a.dtype == b.dtype and a.shape == b.shape
        assert a.tobytes() == b.tobytes()


def test_plan_lanes_rules() -> None:
    per_lane = 14_000  # FrozenLake 4x4, n = 50: the agent state and the planning draws
    fit = lanes.cache_lanes(per_lane)
    assert fit == lanes.CACHE_BYTES // per_lane and lanes.cache_lanes(10**12) == 2

    def plan(n: int, episodes: bool, **kw: Any) -> lanes.LanePlan | None:
        return lanes.plan_lanes(n, per_lane, episodes=episodes, chunk=100, **kw)

    # Step-budget mode: one batch while it fits, else equal batches of at most ``fit``.
    assert plan(fit, False) is None
    big = plan(10_000, False)
    assert big is not None and big.stages == (big.lanes,)
    n_batches = -(-10_000 // big.lanes)
    assert big.lanes <= fit and 0 <= n_batches * big.lanes - 10_000 < n_batches
    # Two devices share the cache: each gets half of it.
    half = lanes.cache_lanes(per_lane, lanes.CACHE_BYTES // 2)
    assert plan(half, False, devices=2) is None and plan(half + 1, False) is None
    shared = plan(5_000, False, devices=2)
    assert shared is not None and shared.lanes <= half < big.lanes
    # Episode mode: lockstep below STREAM_FROM; above, STREAM_LANES lanes (halved while fewer
    # than SEEDS_PER_LANE seeds pass through each, fewer when the cache holds fewer), a tail stage
    # of B // COMPACTION lanes, looks every 10 steps (the largest divisor of the chunk, 100, up to
    # CHECK_EVERY), harvesting up to B // 4 lanes at a look.
    assert plan(lanes.STREAM_FROM - 1, True) is None
    assert plan(1000, True) == plan(100_000, True) == lanes.LanePlan((128, 16), 10, 32)
    assert plan(895, True) == plan(500, True) == lanes.LanePlan((64, 8), 10, 16)
    assert plan(lanes.STREAM_FROM, True) == lanes.LanePlan((32, 4), 10, 16)
    small_cache = lanes.plan_lanes(1000, lanes.CACHE_BYTES // 40, episodes=True, chunk=64)
    assert small_cache == lanes.LanePlan((40, 5), 8, lanes.SLOTS)
    # Given lanes win; as many lanes as seeds (or more) is lockstep; other backends: lockstep.
    assert plan(50, True, lanes=10) == lanes.LanePlan((10,), 10)
    assert plan(50, False, lanes=10) == lanes.LanePlan((10,), 100)
    assert plan(50, True, lanes=50) is None and plan(50, False, lanes=64) is None
    assert plan(10_000, True, backend="gpu") is None and plan(10_000, False, backend="gpu") is None
    assert [lanes.check_every_for(c) for c in (100, 64, 97, 3, 40)] == [10, 8, 1, 3, 10]


def test_lanes_argument_is_checked() -> None:
    assert lanes.check_lanes(None) is None and lanes.check_lanes(np.int64(3)) == 3
    for bad in (1, 0, -4, True, 2.5, "4"):
        with pytest.raises(ValueError, match=rf"lanes must be None or an int >= 2, got {bad!r}"):
            lanes.check_lanes(bad)
    with pytest.raises(ValueError, match="lanes must be None or an int >= 2, got 1"):
        dq.train_seeds(chain(), config(), keys(2), 2, lanes=1)


@pytest.mark.parametrize(
    ("stages", "check_every", "n_items", "slots"),
    [((4, 2), 3, 11, 8), ((5,), 2, 9, 8), ((6, 3), 1, 7, 8), ((4, 2), 2, 13, 1)],
)
def test_stream_writes_every_item_and_the_replay_counts_its_steps(
    stages: tuple[int, ...], check_every: int, n_items: int, slots: int
) -> None:
    rng = np.random.default_rng(len(stages) * 100 + n_items)
    length = jnp.asarray(rng.integers(1, 30, n_items), jnp.int32)
    plan = lanes.LanePlan(stages, check_every, slots)  # one slot: finished lanes wait their turn

    # A lane counts its item's steps up to the item's length, then idles.
    def start(i: jax.Array) -> tuple[jax.Array, jax.Array]:
        return i, jnp.zeros((), jnp.int32)

    def advance(c: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        item, t = c
        for _ in range(check_every):
            t = t + (t < length[item]).astype(jnp.int32)
        return item, t

    run = jax.jit(
        lambda: lanes.stream(
            start,
            advance,
            lambda c: c[1] >= length[c[0]],
            lambda c: {"item": c[0], "steps": c[1]},
            n_items,
            plan,
        )
    )
    out, looks = run()
    np.testing.assert_array_equal(out["item"], np.arange(n_items))
    np.testing.assert_array_equal(out["steps"], length)
    assert looks.shape == (len(stages),)
    ran = int(sum(int(k) * b * check_every for k, b in zip(looks, stages, strict=True)))
    assert lanes.lane_steps(length, plan, chunk=check_every) == ran
    # Lockstep: every lane until the slowest item is done, a chunk at a time.
    chunk = 4
    assert lanes.lane_steps(length, None, chunk) == n_items * chunk * -(-int(length.max()) // chunk)


def assert_monotone(reports: list[tuple[int, int]]) -> None:
    assert reports
    for (done, steps), (done_next, steps_next) in itertools.pairwise(reports):
        assert done <= done_next and steps <= steps_next


class RecordingBar:
    """Stands in for the progress bar: records every report."""

    reports: ClassVar[list[tuple[int, int]]] = []

    def __init__(self, total: int | None, unit: str) -> None:
        self.total = total

    def update(self, shard: Any, done: Any, steps: Any) -> None:
        RecordingBar.reports.append((int(done), int(steps)))

    def close(self) -> None:
        pass


def test_streamed_sweep_equals_train_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lanes, "COMPACTION", 2)  # 4 lanes, then a 2-lane tail stage
    monkeypatch.setattr(train_module, "ProgressBar", RecordingBar)
    RecordingBar.reports = []
    env, ks, cfg = chain(), keys(), config()
    configs = dq.DynaQConfig.stack([cfg, cfg.replace(learning_rate=0.5)])
    n_ep, cap = 20, 190  # a seed alone stops at 200: the first multiple of the chunk (40)
    with pytest.warns(RuntimeWarning, match="stopped at max_total_steps"):
        out = dq.train_sweep(env, configs, ks, n_ep, max_total_steps=cap, lanes=4, progress=True)
    done = np.asarray(out.episodes_done)
    assert (done < n_ep).any() and (done == n_ep).any()  # some seeds stopped by the cap
    assert int(np.max(out.steps_done)) == 200
    for c, config_c in enumerate([cfg, cfg.replace(learning_rate=0.5)]):
        for i in range(ks.shape[0]):
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                one = dq.train(env, config_c, ks[i], n_ep, max_total_steps=cap)
            assert len(caught) == int(done[c, i] < n_ep)  # the cap's warning, alone as in lanes
            assert_same_bits(jax.tree.map(lambda x, c=c, i=i: x[c, i], out), one)
    assert_monotone(RecordingBar.reports)
    assert RecordingBar.reports[-1] == (int(done.sum()), int(np.sum(out.steps_done)))


def test_step_mode_in_batches_equals_train_bit_for_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(train_module, "ProgressBar", RecordingBar)
    RecordingBar.reports = []
    env, ks, cfg = chain(), keys(), config()
    n_steps = 60
    out = dq.train_seeds(env, cfg, ks, n_steps=n_steps, lanes=3, progress=True)
    assert out.step_rewards is not None and out.step_rewards.shape == (8, n_steps)
    for i in range(ks.shape[0]):
        one = dq.train(env, cfg, ks[i], n_steps=n_steps)
        assert_same_bits(jax.tree.map(lambda x, i=i: x[i], out), one)
    assert_monotone(RecordingBar.reports)
    assert RecordingBar.reports[-1] == (8 * n_steps, 8 * n_steps)
