"""Conditional upserts: `update_mode` (upsert, insert_only, update_only) and `update_filter`
(only stored points matching it are overwritten; new points are inserted regardless), decided
per point under the shard's lock, on one node and across replicas, and kept across restarts
(the WAL holds only what was written)."""

from __future__ import annotations

import pytest
from cluster_harness import Cluster
from nodeproc import HttpSession, NodeProcess

pytestmark = pytest.mark.timeout(120)


def ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()["result"]


def point(pid: int, version: int, vector: list[float] | None = None) -> dict:
    return {"id": pid, "vector": vector or [float(pid), 1.0], "payload": {"v": version}}


def versions(http: HttpSession, name: str, ids: list[int]) -> dict[int, int]:
    found = ok(http.post(f"/collections/{name}/points", json={"ids": ids, "with_payload": True}))
    return {p["id"]: p["payload"]["v"] for p in found}


def setup(http: HttpSession, name: str, **params) -> None:
    ok(http.put(f"/collections/{name}", json={"vectors": {"size": 2, "distance": "Dot"},
                                              **params}))
    ok(http.put(f"/collections/{name}/points?wait=true",
                json={"points": [point(i, 1) for i in range(0, 10)]}))


@pytest.mark.parametrize("shape", ["points", "batch"])
def test_update_modes(http: HttpSession, unique_name: str, shape: str) -> None:
    setup(http, unique_name, shard_number=2)

    def send(points: list[dict], mode: str) -> None:
        if shape == "points":
            body = {"points": points, "update_mode": mode}
        else:
            body = {"batch": {"ids": [p["id"] for p in points],
                              "vectors": [p["vector"] for p in points],
                              "payloads": [p["payload"] for p in points]},
                    "update_mode": mode}
        ok(http.put(f"/collections/{unique_name}/points?wait=true", json=body))

    send([point(i, 2) for i in range(5, 15)], "insert_only")  # 5..9 exist: left alone
    assert versions(http, unique_name, list(range(15))) == {
        **{i: 1 for i in range(10)}, **{i: 2 for i in range(10, 15)}}
    send([point(i, 3) for i in range(12, 20)], "update_only")  # 15..19 are new: not created
    assert versions(http, unique_name, list(range(20))) == {
        **{i: 1 for i in range(10)}, 10: 2, 11: 2, 12: 3, 13: 3, 14: 3}
    send([point(i, 4) for i in (0, 20)], "upsert")
    assert versions(http, unique_name, [0, 20]) == {0: 4, 20: 4}


def test_update_filter(http: HttpSession, unique_name: str) -> None:
    setup(http, unique_name)
    ok(http.put(f"/collections/{unique_name}/points?wait=true", json={
        "points": [point(i, 5) for i in (1, 2, 3, 50)],
        "update_filter": {"must": [{"key": "v", "range": {"gte": 2}}]},
    }))
    # No stored point had v >= 2: none was overwritten; the new one was inserted.
    assert versions(http, unique_name, [1, 2, 3, 50]) == {1: 1, 2: 1, 3: 1, 50: 5}
    ok(http.put(f"/collections/{unique_name}/points?wait=true", json={
        "points": [point(i, 6) for i in (2, 50)],
        "update_filter": {"must": [{"key": "v", "match": {"value": 5}}]},
    }))
    assert versions(http, unique_name, [2, 50]) == {2: 1, 50: 6}
    # The same through /points/batch, combined with update_only.
    ok(http.post(f"/collections/{unique_name}/points/batch?wait=true", json={"operations": [
        {"upsert": {"points": [point(i, 7) for i in (3, 4, 60)], "update_mode": "update_only",
                    "update_filter": {"must": [{"has_id": [3]}]}}},
    ]}))
    assert versions(http, unique_name, [3, 4, 60]) == {3: 7, 4: 1}


def test_update_vectors_with_update_filter(http: HttpSession, unique_name: str) -> None:
    setup(http, unique_name, shard_number=2)
    ok(http.put(f"/collections/{unique_name}/points/payload?wait=true",
                json={"payload": {"v": 2}, "points": [1, 2, 3]}))
    ok(http.put(f"/collections/{unique_name}/points/vectors?wait=true", json={
        "points": [{"id": i, "vector": [9.0, 9.0]} for i in (0, 1, 2, 3, 4)],
        "update_filter": {"must": [{"key": "v", "match": {"value": 2}}]},
    }))
    found = ok(http.post(f"/collections/{unique_name}/points",
                         json={"ids": [0, 1, 2, 3, 4], "with_vector": True}))
    changed = {p["id"] for p in found if p["vector"] == [9.0, 9.0]}
    assert changed == {1, 2, 3}


@pytest.mark.parametrize("body, text", [
    ({"update_mode": "replace"}, "update_mode"),
    ({"update_mode": 1}, "update_mode"),
    ({"update_filter": {"must": [{"key": "v", "nonsense": 1}]}}, "update_filter"),
])
def test_bad_conditions_write_nothing(http: HttpSession, unique_name: str, body: dict,
                                      text: str) -> None:
    setup(http, unique_name)
    response = http.put(f"/collections/{unique_name}/points?wait=true",
                        json={"points": [point(0, 9), point(99, 9)], **body})
    assert response.status_code == 400, response.text
    assert text in response.json()["status"]["error"]
    assert versions(http, unique_name, [0, 99]) == {0: 1}


def test_kept_across_a_restart(own_node: NodeProcess) -> None:
    http = HttpSession(own_node.url)
    setup(http, "kept")
    ok(http.put("/collections/kept/points?wait=true", json={
        "points": [point(i, 2) for i in (1, 30)], "update_mode": "insert_only"}))
    own_node.restart()
    http = HttpSession(own_node.url)
    assert versions(http, "kept", [1, 30]) == {1: 1, 30: 2}


def test_every_replica_writes_the_same(cluster: Cluster) -> None:
    first, second, third = (cluster.http(n) for n in cluster.nodes)
    setup(first, "replicated", shard_number=2, replication_factor=3)
    cluster.wait_all_active("replicated")
    ok(second.put("/collections/replicated/points?wait=true&ordering=strong", json={
        "points": [point(i, 2) for i in range(5, 15)], "update_mode": "insert_only"}))
    ok(third.put("/collections/replicated/points?wait=true", json={
        "points": [point(i, 3) for i in range(0, 20, 2)],
        "update_filter": {"must": [{"key": "v", "match": {"value": 2}}]}}))
    expected = {**{i: 1 for i in range(10)}, **{i: 2 for i in range(10, 15)},
                10: 3, 12: 3, 14: 3, 16: 3, 18: 3}
    for http in (first, second, third):
        # Each node's own replicas: with rf 3, every node holds every shard.
        found = ok(http.post("/collections/replicated/points?consistency=all",
                             json={"ids": list(range(20)), "with_payload": True}))
        assert {p["id"]: p["payload"]["v"] for p in found} == expected
