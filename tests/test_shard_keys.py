"""Custom sharding with shard keys on one node, over both faces (REST and gRPC through
qdrant-client).

qdrant-client's local mode has no sharding (its create_shard_key raises), so the reference
for a read is Qdrant's documented semantics: a read with a shard key sees exactly the points
written with that key, a read with a list sees the union of those keys, a read without one
sees every key, and a key with a fallback reads the fallback while the target does not exist.
Each such set is built in local mode as a collection of its own, and the answers compared.
"""

from __future__ import annotations

from contextlib import closing

import numpy as np
import pytest
from client_errors import API_ERRORS, message_of, status_of
from qdrant_client import QdrantClient, models

SEED = 20261203
DIM = 6
VECTORS = models.VectorParams(size=DIM, distance=models.Distance.COSINE)
CUSTOM = models.ShardingMethod.CUSTOM


def _points(rng: np.random.Generator, ids: range) -> list[models.PointStruct]:
    return [models.PointStruct(id=i, vector=rng.normal(size=DIM).round(4).tolist(),
                               payload={"group": int(rng.integers(0, 5)), "n": i})
            for i in ids]


def _reference(points: list[models.PointStruct]) -> QdrantClient:
    local = QdrantClient(":memory:")
    local.create_collection("ref", vectors_config=VECTORS)
    local.upsert("ref", points)
    return local


def _custom(client: QdrantClient, name: str, shard_number: int = 2) -> None:
    client.create_collection(name, vectors_config=VECTORS, sharding_method=CUSTOM,
                             shard_number=shard_number)


def _ids(points) -> list:
    return [p.id for p in points]


def _same_hits(ours, theirs, what: str) -> None:
    assert _ids(ours) == _ids(theirs), what
    for a, b in zip(ours, theirs, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4), what


@pytest.fixture(scope="module")
def keyed(client: QdrantClient, face: str):
    """A custom-sharded collection with keys "small" (one shard) and 7 (two shards), each
    with its own points, and the local-mode reference of each selection."""
    name = f"shard_keys_{face}"
    rng = np.random.default_rng(SEED)
    _custom(client, name)
    client.create_shard_key(name, "small", shards_number=1)
    client.create_shard_key(name, 7)
    small, seven = _points(rng, range(0, 60)), _points(rng, range(100, 190))
    client.upsert(name, small, shard_key_selector="small", wait=True)
    client.upsert(name, seven, shard_key_selector=7, wait=True)
    references = {"small": _reference(small), 7: _reference(seven),
                  "all": _reference(small + seven)}
    return name, references, rng


def test_keys_are_listed_in_creation_order(client, keyed) -> None:
    name, _, _ = keyed
    assert [k.key for k in client.list_shard_keys(name).shard_keys] == ["small", 7]


def test_each_read_sees_the_keys_it_selects(client, keyed) -> None:
    name, refs, rng = keyed
    cases = [("small", refs["small"]), (7, refs[7]), ([7], refs[7]),
             (["small", 7], refs["all"]), (None, refs["all"]),
             (models.ShardKeyWithFallback(target="absent", fallback=7), refs[7]),
             (models.ShardKeyWithFallback(target="small", fallback=7), refs["small"])]
    for _ in range(12):
        vector = rng.normal(size=DIM).tolist()
        flt = models.Filter(must=[models.FieldCondition(
            key="group", match=models.MatchValue(value=int(rng.integers(0, 5))))])
        for selector, ref in cases:
            what = f"selector {selector!r}"
            ours = client.query_points(name, vector, limit=15, shard_key_selector=selector)
            _same_hits(ours.points, ref.query_points("ref", vector, limit=15).points, what)
            ours = client.query_points(name, vector, limit=5, query_filter=flt,
                                       shard_key_selector=selector)
            theirs = ref.query_points("ref", vector, limit=5, query_filter=flt)
            _same_hits(ours.points, theirs.points, what + " filtered")
    for selector, ref in cases:
        what = f"selector {selector!r}"
        assert client.count(name, shard_key_selector=selector).count == \
            ref.count("ref").count, what
        ours, _ = client.scroll(name, limit=500, shard_key_selector=selector)
        assert _ids(ours) == _ids(ref.scroll("ref", limit=500)[0]), what
        found = client.retrieve(name, [3, 59, 100, 150, 999], shard_key_selector=selector)
        expected = ref.retrieve("ref", [3, 59, 100, 150, 999])
        assert sorted(_ids(found)) == sorted(_ids(expected)), what


