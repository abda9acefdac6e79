"""Points read by id with `consistency` above one, on real node processes: each point is
answered as a majority of the Active replicas hold it, never as whichever replica answered
first (cluster/replication/replica_set.py, `_agreed_points`).

Replicas are made to differ the way writes still on their way leave them: versions applied
to some replicas only, through the internal API a coordinator uses to reach a replica.
Anti-entropy is slowed down so that it does not make them equal during the test.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import requests
from cluster_harness import Cluster, shard_call
from nodeproc import NodeProcess
from qdrant_client import models

from node.engine.point_batch import DenseColumn, PointBatch

pytestmark = pytest.mark.timeout(300)

NAME = "agreement"
DIM = 4
HOT = 1  # three replicas, three versions
ONE_REPLICA = 2  # on one replica of three only


def _apply_on(node: NodeProcess, uuid: str, point_id: int, version: int) -> None:
    batch = PointBatch(ids=[point_id], payloads=[{"v": version}], dense={"": DenseColumn(
        rows=np.full((1, DIM), version, dtype=np.float32), positions=np.arange(1))})
    shard_call(node, uuid, "upsert", batch, True)


def _retrieve(node: NodeProcess, ids: list[int], consistency: str | None) -> requests.Response:
    params = {"consistency": consistency} if consistency else {}
    return requests.post(f"{node.url}/collections/{NAME}/points", params=params,
                         json={"ids": ids, "with_payload": True}, timeout=30)


def test_each_point_is_answered_as_a_majority_of_replicas_hold_it(tmp_path: Path) -> None:
    slow_anti_entropy = {"FLOTILLA__CLUSTER__ANTI_ENTROPY_PERIOD_MS": "600000"}
    cluster = Cluster(tmp_path, size=3, env=lambda i: slow_anti_entropy).start()
    try:
        first = cluster.nodes[0]
        with cluster.client(first) as client:
            client.create_collection(
                NAME, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
                shard_number=1, replication_factor=3, write_consistency_factor=2)
            cluster.wait_all_active(NAME)
            client.upsert(NAME, [models.PointStruct(id=HOT, vector=[1.0] * DIM,
                                                    payload={"v": 1})], wait=True)
        info = cluster.get(first, f"/internal/v1/collections/{NAME}")
        uuid = info["uuid"]
        holders = [cluster.node_of(int(peer)) for peer in info["shards"]["0"]]

        # Three replicas, each a write behind the next: no two hold the same version, so no
        # answer is a majority's. Whichever replica answered first used to win.
        _apply_on(holders[0], uuid, HOT, 3)
        _apply_on(holders[1], uuid, HOT, 2)
        _apply_on(holders[0], uuid, ONE_REPLICA, 9)
        for node in cluster.nodes:
            began = time.monotonic()
            response = _retrieve(node, [HOT], "majority")
            waited = time.monotonic() - began
            assert response.status_code == 503, response.text
            assert "still on its way" in response.json()["status"]["error"]
            assert waited >= 0.9  # asked again for a moment first: a write may land meanwhile
            # One replica's answer is still there for who asks one replica.
            assert _retrieve(node, [HOT], None).status_code == 200

        # The write reaches a second replica: a majority holds version 2, read through every
        # node, however often; the point one replica holds is absent for a majority.
        _apply_on(holders[2], uuid, HOT, 2)
        for node in cluster.nodes:
            with cluster.client(node) as client:
                for _ in range(5):
                    points = client.retrieve(NAME, [HOT, ONE_REPLICA], with_payload=True,
                                             consistency=models.ReadConsistencyType.MAJORITY)
                    assert [(p.id, p.payload) for p in points] == [(HOT, {"v": 2})]
            # A quorum read asks two replicas, which may be the pair that still differ: it
            # answers version 2 or is refused, never version 3.
            response = _retrieve(node, [HOT], "quorum")
            assert response.status_code in (200, 503), response.text
            if response.status_code == 200:
                assert [p["payload"] for p in response.json()["result"]] == [{"v": 2}]
    finally:
        cluster.stop()
