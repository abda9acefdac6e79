"""`POST /cluster/recover`: this peer's Raft state replaced whole by a snapshot of the
leader's, as Qdrant's peer asks its leader for one.

For a follower whose metadata is in doubt (a restored or damaged journal, state that trails
for a reason pysyncobj's log replay does not fix): its state and log become the leader's,
from a freshly written dump (MetadataConsensus.send_snapshot on the leader), and the local
shards follow through the usual reconcile. Answered once the snapshot is installed here.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from node.errors import BadRequest, Unavailable

if TYPE_CHECKING:
    from cluster.consensus.consensus import MetadataConsensus
    from cluster.replication.peer_client import PeerClient

INSTALL_SECONDS = 10.0


async def recover_from_leader(consensus: MetadataConsensus, peers: dict[int, dict],
                              peer_client: PeerClient) -> None:
    leader = consensus.raft_info()["leader"]
    if leader is None:
        raise Unavailable("no Raft leader is known to this peer now: nothing to recover from")
    if leader == consensus.self_address:
        raise BadRequest("this peer is the Raft leader: its state is the one the others "
                         "recover from")
    api = next((info["api"] for info in peers.values() if info["uri"] == leader), None)
    if api is None:
        raise Unavailable(f"the Raft leader {leader} is not among the peers this node knows")
    installed = consensus.snapshots_installed
    await peer_client.send_snapshot(api, consensus.self_address)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + INSTALL_SECONDS
    while consensus.snapshots_installed == installed:
        if loop.time() > deadline:
            raise Unavailable(f"the leader's snapshot was not installed within "
                              f"{INSTALL_SECONDS:g}s; try again")
        await asyncio.sleep(0.02)
