"""`quota_exceeded{resource="memory"|"disk"}` on /metrics, as Qdrant names it: 1 from the
moment a resource reaches its limit until it falls back under the release margin, else 0.
No series for a resource that is not enforced (no limit, quota disabled, no reading)."""

from __future__ import annotations

from prometheus_client.core import GaugeMetricFamily, Metric

from node.api.source_collector import SourceCollector

# QuotaExceeded's keys (node/quota/guard.py) -> the label Qdrant gives them.
_LABELS = {"resident_memory": "memory", "disk_usage": "disk"}


class QuotaMetrics(SourceCollector):
    empty: dict = {}

    def families(self, exceeded: dict) -> list[Metric]:
        enforced = {_LABELS[key]: over for key, over in exceeded.items()
                    if key in _LABELS and over is not None}
        if not enforced:
            return []
        family = GaugeMetricFamily(
            "quota_exceeded", "1 while this node refuses writes over the resource's quota",
            labels=["resource"])
        for resource, over in sorted(enforced.items()):
            family.add_metric([resource], int(over))
        return [family]
