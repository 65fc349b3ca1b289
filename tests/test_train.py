"""The compiled training loop (``dynaq_jax.train``).

What each test guards:
- ``test_train_seeds_equals_single_runs``: ``train_seeds(keys)[i]`` is bit-identical to
  ``train(keys[i])`` (count, deterministic and Dyna-Q+ configs), in episode and step-budget mode.
- ``test_same_key_same_result``: reproducibility, bit for bit.
- ``test_sweep_equals_separate_configs``: a stacked sweep's row ``(c, i)`` equals
  ``train(configs[c], keys[i])``.
- ``test_sharding_matches_one_device``: the seed axis split over 4 host devices (subprocess with
  ``XLA_FLAGS=--xla_force_host_platform_device_count=4``) gives the same bits as one device,
  also when the number of seeds is not a multiple of the device count.
- ``test_episode_bookkeeping``: lengths never exceed the time limit, truncated episodes are not
  successes, success implies termination with reward, returns are consistent, the agent's
  real_steps equal the summed episode lengths, model size is non-decreasing and equals the final
  visited pairs.
- ``test_step_budget_mode``: exactly ``n_steps`` rewards are recorded, their sum equals the summed
  returns of completed episodes plus the unfinished one, and a changing maze switches on the
  global step (the blocking maze's old path stops paying off).
- ``test_learning_happens``: on the Dyna maze, n = 50 finds a short path within a few episodes
  while n = 0 is still long (Sutton & Barto Figure 8.2, qualitatively).
- ``test_bad_arguments``: clear errors for bad run lengths, envs and keys.
"""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynaq_jax as dq
from dynaq_jax.train import train, train_seeds, train_sweep

FROZEN = dq.from_gymnasium("FrozenLake-v1")
CONFIGS = {
    "count": dq.DynaQConfig(planning_steps=10),
    "deterministic": dq.DynaQConfig(planning_steps=10, model="deterministic"),
    "plus": dq.DynaQConfig(planning_steps=10, kappa=1e-3),
}


def assert_identical(x: object, y: object) -> None:
    for (path, a), b in zip(
        jax.tree_util.tree_leaves_with_path(x), jax.tree.leaves(y), strict=True
    ):
        a, b = np.asarray(a), np.asarray(b)
        assert a.shape == b.shape and a.tobytes() == b.tobytes(), jax.tree_util.keystr(path)


def row(tree: object, i: int) -> object:
    return jax.tree.map(lambda x: x[i], tree)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_train_seeds_equals_single_runs(name: str) -> None:
    config = CONFIGS[name]
    keys = jax.random.split(jax.random.key(7), 5)
    batch = train_seeds(FROZEN, config, keys, n_episodes=40)
    for i in (0, 4):
        assert_identical(row(batch, i), train(FROZEN, config, keys[i], n_episodes=40))
    steps = train_seeds(FROZEN, config, keys, n_steps=300)
    assert_identical(row(steps, 2), train(FROZEN, config, keys[2], n_steps=300))


def test_same_key_same_result() -> None:
    key = jax.random.key(3)
    # Sizes shared with the test above, so these calls reuse its compilation.
    first = train(FROZEN, CONFIGS["count"], key, n_episodes=40)
    assert_identical(first, train(FROZEN, CONFIGS["count"], key, n_episodes=40))
    other = train(FROZEN, CONFIGS["count"], jax.random.key(4), n_episodes=40)
    assert not np.array_equal(other.episodes.lengths, first.episodes.lengths)


def test_sweep_equals_separate_configs() -> None:
    configs = [
        dq.DynaQConfig(planning_steps=10, learning_rate=0.1),
        dq.DynaQConfig(planning_steps=10, learning_rate=0.5, epsilon=0.2, kappa=1e-3),
    ]
    keys = jax.random.split(jax.random.key(0), 3)
    sweep = train_sweep(FROZEN, dq.DynaQConfig.stack(configs), keys, n_episodes=40)
    assert sweep.episodes.returns.shape == (2, 3, 40)
    for c, config in enumerate(configs):
        for i in (0, 2):
            assert_identical(row(row(sweep, c), i), train(FROZEN, config, keys[i], n_episodes=40))


SHARD_SCRIPT = textwrap.dedent(
    """
    import jax, numpy as np
    import dynaq_jax as dq
    assert jax.local_device_count() == 4, jax.local_devices()
    env = dq.from_gymnasium("FrozenLake-v1")
    config = dq.DynaQConfig(planning_steps=10)
    # 22 seeds with lanes=2: each device streams its 6 seeds through 2 lanes.
    for n, lanes in ((8, None), (6, None), (22, 2)):
        keys = jax.random.split(jax.random.key(11), n)
        many = dq.train_seeds(env, config, keys, n_episodes=20, lanes=lanes)
        one = dq.train_seeds(env, config, keys, n_episodes=20, shard=False)
        for a, b in zip(jax.tree.leaves(many), jax.tree.leaves(one)):
            assert np.asarray(a).tobytes() == np.asarray(b).tobytes()
    print("SHARDING-OK")
    """
)


