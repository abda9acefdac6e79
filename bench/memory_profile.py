"""Where a shard's memory goes once it is green: `python -m bench.memory_profile`.

One LocalShard in this process (no HTTP server) takes the scale run's data in batches of 256
(same config: M, ef_construct, Qdrant's default thresholds, the keyword payloads), waits until
the optimizer is done, then reports RSS, what Python allocated (tracemalloc, which sees numpy
arrays but not hnswlib's C++ graph), and the largest allocation sites per point. A site whose
bytes grow with the points and that is not an array is a Python object per point.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import psutil

from bench import dataset
from cluster.metadata.collection_config import build_collection_config
from node.engine.point_batch import DenseColumn, PointBatch
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.model import decode
from node.model.collections import CreateCollection

BATCH = 256


def open_shard(path: Path, ds: dataset.Dataset, m: int, ef_construct: int) -> LocalShard:
    indexing, full_scan = ds.thresholds_kb()
    config, _ = build_collection_config(decode(CreateCollection, {
        "vectors": {"size": ds.dim, "distance": ds.distance},
        "hnsw_config": {"m": m, "ef_construct": ef_construct, "full_scan_threshold": full_scan},
        "optimizers_config": {"indexing_threshold": indexing},
    }))
    shard = LocalShard(path, ShardConfig.from_collection_config(config))
    shard.set_payload_indexes({name: {"type": "keyword"} for name in ds.tags})
    return shard


def ingest(shard: LocalShard, ds: dataset.Dataset) -> float:
    t0 = time.perf_counter()
    for start in range(0, ds.size, BATCH):
        end = min(start + BATCH, ds.size)
        rows = ds.vectors[start:end]
        shard.upsert(PointBatch(
            ids=list(range(start, end)), payloads=[ds.payload(i) for i in range(start, end)],
            dense={"": DenseColumn(rows=rows, positions=np.arange(end - start))}))
    return time.perf_counter() - t0


def wait_green(shard: LocalShard, timeout: float = 3600.0) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        shard.maybe_start_optimizer()
        if shard.info().status == "green":
            return time.perf_counter() - t0
        time.sleep(0.2)
    raise RuntimeError("the shard did not turn green")


def profile(args: argparse.Namespace) -> dict:
    ds = dataset.load(args.points, args.dim, "Cosine", 10, cache_dir=args.cache_dir)
    process = psutil.Process()
    gc.collect()
    rss_start = process.memory_info().rss
    if args.trace:
        tracemalloc.start(args.frames)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        shard = open_shard(Path(tmp) / "shard", ds, args.m, args.ef_construct)
        ingest_s = ingest(shard, ds)
        green_s = wait_green(shard)
        shard.flush(force=True)
        gc.collect()
        floor = ds.size * (4 * ds.dim + args.m * 2 * 4)
        rss = process.memory_info().rss
        out = {
            "points": ds.size, "ingest_s": round(ingest_s, 1), "green_s": round(green_s, 1),
            "segments": len(shard.segments), "rss_mib": rss / 2**20,
            "rss_start_mib": rss_start / 2**20, "floor_mib": floor / 2**20,
            "rss_vs_floor": rss / floor, "above_start_vs_floor": (rss - rss_start) / floor,
            "mapped_dense": [s.dense[""].mapped for s in shard.segments if s.sealed],
        }
        if args.trace:
            snapshot = tracemalloc.take_snapshot()
            traced = sum(s.size for s in snapshot.statistics("filename"))
            out["python_traced_mib"] = traced / 2**20
            out["python_bytes_per_point"] = traced / ds.size
            out["top_sites"] = [
                {"site": str(stat.traceback).splitlines()[-1].strip()
                 if args.frames == 1 else " <- ".join(str(f) for f in stat.traceback),
                 "bytes_per_point": stat.size / ds.size, "blocks": stat.count}
                for stat in snapshot.statistics("traceback")[: args.top]
            ]
            tracemalloc.stop()
        shard.close()
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.memory_profile", description=__doc__)
    p.add_argument("--points", type=int, default=100_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construct", type=int, default=100)
    p.add_argument("--no-trace", dest="trace", action="store_false",
                   help="RSS only (tracemalloc slows the ingest and adds its own memory)")
    p.add_argument("--frames", type=int, default=1, help="frames per allocation site")
    p.add_argument("--top", type=int, default=15)
    p.add_argument("--dir", type=Path, default=None, help="where the shard's files go")
    p.add_argument("--cache-dir", type=Path, default=dataset.CACHE_DIR)
    out = profile(p.parse_args(argv))
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
