"""A call to a frozen peer is given up once the peer stops answering its liveness probe; a call
to a peer that is only slow runs to its end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from nodeproc import NodeProcess, cluster_of_one

from cluster.replication.peer_client import PeerClient, PeerUnavailable
from cluster.replication.peer_liveness import while_alive
from node.errors import NotFound


@pytest.fixture
def peer(tmp_path: Path):
    proc = cluster_of_one(tmp_path / "storage", "liveness-peer")
    try:
        yield proc
    finally:
        proc.stop()


def test_a_frozen_peer_is_given_up_and_a_slow_call_is_not(peer: NodeProcess) -> None:
    async def scenario() -> None:
        # Timeouts far beyond the test: only the liveness probe can end a call early.
        async with PeerClient(write_timeout=60, read_timeout=60) as client:
            # Alive and slow: a call that takes longer than the give-up time still ends well,
            # because the peer keeps answering its probe.
            slow = await while_alive(asyncio.sleep(1.5, result="done"),
                                     lambda wait: client._answers_livez(peer.url, wait))
            assert slow == "done"
            with pytest.raises(NotFound):  # an answer, not a silence
                await client.call_shard(peer.url, "no-such-collection", 0, "count")

            peer.pause()
            try:
                with pytest.raises(PeerUnavailable, match="not answering"):
                    await client.call_shard(peer.url, "no-such-collection", 0, "upsert",
                                            None, True)
            finally:
                peer.resume()
            with pytest.raises(NotFound):  # back: answered again
                await client.call_shard(peer.url, "no-such-collection", 0, "count")

    asyncio.run(scenario())
