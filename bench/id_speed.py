"""How fast a shard finds points by id: `python -m bench.id_speed`.

One LocalShard in this process, optimizer off, filled with `--points` points spread over
`--segments` sealed segments (no graphs: the id paths are what is timed). Then, each the best
of `--repeat` runs: which of 10k ids exist (half of them absent), retrieving 10k points,
upserts of new points and overwrites of stored ones, deletes (batches of 256), and scroll
pages of 100 from random ids. Times are CPU seconds of this process.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cluster.metadata.collection_config import build_collection_config
from node.engine.point_batch import DenseColumn, PointBatch
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.model import decode
from node.model.collections import CreateCollection

DIM = 16
BATCH = 256


def open_shard(path: Path) -> LocalShard:
    config, _ = build_collection_config(decode(CreateCollection, {
        "vectors": {"size": DIM, "distance": "Dot"},
        "optimizers_config": {"max_optimization_threads": 0},
    }))
    return LocalShard(path, ShardConfig.from_collection_config(config))


def batch(ids: list[int], version: int) -> PointBatch:
    rows = np.full((len(ids), DIM), float(version), dtype=np.float32)
    return PointBatch(ids=ids, payloads=[{"v": version} for _ in ids],
                      dense={"": DenseColumn(rows=rows, positions=np.arange(len(ids)))})


def best(repeat: int, run: Callable[[], float]) -> float:
    return min(run() for _ in range(repeat))


def timed(action: Callable[[], object]) -> float:
    """CPU seconds of the action: on a shared machine steadier than wall time, and the
    optimizer is off, so this thread is the only one working."""
    t0 = time.process_time()
    action()
    return time.process_time() - t0


def measure(args: argparse.Namespace) -> dict:
    rng = np.random.default_rng(5)
    out: dict = {"points": args.points, "segments": args.segments}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        shard = open_shard(Path(tmp))
        per_segment = args.points // args.segments
        ids = rng.permutation(args.points * 2)[: args.points].tolist()  # spread, unordered
        t0 = time.process_time()
        for start in range(0, args.points, BATCH):
            shard.upsert(batch(ids[start : start + BATCH], 1), sync=False)
            if (start + BATCH) % per_segment < BATCH and start + BATCH < args.points:
                with shard.lock:
                    shard._seal_appendable()  # noqa: SLF001 - segments without an optimizer
        out["fresh_upsert_pps"] = args.points / (time.process_time() - t0)
        shard.flush(force=True)
        asked = [*rng.choice(ids, 5000).tolist(), *range(args.points * 2, args.points * 2 + 5000)]
        out["existing_10k_ms"] = 1000 * best(args.repeat, lambda: timed(
            lambda: shard.existing(asked)))
        stored = rng.choice(ids, 10_000, replace=False).tolist()
        out["retrieve_10k_ms"] = 1000 * best(args.repeat, lambda: timed(
            lambda: shard.retrieve(stored)))

        def overwrite() -> float:
            return timed(lambda: [shard.upsert(batch(stored[i : i + BATCH], 2), sync=False)
                                  for i in range(0, len(stored), BATCH)])

        out["overwrite_pps"] = len(stored) / best(args.repeat, overwrite)
        starts = rng.choice(ids, 50).tolist()
        out["scroll_page_ms"] = 1000 * best(args.repeat, lambda: timed(
            lambda: [shard.scroll(None, s, 100) for s in starts])) / len(starts)
        doomed = rng.choice(ids, 10_000 * args.repeat, replace=False).tolist()
        runs = iter(range(args.repeat))

        def delete() -> float:
            part = doomed[next(runs) * 10_000 :][:10_000]
            return timed(lambda: [shard.update("delete", part[i : i + BATCH], None, sync=False)
                                  for i in range(0, len(part), BATCH)])

        out["delete_pps"] = 10_000 / best(args.repeat, delete)
        shard.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.id_speed", description=__doc__)
    p.add_argument("--points", type=int, default=200_000)
    p.add_argument("--segments", type=int, default=8)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--dir", type=Path, default=None, help="where the shard's files go")
    out = measure(p.parse_args(argv))
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()},
                     indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
