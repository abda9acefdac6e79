"""What a replica's content digest costs (node/engine/content_digest.py, used by anti-entropy):
the first digest after writes (every live point read and hashed under the shard lock) and an
ask of an idle shard (cached), on one engine shard of N points x 128 float32 with a small
payload each.

Run: `python -m bench.content_digest [--points N ...]`. Prints a table and writes
content_digest.json to bench/results/.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from cluster.metadata.collection_config import build_collection_config
from node.engine.content_digest import shard_digest
from node.engine.point_batch import DenseColumn, PointBatch
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.model import decode
from node.model.collections import CreateCollection

RESULTS = Path(__file__).resolve().parent / "results"
DIM = 128
BATCH = 1000


def _shard(path: Path, points: int) -> LocalShard:
    config, _ = build_collection_config(
        decode(CreateCollection, {"vectors": {"size": DIM, "distance": "Cosine"}}))
    shard = LocalShard(path, ShardConfig.from_collection_config(config))
    rng = np.random.default_rng(1)
    for start in range(0, points, BATCH):
        ids = list(range(start, min(start + BATCH, points)))
        rows = rng.normal(size=(len(ids), DIM)).astype(np.float32)
        shard.upsert(PointBatch(ids=ids, payloads=[{"n": i, "tag": f"t{i % 7}"} for i in ids],
                                dense={"": DenseColumn(rows=rows,
                                                       positions=np.arange(len(ids)))}),
                     sync=False)
    return shard


def measure(points: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        shard = _shard(Path(tmp), points)
        began = time.perf_counter()
        shard_digest(shard)
        first = time.perf_counter() - began
        asks = 1000
        began = time.perf_counter()
        for _ in range(asks):
            shard_digest(shard)
        cached = (time.perf_counter() - began) / asks
        shard.close()
    return {"points": points, "first_s": round(first, 3),
            "us_per_point": round(first / points * 1e6, 2), "cached_us": round(cached * 1e6, 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points", type=int, nargs="+", default=[10_000, 100_000])
    args = parser.parse_args(argv)
    rows = [measure(n) for n in args.points]
    print("| points | first digest s | us per point | cached ask us |")
    print("| --- | --- | --- | --- |")
    for r in rows:
        print(f"| {r['points']} | {r['first_s']} | {r['us_per_point']} | {r['cached_us']} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "content_digest.json").write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
