"""The cost of one real step as the state space grows: the scaling benchmark.

One real step is what the agent does for each transition: ``act``, the env's step,
``agent.step_counted`` (the model update and ``n = 5`` planning updates: Dyna-Q's samples or
prioritized sweeping's pops), and a reset to the start cell on termination. The benchmark runs
``steps`` real steps for ``seeds`` agents (``vmap``) in one compiled loop on Dyna mazes from 54
to 6,912 cells (``SCALING_MAZES``: the Dyna maze with every cell a ``kr x kc`` block, the largest
with 6,016 free cells), for each planner and model kind: the deterministic model, the compact
count model with ``outcome_slots = distinct_outcomes(env)`` (1 here: picked from the env's tables,
as a trainer that knows them can) and the dense counts (``8 S^2 A`` bytes per agent: only up to
``DENSE_MAX_CELLS``). The book's parameters otherwise (Example 8.4: alpha 0.5, gamma 0.95,
epsilon 0.1, theta 1e-4).

The figure is the CPU time of the process per real step and agent, the least of ``repeats`` timed
calls after the compiling one, with the process pinned to one core (``pin_to_one_core``). Pinning
matters for more than noise: when a fused operation reads an array of more than 512 KB (the
tables of 8 agents at about 4,000 cells), XLA:CPU splits it over the thread pool, and for the
few elements a step touches the hand-off costs several microseconds per operation. With one core
the compiler plans no such split, as with ``taskset -c 0``.
"""

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Int

from dynaq_jax.agent import act, init, step_counted
from dynaq_jax.checks import typed_jit
from dynaq_jax.config import DynaQConfig
from dynaq_jax.envs import TabularMDP, distinct_outcomes
from dynaq_jax.envs import step as env_step
from dynaq_jax.experiments.example84 import book_maze_rc, free_cells
from dynaq_jax.plotting.common import new_figure, save_png
from dynaq_jax.rng import split_key
from dynaq_jax.state import DynaQState
from dynaq_jax.types import Key

SCALING_MAZES = ((1, 1), (2, 2), (3, 3), (6, 6), (8, 16))
"""``(kr, kc)`` of the benchmark's mazes: 54, 216, 486, 1,944 and 6,912 cells."""
MODEL_KINDS: dict[str, dict[str, Any]] = {
    "deterministic": {"model": "deterministic"},
    "compact": {"model": "count"},  # outcome_slots = distinct_outcomes(env)
    "dense": {"model": "count", "outcome_slots": 0},
}
"""The model kinds timed: the deterministic model, the compact counts, the dense counts."""
DENSE_MAX_CELLS = 500
"""The largest maze the dense counts are timed on (``8 S^2 A`` bytes per agent: 7.6 MB at 486
cells, 121 MB at 1,944)."""
PLANNERS = {"sample": "Dyna-Q", "sweeping": "prioritized sweeping"}


def pin_to_one_core(core: int | None = None) -> int | None:
    """Pin every thread of this process to one core (``core``, by default the lowest it may
    use) and return it; ``None`` where the platform cannot (no ``sched_setaffinity``). XLA then
    compiles without splitting operations over threads (module docstring)."""
    if not hasattr(os, "sched_setaffinity"):
        return None
    if core is None:
        core = min(os.sched_getaffinity(0))
    for tid in os.listdir("/proc/self/task") if os.path.isdir("/proc/self/task") else ["0"]:
        try:
            os.sched_setaffinity(int(tid), {core})
        except OSError:  # a thread that ended meanwhile
            pass
    return core


def bench_config(env: TabularMDP, planner: str, model: str) -> DynaQConfig:
    """Example 8.4's agent with ``planner`` and the model kind ``model`` (``MODEL_KINDS``)."""
    kw = dict(MODEL_KINDS[model])
    if model == "compact":
        kw["outcome_slots"] = distinct_outcomes(env)
    return DynaQConfig(
        learning_rate=0.5,
        discount=0.95,
        epsilon=0.1,
        planning_steps=5,
        theta=1e-4,
        planner=planner,
        **kw,
    )


@typed_jit
def _run(
    env: TabularMDP, config: DynaQConfig, keys: Key, start: Int[Array, ""], steps: Int[Array, ""]
) -> DynaQState:
    def one(c: tuple[DynaQState, Key, Int[Array, ""]]) -> tuple[DynaQState, Key, Int[Array, ""]]:
        agent, key, s = c
        key, k_act, k_env, k_plan = split_key(key, 4)
        a = act(agent, k_act, s, config)
        s_next, r, term = env_step(env, k_env, s, a)
        agent, _ = step_counted(agent, k_plan, s, a, r, s_next, term, config)
        return agent, key, jnp.where(term, start, s_next)

    agents = jax.vmap(lambda _: init(env.n_states, env.n_actions, config))(keys)
    c = (agents, keys, jnp.full(keys.shape, start, jnp.int32))
    out: tuple[DynaQState, Key, Int[Array, " B"]] = jax.lax.fori_loop(
        0, steps, lambda _, c: jax.vmap(one)(c), c
    )
    return out[0]


