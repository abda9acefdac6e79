"""The gRPC measurements beside the HTTP ones: search, batch search and ingest through the
gRPC face of the same node, with the same queries, parameters and batch sizes as bench/suite.py,
so each figure has its REST twin in the report."""

from __future__ import annotations

import numpy as np
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import payload_to_grpc

from bench.dataset import K, recall
from bench.grpc_load import GrpcLoadSpec
from bench.nodes import http_json
from bench.suite import BATCH, COLLECTION, QUERY_BATCH, Runner

INGEST_COLLECTION = f"{COLLECTION}_grpc"
POINTS = "/qdrant.Points/"


def _query(collection: str, q: np.ndarray, ef: int) -> pb.QueryPoints:
    return pb.QueryPoints(
        collection_name=collection, limit=K, params=pb.SearchParams(hnsw_ef=ef),
        query=pb.Query(nearest=pb.VectorInput(dense=pb.DenseVector(data=q.tolist()))))


def _load(run: Runner, method: str, requests: list[bytes], concurrency: int, *,
          duration: float | None, parse: str = "none"):
    targets = [n.grpc_target for n in run.dep.nodes]
    cpu0 = run.dep.cpu_seconds()
    res = run.lg.run_grpc(GrpcLoadSpec(targets, POINTS + method, requests, concurrency,
                                       duration, parse))
    server_cpu = run.dep.cpu_seconds() - cpu0
    if res.errors:
        raise RuntimeError(f"{res.errors} failed gRPC calls of {method}: {res.first_error}")
    return res, server_cpu


def search(run: Runner, ef: int, concurrency: int) -> dict:
    requests = [_query(COLLECTION, q, ef).SerializeToString() for q in run.ds.queries]
    res, cpu = _load(run, "Query", requests, concurrency, duration=run.cfg.duration,
                     parse="query")
    order = sorted(res.ids)
    return {"ef": ef, "concurrency": concurrency, "qps": res.rps,
            "recall": recall([res.ids[i] for i in order], run.ds.truth[order]),
            "p50_ms": res.pct(50), "p95_ms": res.pct(95), "p99_ms": res.pct(99),
            "requests": res.requests, "client_cpu_s": res.client_cpu, "server_cpu_s": cpu,
            "wall_s": res.wall}


def batch_search(run: Runner, ef: int, concurrency: int = 2) -> dict:
    qs = run.ds.queries
    requests = [pb.QueryBatchPoints(collection_name=COLLECTION, query_points=[
        _query(COLLECTION, q, ef) for q in qs[start:start + QUERY_BATCH]]).SerializeToString()
        for start in range(0, len(qs), QUERY_BATCH)]
    res, cpu = _load(run, "QueryBatch", requests, concurrency, duration=run.cfg.duration,
                     parse="batch")
    found: list = []
    rows: list[int] = []
    for i in sorted(res.ids):
        found += res.ids[i]
        rows += list(range(i * QUERY_BATCH, i * QUERY_BATCH + len(res.ids[i])))
    return {"ef": ef, "concurrency": concurrency, "qps": res.rps * QUERY_BATCH,
            "recall": recall(found, run.ds.truth[rows]), "p50_ms": res.pct(50),
            "client_cpu_s": res.client_cpu, "server_cpu_s": cpu}


def ingest(run: Runner) -> dict:
    """The whole data set into a second collection of the same configuration (batches of
    BATCH, wait=true, as many clients as the HTTP ingest); dropped afterwards."""
    ds = run.ds
    base = run.dep.urls[0] + f"/collections/{INGEST_COLLECTION}"
    indexing, full_scan = ds.thresholds_kb(1)
    http_json("PUT", base, {
        "vectors": {"size": ds.dim, "distance": ds.distance},
        "hnsw_config": {"m": run.cfg.m, "ef_construct": run.cfg.ef_construct,
                        "full_scan_threshold": full_scan},
        "optimizers_config": {"indexing_threshold": indexing}})
    requests = []
    for start in range(0, ds.size, BATCH):
        end = min(start + BATCH, ds.size)
        requests.append(pb.UpsertPoints(collection_name=INGEST_COLLECTION, wait=True, points=[
            pb.PointStruct(id=pb.PointId(num=i), payload=payload_to_grpc(ds.payload(i)),
                           vectors=pb.Vectors(vector=pb.Vector(
                               dense=pb.DenseVector(data=ds.vectors[i].tolist()))))
            for i in range(start, end)]).SerializeToString())
    try:
        res, cpu = _load(run, "Upsert", requests, run.cfg.ingest_clients, duration=None)
    finally:
        http_json("DELETE", base)
    return {"points": ds.size, "seconds": res.wall, "pps": ds.size / res.wall,
            "batch_p50_ms": res.pct(50), "client_cpu_s": res.client_cpu, "server_cpu_s": cpu}
