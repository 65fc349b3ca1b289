"""Tests of the experiments (dynaq_jax.experiments: frozen_lake, dyna_maze, changing_maze, common,
output): protocols, read-outs, summaries and writers.

The summaries and writers are checked on hand-made results whose numbers are known, so these tests
compile no training loop: ``test_cli.py`` runs every experiment for real, end to end.
"""

import csv
import dataclasses
import json
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dynaq_jax
from dynaq_jax.envs import (
    blocking_maze,
    dyna_maze,
    greedy,
    grid_maze,
    optimal_success_probability,
    shortcut_maze,
    value_iteration,
)
from dynaq_jax.experiments import changing_maze, common, frozen_lake, output
from dynaq_jax.experiments import dyna_maze as dyna_maze_exp
from dynaq_jax.train import EpisodeMetrics, TrainResult


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def batch_state(n: int, n_states: int, n_actions: int, q: np.ndarray | None = None) -> Any:
    state = dynaq_jax.init(n_states, n_actions, dynaq_jax.DynaQConfig())
    state = jax.tree.map(lambda x: jnp.broadcast_to(x, (n, *x.shape)), state)
    return state if q is None else state._replace(q=jnp.asarray(q, jnp.float32))


TIMING = common.Timing(compile_s=1.5, run_s=2.0, real_steps=1000, planning_updates=50_000)


# -- protocols ------------------------------------------------------------------------------------


def test_published_protocols() -> None:
    fl = frozen_lake.FROZEN_LAKE
    assert (fl.map_name, fl.seeds, fl.episodes, fl.max_steps, fl.slippery) == (
        "4x4",
        100,
        300,
        100,
        True,
    )
    cfg = fl.config()
    assert (cfg.planning_steps, cfg.learning_rate, cfg.discount, cfg.epsilon) == (
        50,
        0.1,
        0.95,
        0.1,
    )
    assert cfg.kappa == 0.0
    mz = dyna_maze_exp.DYNA_MAZE
    assert (mz.runs, mz.episodes, mz.planning_steps, mz.model) == (
        30,
        50,
        (0, 5, 50),
        "deterministic",
    )
    assert mz.config(5).learning_rate == 0.1 and mz.config(5).planning_steps == 5
    bl, sc = changing_maze.BLOCKING_MAZE, changing_maze.SHORTCUT_MAZE
    assert (bl.steps, bl.switch_step, bl.planning_steps, bl.kappa) == (3000, 1000, 10, 1e-4)
    assert (sc.steps, sc.switch_step, sc.planning_steps, sc.kappa) == (6000, 3000, 50, 1e-3)
    for proto in (bl, sc):
        plain, plus = proto.configs()
        assert plain.kappa == 0.0 and plus.kappa == proto.kappa
        assert plain.learning_rate == plus.learning_rate == 1.0 and plain.discount == 0.95
    assert bl.env().switch_step == 1000 and sc.env().switch_step == 3000


@pytest.mark.parametrize(
    ("make", "needle"),
    [
        (lambda: frozen_lake.FrozenLakeProtocol(map_name="5x5"), "'5x5'"),
        (lambda: frozen_lake.FrozenLakeProtocol(seeds=-3), "-3"),
        (lambda: frozen_lake.FrozenLakeProtocol(seeds=True), "seeds"),
        (lambda: frozen_lake.FrozenLakeProtocol(learning_rate=0.0), "learning_rate"),
        (lambda: frozen_lake.FrozenLakeProtocol(model="tabular"), "'tabular'"),  # type: ignore[arg-type]
        (lambda: frozen_lake.FrozenLakeProtocol(epsilon=1.5), "epsilon"),
        (lambda: dyna_maze_exp.DynaMazeProtocol(planning_steps=()), "at least one"),
        (lambda: dyna_maze_exp.DynaMazeProtocol(planning_steps=(5, 5)), "repeated"),
        (lambda: dyna_maze_exp.DynaMazeProtocol(planning_steps=(-1,)), "-1"),
        (lambda: dataclasses.replace(changing_maze.BLOCKING_MAZE, switch_step=4000), "4000"),
        (lambda: dataclasses.replace(changing_maze.BLOCKING_MAZE, kappa=0.0), "kappa"),
        (lambda: dataclasses.replace(changing_maze.BLOCKING_MAZE, maze="spiral"), "'spiral'"),
    ],
)
def test_protocols_reject_bad_values(make: Any, needle: str) -> None:
    with pytest.raises(ValueError, match="Protocol") as info:
        make()
    assert needle in str(info.value)


