"""Progress bars for long runs: a tqdm bar fed from inside compiled loops.

``jax.debug.callback`` calls ``progress_update`` from the compiled trainer; compiled trainers are
cached and reused, so the callback looks the live bar up in ``LIVE_BAR`` rather than capturing one.
"""

from typing import Any


class ProgressBar:
    """A tqdm bar fed from inside the compiled loop through ``jax.debug.callback``.

    Each device shard reports its own running totals; the bar shows their sum.
    """

    def __init__(self, total: int | None, unit: str) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, unit=unit, dynamic_ncols=True, mininterval=0.5)
        self.done: dict[int, int] = {}
        self.steps: dict[int, int] = {}

    def update(self, shard: Any, done: Any, steps: Any) -> None:
        """Shard ``shard`` has done ``done`` units in ``steps`` real steps so far."""
        i = int(shard)
        delta = int(done) - self.done.get(i, 0)
        self.done[i], self.steps[i] = int(done), int(steps)
        self.bar.set_postfix(real_steps=f"{sum(self.steps.values()):.3g}", refresh=False)
        self.bar.update(delta)

    def close(self) -> None:
        """Close the bar."""
        self.bar.close()


# The bar a running trainer feeds. Compiled trainers are cached and reused across calls, so their
# progress callback looks the live bar up here rather than capturing one.
LIVE_BAR: list[ProgressBar | None] = [None]


def progress_update(shard: Any, done: Any, steps: Any) -> None:
    """Feed the live bar (the host callback of ``jax.debug.callback``)."""
    bar = LIVE_BAR[0]
    if bar is not None:
        bar.update(shard, done, steps)


def episode_bar(progress: bool, total: int) -> Any:
    """A plain tqdm bar over ``total`` episodes (the host loop), or ``None``."""
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="episode", dynamic_ncols=True, mininterval=0.5)


__all__ = ["LIVE_BAR", "ProgressBar", "episode_bar", "progress_update"]
