"""Resource quotas in a 3-node cluster: the config set on one node reaches every node through
Raft (and survives a restart), `GET /quotas` lists every answering peer's usage, a write no
replica can take is Qdrant's 507, and a replica on the one full node is skipped (marked Dead)
while the write is acknowledged by the others, then recovered once that node has room again.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cluster_harness import Cluster
from nodeproc import NodeProcess, wait_for
from tmpfs import disk_percent, fill_to, small_tmpfs

DIM = 4
# No real filesystem is under 1% full: every node refuses every write that stores more.
UNSATISFIABLE = {"enabled": True, "max_disk_usage_percent": 1}
DISABLED = {"enabled": False}


def points(first: int, count: int) -> list[dict]:
    return [{"id": i, "vector": [float(i + 1)] * DIM} for i in range(first, first + count)]


def quotas(cluster: Cluster, node: NodeProcess) -> dict:
    return cluster.get(node, "/quotas")


def set_quota(cluster: Cluster, node: NodeProcess, config: dict) -> None:
    response = cluster.http(node).put("/quotas?wait=true", json=config)
    assert response.status_code == 200, response.text


def config_everywhere(cluster: Cluster, config: dict) -> None:
    for node in cluster.nodes:
        wait_for(lambda node=node: quotas(cluster, node)["config"] == config, 10,
                 f"{node.name} to apply the quota {config}")


def upsert(cluster: Cluster, node: NodeProcess, name: str, batch: list[dict]):
    return cluster.http(node).put(f"/collections/{name}/points?wait=true",
                                  json={"points": batch})


def count(cluster: Cluster, node: NodeProcess, name: str) -> int:
    response = cluster.http(node).post(f"/collections/{name}/points/count",
                                       json={"exact": True})
    assert response.status_code == 200, response.text
    return response.json()["result"]["count"]


def create(cluster: Cluster, name: str) -> None:
    response = cluster.http(cluster.nodes[0]).put(f"/collections/{name}", json={
        "vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 1,
        "replication_factor": 3})
    assert response.status_code == 200, response.text
    cluster.wait_all_active(name)


def test_quota_set_on_one_node_applies_on_all_and_survives_a_restart(cluster: Cluster) -> None:
    name = "everywhere"
    peer_ids = {str(cluster.peer_id(node)) for node in cluster.nodes}
    for node in cluster.nodes:
        status = quotas(cluster, node)
        assert status["config"] == DISABLED
        assert set(status["peers"]) == peer_ids
        for usage in status["peers"].values():
            assert usage["exceeded"] is False
            assert 0 <= usage["disk_usage_percent"] <= 100
            assert isinstance(usage["resident_memory_percent"], int)
        assert status["peers"][str(cluster.peer_id(node))]["disk_usage_percent"] == \
            status["usage"]["disk_usage_percent"]
    create(cluster, name)
    assert upsert(cluster, cluster.nodes[0], name, points(0, 10)).status_code == 200

    set_quota(cluster, cluster.nodes[1], UNSATISFIABLE)
    config_everywhere(cluster, UNSATISFIABLE)
    for node in cluster.nodes:
        assert cluster.get(node, "/telemetry")["quota"] == {
            "config": UNSATISFIABLE,
            "exceeded": {"resident_memory": None, "disk_usage": True}}
        peers = quotas(cluster, node)["peers"]
        assert set(peers) == peer_ids and all(p["exceeded"] for p in peers.values())

    # Every replica is on a node over its quota: no replica takes the write, the client
    # hears 507 and Qdrant's text whichever node it asked, and nothing is written.
    for node in cluster.nodes:
        response = upsert(cluster, node, name, points(100, 3))
        assert response.status_code == 507, response.text
        error = response.json()["status"]["error"]
        assert error.startswith("Disk usage is at ") and "global quota config" in error, error
    assert count(cluster, cluster.nodes[0], name) == 10
    # Deletes free space: they go through.
    response = cluster.http(cluster.nodes[0]).post(
        f"/collections/{name}/points/delete?wait=true", json={"points": [0]})
    assert response.status_code == 200, response.text

    restarted = cluster.nodes[2]
    restarted.kill()
    cluster.restart(restarted)
    assert quotas(cluster, restarted)["config"] == UNSATISFIABLE
    assert upsert(cluster, restarted, name, points(100, 1)).status_code == 507

    # Disabled through another node: every node takes writes again, and the replicas that
    # were skipped meanwhile recover.
    set_quota(cluster, cluster.nodes[0], DISABLED)
    config_everywhere(cluster, DISABLED)
    for offset, node in enumerate(cluster.nodes):
        response = upsert(cluster, node, name, points(200 + offset, 1))
        assert response.status_code == 200, response.text
    cluster.wait_all_active(name)
    for node in cluster.nodes:
        assert count(cluster, node, name) == 12


@pytest.fixture
def cluster_with_small_disk(tmp_path: Path) -> Iterator[tuple[Cluster, Path]]:
    """Three nodes; the third keeps its storage on a small tmpfs of its own."""
    local = Cluster(tmp_path / "cluster", size=3)
    with small_tmpfs(local.nodes[2].storage_path, 64) as disk:
        try:
            yield local.start(), disk
        finally:
            local.stop()


def test_replica_on_the_full_node_is_skipped_and_recovers_once_it_has_room(
        cluster_with_small_disk: tuple[Cluster, Path]) -> None:
    cluster, disk = cluster_with_small_disk
    name = "one_full"
    healthy, full = cluster.nodes[0], cluster.nodes[2]
    others = disk_percent(healthy.storage_path)
    if others > 90:
        pytest.skip(f"the test filesystem is {others:.0f}% full already")
    limit = int(others) + 6
    create(cluster, name)
    assert upsert(cluster, healthy, name, points(0, 10)).status_code == 200

    fill_to(disk, limit + 2)
    set_quota(cluster, healthy, {"enabled": True, "max_disk_usage_percent": limit})
    config_everywhere(cluster, {"enabled": True, "max_disk_usage_percent": limit})
    full_id = cluster.peer_id(full)
    peers = quotas(cluster, healthy)["peers"]
    assert {peer: usage["exceeded"] for peer, usage in peers.items()} == {
        str(cluster.peer_id(node)): node is full for node in cluster.nodes}

    # Enough replicas have room: the write is acknowledged (write_consistency_factor 1),
    # through the full node too, and the full node's replica is marked Dead.
    assert upsert(cluster, healthy, name, points(100, 3)).status_code == 200
    assert upsert(cluster, full, name, points(200, 3)).status_code == 200
    wait_for(lambda: cluster.replica_state(healthy, name, full_id) == {"Dead"}, 15,
             "the full node's replica to be marked Dead")
    assert count(cluster, full, name) == 16
    # It does not pull the shard again while its node is over the quota.
    time.sleep(5)
    assert cluster.replica_state(healthy, name, full_id) == {"Dead"}

    fill_to(disk, max(limit - 20, 5))
    cluster.wait_all_active(name, timeout=60)
    peers = quotas(cluster, healthy)["peers"]
    assert not any(usage["exceeded"] for usage in peers.values())
    # The recovered replica holds every acknowledged point, those it missed included.
    local = cluster.collection_cluster(full, name)["local_shards"]
    assert [shard["points_count"] for shard in local] == [16]
