"""Response statistics per API method and status, in the shape of Qdrant's telemetry.

Prometheus histograms (node/api/metrics.py) answer "how many, how slow" in buckets;
`GET /telemetry` answers with Qdrant's `OperationDurationStatistics`: a count, the mean of the
latest durations, the extremes, the total and the time of the last answer. Both faces (REST
and gRPC) record here, each under its own name.
"""

from __future__ import annotations

import threading
from collections import deque
from datetime import datetime, timezone

# Qdrant's mean is over the latest 128 operations: recent behaviour, not the whole uptime.
RECENT_WINDOW = 128
# Collection names come from request paths; only answered (2xx) requests of collections that
# exist are kept per collection, and no more than this many collections.
MAX_COLLECTIONS = 1000


class _Durations:
    __slots__ = ("count", "fail_count", "recent", "min_s", "max_s", "total_s", "last")

    def __init__(self) -> None:
        self.count = 0
        self.fail_count = 0
        self.recent: deque[float] = deque(maxlen=RECENT_WINDOW)
        self.min_s = float("inf")
        self.max_s = 0.0
        self.total_s = 0.0
        self.last = 0.0

    def add(self, seconds: float, failed: bool, now: float) -> None:
        self.count += 1
        self.fail_count += failed
        self.recent.append(seconds)
        self.min_s = min(self.min_s, seconds)
        self.max_s = max(self.max_s, seconds)
        self.total_s += seconds
        self.last = now

    def as_dict(self) -> dict:
        out: dict = {"count": self.count}
        if self.fail_count:
            out["fail_count"] = self.fail_count
        if self.count:
            out["avg_duration_micros"] = sum(self.recent) / len(self.recent) * 1e6
            out["min_duration_micros"] = self.min_s * 1e6
            out["max_duration_micros"] = self.max_s * 1e6
            out["total_duration_micros"] = int(self.total_s * 1e6)
            out["last_responded"] = (
                datetime.fromtimestamp(self.last, timezone.utc)
                .isoformat(timespec="milliseconds").replace("+00:00", "Z"))
        return out


class ResponseStats:
    """Durations by method ("POST /collections/{collection_name}/points/search" or a gRPC
    method name) and status code, overall and per collection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # gRPC and REST may record from different threads
        self._overall: dict[str, dict[int, _Durations]] = {}
        self._per_collection: dict[str, dict[str, dict[int, _Durations]]] = {}

    def record(self, method: str, status: int, seconds: float, now: float, *,
               failed: bool, collection: str | None = None) -> None:
        with self._lock:
            by_status = self._overall.setdefault(method, {})
            (by_status.get(status) or by_status.setdefault(status, _Durations())).add(
                seconds, failed, now)
            if collection is None:
                return
            per_method = self._per_collection.setdefault(method, {})
            if collection not in per_method and len(per_method) >= MAX_COLLECTIONS:
                return
            by_status = per_method.setdefault(collection, {})
            (by_status.get(status) or by_status.setdefault(status, _Durations())).add(
                seconds, failed, now)

    def forget_collection(self, collection: str) -> None:
        with self._lock:
            for per_method in self._per_collection.values():
                per_method.pop(collection, None)

    def telemetry(self, per_collection: bool) -> dict:
        """`WebApiTelemetry` / `GrpcTelemetry`: `responses`, and with `per_collection` also
        `per_collection_responses`."""
        with self._lock:
            out: dict = {"responses": {
                method: {str(status): d.as_dict() for status, d in sorted(by_status.items())}
                for method, by_status in sorted(self._overall.items())
            }}
            if per_collection:
                out["per_collection_responses"] = {
                    method: {
                        name: {str(status): d.as_dict() for status, d in sorted(by.items())}
                        for name, by in sorted(collections.items())
                    }
                    for method, collections in sorted(self._per_collection.items())
                }
        return out
