"""Tests for dynaq_jax.plotting: each function writes a readable PNG and rejects bad shapes."""

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from dynaq_jax import plotting
from dynaq_jax.plotting.common import rolling_mean

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
FROZEN_LAKE_4X4 = ["SFFF", "FHFH", "FFFH", "HFFG"]
DYNA_MAZE = [".......#G", "..#....#.", "S.#....#.", "..#......", ".....#...", "........."]


def assert_png(path: Path) -> None:
    """A real, non-trivial PNG that matplotlib reads back."""
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 10_000
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 200
    # Not a blank canvas: several distinct colours (RGB packed into one integer per pixel).
    rgb = (np.asarray(image[..., :3]) * 255).round().astype(np.uint32)
    packed = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    assert len(np.unique(packed)) > 10


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


# --------------------------------------------------------------------------------------------------
# learning curves


def test_learning_curves_many_seeds(tmp_path: Path, rng: np.random.Generator) -> None:
    successes = rng.random((5, 120)) < np.linspace(0.0, 0.7, 120)
    returns = successes.astype(float)
    out = plotting.plot_learning_curves(returns, successes, tmp_path / "lc.png", window=20)
    assert out == tmp_path / "lc.png"
    assert_png(out)
    assert_png(plotting.plot_learning_curves(returns, successes, tmp_path / "sem.png", band="sem"))


def test_learning_curves_one_seed_and_short_runs(tmp_path: Path, rng: np.random.Generator) -> None:
    successes = rng.random(50) < 0.3
    assert_png(plotting.plot_learning_curves(successes * 1.0, successes, tmp_path / "a.png"))
    # Fewer episodes than the window: the window shrinks.
    few = successes[None, :8]
    assert_png(plotting.plot_learning_curves(few * 1.0, few, tmp_path / "b.png", window=20))


def test_learning_curves_creates_parent_folders(tmp_path: Path) -> None:
    out = plotting.plot_learning_curves(
        np.zeros((2, 30)), np.zeros((2, 30), bool), tmp_path / "x" / "y" / "lc.png"
    )
    assert_png(out)


