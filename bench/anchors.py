"""Same-run anchors in process: raw hnswlib, qdrant-edge (Qdrant's Rust engine), local client.

Each returns plain dicts of figures measured on the same data and the same HNSW parameters as
the HTTP runs, so the ratios printed beside Flotilla's figures compare like with like.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time

import numpy as np
from tqdm import tqdm

from bench.dataset import Dataset, K, recall

BATCH = 256
QUERY_BATCH = 64


def _timed_queries(fn, queries: np.ndarray, budget: float) -> tuple[float, list[list[int]]]:
    """Run fn(query) -> ids one at a time until every query ran or the budget is spent."""
    found: list[list[int]] = []
    start = time.perf_counter()
    for q in queries:
        found.append(fn(q))
        if time.perf_counter() - start > budget:
            break
    return len(found) / (time.perf_counter() - start), found


def hnswlib_anchor(ds: Dataset, m: int, ef_construct: int, efs: list[int],
                   budget: float) -> dict:
    import hnswlib

    space = {"Cosine": "cosine", "Dot": "ip", "Euclid": "l2"}[ds.distance]
    index = hnswlib.Index(space=space, dim=ds.dim)
    index.init_index(max_elements=ds.size, M=m, ef_construction=ef_construct, random_seed=1)
    t0 = time.perf_counter()
    index.add_items(ds.vectors, np.arange(ds.size), num_threads=os.cpu_count() or 1)
    build = time.perf_counter() - t0
    out: dict = {"build_s": build, "build_threads": os.cpu_count(), "ef": {}}
    for ef in tqdm(efs, desc="hnswlib search", leave=False):
        index.set_ef(ef)
        index.set_num_threads(1)
        qps, found = _timed_queries(lambda q: index.knn_query(q, k=K)[0][0].tolist(),
                                    ds.queries, budget)
        # Batch: 64 queries a call on every core, as the server could do with a batch request.
        index.set_num_threads(os.cpu_count() or 1)
        batches = [ds.queries[i:i + QUERY_BATCH] for i in range(0, len(ds.queries), QUERY_BATCH)]
        t0 = time.perf_counter()
        done, rounds = 0, 0
        while time.perf_counter() - t0 < budget or rounds == 0:
            for b in batches:
                index.knn_query(b, k=K)
                done += len(b)
            rounds += 1
        batch_qps = done / (time.perf_counter() - t0)
        out["ef"][ef] = {"qps_1thread": qps, "recall": recall(found, ds.truth),
                         "batch_qps": batch_qps}
    return out


def edge_anchor(ds: Dataset, m: int, ef_construct: int, efs: list[int], budget: float) -> dict:
    try:
        import qdrant_edge as qe
    except ImportError as exc:
        return {"error": f"qdrant-edge-py not importable: {exc}"}
    root = tempfile.mkdtemp(prefix="flotilla-bench-edge-")
    try:
        dist = getattr(qe.Distance, ds.distance)
        indexing, full_scan = ds.thresholds_kb()
        config = qe.EdgeConfig(
            vectors=qe.EdgeVectorParams(size=ds.dim, distance=dist),
            hnsw_config=qe.HnswIndexConfig(m=m, ef_construct=ef_construct,
                                           full_scan_threshold=full_scan),
            optimizers=qe.EdgeOptimizersConfig(indexing_threshold=indexing),
            max_search_threads=1,  # one search thread: the single-thread figure the target names
        )
        shard = qe.EdgeShard.create(os.path.join(root, "shard"), config)
        t0 = time.perf_counter()
        for start in tqdm(range(0, ds.size, BATCH), desc="edge upsert", leave=False):
            end = min(start + BATCH, ds.size)
            rows = ds.vectors[start:end].tolist()
            points = [qe.Point(start + j, rows[j], ds.payload(start + j))
                      for j in range(end - start)]
            shard.update(qe.UpdateOperation.upsert_points(points))
        upsert = time.perf_counter() - t0
        t0 = time.perf_counter()
        shard.optimize()
        optimize = time.perf_counter() - t0
        info = shard.info()
        out: dict = {"upsert_s": upsert, "upsert_pps": ds.size / upsert,
                     "optimize_s": optimize, "segments": info.segments_count,
                     "indexed": info.indexed_vectors_count, "ef": {}}
        queries = ds.queries.tolist()
        for ef in tqdm(efs, desc="edge search", leave=False):
            params = qe.SearchParams(hnsw_ef=ef)

            def one(q: list[float], params: qe.SearchParams = params) -> list[int]:
                req = qe.QueryRequest(limit=K, query=qe.Query.Nearest(q), params=params)
                return [p.id for p in shard.query(req)]

            qps, found = _timed_queries(one, queries, budget)  # type: ignore[arg-type]
            out["ef"][ef] = {"qps_1thread": qps, "recall": recall(found, ds.truth)}
        shard.close()
        return out
    finally:
        shutil.rmtree(root, ignore_errors=True)


def local_client_anchor(ds: Dataset, size: int, budget: float) -> dict:
    """qdrant-client's local mode (pure Python, exact search) on the first `size` points."""
    try:
        from qdrant_client import QdrantClient, models
    except ImportError as exc:
        return {"error": f"qdrant-client not importable: {exc}"}
    size = min(size, ds.size)
    client = QdrantClient(":memory:")
    client.create_collection("b", vectors_config=models.VectorParams(
        size=ds.dim, distance=getattr(models.Distance, ds.distance.upper())))
    t0 = time.perf_counter()
    for start in range(0, size, BATCH):
        end = min(start + BATCH, size)
        client.upsert("b", points=models.Batch(ids=list(range(start, end)),
                                               vectors=ds.vectors[start:end].tolist()))
    upsert = time.perf_counter() - t0
    qps, _ = _timed_queries(
        lambda q: [p.id for p in client.query_points("b", query=q.tolist(), limit=K).points],
        ds.queries, budget)
    client.close()
    return {"size": size, "upsert_pps": size / upsert, "qps_1thread": qps}