def test_groups_facets_and_matrix_take_a_key(client, keyed) -> None:
    name, refs, rng = keyed
    vector = rng.normal(size=DIM).tolist()
    groups = client.query_points_groups(name, group_by="group", query=vector, limit=5,
                                        group_size=2, shard_key_selector=7)
    theirs = refs[7].query_points_groups("ref", group_by="group", query=vector, limit=5,
                                         group_size=2)
    assert [[h.id for h in g.hits] for g in groups.groups] == \
        [[h.id for h in g.hits] for g in theirs.groups]
    client.create_payload_index(name, "group", field_schema="integer", wait=True)
    facets = client.facet(name, "group", limit=10, shard_key_selector="small")
    counts = {}
    for point in refs["small"].scroll("ref", limit=500)[0]:
        counts[point.payload["group"]] = counts.get(point.payload["group"], 0) + 1
    assert {hit.value: hit.count for hit in facets.hits} == counts
    matrix = client.search_matrix_pairs(name, sample=20, limit=2, shard_key_selector="small")
    assert matrix.pairs and all(p.a < 60 and p.b < 60 for p in matrix.pairs)


def test_writes_reach_only_their_key(client, unique_name) -> None:
    _custom(client, unique_name, shard_number=3)
    client.create_shard_key(unique_name, "a")
    client.create_shard_key(unique_name, "b")
    rng = np.random.default_rng(SEED + 1)
    points = _points(rng, range(30))
    # A list of keys writes the points into each of them, as Qdrant does.
    client.upsert(unique_name, points, shard_key_selector=["a", "b"], wait=True)
    assert client.count(unique_name, shard_key_selector="a").count == 30
    assert client.count(unique_name, shard_key_selector="b").count == 30
    # A read over both keys shows each point once, at its best place.
    hits = client.query_points(unique_name, points[0].vector, limit=40).points
    assert sorted(_ids(hits)) == list(range(30))
    assert _ids(client.scroll(unique_name, limit=100)[0]) == list(range(30))

    client.delete(unique_name, [0, 1, 2], shard_key_selector="a", wait=True)
    client.set_payload(unique_name, {"tag": "x"}, points=[5], shard_key_selector="b",
                       wait=True)
    client.delete(unique_name, models.Filter(must=[models.FieldCondition(
        key="n", range=models.Range(gte=20))]), shard_key_selector="b", wait=True)
    client.update_vectors(unique_name, [models.PointVectors(id=6, vector=[1.0] * DIM)],
                          shard_key_selector="a", wait=True)
    client.batch_update_points(unique_name, [
        models.DeleteOperation(delete=models.PointIdsList(points=[7], shard_key="b")),
        models.SetPayloadOperation(set_payload=models.SetPayload(
            payload={"tag": "y"}, points=[8], shard_key="a")),
    ], wait=True)
    in_a = {p.id: p for p in client.scroll(unique_name, limit=100, shard_key_selector="a",
                                           with_vectors=True)[0]}
    in_b = {p.id: p for p in client.scroll(unique_name, limit=100, shard_key_selector="b",
                                           with_vectors=True)[0]}
    assert sorted(in_a) == list(range(3, 30))
    assert sorted(in_b) == [i for i in range(20) if i != 7]
    assert in_b[5].payload["tag"] == "x" and "tag" not in in_a[5].payload
    assert in_a[8].payload["tag"] == "y" and "tag" not in in_b[8].payload
    assert in_a[6].vector == pytest.approx([1 / np.sqrt(DIM)] * DIM, abs=1e-5)
    assert in_b[6].vector != pytest.approx(in_a[6].vector, abs=1e-3)  # b keeps its own


def test_deleting_a_key_drops_its_points(client, unique_name) -> None:
    _custom(client, unique_name)
    client.create_shard_key(unique_name, "gone")
    client.create_shard_key(unique_name, "kept")
    rng = np.random.default_rng(SEED + 2)
    client.upsert(unique_name, _points(rng, range(10)), shard_key_selector="gone", wait=True)
    client.upsert(unique_name, _points(rng, range(10, 15)), shard_key_selector="kept",
                  wait=True)
    client.delete_shard_key(unique_name, "gone")
    assert [k.key for k in client.list_shard_keys(unique_name).shard_keys] == ["kept"]
    assert client.count(unique_name).count == 5
    client.create_shard_key(unique_name, "gone")  # the same key again starts empty
    assert client.count(unique_name, shard_key_selector="gone").count == 0