def test_learning_curves_rejects_bad_inputs(tmp_path: Path) -> None:
    returns = np.zeros((3, 40))
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_learning_curves(returns, np.zeros((3, 39), bool), tmp_path / "x.png")
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_learning_curves(returns, np.zeros((2, 40), bool), tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"\[seeds, T\]"):
        plotting.plot_learning_curves(np.zeros((2, 3, 4)), np.zeros((2, 3, 4)), tmp_path / "x.png")
    with pytest.raises(ValueError, match="bool"):
        plotting.plot_learning_curves(returns, np.full((3, 40), 0.5), tmp_path / "x.png")
    with pytest.raises(ValueError, match="window"):
        plotting.plot_learning_curves(returns, returns > 0, tmp_path / "x.png", window=0)
    with pytest.raises(ValueError, match="finite"):
        bad = returns.copy()
        bad[0, 0] = np.nan
        plotting.plot_learning_curves(bad, returns > 0, tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()


def test_rolling_mean_matches_convolution(rng: np.random.Generator) -> None:
    data = rng.random((3, 50))
    expected = np.stack([np.convolve(row, np.ones(7) / 7, mode="valid") for row in data])
    np.testing.assert_allclose(rolling_mean(data, 7), expected)


# --------------------------------------------------------------------------------------------------
# policy map


def test_policy_map_frozen_lake_and_maze(tmp_path: Path, rng: np.random.Generator) -> None:
    out = plotting.plot_policy_map(
        FROZEN_LAKE_4X4,
        rng.integers(0, 4, 16),
        rng.random(16),
        tmp_path / "fl.png",
        action_arrows="frozen_lake",
    )
    assert_png(out)
    values = rng.random(54)
    values[7] = np.nan  # a wall's value is ignored anyway; NaN cells stay uncoloured
    assert_png(
        plotting.plot_policy_map(DYNA_MAZE, rng.integers(0, 4, 54), values, tmp_path / "m.png")
    )
    # Custom arrows, negative entries mean "no arrow", constant values.
    custom = {0: (1.0, 1.0), 1: (-1.0, -1.0)}
    policy = np.array([0, 1, -1] * 18)
    assert_png(
        plotting.plot_policy_map(
            DYNA_MAZE, policy, np.zeros(54), tmp_path / "c.png", action_arrows=custom
        )
    )


def test_arrow_presets_follow_the_action_conventions() -> None:
    down = (0.0, 1.0)  # dy > 0 is one row down
    assert plotting.ACTION_ARROWS["frozen_lake"] == {
        0: (-1.0, 0.0),
        1: down,
        2: (1.0, 0.0),
        3: (0.0, -1.0),
    }
    assert plotting.ACTION_ARROWS["maze"] == {
        0: (0.0, -1.0),
        1: down,
        2: (-1.0, 0.0),
        3: (1.0, 0.0),
    }


def test_policy_map_rejects_bad_inputs(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match=r"policy must have shape \(16,\)"):
        plotting.plot_policy_map(FROZEN_LAKE_4X4, np.zeros(15, int), np.zeros(16), path)
    with pytest.raises(ValueError, match=r"values must have shape \(16,\)"):
        plotting.plot_policy_map(FROZEN_LAKE_4X4, np.zeros(16, int), np.zeros((4, 4)), path)
    with pytest.raises(ValueError, match="must all have length"):
        plotting.plot_policy_map(["SFF", "FHFH"], np.zeros(7, int), np.zeros(7), path)
    with pytest.raises(ValueError, match="integer"):
        plotting.plot_policy_map(FROZEN_LAKE_4X4, np.zeros(16), np.zeros(16), path)
    with pytest.raises(ValueError, match="no arrow"):
        plotting.plot_policy_map(FROZEN_LAKE_4X4, np.full(16, 4), np.zeros(16), path)
    with pytest.raises(ValueError, match="unknown action_arrows"):
        plotting.plot_policy_map(
            FROZEN_LAKE_4X4, np.zeros(16, int), np.zeros(16), path, action_arrows="taxi"
        )
    with pytest.raises(ValueError, match="cannot tell"):
        plotting.plot_policy_map(["SG"], np.zeros(2, int), np.zeros(2), path)
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_policy_map([], np.zeros(0, int), np.zeros(0), path)
    assert not path.exists()


# --------------------------------------------------------------------------------------------------
# Sutton & Barto chapter 8


def test_steps_per_episode(tmp_path: Path, rng: np.random.Generator) -> None:
    episodes = np.arange(50)
    curves = {
        f"n={n}": 14 + 1500 * np.exp(-episodes / tau) + rng.gamma(2.0, 5.0, (10, 50))
        for n, tau in [(0, 6.0), (5, 1.5), (50, 0.5)]
    }
    assert_png(plotting.plot_steps_per_episode(curves, tmp_path / "a.png", optimal=14))
    assert_png(
        plotting.plot_steps_per_episode(
            curves, tmp_path / "b.png", optimal=14, log_y=True, start_episode=2, band="percentile"
        )
    )
    # One seed, given as a 1-D array; curves of different lengths.
    one = {"n=0": curves["n=0"][0], "n=5": curves["n=5"][:, :30]}
    assert_png(plotting.plot_steps_per_episode(one, tmp_path / "c.png"))


def test_steps_per_episode_rejects_bad_inputs(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_steps_per_episode({}, path)
    with pytest.raises(ValueError, match=r"curves\['n=0'\]"):
        plotting.plot_steps_per_episode({"n=0": np.zeros((2, 3, 4))}, path)
    with pytest.raises(ValueError, match="positive"):
        plotting.plot_steps_per_episode({"n=0": np.zeros((2, 5))}, path, log_y=True)
    with pytest.raises(ValueError, match="start_episode"):
        plotting.plot_steps_per_episode({"n=0": np.ones((2, 5))}, path, start_episode=6)
    with pytest.raises(ValueError, match="band"):
        plotting.plot_steps_per_episode({"n=0": np.ones((2, 5))}, path, band="iqr")  # type: ignore[arg-type]


def test_cumulative_reward(tmp_path: Path, rng: np.random.Generator) -> None:
    steps = 3000
    per_step = {
        "Dyna-Q": rng.random((8, steps)) < 0.05,
        "Dyna-Q+": rng.random((8, steps)) < 0.06,
    }
    cumulative = {k: np.cumsum(v, axis=1) for k, v in per_step.items()}
    assert_png(plotting.plot_cumulative_reward(cumulative, tmp_path / "a.png", change_step=1000))
    assert_png(
        plotting.plot_cumulative_reward(
            per_step, tmp_path / "b.png", change_step=1000, is_cumulative=False, band="percentile"
        )
    )
    assert_png(
        plotting.plot_cumulative_reward({"one": cumulative["Dyna-Q"][0]}, tmp_path / "c.png")
    )


def test_cumulative_reward_rejects_bad_inputs(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_cumulative_reward({}, path)
    with pytest.raises(ValueError, match="change_step"):
        plotting.plot_cumulative_reward({"a": np.zeros((2, 100))}, path, change_step=101)
    with pytest.raises(ValueError, match=r"\[seeds, T\]"):
        plotting.plot_cumulative_reward({"a": np.zeros(())}, path)


def test_updates_vs_states(tmp_path: Path) -> None:
    states = 47 * np.arange(1, 6) ** 2
    rows = {
        "Dyna-Q": (states, 300.0 * states**1.3, 50.0 * states),
        # unsorted input and a spread larger than the mean (clipped on the log axis)
        "prioritized sweeping": (states[::-1], 80.0 * states[::-1], 100.0 * states[::-1]),
    }
    assert_png(plotting.plot_updates_vs_states(rows, tmp_path / "a.png"))
    assert_png(plotting.plot_updates_vs_states(rows, tmp_path / "b.png", log_x=True))


def test_updates_vs_states_rejects_bad_inputs(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    states = np.array([47.0, 188.0, 423.0])
    with pytest.raises(ValueError, match="same shape"):
        plotting.plot_updates_vs_states({"a": (states, np.ones(2), np.ones(3))}, path)
    with pytest.raises(ValueError, match="> 0"):
        plotting.plot_updates_vs_states({"a": (states, np.zeros(3), np.ones(3))}, path)
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_updates_vs_states({}, path)


# --------------------------------------------------------------------------------------------------
# benchmark


def _scaling_rows() -> list[dict[str, float | str]]:
    rows: list[dict[str, float | str]] = []
    for seeds in (1, 10, 100):
        rows.append({"impl": "numpy", "seeds": seeds, "planning_updates_per_s": 2.0e5})
    for seeds in (1, 10, 100, 1000):
        for repeat in range(2):  # repeated measurements are reduced to their median
            rate = 3.6e6 * seeds**0.3 * (1 + 0.05 * repeat)
            rows.append({"impl": "jax", "seeds": seeds, "planning_updates_per_s": rate})
    return rows


def test_scaling(tmp_path: Path) -> None:
    rows = _scaling_rows()
    assert_png(plotting.plot_scaling(rows, tmp_path / "a.png"))
    assert_png(plotting.plot_scaling(rows, tmp_path / "b.png", reference=None))
    assert_png(plotting.plot_scaling(rows, tmp_path / "c.png", reference="jax"))


def test_scaling_rejects_bad_inputs(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    with pytest.raises(ValueError, match="reference 'numpy'"):
        plotting.plot_scaling([{"impl": "jax", "seeds": 1, "planning_updates_per_s": 1.0}], path)
    with pytest.raises(ValueError, match="lacks keys"):
        plotting.plot_scaling([{"impl": "numpy", "seeds": 1}], path)
    with pytest.raises(ValueError, match="positive"):
        plotting.plot_scaling([{"impl": "numpy", "seeds": 0, "planning_updates_per_s": 1.0}], path)
    with pytest.raises(ValueError, match="at least one"):
        plotting.plot_scaling([], path)


def test_no_pyplot_figures_leak(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    plotting.plot_learning_curves(np.zeros((2, 30)), np.zeros((2, 30), bool), tmp_path / "a.png")
    plotting.plot_policy_map(FROZEN_LAKE_4X4, np.zeros(16, int), np.zeros(16), tmp_path / "b.png")
    assert plt.get_fignums() == before
