"""Qdrant's metric names beside Flotilla's, so dashboards and alerts built for Qdrant work here.

Built at scrape time from what the node already counts: the HTTP counter and histogram of
node/api/metrics.py are re-emitted as `rest_responses_*`, and the collection and cluster
sources as `collections_total`, `collection_points`, `cluster_*` and so on. Nothing is counted
twice per request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from prometheus_client import Counter, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

DEAD = "Dead"


class QdrantMetrics(Collector):
    def __init__(
        self,
        *,
        version: str,
        clustered: bool,
        http_requests: Counter,
        http_duration: Histogram,
        grpc_requests: Counter,
        grpc_duration: Histogram,
        collection_points: Callable[[], dict[str, int]],
        cluster: Callable[[], dict],
    ) -> None:
        self._version = version
        self._clustered = clustered
        self._requests = http_requests
        self._duration = http_duration
        self._grpc_requests = grpc_requests
        self._grpc_duration = grpc_duration
        self._collection_points = collection_points
        self._cluster = cluster

    def describe(self) -> Iterable[Metric]:
        return []  # the families depend on live sources; nothing to declare up front

    def collect(self) -> Iterable[Metric]:
        yield from self._app()
        yield from self._rest()
        yield from self._grpc()
        try:
            points = self._collection_points()
            cluster = self._cluster()
        except Exception:
            log.exception("collection or cluster source failed; Qdrant metrics left out")
            return
        yield from self._collections(points, cluster.get("replicas") or {})
        yield from self._consensus(cluster)

    def _app(self) -> Iterable[Metric]:
        info = GaugeMetricFamily("app_info", "Server name and the Qdrant version it speaks",
                                 labels=["name", "version"])
        info.add_metric(["flotilla", self._version], 1)
        yield info
        yield GaugeMetricFamily("app_status_recovery_mode", "1 if started in recovery mode",
                                value=0)

    def _rest(self) -> Iterable[Metric]:
        total = CounterMetricFamily("rest_responses", "REST responses by method, endpoint and "
                                    "status", labels=["method", "endpoint", "status"])
        failed = CounterMetricFamily("rest_responses_fail", "REST responses with a 4xx or 5xx "
                                     "status", labels=["method", "endpoint", "status"])
        for family in self._requests.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                labels = [sample.labels["method"], sample.labels["endpoint"],
                          sample.labels["status"]]
                total.add_metric(labels, sample.value)
                if sample.labels["status"][:1] in ("4", "5"):
                    failed.add_metric(labels, sample.value)
        yield total
        yield failed
        duration = HistogramMetricFamily(
            "rest_responses_duration_seconds", "REST response time by method, endpoint and "
            "status", labels=["method", "endpoint", "status"])
        series: dict[tuple[str, str, str], dict] = {}
        for family in self._duration.collect():
            for sample in family.samples:
                key = (sample.labels["method"], sample.labels["endpoint"],
                       sample.labels["status"])
                entry = series.setdefault(key, {"buckets": [], "sum": 0.0})
                if sample.name.endswith("_bucket"):
                    entry["buckets"].append((sample.labels["le"], sample.value))
                elif sample.name.endswith("_sum"):
                    entry["sum"] = sample.value
        for labels, entry in sorted(series.items()):
            duration.add_metric(list(labels), entry["buckets"], entry["sum"])
        yield duration

    def _grpc(self) -> Iterable[Metric]:
        """Qdrant's gRPC families, by `endpoint` (the full method name); Flotilla's own
        counter keeps the status code too."""
        total = CounterMetricFamily("grpc_responses", "gRPC responses by endpoint",
                                    labels=["endpoint"])
        failed = CounterMetricFamily("grpc_responses_fail", "gRPC responses with a status "
                                     "other than OK", labels=["endpoint"])
        counts: dict[str, float] = {}
        fails: dict[str, float] = {}
        for family in self._grpc_requests.collect():
            for sample in family.samples:
                if not sample.name.endswith("_total"):
                    continue
                endpoint = sample.labels["method"]
                counts[endpoint] = counts.get(endpoint, 0.0) + sample.value
                if sample.labels["status"] != "OK":
                    fails[endpoint] = fails.get(endpoint, 0.0) + sample.value
        for endpoint in sorted(counts):
            total.add_metric([endpoint], counts[endpoint])
            failed.add_metric([endpoint], fails.get(endpoint, 0.0))
        yield total
        yield failed
        duration = HistogramMetricFamily("grpc_responses_duration_seconds",
                                         "gRPC response time by endpoint", labels=["endpoint"])
        series: dict[str, dict] = {}
        for family in self._grpc_duration.collect():
            for sample in family.samples:
                entry = series.setdefault(sample.labels["method"], {"buckets": {}, "sum": 0.0})
                if sample.name.endswith("_bucket"):
                    le = sample.labels["le"]
                    entry["buckets"][le] = entry["buckets"].get(le, 0.0) + sample.value
                elif sample.name.endswith("_sum"):
                    entry["sum"] += sample.value
        for endpoint, entry in sorted(series.items()):
            duration.add_metric([endpoint], list(entry["buckets"].items()), entry["sum"])
        yield duration

    @staticmethod
    def _collections(points: dict[str, int], replicas: dict) -> Iterable[Metric]:
        yield GaugeMetricFamily("collections_total", "Number of collections", value=len(points))
        yield GaugeMetricFamily("collections_vector_total", "Points stored on this node, in all "
                                "collections", value=sum(points.values()))
        per_collection = GaugeMetricFamily("collection_points", "Points stored on this node, "
                                           "per collection", labels=["id"])
        dead = GaugeMetricFamily("collection_dead_replicas", "Replicas in the Dead state, per "
                                 "collection", labels=["id"])
        for name, count in sorted(points.items()):
            per_collection.add_metric([name], count)
            dead.add_metric([name], replicas.get((name, DEAD), 0))
        yield per_collection
        yield dead

    def _consensus(self, cluster: dict) -> Iterable[Metric]:
        yield GaugeMetricFamily("cluster_enabled", "1 if clustering is on",
                                value=int(self._clustered))
        if not self._clustered:
            return
        raft = cluster.get("raft") or {}
        yield GaugeMetricFamily("cluster_peers_total", "Peers in the cluster",
                                value=cluster.get("peers", 0))
        yield GaugeMetricFamily("cluster_term", "Current Raft term", value=raft.get("term", 0))
        yield GaugeMetricFamily("cluster_commit", "Raft commit index",
                                value=raft.get("commit_index", 0))
        yield GaugeMetricFamily("cluster_pending_operations_total", "Metadata operations "
                                "proposed here and not yet applied",
                                value=raft.get("pending_operations", 0))
        yield GaugeMetricFamily("cluster_voter", "1 if this node votes in Raft",
                                value=int(bool(raft.get("is_voter"))))
