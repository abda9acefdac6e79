"""A write coordinated by a node that has not applied a transfer's start yet still reaches the
receiving replica.

One node of three applies `start_transfer` 2.5 s late (node/fault_injection.py: its Raft thread
sleeps before applying it, as on a node whose Raft lags). Writes stream through that node while
a shard held by another node is replicated to the third. For those 2.5 s the lagging node routes
with a placement in which the receiver is no replica at all. Before writes carried the placement
they were routed with, the receiver finished its transfer long before and missed every such
write that came after its copy; now the source refuses them as stale, and the lagging node
routes them again once it has caught up.
"""

from __future__ import annotations

import random
import threading
import time
from pathlib import Path

import pytest
from cluster_harness import Cluster
from nodeproc import wait_for
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.timeout(300)

DIM = 4
LAG_SECONDS = 2.5


def vector(point_id: int, version: int) -> list[float]:
    rng = random.Random(point_id * 1000 + version)
    return [round(rng.uniform(-1, 1), 4) for _ in range(DIM)]


def upsert(client: QdrantClient, ids: list[int], version: int) -> None:
    client.upsert("race", [models.PointStruct(id=i, vector=vector(i, version),
                                              payload={"v": version}) for i in ids], wait=True)


class Writer(threading.Thread):
    """New points and overwrites of acknowledged ones, one batch at a time."""

    def __init__(self, url: str, first_id: int, acked: dict[int, int]) -> None:
        super().__init__()
        self.client = QdrantClient(url=url, timeout=30)
        self.next_id = first_id
        self.acked = acked
        self.uncertain: set[int] = set()
        self.latencies: list[float] = []
        self.stop = threading.Event()

    def run(self) -> None:
        rng = random.Random(3)
        batch = 0
        while not self.stop.is_set():
            batch += 1
            if batch % 3 == 0:
                ids, version = rng.sample(sorted(self.acked), 5), batch
            else:
                ids, version = list(range(self.next_id, self.next_id + 5)), 0
                self.next_id += 5
            started = time.monotonic()
            try:
                upsert(self.client, ids, version)
            except Exception:  # noqa: BLE001 - an unacknowledged write is only indeterminate
                self.uncertain.update(ids)
                continue
            self.latencies.append(time.monotonic() - started)
            self.acked.update(dict.fromkeys(ids, version))
            time.sleep(0.01)
        self.client.close()


def replica_contents(cluster: Cluster, node, ids: list[int]) -> dict[int, int]:
    """id -> payload version, read through `node`: its own replica of each shard answers."""
    out = {}
    for start in range(0, len(ids), 500):
        response = cluster.http(node).post(
            "/collections/race/points", params={"consistency": "all"},
            json={"ids": ids[start:start + 500], "with_payload": True})
        assert response.status_code == 200, response.text
        out.update({r["id"]: r["payload"]["v"] for r in response.json()["result"]})
    return out


def test_write_routed_before_a_transfer_started_reaches_the_receiver(tmp_path: Path) -> None:
    delay = {"FLOTILLA_TEST_DELAY_METADATA": f"start_transfer={LAG_SECONDS}"}
    cluster = Cluster(tmp_path, size=3, env=lambda index: delay if index == 2 else {})
    lagging = cluster.nodes[2]
    cluster.start()
    try:
        healthy = cluster.nodes[:2]
        with cluster.client(healthy[0]) as client:
            client.create_collection("race", shard_number=3, replication_factor=1,
                                     vectors_config=models.VectorParams(size=DIM,
                                                                        distance="Dot"))
            upsert(client, list(range(600)), 0)
        peers = {cluster.peer_id(n): n for n in cluster.nodes}
        placement = cluster.placement(healthy[0], "race")
        # A shard a healthy node holds goes to the other healthy node: the lagging node
        # coordinates the writes but holds neither replica.
        shard_id, source = next((sid, peer) for sid, replicas in sorted(placement.items())
                                for peer, _ in replicas if peers[peer] in healthy)
        receiver = next(p for p, n in peers.items() if n in healthy and p != source)

        acked = dict.fromkeys(range(600), 0)
        writer = Writer(lagging.url, 10_000, acked)
        writer.start()
        try:
            time.sleep(0.5)
            response = cluster.http(peers[source]).post("/collections/race/cluster", json={
                "replicate_shard": {"shard_id": shard_id, "from_peer_id": source,
                                    "to_peer_id": receiver}})
            assert response.status_code == 200, response.text
            wait_for(lambda: all(cluster.placement(n, "race")[shard_id]
                                 == {(source, "Active"), (receiver, "Active")}
                                 for n in cluster.nodes), 60, "the new replica Active everywhere")
            cluster.wait_all_active("race", 60)
            time.sleep(1.0)  # writes go on through the node that has caught up
        finally:
            writer.stop.set()
            writer.join(60)

        expected = {i: v for i, v in acked.items() if i not in writer.uncertain}
        assert len(expected) > 800, "too few writes acknowledged to tell anything"
        for node in (peers[source], peers[receiver]):
            got = replica_contents(cluster, node, sorted(expected))
            missing = sorted(set(expected) - set(got))
            stale = sorted(i for i in expected if i in got and got[i] != expected[i])
            assert not missing and not stale, (
                f"{node.name}: {len(missing)} acknowledged points missing {missing[:5]}, "
                f"{len(stale)} at an older version {stale[:5]}")
        counts = {}
        for node in (peers[source], peers[receiver]):
            info = cluster.collection_cluster(node, "race")
            counts[node.name] = next(s["points_count"] for s in info["local_shards"]
                                     if s["shard_id"] == shard_id)
        assert len(set(counts.values())) == 1, f"the two replicas differ: {counts}"
        slow = sorted(writer.latencies)
        print(f"\n{len(writer.latencies)} writes through a node applying start_transfer "
              f"{LAG_SECONDS:g}s late: p50 {slow[len(slow) // 2] * 1000:.0f} ms, "
              f"max {slow[-1]:.2f} s; replicas of shard {shard_id}: {counts}")
    finally:
        cluster.stop()
