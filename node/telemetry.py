"""`GET /telemetry`: what this node is, holds and has served, in Qdrant's `TelemetryData` shape.

The level of detail follows Qdrant's `details_level`: 0 counts collections; 1 adds the build
features, the machine, an aggregate per collection, the Raft status; 2 gives each collection's
config, the peers; 3 adds each shard's replicas and transfers. Parts Flotilla cannot measure
honestly are left out rather than filled in: allocator memory figures (`memory`), hardware
counters (`hardware`), per-segment details, the cluster config block (its fields name gRPC and
Raft queue knobs Flotilla does not have).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cluster.metadata.cluster_info import consensus_thread_status, shard_transfer_infos
from cluster.metadata.collection_info import worst_status
from cluster.metadata.state import CollectionMeta
from node import QDRANT_API_VERSION
from node.api.access import Access
from node.system_info import running_environment

if TYPE_CHECKING:
    from node.runtime import Node

# What the config telemetry of a collection shows, out of the collection's config.
_CONFIG_PARTS = ("params", "hnsw_config", "optimizer_config", "wal_config",
                 "quantization_config", "strict_mode_config")


@dataclass(frozen=True)
class TelemetryDetail:
    level: int = 0
    anonymize: bool = False
    per_collection: bool = False


def node_telemetry(node: Node, detail: TelemetryDetail, access: Access) -> dict:
    """This node's telemetry. Blocking (shard statistics take the shards' locks): run it off
    the event loop."""
    state = node.catalog.state
    metas = [m for m in list(state.collections.values()) if access.can_read(m.name)]
    out: dict = {
        "id": node.telemetry_id,
        "app": _app(node, detail.level),
        "collections": _collections(node, metas, detail.level),
    }
    # As in Qdrant, the cluster, the traffic and the quota are shown to global credentials
    # only.
    if access.global_level is not None:
        out["quota"] = {"config": node.quota.config().to_json(),
                        "exceeded": node.quota.exceeded()}
        out["cluster"] = _cluster(node, detail.level)
        out["requests"] = {
            "rest": node.metrics.rest_responses.telemetry(detail.per_collection),
            "grpc": node.metrics.grpc_responses.telemetry(detail.per_collection),
        }
    return anonymized(out) if detail.anonymize else out


def _app(node: Node, level: int) -> dict:
    app: dict = {"name": "flotilla", "version": QDRANT_API_VERSION,
                 "jwt_rbac": node.settings.service.jwt_rbac,
                 "startup": node.started_at.isoformat(timespec="milliseconds").replace(
                     "+00:00", "Z")}
    if level >= 1:
        app["features"] = {"debug": False, "service_debug_feature": False,
                           "recovery_mode": False, "gpu": False, "rocksdb": False,
                           "staging": False}
        app["system"] = running_environment(node.settings.storage.storage_path)
    return app


def _collections(node: Node, metas: list[CollectionMeta], level: int) -> dict:
    out: dict = {"number_of_collections": len(metas)}
    if level >= 2:
        out["collections"] = [_collection(node, meta, level) for meta in metas]
    elif level == 1:
        out["collections"] = [_aggregated(node, meta) for meta in metas]
    return out


def _aggregated(node: Node, meta: CollectionMeta) -> dict:
    infos = [shard.info() for shard in node.shards.of_collection(meta).values()]
    errors = [i.optimizer_error for i in infos if i.optimizer_error]
    return {"vectors": sum(i.vectors for i in infos),
            "optimizers_status": {"error": errors[0]} if errors else "ok",
            "params": meta.config.get("params", {})}


def _collection(node: Node, meta: CollectionMeta, level: int) -> dict:
    config = {part: meta.config[part] for part in _CONFIG_PARTS if part in meta.config}
    config["uuid"] = meta.uuid
    if meta.config.get("metadata") is not None:
        config["metadata"] = meta.config["metadata"]
    out: dict = {"id": meta.name, "config": config}
    if level >= 3:
        out["shards"] = _replica_sets(node, meta)
        out["transfers"] = shard_transfer_infos(meta)
    return out


def _replica_sets(node: Node, meta: CollectionMeta) -> list[dict]:
    local = node.shards.of_collection(meta)
    sets = []
    for shard_id, replicas in sorted(meta.shards.items()):
        entry: dict = {
            "id": shard_id,
            "remote": [{"shard_id": shard_id, "peer_id": peer}
                       for peer in sorted(replicas) if peer != node.peer_id],
            "replicate_states": {str(peer): state for peer, state in sorted(replicas.items())},
        }
        shard = local.get(shard_id)
        if shard is not None:
            info = shard.info()
            entry["local"] = {
                "variant_name": "local_shard",
                "status": worst_status([info]),
                "total_optimized_points": node.shards.optimized_points(meta, shard_id),
                "num_points": info.points,
                "num_vectors": info.vectors,
            }
        sets.append(entry)
    return sets


def _cluster(node: Node, level: int) -> dict:
    if not node.settings.cluster.enabled or node.consensus is None:
        return {"enabled": False}
    out: dict = {"enabled": True, "resharding_enabled": False}
    state = node.catalog.state
    if level >= 1:
        raft = node.consensus.raft_info()
        out["status"] = {
            "number_of_peers": len(state.peers),
            "term": raft.get("term", 0),
            "commit": raft.get("commit_index", 0),
            "pending_operations": raft.get("pending_operations", 0),
            "role": raft.get("role"),
            "is_voter": raft.get("is_voter", True),
            "peer_id": node.peer_id,
            "consensus_thread_status": consensus_thread_status(raft),
        }
        if node.anti_entropy is not None:
            out["anti_entropy"] = node.anti_entropy.telemetry()
    if level >= 2:
        out["peers"] = {str(pid): {"uri": f"http://{info['uri']}/"}
                        for pid, info in sorted(state.peers.items())}
    return out


# ---- anonymize ------------------------------------------------------------------------------


def anonymized(telemetry: dict) -> dict:
    """Names (collections, peer addresses) replaced by a stable hash, the per-collection
    traffic and user metadata dropped; figures kept. For sharing a report outside."""
    out = dict(telemetry)
    collections = dict(out["collections"])
    if "collections" in collections:
        collections["collections"] = [_anonymized_collection(c)
                                      for c in collections["collections"]]
    out["collections"] = collections
    cluster = out.get("cluster")
    if cluster and "peers" in cluster:
        out["cluster"] = {**cluster, "peers": {pid: {"uri": hashed(info["uri"])}
                                               for pid, info in cluster["peers"].items()}}
    if cluster and "anti_entropy" in cluster:
        checks = cluster["anti_entropy"]
        out["cluster"] = {**out["cluster"], "anti_entropy": {
            **checks, "shards": [{**shard, "collection": hashed(shard["collection"])}
                                 for shard in checks["shards"]]}}
    if "requests" in out:
        out["requests"] = {face: {"responses": stats["responses"]}
                           for face, stats in out["requests"].items()}
    return out


def _anonymized_collection(collection: dict) -> dict:
    if "id" not in collection:  # the aggregate of level 1 names nothing
        return collection
    config = {k: v for k, v in collection["config"].items() if k != "metadata"}
    return {**collection, "id": hashed(collection["id"]), "config": config}


def hashed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]
