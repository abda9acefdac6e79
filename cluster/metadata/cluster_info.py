"""Cluster state in Qdrant's shapes: `GET /cluster` and `GET /collections/{name}/cluster`,
and the manual shard operations of `POST /collections/{name}/cluster`."""

from __future__ import annotations

from datetime import datetime, timezone

from cluster.metadata.state import CollectionMeta, MetadataState
from node.model.cluster_ops import ClusterOperation


def cluster_status(state: MetadataState, peer_id: int, raft: dict) -> dict:
    by_address = {info["uri"]: pid for pid, info in state.peers.items()}
    return {
        "status": "enabled",
        "peer_id": peer_id,
        "peers": {str(pid): {"uri": f"http://{info['uri']}/", "api": info.get("api")}
                  for pid, info in sorted(state.peers.items())},
        "raft_info": {
            "term": raft.get("term", 0),
            "commit": raft.get("commit_index", 0),
            "pending_operations": raft.get("pending_operations", 0),
            "leader": by_address.get(raft.get("leader")),
            "role": raft.get("role"),
            "is_voter": raft.get("is_voter", True),
        },
        "consensus_thread_status": consensus_thread_status(raft),
        "message_send_failures": {},
    }


def consensus_thread_status(raft: dict) -> dict:
    if not raft.get("has_quorum"):
        return {"consensus_thread_status": "stopped"}
    # Qdrant's "working" carries the time of the consensus thread's last step; pysyncobj's
    # thread steps every few milliseconds, so now is that time to within a tick.
    now = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    return {"consensus_thread_status": "working", "last_update": now.replace("+00:00", "Z")}


def collection_cluster_info(meta: CollectionMeta, peer_id: int, local_points: dict) -> dict:
    """The placement of a collection's shards as seen from `peer_id`."""
    local, remote = [], []
    for shard_id, replicas in sorted(meta.shards.items()):
        # Qdrant names the key of a custom-sharded collection's shard, and only then.
        key = {"shard_key": meta.shard_keys[shard_id]} if shard_id in meta.shard_keys else {}
        for replica_peer, state in sorted(replicas.items()):
            if replica_peer == peer_id:
                local.append({"shard_id": shard_id, **key,
                              "points_count": local_points.get(shard_id, 0), "state": state})
            else:
                remote.append({"shard_id": shard_id, **key, "peer_id": replica_peer,
                               "state": state})
    return {"peer_id": peer_id, "shard_count": len(meta.shards), "local_shards": local,
            "remote_shards": remote, "shard_transfers": shard_transfer_infos(meta)}


def shard_transfer_infos(meta: CollectionMeta) -> list[dict]:
    """The collection's transfers in progress, as Qdrant's `ShardTransferInfo`."""
    return [
        {"shard_id": t["shard_id"], "from": t["from"], "to": t["to"],
         "sync": t["kind"] != "recovery", "method": "stream_records"}
        for t in meta.transfers
    ]


def shard_operation(meta: CollectionMeta, op: ClusterOperation) -> dict:
    """The consensus op for one decoded `POST /collections/{name}/cluster` operation."""
    transfer = op.move_shard or op.replicate_shard
    if transfer is not None:
        return {"op": "start_transfer", "collection": meta.name, "shard_id": transfer.shard_id,
                "from": transfer.from_peer_id, "to": transfer.to_peer_id,
                "kind": "move" if op.move_shard is not None else "replicate"}
    for key_op in (op.create_sharding_key, op.drop_sharding_key):
        if key_op is not None:
            return key_op.op(meta.name)
    if op.abort_transfer is not None:
        return {"op": "abort_transfer", "collection": meta.name,
                "shard_id": op.abort_transfer.shard_id, "to": op.abort_transfer.to_peer_id}
    return {"op": "drop_replica", "collection": meta.name, "shard_id": op.drop_replica.shard_id,
            "peer_id": op.drop_replica.peer_id}


def shard_keys_listing(meta: CollectionMeta) -> dict:
    """`GET /collections/{name}/shards`: the keys in the order they were created (their first
    shard ids grow); no list at all for an auto-sharded collection."""
    if not meta.custom_sharding:
        return {"shard_keys": None}
    keys = list(dict.fromkeys(key for _, key in sorted(meta.shard_keys.items())))
    return {"shard_keys": [{"key": key} for key in keys]}
