"""One process of a multi-process test run (``tests/test_distributed.py`` starts two).

Usage: ``python tests/distributed_worker.py ADDRESS N_PROCESSES PROCESS_ID OUT_DIR MODE``.

Joins the run, trains the slippery chain (``chain_env``'s shared run) over the global mesh and
writes ``OUT_DIR/result-PID.npz`` (the result's leaves, whole on every process) and
``OUT_DIR/info-PID.json`` (device counts and which seed shards ran in this process). ``MODE``
``gather``: ``train_seeds`` gathers (``N_KEYS`` seeds, padded to the device count, with the
progress callback recorded to see which shards ran here); ``shards``: ``gather=False`` on the
first ``device_count`` seeds (the result's sharding shows where they ran), then
``gather_result``; ``explore``: ``dynaq-jax explore``'s cells (``EXPLORE_RUN``), the seeds split
over the processes (how many ran here is recorded).
"""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_KEYS = 6
"""Seeds of the ``gather`` mode: not a multiple of 4 devices (padded to 8)."""

EXPLORE_RUN = {
    "envs": ("river-swim",),
    "options": ("r-max",),
    "planners": ("sample", "expected"),
    "n_seeds": 5,
    "steps": {"river-swim": 300},
    "progress": False,
}
"""The ``explore`` mode's run: 5 seeds, 3 per process (the second's last one a padding copy)."""


def main(argv: list[str]) -> int:
    import time

    start = time.monotonic()

    def log(what: str) -> None:  # timings on stderr: the test prints them when a worker fails
        print(f"[{time.monotonic() - start:6.2f} s] {what}", file=sys.stderr, flush=True)

    address, n_proc, pid, out_dir, mode = argv
    from dynaq_jax import distributed

    log("imported")
    distributed.join(address, int(n_proc), int(pid), timeout_s=60)
    log("joined")

    import importlib

    import jax
    import numpy as np

    from tests.chain_env import N_EPISODES, chain, config, keys

    # the module (``dynaq_jax.train`` the attribute is the function ``train``)
    train_module = importlib.import_module("dynaq_jax.train")

    seen: set[int] = set()

    def record(shard: object, done: object, steps: object) -> None:
        seen.add(int(np.asarray(shard)))

    train_module.progress_update = record  # the compiled loop's progress callback
    env = chain()
    info: dict[str, object] = {
        "process_count": jax.process_count(),
        "device_count": jax.device_count(),
        "local_device_count": jax.local_device_count(),
    }
    if mode == "shards":
        n = jax.device_count()
        raw = train_module.train_seeds(env, config(), keys(n), N_EPISODES, gather=False)
        q = raw.state.q
        info["spanned_processes"] = sorted({d.process_index for d in q.sharding.device_set})
        info["addressable_shards"] = len(q.addressable_shards)
        info["fully_addressable"] = bool(q.is_fully_addressable)
        out = distributed.gather_result(raw)
    elif mode == "explore":  # explore's seeds split over the processes, every row gathered
        from dynaq_jax.experiments import explore

        share = distributed.share_rows
        blocks: list[int] = []

        def recorded(x: jax.Array) -> jax.Array:
            blocks.append(int(share(x).shape[0]))
            return share(x)

        distributed.share_rows = recorded  # type: ignore[assignment]
        rows = explore.run(**EXPLORE_RUN)  # type: ignore[arg-type]
        info["seeds_here"] = blocks
        out = [np.asarray([r.final_ratio, r.reached, r.cumulative_regret]) for r in rows]
        out += [np.asarray(r.regret_curve) for r in rows]
    else:
        out = train_module.train_seeds(env, config(), keys(N_KEYS), N_EPISODES, progress=True)
    log("trained")
    info["shards_here"] = sorted(seen)
    leaves = [np.asarray(x) for x in jax.tree.leaves(out)]
    np.savez(Path(out_dir) / f"result-{pid}.npz", *leaves)
    (Path(out_dir) / f"info-{pid}.json").write_text(json.dumps(info))
    log("written")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