def test_restart_keeps_keys_and_points(own_node) -> None:
    with closing(QdrantClient(url=own_node.url, timeout=10)) as client:
        _custom(client, "kept")
        client.create_shard_key("kept", "a", shards_number=2)
        client.create_shard_key("kept", 3)
        rng = np.random.default_rng(SEED + 3)
        client.upsert("kept", _points(rng, range(20)), shard_key_selector="a", wait=True)
        client.upsert("kept", _points(rng, range(20, 25)), shard_key_selector=3, wait=True)
        before = client.query_points("kept", [1.0] * DIM, limit=30, shard_key_selector=3)
    own_node.restart()
    with closing(QdrantClient(url=own_node.url, timeout=10)) as client:
        assert [k.key for k in client.list_shard_keys("kept").shard_keys] == ["a", 3]
        assert client.count("kept", shard_key_selector="a").count == 20
        after = client.query_points("kept", [1.0] * DIM, limit=30, shard_key_selector=3)
        _same_hits(after.points, before.points, "after restart")
        info = client.get_collection("kept")
        assert info.config.params.sharding_method == CUSTOM
        assert info.points_count == 25


POINT = {"id": 1, "vector": [0.5] * DIM}

# (method, route under the collection, body, status, message); `custom` names the custom
# collection (with key "a"), `auto` an auto-sharded one.
BAD_REQUESTS = [
    ("put", "custom", "points", {"points": [POINT]}, 400,
     "Wrong input: Shard key not specified"),
    ("put", "custom", "points", {"points": [POINT], "shard_key": "zz"}, 400,
     "Wrong input: Shard key zz not found"),
    ("put", "custom", "points", {"points": [POINT], "shard_key": ["a", "zz"]}, 400,
     "Shard key zz not found"),
    ("put", "custom", "points", {"points": [POINT], "shard_key": "1"}, 400,
     "Shard key 1 not found"),  # "1" is not the integer key 1
    ("put", "auto", "points", {"points": [POINT], "shard_key": "a"}, 400,
     "Wrong input: Shard key a not found"),
    ("put", "custom", "points", {"points": [POINT], "shard_key": True}, 400, "shard_key"),
    ("put", "custom", "points", {"points": [POINT], "shard_key": -1}, 400, "shard_key"),
    ("put", "custom", "points", {"points": [POINT], "shard_key": {"target": "a"}}, 400,
     "fallback"),
    ("post", "custom", "points/delete", {"points": [1]}, 400, "Shard key not specified"),
    ("post", "custom", "points/payload", {"points": [1], "payload": {"x": 1}}, 400,
     "Shard key not specified"),
    ("post", "custom", "points/batch", {"operations": [
        {"upsert": {"points": [POINT], "shard_key": "a"}},
        {"delete": {"points": [1]}}]}, 400, "Shard key not specified"),
    ("post", "custom", "points/query", {"query": [1.0] * DIM, "shard_key": "zz"}, 400,
     "Bad request: Shard key zz not found"),
    ("post", "custom", "points/count", {"shard_key": ["zz"]}, 400, "Shard key zz not found"),
    ("post", "auto", "points/scroll", {"shard_key": "a"}, 400, "Shard key a not found"),
    ("post", "custom", "facet", {"key": "x", "shard_key": 5}, 400, "Shard key 5 not found"),
    ("put", "custom", "shards", {"shard_key": "a"}, 400,
     "Bad request: Sharding key a already exists for collection"),
    ("put", "auto", "shards", {"shard_key": "a"}, 400,
     "Bad request: Shard Key cannot be created with Auto sharding method"),
    ("put", "custom", "shards", {"shard_key": "b", "placement": []}, 400,
     "placement cannot be empty"),
    ("put", "custom", "shards", {"shard_key": "b", "placement": [12345]}, 400,
     "Peer 12345 does not exist"),
    ("put", "custom", "shards", {"shard_key": "b", "initial_state": "Dead"}, 400,
     "initial_state"),
    ("put", "custom", "shards", {"shard_key": "b", "initial_state": "Partial"}, 400,
     "Initial state Partial is not supported"),
    ("put", "custom", "shards", {"shard_key": "b", "shards_number": 0}, 400, "shards_number"),
    ("put", "custom", "shards", {"shard_key": 1.5}, 400, "shard_key"),
    ("put", "custom", "shards", {}, 400, "shard_key"),
    ("post", "custom", "shards/delete", {"shard_key": "b"}, 400,
     "Bad request: Sharding key b does not exist for collection"),
]