def test_sharding_matches_one_device() -> None:
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
    env["JAX_PLATFORMS"] = "cpu"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", SHARD_SCRIPT],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "SHARDING-OK" in out.stdout


def test_episode_bookkeeping() -> None:
    keys = jax.random.split(jax.random.key(5), 5)
    out = train_seeds(FROZEN, CONFIGS["count"], keys, n_episodes=40)
    ep = jax.tree.map(np.asarray, out.episodes)
    assert np.all(ep.lengths >= 1) and np.all(ep.lengths <= FROZEN.time_limit)
    truncated = ~ep.terminated
    assert np.all(ep.lengths[truncated] == FROZEN.time_limit)
    assert not np.any(ep.success & truncated)
    assert np.array_equal(ep.success, ep.terminated & (ep.returns > 0))
    np.testing.assert_array_equal(np.asarray(out.episodes_done), 40)
    np.testing.assert_array_equal(np.asarray(out.state.real_steps), ep.lengths.sum(axis=1))
    np.testing.assert_array_equal(np.asarray(out.steps_done), ep.lengths.sum(axis=1))
    assert np.all(np.diff(ep.model_size, axis=1) >= 0)
    np.testing.assert_array_equal(ep.model_size[:, -1], np.asarray(dq.model_size(out.state)))
    # A short time limit forces truncations, which bootstrap and are never successes.
    short = train(FROZEN, CONFIGS["count"], keys[0], 40, max_episode_steps=3)
    lengths, term = np.asarray(short.episodes.lengths), np.asarray(short.episodes.terminated)
    assert lengths.max() <= 3 and np.any(~term)
    assert not np.any(np.asarray(short.episodes.success)[~term])


def test_step_budget_mode() -> None:
    maze = dq.blocking_maze(switch_step=1000)
    config = dq.DynaQConfig(learning_rate=1.0, planning_steps=10)
    out = train(maze, config, jax.random.key(0), n_steps=2000)
    rewards = np.asarray(out.step_rewards)
    assert rewards.shape == (2000,)
    done = int(out.episodes_done)
    assert int(out.steps_done) == 2000
    np.testing.assert_allclose(rewards.sum(), np.asarray(out.episodes.returns)[:done].sum())
    # Each episode ends exactly at the goal (reward 1), so the step rewards mark episode ends.
    ends = np.flatnonzero(rewards > 0) + 1
    np.testing.assert_array_equal(np.diff(np.concatenate([[0], ends])), out.episodes.lengths[:done])
    # Before the switch the agent learns the path on the right; right after the switch (the gap
    # moves to the left) it takes longer to find the goal than just before (if it finds it at all
    # before the budget ends: plain Dyna-Q can stay stuck, Sutton & Barto's point for Dyna-Q+).
    before = np.diff(ends[ends <= 1000])[-3:].mean()
    after = ends[ends > 1000]
    first_after = (after[0] if after.size else 2000) - ends[ends <= 1000][-1]
    assert first_after > before


def test_learning_happens() -> None:
    maze = dq.dyna_maze()
    keys = jax.random.split(jax.random.key(1), 5)
    fast = train_seeds(maze, dq.DynaQConfig(planning_steps=50), keys, n_episodes=8)
    slow = train_seeds(maze, dq.DynaQConfig(planning_steps=0), keys, n_episodes=8)
    fast_len = np.asarray(fast.episodes.lengths)[:, 4:].mean()
    slow_len = np.asarray(slow.episodes.lengths)[:, 4:].mean()
    assert fast_len < 25, fast_len
    assert slow_len > 2 * fast_len, (slow_len, fast_len)


def test_bad_arguments() -> None:
    config = dq.DynaQConfig(planning_steps=1)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="give n_episodes"):
        train(FROZEN, config, key)
    with pytest.raises(ValueError, match="n_episodes must be a positive int, got 0"):
        train(FROZEN, config, key, n_episodes=0)
    with pytest.raises(ValueError, match="n_steps must be a positive int, got -5"):
        train(FROZEN, config, key, n_steps=-5)
    with pytest.raises(ValueError, match="max_episode_steps must be a positive int"):
        train(FROZEN, config, key, 5, max_episode_steps=0)
    with pytest.raises(TypeError, match="env must be a TabularMDP"):
        train("FrozenLake-v1", config, key, 5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="batch of PRNG keys"):
        train_seeds(FROZEN, config, jnp.zeros((3, 3), jnp.uint32), 5)
    stacked = dq.DynaQConfig.stack([config, config])
    with pytest.raises(ValueError, match="use train_sweep"):
        train_seeds(FROZEN, stacked, jax.random.split(key, 2), 5)
