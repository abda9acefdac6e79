"""The HTTP measurements against running nodes: ingest, time to green, search, memory."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from bench.dataset import Dataset, K, recall
from bench.loadgen import LoadGenerator, LoadResult, LoadSpec, encode
from bench.nodes import Deployment, http_json

COLLECTION = "bench"
BATCH = 256
QUERY_BATCH = 64


@dataclass
class Config:
    m: int = 16
    ef_construct: int = 100
    efs: list[int] = field(default_factory=lambda: [16, 32, 64, 128, 256])
    concurrencies: list[int] = field(default_factory=lambda: [1, 8, 32])
    ingest_clients: int = 4
    duration: float = 5.0  # seconds per throughput measurement
    green_timeout: float = 900.0
    filtered_queries: int = 200
    target_recall: float = 0.95


class Runner:
    """Measures one deployment (a node or a cluster) through a load generator process."""

    def __init__(self, dep: Deployment, ds: Dataset, cfg: Config, lg: LoadGenerator) -> None:
        self.dep, self.ds, self.cfg, self.lg = dep, ds, cfg, lg
        self.base = dep.urls[0] + f"/collections/{COLLECTION}"
        self.segments = 0  # segments_count at the last poll of the collection

    def load(self, path: str, bodies: list[bytes], concurrency: int, *,
             duration: float | None = None, parse: str = "none", method: str = "POST",
             all_nodes: bool = True) -> tuple[LoadResult, float]:
        """One load run; returns it with the server CPU seconds (every node) it cost."""
        urls = [u + f"/collections/{COLLECTION}" for u in self.dep.urls]
        spec = LoadSpec(urls if all_nodes else urls[:1], path, bodies, concurrency, duration,
                        parse, method)
        cpu0 = self.dep.cpu_seconds()
        res = self.lg.run(spec)
        server_cpu = self.dep.cpu_seconds() - cpu0
        if res.errors:
            raise RuntimeError(f"{res.errors} failed requests on {path}: {res.first_error}")
        return res, server_cpu

    # --- setup and ingest --------------------------------------------------------------

    def create(self, shards: int = 1, rf: int = 1, wcf: int = 1) -> None:
        indexing, full_scan = self.ds.thresholds_kb(shards)
        http_json("PUT", self.base, {
            "vectors": {"size": self.ds.dim, "distance": self.ds.distance},
            "hnsw_config": {"m": self.cfg.m, "ef_construct": self.cfg.ef_construct,
                            "full_scan_threshold": full_scan},
            "optimizers_config": {"indexing_threshold": indexing},
            "shard_number": shards, "replication_factor": rf, "write_consistency_factor": wcf,
        })
        for name in self.ds.tags:
            http_json("PUT", self.base + "/index?wait=true",
                      {"field_name": name, "field_schema": "keyword"})

    def ingest(self) -> dict:
        ds = self.ds
        batches = -(-ds.size // BATCH)
        # Chunks show progress and bound the encoded bodies held at once (a million points
        # are gigabytes of JSON); each chunk keeps the clients busy for many batches.
        chunk = max(self.cfg.ingest_clients * 4, batches // 10)
        wall = client_cpu = server_cpu = 0.0
        lat: list[float] = []
        t_start = time.perf_counter()
        with tqdm(total=ds.size, desc="ingest", unit="pt", leave=False) as bar:
            for i in range(0, batches, chunk):
                part = [self._batch_body(b * BATCH) for b in range(i, min(i + chunk, batches))]
                res, cpu = self.load("/points?wait=true", part, self.cfg.ingest_clients,
                                     method="PUT")
                wall += res.wall
                client_cpu += res.client_cpu
                server_cpu += cpu
                lat += res.latencies
                bar.update(min(ds.size, (i + len(part)) * BATCH) - bar.n)
        ingest_end = time.perf_counter()
        green = self.wait_green()
        return {"points": ds.size, "seconds": wall, "pps": ds.size / wall,
                "batch_p50_ms": float(np.percentile(lat, 50)) * 1000,
                "client_cpu_s": client_cpu, "server_cpu_s": server_cpu,
                "green_after_ingest_s": green, "green_total_s": wall + green,
                "harness_s": ingest_end - t_start - wall, "segments": self.segments}

    def _batch_body(self, start: int) -> bytes:
        ds = self.ds
        end = min(start + BATCH, ds.size)
        return encode({"batch": {
            "ids": list(range(start, end)), "vectors": ds.vectors[start:end],
            "payloads": [ds.payload(i) for i in range(start, end)]}})

    def wait_green(self) -> float:
        """Seconds until status is green and the index covers the points."""
        t0 = time.perf_counter()
        # A segment below the indexing threshold stays plain: green with an index count that
        # stopped moving is as built as the collection will get.
        last, since = -1, t0
        with tqdm(total=self.ds.size, desc="indexing", unit="pt", leave=False) as bar:
            while time.perf_counter() - t0 < self.cfg.green_timeout:
                info = http_json("GET", self.base)["result"]
                self.segments = int(info.get("segments_count") or 0)
                indexed = int(info.get("indexed_vectors_count") or 0)
                points = int(info.get("points_count") or 0)
                bar.update(max(0, min(indexed, bar.total) - bar.n))
                now = time.perf_counter()
                if indexed != last or info["status"] != "green":
                    last, since = indexed, now
                if info["status"] == "green" and points >= self.ds.size and (
                        indexed >= points * 0.99 or now - since > 3.0):
                    return (since if indexed < points * 0.99 else now) - t0
                time.sleep(0.2)
        raise RuntimeError(f"collection not green in {self.cfg.green_timeout:.0f}s: {info}")

    # --- search ------------------------------------------------------------------------

    def _query_bodies(self, ef: int, extra: dict | None = None,
                      queries: np.ndarray | None = None) -> list[bytes]:
        qs = self.ds.queries if queries is None else queries
        params: dict = {"hnsw_ef": ef}
        if extra and "quantization" in extra:
            params["quantization"] = extra["quantization"]
        flt = extra.get("filter") if extra else None
        return [encode({"query": q, "limit": K, "params": params,
                        **({"filter": flt} if flt else {})}) for q in qs]

    def search(self, ef: int, concurrency: int, *, extra: dict | None = None,
               queries: np.ndarray | None = None, truth: np.ndarray | None = None,
               all_nodes: bool = True) -> dict:
        bodies = self._query_bodies(ef, extra, queries)
        res, cpu = self.load("/points/query", bodies, concurrency, duration=self.cfg.duration,
                             parse="query", all_nodes=all_nodes)
        truth = self.ds.truth if truth is None else truth
        order = sorted(res.ids)
        return {"ef": ef, "concurrency": concurrency, "qps": res.rps,
                "recall": recall([res.ids[i] for i in order], truth[order]),
                "p50_ms": res.pct(50), "p95_ms": res.pct(95), "p99_ms": res.pct(99),
                "requests": res.requests, "client_cpu_s": res.client_cpu,
                "server_cpu_s": cpu, "wall_s": res.wall}

    def batch_search(self, ef: int, concurrency: int = 2) -> dict:
        qs = self.ds.queries
        bodies = []
        for start in range(0, len(qs), QUERY_BATCH):
            bodies.append(encode({"searches": [
                {"query": q, "limit": K, "params": {"hnsw_ef": ef}}
                for q in qs[start:start + QUERY_BATCH]]}))
        res, cpu = self.load("/points/query/batch", bodies, concurrency,
                             duration=self.cfg.duration, parse="batch")
        found: list[list[int]] = []
        rows: list[int] = []
        for i in sorted(res.ids):
            found += res.ids[i]
            rows += list(range(i * QUERY_BATCH, i * QUERY_BATCH + len(res.ids[i])))
        return {"ef": ef, "concurrency": concurrency, "qps": res.rps * QUERY_BATCH,
                "recall": recall(found, self.ds.truth[rows]), "p50_ms": res.pct(50),
                "client_cpu_s": res.client_cpu, "server_cpu_s": cpu}

    def filtered(self, ef: int, concurrency: int) -> dict:
        out = {}
        qs = self.ds.queries[: self.cfg.filtered_queries]
        for field_name, pct in (("tag10", "10%"), ("tag100", "1%")):
            truth = self.ds.filtered_truth(field_name, 0, qs)
            flt = {"must": [{"key": field_name, "match": {"value": "v0"}}]}
            out[pct] = self.search(ef, concurrency, extra={"filter": flt}, queries=qs,
                                   truth=truth)
        return out

    def quantized(self, ef: int, concurrency: int) -> dict:
        """Scalar int8 codes added to the built collection; recall, speed and memory after."""
        rss_before = sum(self.dep.rss())
        t0 = time.perf_counter()
        http_json("PATCH", self.base,
                  {"quantization_config": {"scalar": {"type": "int8", "always_ram": True}}})
        time.sleep(0.5)  # let the optimizer notice the change before polling for green
        rebuild = self.wait_green() + 0.5
        rss_after = sum(self.dep.rss())
        out = {"rebuild_s": time.perf_counter() - t0 if rebuild else 0.0,
               "rss_before": rss_before, "rss_after": rss_after}
        for rescore in (False, True):
            q = {"quantization": {"rescore": rescore}}
            out[f"rescore_{str(rescore).lower()}"] = self.search(ef, concurrency, extra=q)
        return out