def step_cost(
    env: TabularMDP, config: DynaQConfig, seeds: int, steps: int, repeats: int
) -> dict[str, float]:
    """Microseconds of process CPU time (and of wall time) per real step and agent: the least
    of ``repeats`` calls of ``steps`` real steps for ``seeds`` agents, after one compiling call
    (its seconds in ``compile_s``)."""
    keys = jax.random.split(jax.random.key(0), seeds)
    start = jnp.asarray(int(np.argmax(np.asarray(env.initial))), jnp.int32)
    n = jnp.asarray(steps, jnp.int32)
    t0 = time.perf_counter()
    _run(env, config, keys, start, n).q.block_until_ready()
    compile_s = time.perf_counter() - t0
    cpu, wall = [], []
    for _ in range(repeats):
        c0, w0 = time.process_time(), time.perf_counter()
        _run(env, config, keys, start, n).q.block_until_ready()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    per = 1e6 / (steps * seeds)
    return {"us_cpu": min(cpu) * per, "us_wall": min(wall) * per, "compile_s": compile_s}


def scaling_table(
    mazes: Sequence[tuple[int, int]] = SCALING_MAZES,
    planners: Sequence[str] = tuple(PLANNERS),
    models: Sequence[str] = tuple(MODEL_KINDS),
    *,
    seeds: int = 8,
    steps: int = 2000,
    repeats: int = 5,
) -> list[dict[str, Any]]:
    """``step_cost`` of every planner and model kind on every maze (the dense counts only up to
    ``DENSE_MAX_CELLS``); one row each, printed as it is measured."""
    rows: list[dict[str, Any]] = []
    for kr, kc in mazes:
        env = book_maze_rc(kr, kc)
        for model in models:
            if model == "dense" and env.n_states > DENSE_MAX_CELLS:
                continue
            for planner in planners:
                cost = step_cost(env, bench_config(env, planner, model), seeds, steps, repeats)
                rows.append(
                    {
                        "maze": f"{kr}x{kc}",
                        "cells": env.n_states,
                        "free_cells": free_cells(env),
                        "planner": planner,
                        "model": model,
                        "seeds": seeds,
                        "steps": steps,
                        **cost,
                    }
                )
                print(
                    f"{env.n_states} cells {PLANNERS[planner]}, {model}: "
                    f"{cost['us_cpu']:.2f} us per real step and agent "
                    f"(wall {cost['us_wall']:.2f}, compile {cost['compile_s']:.1f} s)",
                    flush=True,
                )
    return rows


def _costs(rows: Sequence[dict[str, Any]], planner: str, model: str) -> dict[int, float]:
    """``cells -> us_cpu`` of one planner and model kind."""
    return {r["cells"]: r["us_cpu"] for r in rows if (r["planner"], r["model"]) == (planner, model)}


def _pairs(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    planners = dict.fromkeys(r["planner"] for r in rows)
    models = dict.fromkeys(r["model"] for r in rows)
    return [(p, m) for p in planners for m in models if _costs(rows, p, m)]


def scaling_markdown(rows: Sequence[dict[str, Any]]) -> str:
    """One line per planner and model kind: microseconds per real step and agent at each maze,
    and the growth from the smallest maze to 1,944 cells (the issue's yardstick)."""
    cells = sorted({r["cells"] for r in rows})
    head = ["planner", "model"] + [f"{c:,} cells" for c in cells] + ["growth to 1,944 cells"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for planner, model in _pairs(rows):
        own = _costs(rows, planner, model)
        cost = [f"{own[c]:.2f}" if c in own else "-" for c in cells]
        g = f"{own[1944] / own[min(own)]:.2f}x" if 1944 in own else "-"
        lines.append("| " + " | ".join([PLANNERS[planner], model, *cost, g]) + " |")
    return "\n".join(lines)


def plot_step_cost(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Cost per real step and agent against the number of cells, log-log, one line per planner
    and model kind."""
    fig = new_figure(7.5, 4.8)
    ax = fig.subplots()
    models = list(dict.fromkeys(r["model"] for r in rows))
    for planner, model in _pairs(rows):
        x, y = zip(*sorted(_costs(rows, planner, model).items()), strict=True)
        style = "--" if planner == "sweeping" else "-"
        label = f"{PLANNERS[planner]}, {model}"
        ax.plot(x, y, style, marker="o", color=f"C{models.index(model)}", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("Cells (states) of the maze")
    ax.set_ylabel("CPU microseconds per real step and agent")
    ax.set_title("Cost of a real step (act, env, model update, n = 5 planning updates)")
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="best", fontsize=8)
    return save_png(fig, path, 150)


__all__ = [
    "DENSE_MAX_CELLS",
    "MODEL_KINDS",
    "PLANNERS",
    "SCALING_MAZES",
    "bench_config",
    "pin_to_one_core",
    "plot_step_cost",
    "scaling_markdown",
    "scaling_table",
    "step_cost",
]