@pytest.fixture(scope="module")
def bad_input_collections(http) -> dict[str, str]:
    names = {"custom": "shard_keys_bad_custom", "auto": "shard_keys_bad_auto"}
    vectors = {"size": DIM, "distance": "Cosine"}
    for kind, name in names.items():
        body = {"vectors": vectors, **({"sharding_method": "custom"} if kind == "custom" else {})}
        assert http.put(f"/collections/{name}", json=body).status_code == 200
    created = http.put(f"/collections/{names['custom']}/shards", json={"shard_key": "a"})
    assert created.status_code == 200, created.text
    assert http.put(f"/collections/{names['custom']}/shards", json={"shard_key": 1}) \
        .status_code == 200
    return names


@pytest.mark.parametrize(("method", "target", "route", "body", "status", "message"),
                         BAD_REQUESTS)
def test_bad_input_gets_qdrants_error_and_writes_nothing(
        http, bad_input_collections, method, target, route, body, status, message) -> None:
    name = bad_input_collections[target]
    keys_before = http.get(f"/collections/{name}/shards").json()["result"]
    response = getattr(http, method)(f"/collections/{name}/{route}", json=body)
    assert response.status_code == status, response.text
    error = response.json()["status"]["error"]
    assert message in error, error
    assert http.get(f"/collections/{name}/shards").json()["result"] == keys_before
    count = http.post(f"/collections/{name}/points/count", json={}).json()["result"]
    assert count == {"count": 0}  # the first operation of a refused batch is not applied


CLIENT_REFUSALS = [
    (lambda c, n: c.upsert(n, [models.PointStruct(**POINT)]), "Shard key not specified"),
    (lambda c, n: c.upsert(n, [models.PointStruct(**POINT)], shard_key_selector="zz"),
     "Shard key zz not found"),
    (lambda c, n: c.query_points(n, [1.0] * DIM, shard_key_selector=["zz"]),
     "Shard key zz not found"),
    (lambda c, n: c.create_shard_key(n, "a"), "already exists"),
    (lambda c, n: c.delete_shard_key(n, "zz"), "does not exist"),
    (lambda c, n: c.create_shard_key(n, "b", placement=[12345]), "does not exist"),
]


@pytest.mark.parametrize(("call", "message"), CLIENT_REFUSALS)
def test_bad_input_through_the_client_is_refused_by_either_face(
        client, face, call, message) -> None:
    name = f"shard_keys_refusals_{face}"
    if not client.collection_exists(name):
        _custom(client, name)
        client.create_shard_key(name, "a")
    with pytest.raises(API_ERRORS) as refused:
        call(client, name)
    assert status_of(refused.value) == 400
    assert message in message_of(refused.value)
    assert client.count(name).count == 0
    assert [k.key for k in client.list_shard_keys(name).shard_keys] == ["a"]


def test_a_snapshot_keeps_the_keys(http, node, unique_name) -> None:
    """A collection snapshot recovered into a new collection (and over a changed one) brings
    back every key with its points; the shard snapshot of one key's shard puts that shard's
    points back. (Snapshots are REST routes; the client here is only for the checks.)"""
    with closing(QdrantClient(url=node.url, timeout=10)) as client:
        _snapshot_round_trip(http, client, unique_name)


