"""`POST /cluster/recover`: a follower's Raft state replaced by a snapshot of the leader's,
on a real 3-node cluster; refused on the leader and on a standalone node."""

from __future__ import annotations

from pathlib import Path

import requests
from cluster_harness import Cluster
from nodeproc import NodeProcess, wait_for

DIM = 4


def dump_of(node: NodeProcess) -> Path:
    return node.storage_path / "raft" / "raft.dump"


def test_follower_recovers_its_state_from_the_leader(cluster: Cluster) -> None:
    leader = wait_for(cluster.leader, 10, "a Raft leader")
    follower = next(node for node in cluster.nodes if node is not leader)
    http = cluster.http(follower)
    for index in range(3):
        response = http.put(f"/collections/recovered{index}", json={
            "vectors": {"size": DIM, "distance": "Dot"}, "replication_factor": 3})
        assert response.status_code == 200, response.text
    assert http.put("/collections/recovered0/points?wait=true", json={"points": [
        {"id": 1, "vector": [1.0] * DIM}]}).status_code == 200
    before = dump_of(follower).stat().st_mtime_ns if dump_of(follower).exists() else 0

    response = http.post("/cluster/recover")
    assert response.status_code == 200, response.text
    assert response.json()["result"] is True
    # The follower's dump is the one the leader sent, written by pysyncobj as it installed it.
    assert dump_of(follower).stat().st_mtime_ns != before
    # Its state is the cluster's: same collections and placement, and it goes on working.
    for index in range(3):
        name = f"recovered{index}"
        assert cluster.placement(follower, name) == cluster.placement(leader, name)
    assert http.put("/collections/recovered0/points?wait=true", json={"points": [
        {"id": 2, "vector": [2.0] * DIM}]}).status_code == 200
    assert http.put("/collections/recovered3", json={
        "vectors": {"size": DIM, "distance": "Dot"}}).status_code == 200
    for node in cluster.nodes:
        wait_for(lambda node=node: "recovered3" in [
            c["name"] for c in cluster.get(node, "/collections")["collections"]], 10,
            f"{node.name} to list the new collection")
    cluster.wait_all_active("recovered0")
    count = http.post("/collections/recovered0/points/count", json={"exact": True})
    assert count.json()["result"]["count"] == 2

    refused = cluster.http(leader).post("/cluster/recover")
    assert refused.status_code == 400, refused.text
    assert "leader" in refused.json()["status"]["error"]


def test_standalone_node_has_no_raft_state_to_recover(own_node: NodeProcess) -> None:
    response = requests.post(f"{own_node.url}/cluster/recover", timeout=10)
    assert response.status_code == 400, response.text
    assert "standalone" in response.json()["status"]["error"]
