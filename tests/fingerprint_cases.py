"""Reference configurations whose results must not change under refactors.

``python -m tests.fingerprint_cases > tests/fixtures/fingerprints.json`` records the SHA-256 of the
final Q tables, reward models and episode metrics of ``train_seeds`` for each configuration (count,
compact, deterministic, Dyna-Q+, expected with optimism, prioritized sweeping, a sweep, and the
eager agent functions); ``tests/test_fingerprints.py`` recomputes them and compares bit for bit.
"""

import hashlib
import json
import sys
from typing import Any

import jax
import numpy as np

import dynaq_jax as dq


def digest(x: Any) -> str:
    """SHA-256 (first 16 hex digits) of an array's bytes, dtype and shape."""
    a = np.ascontiguousarray(np.asarray(x))
    raw = a.tobytes() + str(a.dtype).encode() + str(a.shape).encode()
    return hashlib.sha256(raw).hexdigest()[:16]


def cases() -> dict[str, tuple[Any, dq.DynaQConfig, dict[str, int]]]:
    """name -> (env, config, run length) for every configuration fingerprinted."""
    lake = dq.from_gymnasium("FrozenLake-v1")
    maze = dq.dyna_maze()
    block = dq.blocking_maze()
    c = dq.DynaQConfig
    return {
        "count": (lake, c(planning_steps=10), {"n_episodes": 40}),
        "compact": (lake, c(planning_steps=10, outcome_slots=3), {"n_episodes": 40}),
        "deterministic": (maze, c(planning_steps=5, model="deterministic"), {"n_episodes": 10}),
        "dynaq_plus": (
            block,
            c(planning_steps=10, model="deterministic", kappa=1e-3, learning_rate=1.0),
            {"n_steps": 1200},
        ),
        "dynaq_plus_count": (block, c(planning_steps=10, kappa=1e-3), {"n_steps": 1200}),
        "expected_optimism": (
            lake,
            c(planning_steps=10, planner="expected", optimism=1.0),
            {"n_episodes": 40},
        ),
        "expected_compact": (
            lake,
            c(planning_steps=10, planner="expected", outcome_slots=3),
            {"n_episodes": 40},
        ),
        "sweeping": (
            maze,
            c(planning_steps=5, planner="sweeping", model="deterministic", learning_rate=0.5),
            {"n_episodes": 10},
        ),
        "sweeping_count": (lake, c(planning_steps=5, planner="sweeping"), {"n_episodes": 40}),
        "sweeping_compact_optimism": (
            lake,
            c(planning_steps=5, planner="sweeping", outcome_slots=3, optimism=0.5),
            {"n_episodes": 40},
        ),
    }


def fingerprints() -> dict[str, dict[str, str | None]]:
    """The digests of every case, a sweep and a short eager run of the agent functions."""
    keys = jax.random.split(jax.random.key(0), 4)
    out: dict[str, dict[str, str | None]] = {}
    for name, (env, config, length) in cases().items():
        r = dq.train_seeds(env, config, keys, **length)
        out[name] = {
            "q": digest(r.state.q),
            "r": digest(r.state.r),
            "visits": digest(r.state.visits),
            "lengths": digest(r.episodes.lengths),
            "returns": digest(r.episodes.returns),
            "model_size": digest(r.episodes.model_size),
            "steps": digest(r.steps_done),
            "step_rewards": None if r.step_rewards is None else digest(r.step_rewards),
        }
    lake = dq.from_gymnasium("FrozenLake-v1")
    stacked = dq.DynaQConfig.stack(
        [dq.DynaQConfig(planning_steps=10, learning_rate=a) for a in (0.1, 0.5)]
    )
    r = dq.train_sweep(lake, stacked, keys[:2], n_episodes=30)
    out["sweep"] = {"q": digest(r.state.q), "lengths": digest(r.episodes.lengths)}
    config = dq.DynaQConfig(planning_steps=5)
    state = dq.init(16, 4, config)
    key = jax.random.key(1)
    for i in range(30):
        key, k_act, k_step = jax.random.split(key, 3)
        a = dq.act(state, k_act, i % 16, config)
        r_i, s_next, done = 0.5 * (i % 3), (i * 7) % 16, i % 11 == 0
        state = dq.step(state, k_step, i % 16, int(a), r_i, s_next, done, config)
    out["eager_step"] = {"q": digest(state.q), "r": digest(state.r)}
    return out


if __name__ == "__main__":
    record = {"jax": jax.__version__, "fingerprints": fingerprints()}
    json.dump(record, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
