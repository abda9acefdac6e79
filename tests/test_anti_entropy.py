"""Anti-entropy on real node processes (cluster/replication/anti_entropy.py): replicas of a
shard that hold different content while no write moves them are made equal again, through the
usual Dead-then-recovery path, and replicas that are equal are left alone.

The difference is made as a write that was never acknowledged leaves it: applied to one
replica only, through the internal API a coordinator uses to reach a replica.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import requests
from cluster_harness import Cluster, shard_call
from nodeproc import NodeProcess, wait_for
from qdrant_client import models

from chaos.convergence import DIFFERS_LINE
from node.engine.point_batch import DenseColumn, PointBatch

pytestmark = pytest.mark.timeout(300)

NAME = "entropy"
DIM = 4
ACKED = list(range(100))
UNACKED_ID = 10_000


def _telemetry(cluster: Cluster, node: NodeProcess) -> dict:
    return cluster.get(node, "/telemetry", params={"details_level": 1})["cluster"][
        "anti_entropy"]


def _repairs(cluster: Cluster) -> int:
    return sum(_telemetry(cluster, node)["repairs"] for node in cluster.nodes)


def _digests(cluster: Cluster, uuid: str, holders: list[NodeProcess]) -> set[str]:
    return {shard_call(node, uuid, "content_digest")["digest"] for node in holders}


def _ids_on(node: NodeProcess, uuid: str) -> set:
    return {record[0] for record in shard_call(node, uuid, "scan", None)}


def _metric(node: NodeProcess, name: str) -> float:
    text = requests.get(f"{node.url}/metrics", timeout=10).text
    return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line.startswith(name + "{") and f'collection="{NAME}"' in line)


def test_replicas_differing_on_an_unacknowledged_write_are_refilled(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, size=3).start()
    try:
        first = cluster.nodes[0]
        with cluster.client(first) as client:
            client.create_collection(
                NAME, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
                shard_number=1, replication_factor=2, write_consistency_factor=1)
            cluster.wait_all_active(NAME)
            rng = np.random.default_rng(7)
            client.upsert(NAME, [models.PointStruct(id=i, vector=rng.normal(size=DIM).tolist(),
                                                    payload={"n": i}) for i in ACKED], wait=True)
        info = cluster.get(first, f"/internal/v1/collections/{NAME}")
        uuid = info["uuid"]
        placed = [int(peer) for peer in info["shards"]["0"]]  # placement order
        holders = [cluster.node_of(peer) for peer in placed]

        # Equal replicas are compared pass after pass and left alone.
        wait_for(lambda: any(s["status"] == "equal" and s["pass"] >= 3
                             for node in cluster.nodes
                             for s in _telemetry(cluster, node)["shards"]),
                 30, "three anti-entropy passes finding the replicas equal")
        assert _repairs(cluster) == 0

        # A write that reached the second placed replica only, as one whose client got no
        # acknowledgement can.
        extra = PointBatch(ids=[UNACKED_ID], payloads=[{"n": -1}], dense={"": DenseColumn(
            rows=np.ones((1, DIM), dtype=np.float32), positions=np.arange(1))})
        shard_call(holders[1], uuid, "upsert", extra, True)
        assert len(_digests(cluster, uuid, holders)) == 2

        began = time.monotonic()
        wait_for(lambda: _repairs(cluster) >= 1, 30, "anti-entropy to repair the shard")
        wait_for(lambda: cluster.all_active(NAME) and len(_digests(cluster, uuid, holders)) == 1,
                 60, "the refilled replica Active and equal to the other")
        repaired_in = time.monotonic() - began
        print(f"replicas made equal {repaired_in:.1f} s after they began to differ")

        # On a tie the first placed replica's content stays: the second was refilled from it.
        for holder in holders:
            assert _ids_on(holder, uuid) == set(ACKED)
        assert _metric(holders[0], "flotilla_anti_entropy_repairs_total") == 1
        # The repair names the point the replicas differed on (what the chaos checker reads).
        (logged,) = list(DIFFERS_LINE.finditer(holders[0].log_text().encode()))
        assert logged["ids"] == f"[{UNACKED_ID}]".encode() and logged["count"] == b"1"

        # The refilled replica is equal byte for byte: later passes find nothing to repair.
        passes = _telemetry(cluster, holders[0])["passes"]
        wait_for(lambda: _telemetry(cluster, holders[0])["passes"] >= passes + 3, 30,
                 "three more anti-entropy passes")
        assert _repairs(cluster) == 1
        assert {s["status"] for s in _telemetry(cluster, holders[0])["shards"]} == {"equal"}
    finally:
        cluster.stop()
