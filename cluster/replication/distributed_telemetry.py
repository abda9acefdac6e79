"""`GET /cluster/telemetry`: the cluster seen through every peer's own telemetry.

Each peer reports its level-3 node telemetry (node/telemetry.py). The placement comes from the
peer whose Raft log is furthest (highest term, then commit): the others may not have applied
the latest changes yet. A replica's figures come from the peer that holds it; a peer that did
not answer is listed as not responsive, and its replicas with their state only.
"""

from __future__ import annotations

from node import QDRANT_API_VERSION

# Figures of a local shard that the distributed view repeats per replica.
_REPLICA_FIGURES = ("status", "total_optimized_points", "num_points", "num_vectors")


def distributed_telemetry(peers: dict[int, dict], telemetries: dict[int, dict | None],
                          level: int) -> dict:
    """`peers`: peer id -> {"uri"} from the metadata; `telemetries`: peer id -> its telemetry,
    or None when it did not answer. At least one telemetry (this node's) is present."""
    answered = {pid: t for pid, t in telemetries.items() if t is not None}
    base = max(answered.values(), key=_log_position)
    return {
        "collections": _collections(base, answered, level),
        "cluster": _cluster(base, peers, answered),
    }


def _log_position(telemetry: dict) -> tuple[int, int]:
    status = telemetry.get("cluster", {}).get("status", {})
    return status.get("term", 0), status.get("commit", 0)


def _collections(base: dict, answered: dict[int, dict], level: int) -> dict:
    out = {}
    for collection in base["collections"].get("collections", []):
        name = collection["id"]
        shards = []
        for replica_set in collection.get("shards", []):
            replicas = []
            for peer, state in replica_set["replicate_states"].items():
                replica: dict = {"peer_id": int(peer), "state": state}
                if level >= 1:
                    replica.update(_local_figures(answered.get(int(peer)), name,
                                                  replica_set["id"]))
                replicas.append(replica)
            shards.append({"id": replica_set["id"], "replicas": replicas})
        entry: dict = {"id": name, "shards": shards}
        if collection.get("transfers"):
            entry["shard_transfers"] = collection["transfers"]
        out[name] = entry
    return out


def _local_figures(telemetry: dict | None, collection: str, shard_id: int) -> dict:
    """What the peer holding a replica says about it; nothing when that peer did not answer
    or no longer holds it."""
    if telemetry is None:
        return {}
    for candidate in telemetry["collections"].get("collections", []):
        if candidate.get("id") != collection:
            continue
        for replica_set in candidate.get("shards", []):
            local = replica_set.get("local")
            if replica_set["id"] == shard_id and local is not None:
                return {key: local[key] for key in _REPLICA_FIGURES if key in local}
    return {}


def _cluster(base: dict, peers: dict[int, dict], answered: dict[int, dict]) -> dict:
    cluster = base.get("cluster", {})
    out_peers = {}
    for pid, info in sorted(peers.items()):
        telemetry = answered.get(pid)
        entry: dict = {"uri": f"http://{info['uri']}/", "responsive": telemetry is not None}
        status = (telemetry or {}).get("cluster", {}).get("status")
        if status is not None:
            entry["details"] = {
                "version": telemetry.get("app", {}).get("version", QDRANT_API_VERSION),
                "role": status.get("role"),
                "is_voter": status["is_voter"],
                "term": status["term"],
                "commit": status["commit"],
                "num_pending_operations": status["pending_operations"],
                "consensus_thread_status": status["consensus_thread_status"],
            }
        out_peers[str(pid)] = entry
    return {"enabled": cluster.get("enabled", False), "number_of_peers": len(peers),
            "peers": out_peers}
