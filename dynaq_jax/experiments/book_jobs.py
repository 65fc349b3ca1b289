"""Example 8.4 on the book's axis over several cores: one worker process per core.

A row of ``example84.book_example_8_4`` (one size, planner and way to explore) runs on one core:
its vmapped seeds are a few small arrays, which XLA:CPU would only slow down by splitting them
over threads (``experiments.scaling``). ``run_book`` hands the rows to ``jobs`` worker processes
(spawned, each pinned to its own core), the largest mazes first so that the longest rows start
first, and returns them in ``book_example_8_4``'s order. A row computed in a worker is
bit-identical to the same row computed alone: the same keys, the same compiled program, one core
(tested, timings aside).
"""

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from dynaq_jax.experiments.example84 import BOOK_THETA, book_cell, book_example_8_4
from dynaq_jax.experiments.scaling import pin_to_one_core


def available_cores() -> list[int]:
    """The cores this process may run on (``[0]`` where the platform does not say)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return [0]


def _start_worker(cores: Any, pin: bool) -> None:
    core = cores.get()
    if pin:
        pin_to_one_core(core)


def run_book(
    doublings: Sequence[int],
    planners: Sequence[str],
    explorations: Sequence[str],
    n_seeds: int,
    *,
    jobs: int = 1,
    pin: bool = True,
    seed: int = 0,
    max_steps: int = 3_000_000,
    learning_rate: float = 0.5,
    theta: float = BOOK_THETA,
) -> list[dict[str, Any]]:
    """``book_example_8_4``'s rows, computed by ``jobs`` processes (one per core, each pinned
    to its own core when ``pin``; ``jobs = 1``: this process, pinned to one core)."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"run_book: jobs must be an int >= 1, got {jobs!r}")
    kwargs: dict[str, Any] = {
        "seed": seed,
        "max_steps": max_steps,
        "learning_rate": learning_rate,
        "theta": theta,
    }
    cells = [(j, p, e) for j in doublings for p in planners for e in explorations]
    jobs = min(jobs, len(cells))
    if jobs <= 1:
        if pin:
            pin_to_one_core()
        return book_example_8_4(doublings, planners, explorations, n_seeds, **kwargs)
    context = multiprocessing.get_context("spawn")  # JAX's threads do not survive a fork
    cores = context.Queue()
    mine = available_cores()
    for i in range(jobs):
        cores.put(mine[i % len(mine)])
    largest_first = sorted(range(len(cells)), key=lambda i: -cells[i][0])
    with ProcessPoolExecutor(
        jobs, mp_context=context, initializer=_start_worker, initargs=(cores, pin)
    ) as pool:
        futures = {i: pool.submit(book_cell, *cells[i], n_seeds, **kwargs) for i in largest_first}
        return [futures[i].result() for i in range(len(cells))]


__all__ = ["available_cores", "run_book"]
