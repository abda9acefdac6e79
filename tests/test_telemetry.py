"""`GET /telemetry` and `GET /cluster/telemetry` on real nodes: the shapes of Qdrant's spec,
figures that match what was written and served, and a frozen peer reported as such."""

from __future__ import annotations

import time

import pytest
from cluster_harness import Cluster
from nodeproc import HttpSession, NodeProcess
from qdrant_client import QdrantClient, models
from spec_schema import problems

pytestmark = pytest.mark.timeout(180)

SEARCH = "POST /collections/{collection_name}/points/search"


def telemetry(http: HttpSession, **params: object) -> dict:
    response = http.get("/telemetry", params=params)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert problems("TelemetryData", result) == []
    return result


def fill(client: QdrantClient, name: str, count: int, *, shards: int = 1, rf: int = 1) -> None:
    client.create_collection(
        name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        shard_number=shards, replication_factor=rf)
    client.upsert(name, [models.PointStruct(id=i, vector=[float(i), 1.0, 0.0, 0.5])
                         for i in range(count)], wait=True)


@pytest.fixture(scope="module")
def face() -> str:
    """REST only: these tests count the client's requests under `requests.rest`
    (tests/test_grpc.py checks `requests.grpc`)."""
    return "rest"


def test_levels_follow_qdrant(client: QdrantClient, http: HttpSession, unique_name: str) -> None:
    fill(client, unique_name, 25)
    names = {c.name for c in client.get_collections().collections}

    minimal = telemetry(http)
    assert minimal["collections"] == {"number_of_collections": len(names)}
    assert minimal["app"]["version"] == client.http.service_api.root().version
    assert "system" not in minimal["app"]

    aggregated = telemetry(http, details_level=1)
    assert aggregated["app"]["system"]["cores"] >= 1
    assert aggregated["app"]["system"]["disk_size"] > 0
    ours = [c for c in aggregated["collections"]["collections"] if c["vectors"] == 25]
    assert [c["params"]["vectors"]["distance"] for c in ours] == ["Dot"], ours

    full = telemetry(http, details_level=3)
    (collection,) = [c for c in full["collections"]["collections"] if c["id"] == unique_name]
    assert collection["config"]["params"]["shard_number"] == 1
    assert collection["config"]["uuid"]
    (shard,) = collection["shards"]
    assert shard["local"]["num_points"] == 25
    assert shard["remote"] == []
    assert full["cluster"] == {"enabled": False}


def test_requests_are_counted(client: QdrantClient, http: HttpSession, unique_name: str) -> None:
    fill(client, unique_name, 5)
    before = telemetry(http)["requests"]["rest"]["responses"].get(SEARCH, {}).get("200", {})
    for _ in range(3):
        http.post(f"/collections/{unique_name}/points/search",
                  json={"vector": [1, 0, 0, 0], "limit": 2}).raise_for_status()
    missing = http.post("/collections/no_such_collection/points/search",
                        json={"vector": [1, 0, 0, 0], "limit": 2})
    assert missing.status_code == 404

    result = telemetry(http, per_collection="true")
    responses = result["requests"]["rest"]["responses"]
    after = responses[SEARCH]["200"]
    assert after["count"] - before.get("count", 0) == 3
    assert 0 < after["min_duration_micros"] <= after["avg_duration_micros"]
    assert after["avg_duration_micros"] <= after["max_duration_micros"]
    assert responses[SEARCH]["404"]["fail_count"] >= 1
    per_collection = result["requests"]["rest"]["per_collection_responses"][SEARCH]
    assert per_collection[unique_name]["200"]["count"] == 3
    # A name that is not a collection is never kept: it could be any string a client sends.
    assert "no_such_collection" not in per_collection
    assert result["requests"]["grpc"] == {"responses": {}, "per_collection_responses": {}}


def test_anonymize_hides_names(client: QdrantClient, http: HttpSession, unique_name: str) -> None:
    fill(client, unique_name, 3)
    result = telemetry(http, details_level=2, anonymize="true", per_collection="true")
    ids = [c["id"] for c in result["collections"]["collections"]]
    assert unique_name not in ids and len(ids) == result["collections"]["number_of_collections"]
    assert "per_collection_responses" not in result["requests"]["rest"]


@pytest.mark.parametrize("params", [{"details_level": "-1"}, {"details_level": "x"},
                                    {"anonymize": "maybe"}, {"timeout": "0"}])
def test_bad_parameters_are_refused(http: HttpSession, params: dict) -> None:
    response = http.get("/telemetry", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["status"]["error"]


def test_cluster_telemetry_needs_a_cluster(http: HttpSession) -> None:
    response = http.get("/cluster/telemetry")
    assert response.status_code == 400
    assert "distributed mode" in response.json()["status"]["error"]


# --- cluster ---------------------------------------------------------------------------------


def cluster_telemetry(cluster: Cluster, node: NodeProcess, **params: object) -> dict:
    response = cluster.http(node).get("/cluster/telemetry", params=params)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert problems("DistributedTelemetryData", result) == []
    return result


def test_cluster_view_from_every_node(cluster: Cluster) -> None:
    name = "telemetry_cluster"
    with cluster.client(cluster.nodes[0]) as client:
        fill(client, name, 40, shards=2, rf=2)
    cluster.wait_all_active(name)
    peer_ids = {cluster.peer_id(node) for node in cluster.nodes}

    for node in cluster.nodes:
        result = cluster_telemetry(cluster, node, details_level=1)
        peers = result["cluster"]["peers"]
        assert {int(p) for p in peers} == peer_ids
        assert all(p["responsive"] and p["details"]["commit"] > 0 for p in peers.values())
        assert sum(p["details"]["role"] == "Leader" for p in peers.values()) == 1
        shards = result["collections"][name]["shards"]
        assert len(shards) == 2
        for shard in shards:
            assert len(shard["replicas"]) == 2
            assert {r["state"] for r in shard["replicas"]} == {"Active"}
            # both replicas hold the same points, told by the two peers that hold them
            assert len({r["num_points"] for r in shard["replicas"]}) == 1
        assert sum(s["replicas"][0]["num_points"] for s in shards) == 40

    local = telemetry(cluster.http(cluster.nodes[1]), details_level=1)
    assert local["cluster"]["status"]["number_of_peers"] == 3
    assert local["cluster"]["status"]["peer_id"] == cluster.peer_id(cluster.nodes[1])


def test_frozen_peer_is_not_responsive(cluster: Cluster) -> None:
    frozen = cluster.nodes[2]
    frozen_id = cluster.peer_id(frozen)
    frozen.pause()
    try:
        started = time.monotonic()
        result = cluster_telemetry(cluster, cluster.nodes[0], details_level=1, timeout=1)
        assert time.monotonic() - started < 5
    finally:
        frozen.resume()
    peers = result["cluster"]["peers"]
    assert peers[str(frozen_id)] == {"uri": peers[str(frozen_id)]["uri"], "responsive": False}
    assert sum(p["responsive"] for p in peers.values()) == 2
