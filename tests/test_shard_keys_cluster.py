"""Custom sharding in a 3-node cluster: keys placed on chosen peers, writes and reads per key
through every node, a key's shards replicated and moved like any shard, key deletion seen by
every node, and a replica of a key's shard that was down catching up after its restart."""

from __future__ import annotations

import random
from contextlib import closing

import pytest
from cluster_harness import Cluster
from nodeproc import NodeProcess, wait_for
from qdrant_client import QdrantClient, models

DIM = 4
RECOVERY_TIMEOUT = 90.0


def vector(point_id: int, version: int = 0) -> list[float]:
    rng = random.Random(point_id * 1000 + version)
    return [round(rng.uniform(-1, 1), 4) for _ in range(DIM)]


def points(ids, version: int = 0) -> list[models.PointStruct]:
    return [models.PointStruct(id=i, vector=vector(i, version), payload={"i": i, "v": version})
            for i in ids]


def client_for(node: NodeProcess, face: str) -> closing[QdrantClient]:
    return closing(QdrantClient(url=node.url, grpc_port=node.grpc_port,
                                prefer_grpc=face == "grpc", timeout=15))


def key_placement(cluster: Cluster, node: NodeProcess, name: str) -> dict:
    """key -> {shard id: {peer ids}} as `node` reports it (local and remote shards)."""
    info = cluster.collection_cluster(node, name)
    out: dict = {}
    for shard in info["local_shards"]:
        out.setdefault(shard["shard_key"], {}).setdefault(shard["shard_id"], set()).add(
            info["peer_id"])
    for shard in info["remote_shards"]:
        out.setdefault(shard["shard_key"], {}).setdefault(shard["shard_id"], set()).add(
            shard["peer_id"])
    return out


def local_counts(cluster: Cluster, name: str) -> dict[tuple[int, int], int]:
    """(shard id, peer id) -> points that replica holds."""
    out = {}
    for node in cluster.nodes:
        info = cluster.collection_cluster(node, name)
        for shard in info["local_shards"]:
            out[(shard["shard_id"], info["peer_id"])] = shard["points_count"]
    return out


def count(cluster: Cluster, node: NodeProcess, name: str, key=None) -> int:
    body = {"exact": True, **({"shard_key": key} if key is not None else {})}
    response = cluster.http(node).post(f"/collections/{name}/points/count",
                                       params={"consistency": "all"}, json=body)
    assert response.status_code == 200, response.text
    return response.json()["result"]["count"]


def scroll_ids(cluster: Cluster, node: NodeProcess, name: str, key=None) -> list:
    body = {"limit": 1000, **({"shard_key": key} if key is not None else {})}
    response = cluster.http(node).post(f"/collections/{name}/points/scroll", json=body)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["result"]["points"]]