# -- read-outs ------------------------------------------------------------------------------------


def test_spread() -> None:
    s = common.spread(np.array([1.0, 2.0, 3.0, 4.0]))
    assert s["mean"] == 2.5 and s["min"] == 1.0 and s["max"] == 4.0 and s["median"] == 2.5
    assert s["sd"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert s["se"] == pytest.approx(s["sd"] / 2)
    one = common.spread(np.array([7]))
    assert one["sd"] == one["se"] == 0.0 and one["mean"] == 7.0


def test_shortest_paths() -> None:
    assert common.shortest_path_length(dyna_maze()) == 14
    assert common.shortest_path_length(dyna_maze(scale=2)) == 28
    blocking, shortcut = blocking_maze(), shortcut_maze()
    assert common.shortest_path_length(blocking.before) == 10  # through the gap on the right
    assert common.shortest_path_length(blocking.after) == 16
    assert common.shortest_path_length(shortcut.before) == 16
    assert common.shortest_path_length(shortcut.after) == 10
    assert common.shortest_path_length(frozen_lake.frozen_lake_env()) == 6
    with pytest.raises(ValueError, match="no rewarded terminal"):
        common.shortest_path_length(grid_maze(["S#G"]))


def test_greedy_path_lengths() -> None:
    maze = dyna_maze()
    q_star = np.asarray(value_iteration(maze, 0.95))
    q = np.stack([q_star, np.zeros_like(q_star)])
    # Q*: the 14-step path; Q = 0: "up" everywhere (ties to the lowest action) is stuck at (0, 0)
    assert common.greedy_path_lengths(maze, q).tolist() == [14, -1]
    summary = common.greedy_path_summary(np.array([14, 16, -1, 14]), 14)
    assert summary["reaches_goal_fraction"] == 0.75 and summary["optimal_fraction"] == 0.5
    assert summary["length"]["mean"] == pytest.approx(44 / 3)
    assert common.greedy_path_summary(np.array([-1]), 14)["length"] is None
    with pytest.raises(ValueError, match="not a deterministic"):
        common.greedy_path_lengths(frozen_lake.frozen_lake_env(), np.zeros((1, 16, 4)))


def test_drawn_policy() -> None:
    q = np.array([[0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0], [0.5, 0.0, 0.0, 0.0]])
    # all tied: no arrow; otherwise the greedy action, ties to the lowest
    assert common.drawn_policy(q).tolist() == [-1, 1, 0]


def test_success_probabilities_match_the_oracle() -> None:
    env = frozen_lake.frozen_lake_env()
    pi, v = common.optimal_policy(env)
    assert pi.shape == (16,) and v.shape == (16,)
    probs = common.success_probabilities(env, np.stack([pi, np.zeros_like(pi)]), 100)
    assert probs[0] == pytest.approx(float(optimal_success_probability(env)), abs=1e-6)
    assert probs[0] == pytest.approx(0.74, abs=0.01)
    assert 0.0 <= probs[1] < probs[0]
    with pytest.raises(ValueError, match="shape"):
        common.success_probabilities(env, pi, 100)
    with pytest.raises(ValueError, match="actions"):
        common.success_probabilities(env, np.full((1, 16), 4), 100)


def test_horizon_optimal_success() -> None:
    lake = frozen_lake.frozen_lake_env()
    best = common.horizon_optimal_success(lake, 100)
    assert best == pytest.approx(0.744, abs=0.001)
    assert best >= float(optimal_success_probability(lake)) - 1e-6
    assert common.horizon_optimal_success(lake, 0) == 0.0
    assert common.horizon_optimal_success(lake, 5) == 0.0  # the goal is 6 steps away
    maze = dyna_maze()
    assert common.horizon_optimal_success(maze, 13) == 0.0
    assert common.horizon_optimal_success(maze, 14) == 1.0
    with pytest.raises(ValueError, match="horizon"):
        common.horizon_optimal_success(maze, -1)


def test_timing() -> None:
    assert TIMING.real_steps_per_s == 500.0 and TIMING.planning_updates_per_s == 25_000.0
    total = TIMING + TIMING
    assert total.real_steps == 2000 and total.compile_s == 3.0
    d = TIMING.to_dict()
    assert {"compile_s", "run_s", "real_steps_per_s", "planning_updates_per_s", "devices"} <= set(d)
    assert np.isnan(common.Timing(0.0, 0.0, 0, 0).real_steps_per_s)
    # the stopwatch sees JAX compile itself, and counts it apart from the run
    with common.Stopwatch() as watch:
        jax.jit(lambda x: jnp.sin(x) * 3.0 + 0.123)(jnp.arange(7.0)).block_until_ready()
    t = watch.timing(real_steps=10, planning_updates=0)
    assert 0.0 < t.compile_s <= watch.total_s
    assert t.compile_s + t.run_s == pytest.approx(watch.total_s)


# -- FrozenLake summary and writer on a hand-made result -------------------------------------------


def frozen_lake_result(n_seeds: int = 3, n_episodes: int = 120) -> frozen_lake.FrozenLakeResult:
    protocol = frozen_lake.FrozenLakeProtocol(seeds=n_seeds, episodes=n_episodes)
    env = frozen_lake.frozen_lake_env(protocol)
    rng = np.random.default_rng(0)
    success = rng.random((n_seeds, n_episodes)) < np.linspace(0.0, 0.5, n_episodes)
    lengths = rng.integers(1, 101, (n_seeds, n_episodes)).astype(np.int32)
    episodes = EpisodeMetrics(
        returns=jnp.asarray(success, jnp.float32),
        lengths=jnp.asarray(lengths),
        success=jnp.asarray(success),
        terminated=jnp.asarray(success | (lengths < 100)),
        model_size=jnp.asarray(
            np.minimum(np.arange(1, n_episodes + 1), 44)[None].repeat(n_seeds, 0)
        ),
    )
    pi, v = common.optimal_policy(env)
    q = np.zeros((n_seeds, 16, 4), np.float32)
    q[0, np.arange(16), pi] = 1.0  # seed 0 acts optimally, the others go left everywhere
    train = TrainResult(
        state=batch_state(n_seeds, 16, 4, q),
        episodes=episodes,
        episodes_done=jnp.full((n_seeds,), n_episodes),
        steps_done=jnp.asarray(lengths.sum(1)),
        step_rewards=None,
    )
    greedy_p = common.success_probabilities(env, np.asarray(greedy(jnp.asarray(q))), 100)
    return frozen_lake.FrozenLakeResult(
        protocol=protocol,
        env=env,
        train=train,
        success_last=success[:, -100:].mean(1),
        greedy_success=greedy_p,
        optimal_success=float(greedy_p[0]),
        best_success=0.744,
        optimal_policy=pi,
        optimal_values=v,
        model_size=np.full(n_seeds, 44),
        policy_seed=common.median_index(greedy_p),
        timing=TIMING,
    )


def test_frozen_lake_summary() -> None:
    result = frozen_lake_result()
    s = frozen_lake.summarize_frozen_lake(result)
    returns = np.asarray(result.train.episodes.returns)
    assert [c["episode"] for c in s["notebook_checkpoints"]] == [50, 100]
    assert s["notebook_checkpoints"][1]["avg_reward_last_50"] == pytest.approx(
        returns[:, 50:100].mean()
    )
    assert s["notebook_checkpoints"][0]["model_size"] == 44.0
    assert s["success_window"] == 100
    assert s["success_rate_last_episodes"]["mean"] == pytest.approx(result.success_last.mean())
    g = s["greedy_success_probability"]
    assert g["max"] == pytest.approx(s["optimal_success_probability"]) and g["min"] == 0.0
    assert s["policy_map_seed"]["index"] in (1, 2)  # the median of [0.74, 0, 0] is 0
    assert s["memory_per_seed_bytes"] > 4 * 16 * 4 * 16
    assert s["timing"]["real_steps_per_s"] == 500.0
    json.dumps(output.jsonable(s), allow_nan=False)
    text = frozen_lake.format_frozen_lake(s)
    assert "success rate, last 100 episodes" in text and "model size (of 64 pairs)" in text
    assert f"{s['optimal_success_probability']:.3f}" in text and "compile 1.5 s" in text
    assert s["best_success_probability_within_limit"] == 0.744 and "0.744" in text


def test_write_frozen_lake(tmp_path: Path) -> None:
    result = frozen_lake_result(n_episodes=60)
    files = frozen_lake.write_frozen_lake(
        result, tmp_path / "a" / "b", command="dynaq-jax frozen-lake"
    )
    folder = tmp_path / "a" / "b"
    assert {f.name for f in files} == {
        "metrics.npz",
        "agents.npz",
        "episodes.csv",
        "seeds.csv",
        "learning_curves.png",
        "policy.png",
        "policy_optimal.png",
        "summary.json",
    }
    assert all(f.is_file() and f.parent == folder for f in files)
    s = json.loads((folder / "summary.json").read_text())
    assert s["command"] == "dynaq-jax frozen-lake" and len(s["files"]) == 8
    rows = read_csv(folder / "episodes.csv")
    assert len(rows) == 3 * 60 and rows[61]["seed"] == "1" and rows[61]["episode"] == "2"
    seeds = read_csv(folder / "seeds.csv")
    assert [float(r["greedy_success"]) for r in seeds] == pytest.approx(result.greedy_success)
    with np.load(folder / "metrics.npz") as m:
        assert np.array_equal(m["success"], np.asarray(result.train.episodes.success))
        assert float(m["optimal_success"]) == result.optimal_success
    loaded = dynaq_jax.load(folder / "agents.npz")
    assert np.array_equal(loaded.state.q, np.asarray(result.train.state.q))
    with pytest.raises(ValueError, match="not a folder"):
        frozen_lake.write_frozen_lake(result, folder / "summary.json")
    assert all(output.is_output_file(f.name) for f in files)


def test_writer_in_place_drops_the_old_summary_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Called directly (not through the command line's swapped folder), a writer writes in place:
    it removes an earlier ``summary.json`` before anything else and writes its own last, so a
    folder it did not finish has no summary."""
    folder = tmp_path / "fl"
    folder.mkdir()
    (folder / "summary.json").write_text('{"seeds": 4}\n')

    def fails(*args: Any, **kwargs: Any) -> Path:
        assert not (folder / "summary.json").exists()
        raise OSError("disk full")

    monkeypatch.setattr(frozen_lake, "write_csv", fails)
    with pytest.raises(OSError, match="disk full"):
        frozen_lake.write_frozen_lake(frozen_lake_result(n_episodes=5), folder)
    assert (folder / "metrics.npz").is_file() and not (folder / "summary.json").exists()


# -- Figure 8.2 summary and writer ----------------------------------------------------------------


def test_dyna_maze_summary_and_writer(tmp_path: Path) -> None:
    protocol = dyna_maze_exp.DynaMazeProtocol(runs=2, episodes=4, planning_steps=(0, 50))
    env = dyna_maze()
    lengths = np.array(
        [[[500, 300, 100, 30], [700, 100, 50, 20]], [[500, 16, 14, 15], [700, 20, 16, 14]]]
    )
    q_star = np.asarray(value_iteration(env, 0.95))
    trains = tuple(
        TrainResult(
            state=batch_state(2, 54, 4, np.stack([q_star, q_star])),
            episodes=EpisodeMetrics(*(jnp.zeros((2, 4)),) * 5),
            episodes_done=jnp.full((2,), 4),
            steps_done=jnp.asarray(lengths[k].sum(1)),
            step_rewards=None,
        )
        for k in range(2)
    )
    result = dyna_maze_exp.DynaMazeResult(
        protocol=protocol,
        env=env,
        lengths=lengths,
        trains=trains,
        shortest_path=14,
        greedy_path=np.array([[14, -1], [14, 16]]),
        timing=TIMING,
    )
    s = dyna_maze_exp.summarize_dyna_maze(result)
    n0, n50 = s["agents"]
    assert n0["steps_at_episode"] == {"1": 600.0, "2": 200.0, "3": 75.0}
    assert n0["first_episode_near_optimal"] is None  # 25 > 21 at the last episode
    assert n50["first_episode_near_optimal"] == 2  # mean 18 <= 1.5 * 14
    assert n0["greedy_path"]["reaches_goal_fraction"] == 0.5
    assert n50["greedy_path"]["optimal_fraction"] == 0.5
    assert n50["real_steps"] == int(lengths[1].sum())
    text = dyna_maze_exp.format_dyna_maze(s)
    assert "never" in text and "ep 2" in text and "50% (15.0)" in text
    files = dyna_maze_exp.write_dyna_maze(result, tmp_path)
    assert {f.name for f in files} == {
        "metrics.npz",
        "steps_per_episode.csv",
        "steps_per_episode.png",
        "policy.png",
        "summary.json",
    }
    rows = read_csv(tmp_path / "steps_per_episode.csv")
    assert len(rows) == 2 * 2 * 4
    assert rows[-1] == {"planning_steps": "50", "run": "1", "episode": "4", "steps": "14"}


# -- Figures 8.4 and 8.5 --------------------------------------------------------------------------


def test_changing_maze_summary_and_writer(tmp_path: Path) -> None:
    protocol = dataclasses.replace(changing_maze.BLOCKING_MAZE, runs=2, steps=100, switch_step=40)
    rewards = np.zeros((2, 2, 100), np.float32)
    rewards[0, :, 9::10] = 1.0  # Dyna-Q: every 10th step -> 4 by the switch, 10 at the end
    rewards[1, 0, 4::5] = 1.0  # Dyna-Q+ run 0: every 5th -> 8 and 20
    result = changing_maze.ChangingMazeResult(
        protocol=protocol,
        env=protocol.env(),
        train=TrainResult(
            state=jax.tree.map(lambda x: x.reshape(2, 2, *x.shape[1:]), batch_state(4, 54, 4)),
            episodes=EpisodeMetrics(*(jnp.zeros((2, 2, 1)),) * 5),
            episodes_done=jnp.zeros((2, 2), jnp.int32),
            steps_done=jnp.full((2, 2), 100),
            step_rewards=jnp.asarray(rewards),
        ),
        step_rewards=rewards,
        shortest_path=16,
        greedy_path=np.array([[16, -1], [18, 16]]),
        timing=TIMING,
    )
    assert result.final_env is result.env.after
    unchanged = dataclasses.replace(protocol, switch_step=100)  # the walls would move after the end
    assert dataclasses.replace(result, protocol=unchanged, env=unchanged.env()).final_env.name == (
        "BlockingMaze-before"
    )
    s = changing_maze.summarize_changing_maze(result)
    plain, plus = s["agents"]
    assert plain["cumulative_reward_at_switch"]["mean"] == 4.0
    assert plain["cumulative_reward_at_end"]["mean"] == 10.0
    assert plain["reward_after_switch"]["mean"] == 6.0
    assert plus["cumulative_reward_at_end"]["mean"] == 10.0  # runs: 20 and 0
    assert s["plus_ahead_at_end_fraction"] == 0.5
    assert s["plus_ahead_from_step"] is None  # the means end level (10 and 10)
    faster = rewards.copy()
    faster[1, 1, 2::4] = 1.0  # Dyna-Q+ run 1: steps 3, 7, 11, ...: its mean leads from step 3
    s_faster = changing_maze.summarize_changing_maze(
        dataclasses.replace(result, step_rewards=faster)
    )
    assert s_faster["plus_ahead_from_step"] == 3
    assert "stays ahead from step 3" in changing_maze.format_changing_maze(s_faster)
    assert plus["greedy_path"]["optimal_fraction"] == 0.5
    text = changing_maze.format_changing_maze(s)
    assert "Figure 8.4" in text and "Dyna-Q+ ahead in 50% of runs" in text
    assert "stays ahead" not in text
    files = changing_maze.write_changing_maze(result, tmp_path)
    assert {f.name for f in files} == {
        "metrics.npz",
        "cumulative_reward.csv",
        "cumulative_reward.png",
        "policy_dyna_q.png",
        "policy_dyna_q_plus.png",
        "summary.json",
    }
    rows = read_csv(tmp_path / "cumulative_reward.csv")
    assert len(rows) == 100
    assert float(rows[39]["dyna_q_mean"]) == 4.0 and float(rows[-1]["dyna_q_plus_mean"]) == 10.0
