"""What decoding a request costs, from its body bytes to what the cluster layer acts on.

Four requests: a filter-heavy query, a batch of 64 searches, an upsert of 256 points of 128
dimensions, and a collection create with named dense and sparse vectors and every config
section (the canonical config Raft replicates is what it turns into). The typed path
(node/model, msgspec) is timed in this process; the hand-written parsing it replaced is timed
in a worker process running the code of BASELINE, checked out in a temporary git worktree, so
the comparison stays honest after the old code is gone. Short slices of each are taken in
turn, so a change of load on the machine hits both alike.

Run alone: `python -m bench.decode_cost`; `make bench` prints it too.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# main's last commit with the hand-written parsing (before the typed request model).
BASELINE = "8e5b6d9"
ROOT = Path(__file__).resolve().parent.parent
SLICE_SECONDS = 0.05


def _bodies() -> dict[str, bytes]:
    rng = random.Random(7)
    conditions = []
    for i in range(12):
        conditions.append({"key": f"k{i}", "match": {"value": f"v{i}"}})
        conditions.append({"key": f"n{i}", "range": {"gte": i, "lt": i + 10}})
    heavy_filter = {
        "must": conditions,
        "should": [{"key": "tags", "match": {"any": ["a", "b", "c", "d"]}},
                   {"has_id": list(range(20))}],
        "must_not": [{"key": "city", "match": {"except": ["x", "y"]}},
                     {"nested": {"key": "items", "filter": {"must": [
                         {"key": "price", "range": {"gt": 1.5}}]}}},
                     {"is_empty": {"key": "deleted"}}],
        "min_should": {"conditions": [{"key": "geo", "geo_radius": {
            "center": {"lat": 52.5, "lon": 13.4}, "radius": 1000.0}}], "min_count": 1},
    }
    query = {"query": [rng.random() for _ in range(128)], "filter": heavy_filter, "limit": 10,
             "with_payload": True, "params": {"hnsw_ef": 64}}
    searches = {"searches": [
        {"vector": [rng.random() for _ in range(128)], "limit": 10,
         "filter": {"must": [{"key": "k", "match": {"value": i}}]}}
        for i in range(64)
    ]}
    upsert = {"points": [
        {"id": i, "vector": [rng.random() for _ in range(128)], "payload": {"i": i, "t": "x"}}
        for i in range(256)
    ]}
    create = {
        "vectors": {
            "image": {"size": 512, "distance": "Cosine", "on_disk": True,
                      "hnsw_config": {"m": 32, "ef_construct": 200},
                      "quantization_config": {"scalar": {"type": "int8", "quantile": 0.99}}},
            "text": {"size": 384, "distance": "Dot", "datatype": "float16"},
        },
        "sparse_vectors": {"bm25": {"modifier": "idf", "index": {"on_disk": False}}},
        "shard_number": 6, "replication_factor": 2, "write_consistency_factor": 1,
        "on_disk_payload": True,
        "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000},
        "optimizers_config": {"indexing_threshold": 20000, "max_optimization_threads": "auto"},
        "wal_config": {"wal_capacity_mb": 64},
        "quantization_config": {"binary": {"always_ram": True}},
        "strict_mode_config": {"enabled": True, "max_query_limit": 100,
                               "search_max_oversampling": 2.0,
                               "sparse_config": {"bm25": {"max_length": 256}}},
        "metadata": {"team": "search", "version": 3},
    }
    return {name: json.dumps(body).encode() for name, body in
            (("query_filter_heavy", query), ("search_batch_64", searches),
             ("upsert_256x128", upsert), ("create_collection", create))}


def _shard_config():
    from node.engine.shard_config import ShardConfig

    return ShardConfig.from_collection_config(
        {"params": {"vectors": {"size": 128, "distance": "Cosine"}}})


def handwritten_decoders() -> dict[str, Callable[[bytes], object]]:
    """The parsing as it was at BASELINE (cluster/ still flat then): orjson, then hand-written
    checks over dicts."""
    import orjson
    from cluster.collection_config import build_collection_config
    from cluster.point_update import parse_upsert
    from cluster.query_request import parse_legacy_search, parse_query_plan

    config = _shard_config()
    return {
        "query_filter_heavy": lambda raw: parse_query_plan(orjson.loads(raw)),
        "search_batch_64": lambda raw: [
            parse_legacy_search(s) for s in orjson.loads(raw)["searches"]],
        "upsert_256x128": lambda raw: parse_upsert(config, orjson.loads(raw)),
        "create_collection": lambda raw: build_collection_config(orjson.loads(raw)),
    }


def typed_decoders() -> dict[str, Callable[[bytes], object]]:
    """The typed path: one msgspec decode of the body, then the plan built from the structs."""
    from cluster.metadata.collection_config import build_collection_config
    from cluster.routing.point_update import plan_upsert
    from cluster.routing.query_request import plan_query, plan_search
    from node.model import decode
    from node.model.collections import CreateCollection
    from node.model.points import UpsertRequest
    from node.model.queries import QueryRequest, SearchBatchRequest

    config = _shard_config()
    return {
        "query_filter_heavy": lambda raw: plan_query(decode(QueryRequest, raw)),
        "search_batch_64": lambda raw: [
            plan_search(s) for s in decode(SearchBatchRequest, raw).searches],
        "upsert_256x128": lambda raw: plan_upsert(config, decode(UpsertRequest, raw)),
        "create_collection": lambda raw: build_collection_config(
            decode(CreateCollection, raw)),
    }


def _slice(decode: Callable[[bytes], object], raw: bytes) -> float:
    """CPU microseconds per request over one short slice of repeated decoding (CPU time, not
    wall time: other work on a shared machine then costs little accuracy)."""
    count, start = 0, time.process_time()
    while (elapsed := time.process_time() - start) < SLICE_SECONDS:
        decode(raw)
        count += 1
    return elapsed / count * 1e6


def _worker() -> None:
    """The hand-written side: times the request named on each stdin line, one slice each."""
    decoders, bodies = handwritten_decoders(), _bodies()
    for name, raw in bodies.items():
        decoders[name](raw)  # warm caches and imports
    print("ready", flush=True)
    for line in sys.stdin:
        name = line.strip()
        print(_slice(decoders[name], bodies[name]), flush=True)


class _Baseline:
    """A worker process running the code of BASELINE from a temporary git worktree."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory()
        self._tree = Path(self._tmp.name) / "baseline"
        self.proc: subprocess.Popen | None = None
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach",
                               str(self._tree), BASELINE], capture_output=True)
        if made.returncode != 0:
            return
        env = {**os.environ, "PYTHONPATH": str(self._tree)}
        self.proc = subprocess.Popen([sys.executable, __file__, "--handwritten-worker"],
                                     cwd=self._tree, env=env, text=True,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        if self.proc.stdout.readline().strip() != "ready":
            self.close()

    def time(self, name: str) -> float:
        self.proc.stdin.write(name + "\n")
        self.proc.stdin.flush()
        return float(self.proc.stdout.readline())

    def close(self) -> None:
        if self.proc is not None:
            self.proc.stdin.close()
            self.proc.wait(timeout=30)
            self.proc = None
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                        str(self._tree)], capture_output=True)
        self._tmp.cleanup()


