"""A coordinator does not acknowledge a write on the strength of a replica that was refilled
while it waited to have the replica that missed the write marked Dead.

`partition-isolate` seed 3 lost five acknowledged points this way. Node 2, cut off from the
others, applied a write to its own replica; the call to the other replica hung, so node 2 asked
consensus to mark that one Dead, which could not commit while node 2 was cut off. Meanwhile
the other side marked node 2's replica Dead (another coordinator's write had missed it) and,
once a link came back, refilled it from the replica that lacked the write. Then node 2's mark
committed, node 2 saw its own replica Active again and acknowledged the write: it was on no
replica, and the replica marked Dead was refilled from node 2's copy without it.

Here that sequence runs on one coordinator in this process with its real parts: the write
coordination (cluster/replication/replica_writes.py), a real engine shard as this node's
replica, the real metadata state machine, and a real peer client calling a peer port nothing
listens on (the replica cut off). What consensus commits while the coordinator waits for its
mark is applied, op by op, in the order the chaos run's Raft log holds them.
"""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import numpy as np
import pytest

from cluster.metadata.collection_config import build_collection_config
from cluster.metadata.state import ACTIVE, DEAD, CollectionMeta, MetadataState, apply
from cluster.replication.peer_client import PeerClient
from cluster.replication.remote_shard import RemoteShardAccess
from cluster.replication.replica_set import ClusterLinks
from cluster.replication.replica_writes import write_to_replicas
from cluster.replication.shard_access import LocalShardAccess, ShardAccess
from cluster.replication.write_routing import routed_version, transfer_into
from node.engine.point_batch import DenseColumn, PointBatch
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.errors import Unavailable
from node.model import decode
from node.model.collections import CreateCollection

pytestmark = pytest.mark.timeout(60)

DIM = 4
HERE, OTHER = 11, 22  # this node (the coordinator) and the peer holding the other replica


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def points(ids: list[int]) -> PointBatch:
    rows = np.ones((len(ids), DIM), dtype=np.float32) / 2
    return PointBatch(ids=ids, payloads=[{"id": i} for i in ids],
                      dense={"": DenseColumn(rows=rows, positions=np.arange(len(ids)))})


def two_replicas(other_api: str) -> MetadataState:
    state = MetadataState()
    for peer, api in ((HERE, "http://127.0.0.1:1"), (OTHER, other_api)):
        apply(state, {"op": "add_peer", "peer_id": peer, "uri": f"127.0.0.1:{peer}",
                      "api": api})
    config, _ = build_collection_config(decode(CreateCollection, {
        "vectors": {"size": DIM, "distance": "Dot"}, "replication_factor": 2,
        "write_consistency_factor": 1}))
    apply(state, {"op": "create_collection", "name": "c", "uuid": "uuid-c", "config": config})
    assert state.collections["c"].shards[0] == {HERE: ACTIVE, OTHER: ACTIVE}
    return state


def test_a_replica_refilled_while_the_coordinator_waited_for_consensus_does_not_count(
        tmp_path: Path) -> None:
    other_api = f"http://127.0.0.1:{unused_port()}"
    state = two_replicas(other_api)
    meta = state.collections["c"]
    shard = LocalShard(tmp_path / "shard", ShardConfig.from_collection_config(meta.config))
    shard.upsert(points([1, 2]), sync=True)  # on both replicas before the partition
    reported: list[int] = []

    def commit(op: dict) -> None:
        apply(state, {"collection": "c", "shard_id": 0, **op})

    async def exclude_replica(routed: CollectionMeta, shard_id: int, peer: int) -> bool:
        # What the majority committed before this node's mark got through, in the chaos
        # run's order: this node's replica marked Dead by another coordinator, a recovery
        # transfer into it from the replica that missed the write (its first stream drops
        # every point; the source has 1 and 2 only), the transfer finished; then the mark.
        commit({"op": "set_replica_state", "peer_id": HERE, "state": DEAD,
                "from_state": ACTIVE})
        commit({"op": "start_transfer", "from": OTHER, "to": HERE, "kind": "recovery"})
        record = transfer_into(state.collections["c"], 0, HERE)
        assert record is not None
        shard.begin_transfer(record["id"])
        shard.apply_transfer_batch(points([1, 2]))
        commit({"op": "finish_transfer", "to": HERE, "id": record["id"]})
        shard.end_transfer(state.version)
        commit({"op": "set_replica_state", "peer_id": peer, "state": DEAD,
                "from_state": ACTIVE})
        return True

    async def report_failure(routed: CollectionMeta, shard_id: int, peer: int) -> None:
        reported.append(peer)

    async def write() -> object:
        async with PeerClient() as client:

            def replicas_of(current: CollectionMeta) -> dict[int, ShardAccess]:
                return {HERE: LocalShardAccess(shard),
                        OTHER: RemoteShardAccess(client, OTHER, other_api, current.uuid, 0,
                                                 routed_at=routed_version(current, 0))}

            links = ClusterLinks(
                peer_id=HERE, peers=lambda: state.peers,
                remote=lambda *args: None,  # type: ignore[arg-type,return-value]
                report_failure=report_failure,
                current=lambda routed: state.collections["c"],
                exclude_replica=exclude_replica)
            result = await write_to_replicas(meta, 0, "upsert", (points([3]), True), links,
                                             replicas_of)
            await links.lagging.drain(5.0)
            return result

    try:
        with pytest.raises(Unavailable, match="not acknowledged"):
            asyncio.run(write())
        # The write is indeterminate, as it is: on no replica. What the replicas hold agrees
        # with what was acknowledged, and this node's replica stays Active (the one to refill
        # the other from).
        assert shard.existing([1, 2, 3]) == {1, 2}
        assert state.collections["c"].shards[0] == {HERE: ACTIVE, OTHER: DEAD}
        assert reported == [OTHER]
    finally:
        shard.close()