def _snapshot_round_trip(http, client: QdrantClient, unique_name: str) -> None:
    _custom(client, unique_name)
    client.create_shard_key(unique_name, "a", shards_number=2)
    client.create_shard_key(unique_name, 9)
    rng = np.random.default_rng(SEED + 4)
    client.upsert(unique_name, _points(rng, range(40)), shard_key_selector="a", wait=True)
    client.upsert(unique_name, _points(rng, range(40, 50)), shard_key_selector=9, wait=True)
    made = http.post(f"/collections/{unique_name}/snapshots")
    assert made.status_code == 200, made.text
    data = http.get(f"/collections/{unique_name}/snapshots/{made.json()['result']['name']}"
                    ).content

    copy = f"{unique_name}_copy"
    recovered = http.post(f"/collections/{copy}/snapshots/upload",
                          files={"snapshot": ("s.snapshot", data)})
    assert recovered.status_code == 200, recovered.text
    # over the original, after its keys changed
    client.delete_shard_key(unique_name, 9)
    client.create_shard_key(unique_name, "new")
    recovered = http.post(f"/collections/{unique_name}/snapshots/upload",
                          files={"snapshot": ("s.snapshot", data)})
    assert recovered.status_code == 200, recovered.text
    for name in (copy, unique_name):
        assert [k.key for k in client.list_shard_keys(name).shard_keys] == ["a", 9]
        assert client.count(name, shard_key_selector="a").count == 40
        assert _ids(client.scroll(name, limit=100, shard_key_selector=9)[0]) == \
            list(range(40, 50))
        cluster = http.get(f"/collections/{name}/cluster").json()["result"]
        assert {s["shard_id"]: s["shard_key"] for s in cluster["local_shards"]} == \
            {0: "a", 1: "a", 2: 9, 3: 9}

    # one shard of key "a": its points come back, the key's other shard is left alone
    base = f"/collections/{copy}/shards/1/snapshots"
    made = http.post(base)
    assert made.status_code == 200, made.text
    shard_data = http.get(f"{base}/{made.json()['result']['name']}").content
    client.delete(copy, models.Filter(), shard_key_selector="a", wait=True)
    recovered = http.post(f"{base}/upload", params={"priority": "snapshot"},
                          files={"snapshot": ("s.snapshot", shard_data)})
    assert recovered.status_code == 200, recovered.text
    in_shard = http.get(f"/collections/{copy}/cluster").json()["result"]["local_shards"]
    counts = {s["shard_id"]: s["points_count"] for s in in_shard}
    assert counts[0] == 0 and counts[1] > 0 and counts[2] + counts[3] == 10
    assert client.count(copy, shard_key_selector="a").count == counts[1]


def test_a_change_to_a_point_missing_from_its_key_is_a_404(client, unique_name) -> None:
    _custom(client, unique_name)
    client.create_shard_key(unique_name, "a")
    client.create_shard_key(unique_name, "b")
    client.upsert(unique_name, [models.PointStruct(id=1, vector=[0.5] * DIM)],
                  shard_key_selector="b", wait=True)
    for selector in ("a", ["a", "b"]):
        with pytest.raises(API_ERRORS) as refused:
            client.set_payload(unique_name, {"x": 1}, points=[1], shard_key_selector=selector,
                               wait=True)
        assert status_of(refused.value) == 404
    assert client.retrieve(unique_name, [1], shard_key_selector="b")[0].payload == {}
    # a batch that first upserts the point into "a" may then change it there
    client.batch_update_points(unique_name, [
        models.UpsertOperation(upsert=models.PointsList(
            points=[models.PointStruct(id=1, vector=[0.5] * DIM)], shard_key="a")),
        models.SetPayloadOperation(set_payload=models.SetPayload(
            payload={"x": 2}, points=[1], shard_key=["a", "b"])),
    ], wait=True)
    assert [p.payload for p in client.retrieve(unique_name, [1], shard_key_selector="a")] == \
        [{"x": 2}]


def test_a_custom_collection_without_keys_is_empty(client, unique_name) -> None:
    _custom(client, unique_name, shard_number=3)
    assert client.list_shard_keys(unique_name).shard_keys == []
    info = client.get_collection(unique_name)
    assert info.points_count == 0 and info.config.params.shard_number == 3
    assert client.count(unique_name).count == 0
    assert client.query_points(unique_name, [1.0] * DIM, limit=3).points == []
    assert client.retrieve(unique_name, [1]) == []
    assert client.collection_cluster_info(unique_name).shard_count == 0


def test_an_auto_collection_lists_no_keys(http, client, unique_name) -> None:
    client.create_collection(unique_name, vectors_config=VECTORS)
    listed = http.get(f"/collections/{unique_name}/shards").json()["result"]
    assert listed == {"shard_keys": None}  # Qdrant's: the list exists for custom sharding only
    assert [s.get("shard_key") for s in http.get(f"/collections/{unique_name}/cluster")
            .json()["result"]["local_shards"]] == [None]