def measure(rounds: int = 20) -> dict:
    """Typed and hand-written slices taken in turn, `rounds` of each per request, so both
    see the same load; each figure is the best slice (the least disturbed)."""
    decoders, bodies = typed_decoders(), _bodies()
    for name, raw in bodies.items():
        decoders[name](raw)  # warm caches and imports
    typed: dict[str, float] = {}
    before: dict[str, float] = {}
    baseline = _Baseline()
    try:
        for _ in range(rounds):
            for name, raw in bodies.items():
                us = _slice(decoders[name], raw)
                typed[name] = min(us, typed.get(name, us))
                if baseline.proc is not None:
                    us = baseline.time(name)
                    before[name] = min(us, before.get(name, us))
    finally:
        baseline.close()
    rows = {}
    for name, after_us in typed.items():
        row = {"typed_us": round(after_us, 1)}
        if name in before:
            row["handwritten_us"] = round(before[name], 1)
            row["typed_over_handwritten"] = round(after_us / before[name], 2)
        rows[name] = row
    return {"baseline": BASELINE, "requests": rows}


def markdown(result: dict) -> str:
    lines = [f"## Request decode cost (typed vs hand-written at {result['baseline']})", "",
             "| request | hand-written CPU µs | typed CPU µs | typed / hand-written |",
             "|---|---|---|---|"]
    for name, row in result["requests"].items():
        lines.append(f"| {name} | {row.get('handwritten_us', 'n/a')} | {row['typed_us']} | "
                     f"{row.get('typed_over_handwritten', 'n/a')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    if "--handwritten-worker" in sys.argv:
        _worker()
    else:
        print(markdown(measure()))
