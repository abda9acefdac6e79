"""Prometheus metrics of one node, on the node's own registry.

A registry per NodeMetrics (rather than prometheus-client's global one) lets several nodes live
in one test process without "duplicated timeseries" errors.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import grpc
from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric

from node.api.cluster_metrics import ClusterMetrics
from node.api.qdrant_metrics import QdrantMetrics
from node.api.source_collector import SourceCollector
from node.response_stats import ResponseStats

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
StatsSource = Callable[[], dict[str, int]]

# Label for requests no route matched (404/405): the raw path would explode cardinality.
UNMATCHED_ENDPOINT = "unmatched"
# Any other method string a client sends collapses into one label value, for the same reason.
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Status recorded when the client went away before a response was produced (nginx convention).
CLIENT_CLOSED_STATUS = 499

# Vector search spans sub-millisecond cache hits to multi-second batch upserts.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


class _CollectionStatsCollector(SourceCollector):
    """Collection sizes, read from the node at scrape time."""

    empty: dict = {}

    def families(self, stats: dict[str, int]) -> list[Metric]:
        return self._families(stats)

    @staticmethod
    def _families(stats: dict[str, int]) -> list[Metric]:
        collections = GaugeMetricFamily(
            "flotilla_collections", "Number of collections on this node", value=len(stats)
        )
        points = GaugeMetricFamily(
            "flotilla_points", "Points stored per collection", labels=["collection"]
        )
        for name, count in sorted(stats.items()):
            points.add_metric([name], count)
        return [collections, points]


class NodeMetrics:
    """All metrics of one node: HTTP traffic, optimizer runs, collection sizes, process."""

    def __init__(self, process_metrics: bool = True) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.http_requests = Counter(
            "flotilla_http_requests",
            "HTTP requests served, by route template and status",
            ["method", "endpoint", "status"],
            registry=self.registry,
        )
        self.http_duration = Histogram(
            "flotilla_http_request_duration_seconds",
            "Time to produce an HTTP response, by route template and status",
            ["method", "endpoint", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        # The gRPC face (node/grpc): calls by full method name and status code name.
        self.grpc_requests = Counter(
            "flotilla_grpc_requests",
            "gRPC calls served, by method and status code",
            ["method", "status"],
            registry=self.registry,
        )
        self.grpc_duration = Histogram(
            "flotilla_grpc_request_duration_seconds",
            "Time to answer a gRPC call, by method and status code",
            ["method", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.optimizer_runs = Counter(
            "flotilla_optimizer_runs",
            "Segment optimizer runs, by collection and kind of optimization",
            ["collection", "kind"],
            registry=self.registry,
        )
        self.graph_insertions = Counter(
            "flotilla_optimizer_graph_insertions",
            "Points inserted into HNSW graphs by the optimizer, by collection and kind of"
            " optimization (a merge that keeps its largest source's graph inserts only the rest)",
            ["collection", "kind"],
            registry=self.registry,
        )
        self._stats = _CollectionStatsCollector()
        self.registry.register(self._stats)
        self.cluster = ClusterMetrics(self.registry)
        # The same traffic in the shape of Qdrant's telemetry (`GET /telemetry`).
        self.rest_responses = ResponseStats()
        self.grpc_responses = ResponseStats()
        if process_metrics:
            ProcessCollector(registry=self.registry)
            GCCollector(registry=self.registry)
        self.middleware = self._make_middleware()

    def add_qdrant_names(self, *, version: str, clustered: bool, stats: StatsSource,
                         cluster: Callable[[], dict]) -> None:
        """Also expose Qdrant's metric names (node/api/qdrant_metrics.py)."""
        self.registry.register(QdrantMetrics(
            version=version, clustered=clustered, http_requests=self.http_requests,
            http_duration=self.http_duration, grpc_requests=self.grpc_requests,
            grpc_duration=self.grpc_duration, collection_points=stats, cluster=cluster))

    def set_stats_source(self, fn: StatsSource) -> None:
        """Register the callback giving {collection_name: points_count}, called per scrape."""
        self._stats.source = fn

    def optimizer_run(self, collection: str, kind: str, inserted: int) -> None:
        self.optimizer_runs.labels(collection=collection, kind=kind).inc()
        self.graph_insertions.labels(collection=collection, kind=kind).inc(inserted)

    def grpc_call(self, method: str, code: grpc.StatusCode, seconds: float,
                  collection: str | None) -> None:
        """Count one gRPC call ("/qdrant.Points/Search") and its status code."""
        status = code.name
        self.grpc_requests.labels(method=method, status=status).inc()
        self.grpc_duration.labels(method=method, status=status).observe(seconds)
        self.grpc_responses.record(method, code.value[0], seconds, time.time(),
                                   failed=code is not grpc.StatusCode.OK, collection=collection)

    def render(self) -> tuple[bytes, str]:
        """Body and content type of the text exposition format."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    async def handle_metrics(self, request: web.Request) -> web.Response:
        """Ready-made `GET /metrics` handler."""
        body, content_type = self.render()
        # Passed as a header: aiohttp's content_type= argument refuses a charset parameter.
        return web.Response(body=body, headers={"Content-Type": content_type})

    def _make_middleware(self) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
        requests_total = self.http_requests
        duration = self.http_duration
        responses = self.rest_responses
        # (method, endpoint, status) -> the two labelled children: resolving labels costs more
        # than the rest of the bookkeeping, and the set of keys is small (route templates).
        children: dict[tuple[str, str, int], tuple] = {}

        @web.middleware
        async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            started = time.perf_counter()
            status = 500
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as exc:
                status = exc.status
                raise
            except asyncio.CancelledError:
                status = CLIENT_CLOSED_STATUS
                raise
            finally:
                elapsed = time.perf_counter() - started
                method = request.method if request.method in KNOWN_METHODS else "OTHER"
                endpoint = endpoint_label(request)
                key = (method, endpoint, status)
                pair = children.get(key)
                if pair is None:
                    pair = children[key] = (
                        requests_total.labels(method=method, endpoint=endpoint,
                                              status=str(status)),
                        duration.labels(method=method, endpoint=endpoint, status=str(status)),
                    )
                pair[0].inc()
                pair[1].observe(elapsed)
                # Per collection only for answered requests: a 404's name is any string.
                collection = (request.match_info.get("collection_name")
                              if 200 <= status < 300 else None)
                responses.record(f"{method} {endpoint}", status, elapsed, time.time(),
                                 failed=status >= 400, collection=collection)

        return metrics_middleware


def endpoint_label(request: web.Request) -> str:
    """The matched route's path template ("/collections/{collection_name}"), or "unmatched"."""
    route = getattr(request.match_info, "route", None)
    resource = getattr(route, "resource", None)
    if resource is None:
        return UNMATCHED_ENDPOINT
    return resource.canonical
