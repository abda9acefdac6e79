"""What a shard's optimizer is doing and has done, for `GET /collections/{name}/optimizations`.

The shard's optimizer thread runs one optimization at a time (node/engine/shard.py); this log
records each: which optimizer (Qdrant's names), which segments with how many live points,
when it started and ended, and whether it failed. The latest ones are kept after they end.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone

# The shard's kinds of optimization, under the names Qdrant's optimizers have.
OPTIMIZER_NAMES = {"index": "indexing", "merge": "merge", "vacuum": "vacuum",
                   "rebuild": "config_mismatch"}
# Completed optimizations kept per shard; `completed_limit` picks the latest of them.
COMPLETED_KEPT = 64


def segment_info(segment_id: str, live_points: int) -> dict:
    """Qdrant's `OptimizationSegmentInfo`; segment directories are named by a uuid's hex."""
    return {"uuid": str(uuid.UUID(hex=segment_id)), "points_count": live_points}


def _timestamp(seconds: float) -> str:
    return (datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"))


@dataclass
class Optimization:
    optimizer: str
    segments: list[dict]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    started: float = field(default_factory=time.time)
    finished: float | None = None
    error: str | None = None

    def as_dict(self) -> dict:
        progress: dict = {"name": self.optimizer, "started_at": _timestamp(self.started)}
        if self.finished is not None:
            progress["finished_at"] = _timestamp(self.finished)
            progress["duration_sec"] = self.finished - self.started
        if self.finished is None:
            status: str | dict = "optimizing"
        elif self.error is not None:
            status = {"error": self.error}
        else:
            status = "done"
        return {"uuid": self.id, "optimizer": self.optimizer, "status": status,
                "segments": self.segments, "progress": progress}


class OptimizationLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: Optimization | None = None
        self._completed: deque[Optimization] = deque(maxlen=COMPLETED_KEPT)

    def start(self, kind: str, segments: list[dict]) -> Optimization:
        record = Optimization(OPTIMIZER_NAMES.get(kind, kind), segments)
        with self._lock:
            self._running = record
        return record

    def finish(self, record: Optimization, error: str | None = None) -> None:
        record.finished = time.time()
        record.error = error
        with self._lock:
            if self._running is record:
                self._running = None
            self._completed.append(record)

    def running(self) -> list[Optimization]:
        with self._lock:
            return [self._running] if self._running is not None else []

    def completed(self) -> list[Optimization]:
        """Latest first."""
        with self._lock:
            return list(reversed(self._completed))


def optimizations_report(shards: list, want: set[str], completed_limit: int) -> dict:
    """Qdrant's `OptimizationsResponse` over `shards` (LocalShard), with the optional parts
    named in `want` (queued, completed, idle_segments)."""
    running: list[Optimization] = []
    completed: list[Optimization] = []
    queued: list[dict] = []
    idle: list[dict] = []
    for shard in shards:
        state = shard.optimization_state()
        running += state["running"]
        completed += state["completed"]
        queued += state["queued"]
        idle += state["idle"]
    report: dict = {
        "summary": {
            "queued_optimizations": len(queued),
            "queued_segments": sum(len(q["segments"]) for q in queued),
            "queued_points": sum(s["points_count"] for q in queued for s in q["segments"]),
            "idle_segments": len(idle),
        },
        "running": [r.as_dict() for r in running],
    }
    if "queued" in want:
        report["queued"] = queued
    if "completed" in want:
        completed.sort(key=lambda r: r.finished or 0.0, reverse=True)
        report["completed"] = [r.as_dict() for r in completed[:completed_limit]]
    if "idle_segments" in want:
        report["idle_segments"] = idle
    return report