@pytest.mark.parametrize("face", ["rest", "grpc"])
def test_keys_on_chosen_peers_serve_reads_and_writes_from_every_node(
        cluster: Cluster, face: str) -> None:
    name = f"keys_{face}_{random.randrange(10**6)}"
    p1, p2, p3 = sorted(cluster.peer_id(n) for n in cluster.nodes)
    first, second, third = cluster.nodes
    with client_for(first, face) as client:
        client.create_collection(name, vectors_config=models.VectorParams(
            size=DIM, distance=models.Distance.DOT), sharding_method=models.ShardingMethod.CUSTOM,
            shard_number=1, replication_factor=1)
        client.create_shard_key(name, "eu", shards_number=2, placement=[p1])
    with client_for(second, face) as client:
        client.create_shard_key(name, 42, replication_factor=2, placement=[p2, p3])
    for node in cluster.nodes:
        placed = key_placement(cluster, node, name)
        assert placed == {"eu": {0: {p1}, 1: {p1}}, 42: {2: {p2, p3}}}, node.name
        assert cluster.get(node, f"/collections/{name}/shards") == {
            "shard_keys": [{"key": "eu"}, {"key": 42}]}

    with client_for(third, face) as client:
        client.upsert(name, points(range(0, 80)), shard_key_selector="eu", wait=True)
    with client_for(first, face) as client:
        client.upsert(name, points(range(500, 560)), shard_key_selector=42, wait=True)
    counts = local_counts(cluster, name)
    assert counts[(0, p1)] + counts[(1, p1)] == 80 and min(counts[(0, p1)],
                                                          counts[(1, p1)]) > 0
    assert counts[(2, p2)] == counts[(2, p3)] == 60
    for node in cluster.nodes:
        assert count(cluster, node, name, "eu") == 80
        assert count(cluster, node, name, [42]) == 60
        assert count(cluster, node, name) == 140
        assert scroll_ids(cluster, node, name, 42) == list(range(500, 560))
        with client_for(node, face) as client:
            hits = client.query_points(name, [1.0] * DIM, limit=200,
                                       shard_key_selector="eu").points
            assert sorted(h.id for h in hits) == list(range(80))
            found = client.retrieve(name, [5, 505], shard_key_selector=42)
            assert [p.id for p in found] == [505]

    # replicate a shard of "eu" and move the shard of 42: the same rules as any shard
    with client_for(second, face) as client:
        assert client.cluster_collection_update(name, models.ReplicateShardOperation(
            replicate_shard=models.ReplicateShard(shard_id=0, from_peer_id=p1,
                                                  to_peer_id=p3)))
        assert client.cluster_collection_update(name, models.MoveShardOperation(
            move_shard=models.MoveShard(shard_id=2, from_peer_id=p3, to_peer_id=p1)))
    wait_for(lambda: all(key_placement(cluster, n, name)[42] == {2: {p1, p2}}
                         for n in cluster.nodes), RECOVERY_TIMEOUT, "the move to finish")
    cluster.wait_all_active(name, RECOVERY_TIMEOUT)
    for node in cluster.nodes:
        assert key_placement(cluster, node, name) == {
            "eu": {0: {p1, p3}, 1: {p1}}, 42: {2: {p1, p2}}}
    counts = local_counts(cluster, name)
    assert counts[(0, p3)] == counts[(0, p1)] and counts[(2, p1)] == 60
    assert (2, p3) not in counts

    # deleting a key drops its shards on every node, and nothing else
    with client_for(third, face) as client:
        client.delete_shard_key(name, "eu")
    for node in cluster.nodes:
        wait_for(lambda node=node: set(key_placement(cluster, node, name)) == {42}, 10,
                 f"{node.name} to drop the key")
        assert count(cluster, node, name) == 60
    assert set(local_counts(cluster, name)) == {(2, p1), (2, p2)}
    cluster.http(first).delete(f"/collections/{name}")


def test_a_restarted_replica_of_a_key_catches_up(cluster: Cluster) -> None:
    name = f"keys_restart_{random.randrange(10**6)}"
    peers = {cluster.peer_id(n): n for n in cluster.nodes}
    holders = sorted(peers)[:2]
    victim, survivor = peers[holders[0]], peers[holders[1]]
    with client_for(survivor, "rest") as client:
        client.create_collection(name, vectors_config=models.VectorParams(
            size=DIM, distance=models.Distance.DOT), sharding_method=models.ShardingMethod.CUSTOM,
            replication_factor=2)
        client.create_shard_key(name, "t", placement=holders, shards_number=2)
        client.upsert(name, points(range(100)), shard_key_selector="t", wait=True)
    victim.kill()
    with client_for(survivor, "rest") as client:
        # the replica on the killed node misses these; its peer takes them
        client.upsert(name, points(range(50, 150), version=1), shard_key_selector="t",
                      wait=True)
    cluster.restart(victim)
    cluster.wait_all_active(name, RECOVERY_TIMEOUT)
    assert count(cluster, victim, name, "t") == 150
    counts = local_counts(cluster, name)
    for shard_id in {sid for sid, _ in counts}:
        assert counts[(shard_id, holders[0])] == counts[(shard_id, holders[1])], counts
    with client_for(victim, "rest") as client:
        found = client.retrieve(name, [60, 149], shard_key_selector="t")
        assert [p.payload["v"] for p in found] == [1, 1]
        assert [k.key for k in client.list_shard_keys(name).shard_keys] == ["t"]
    cluster.http(survivor).delete(f"/collections/{name}")
