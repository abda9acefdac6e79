"""Cluster metrics on /metrics: Raft role, term and commit index, replica states per
collection, transfers, this node's collection status, and counters of quorum failures and
node-to-node requests."""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily, Metric

from node.api.source_collector import SourceCollector

log = logging.getLogger(__name__)

# () -> {"raft": raft_info dict, "replicas": {(collection, state): count},
#        "transfers": {(collection, shard_id, to_peer): progress 0..1}}
ClusterSource = Callable[[], dict]

ROLES = ("Leader", "Follower", "Candidate")
STATUSES = ("green", "yellow", "grey", "red")


class _ClusterCollector(SourceCollector):
    empty: dict = {}

    def families(self, data: dict) -> list[Metric]:
        return self._families(data)

    @staticmethod
    def _families(data: dict) -> list[Metric]:
        raft = data.get("raft") or {}
        role = GaugeMetricFamily("flotilla_raft_role", "1 for this node's Raft role",
                                 labels=["role"])
        for name in ROLES:
            role.add_metric([name], 1.0 if raft.get("role") == name else 0.0)
        term = GaugeMetricFamily("flotilla_raft_term", "Current Raft term",
                                 value=raft.get("term") or 0)
        commit = GaugeMetricFamily("flotilla_raft_commit_index", "Raft commit index",
                                   value=raft.get("commit_index") or 0)
        replicas = GaugeMetricFamily("flotilla_replicas", "Shard replicas by collection and state",
                                     labels=["collection", "state"])
        for (collection, state), count in sorted((data.get("replicas") or {}).items()):
            replicas.add_metric([collection, state], count)
        transfers = GaugeMetricFamily(
            "flotilla_shard_transfer_progress",
            "Progress (0 to 1) of shard transfers into this node",
            labels=["collection", "shard_id"],
        )
        for (collection, shard_id), progress in sorted((data.get("transfers") or {}).items()):
            transfers.add_metric([collection, str(shard_id)], progress)
        status = GaugeMetricFamily(
            "flotilla_collection_status",
            "1 for the status (green, yellow, grey, red) of this node's shards of a collection",
            labels=["collection", "status"],
        )
        for collection, current in sorted((data.get("collection_status") or {}).items()):
            for name in STATUSES:
                status.add_metric([collection, name], 1.0 if current == name else 0.0)
        return [role, term, commit, replicas, transfers, status]


class ClusterMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._collector = _ClusterCollector()
        registry.register(self._collector)
        self.quorum_failures = Counter(
            "flotilla_write_quorum_failures",
            "Writes not acknowledged for want of write_consistency_factor replicas",
            ["collection"], registry=registry,
        )
        self.replicas_marked_dead = Counter(
            "flotilla_replicas_marked_dead",
            "Replicas marked Dead after failing a write", ["collection"], registry=registry,
        )
        self.anti_entropy_repairs = Counter(
            "flotilla_anti_entropy_repairs",
            "Replicas marked Dead because their content differed from the other Active "
            "replicas of their shard while no write moved it (refilled by a transfer)",
            ["collection"], registry=registry,
        )
        self.peer_requests = Counter(
            "flotilla_peer_requests",
            "Requests this node forwarded to other nodes, by operation and outcome",
            ["operation", "outcome"], registry=registry,
        )

    def set_source(self, fn: ClusterSource) -> None:
        self._collector.source = fn
