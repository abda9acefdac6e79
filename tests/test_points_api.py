"""Point updates (delete, payload, vectors, batch), scroll and filtered count, driven through
qdrant-client against a real node and compared with qdrant-client's local mode."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from nodeproc import HttpSession, NodeProcess
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.timeout(120)

DIM = 4
UUIDS = [str(uuid.UUID(int=i * 0x1234567890ABCDEF + 7)) for i in range(5)]


def point(i: int | str, n: int) -> models.PointStruct:
    """A point with a dense `a`, a dense `b` and a sparse `s` vector (exact in float32)."""
    return models.PointStruct(
        id=i,
        vector={
            "a": [(n * 3 + j) % 7 / 4 for j in range(DIM)],
            "b": [(n + j * 5) % 9 / 8 for j in range(DIM)],
            "s": models.SparseVector(indices=[n % 5, 7], values=[1.5, n / 4]),
        },
        payload={"n": n, "group": ["x", "y", "z"][n % 3], "meta": {"tag": f"t{n}", "k": n % 2}},
    )


def all_points() -> list[models.PointStruct]:
    points = [point(i, i) for i in range(1, 16)]
    points += [point(u, 20 + k) for k, u in enumerate(UUIDS)]
    return points


class Pair:
    """The node under test and local mode, given the same collection and operations."""

    def __init__(self, client: QdrantClient, name: str, shard_number: int = 2) -> None:
        self.remote, self.local, self.name = client, QdrantClient(":memory:"), name
        for c in (self.remote, self.local):
            c.create_collection(
                name,
                vectors_config={
                    "a": models.VectorParams(size=DIM, distance=models.Distance.DOT),
                    "b": models.VectorParams(size=DIM, distance=models.Distance.DOT),
                },
                sparse_vectors_config={"s": models.SparseVectorParams()},
                shard_number=shard_number,
            )
            c.upsert(name, all_points(), wait=True)

    def both(self, op: Callable[[QdrantClient, str], Any]) -> None:
        for c in (self.remote, self.local):
            op(c, self.name)

    def assert_same(self) -> None:
        want = snapshot(self.local, self.name)
        got = snapshot(self.remote, self.name)
        assert want and all(vectors for _, _, vectors in want[:3])  # the comparison has teeth
        assert got == want
        assert self.remote.count(self.name).count == len(want)


def snapshot(client: QdrantClient, name: str) -> list[tuple]:
    """Every point, in scroll order, as comparable plain data."""
    records, _ = client.scroll(name, limit=1000, with_payload=True, with_vectors=True)
    out = []
    for r in records:
        vectors = {}
        for key, value in (r.vector or {}).items():
            if isinstance(value, models.SparseVector):
                vectors[key] = sorted(zip(value.indices, value.values, strict=True))
            else:
                vectors[key] = [round(v, 6) for v in value]
        out.append((r.id, r.payload or {}, vectors))
    return out


@pytest.fixture
def pair(client: QdrantClient, unique_name: str) -> Iterator[Pair]:
    p = Pair(client, unique_name)
    yield p
    p.local.close()


def group_filter(group: str) -> models.Filter:
    return models.Filter(must=[models.FieldCondition(key="group",
                                                     match=models.MatchValue(value=group))])


def test_delete_by_ids_and_by_filter(pair: Pair) -> None:
    pair.both(lambda c, n: c.delete(n, models.PointIdsList(points=[1, 2, UUIDS[0], 999])))
    pair.assert_same()
    pair.both(lambda c, n: c.delete(n, models.FilterSelector(filter=group_filter("x"))))
    pair.assert_same()
    assert pair.remote.count(pair.name, count_filter=group_filter("x")).count == 0


def test_payload_operations(pair: Pair) -> None:
    pair.both(lambda c, n: c.set_payload(n, {"extra": 1, "n": -1}, points=[3, UUIDS[1]]))
    pair.both(lambda c, n: c.set_payload(n, {"flag": True}, points=group_filter("y")))
    pair.both(lambda c, n: c.set_payload(n, {"deep": "v"}, points=[4, 5], key="meta"))
    pair.both(lambda c, n: c.set_payload(n, {"w": 2}, points=[6], key="new.inner"))
    pair.both(lambda c, n: c.overwrite_payload(n, {"only": "this"}, points=[7]))
    pair.both(lambda c, n: c.delete_payload(n, ["group", "absent"], points=[8, 9]))
    pair.both(lambda c, n: c.clear_payload(n, models.PointIdsList(points=[10])))
    pair.both(lambda c, n: c.clear_payload(n, models.FilterSelector(filter=group_filter("z"))))
    pair.assert_same()


def test_delete_nested_payload_key(pair: Pair) -> None:
    pair.remote.delete_payload(pair.name, ["meta.tag"], points=[1])
    (record,) = pair.remote.retrieve(pair.name, [1])
    assert record.payload == {"n": 1, "group": "y", "meta": {"k": 1}}


def test_payload_change_of_a_missing_point_is_404(pair: Pair, http: HttpSession) -> None:
    url = f"/collections/{pair.name}/points/payload?wait=true"
    response = http.post(url, json={"payload": {"a": 1}, "points": [1, 12345]})
    assert response.status_code == 404, response.text
    response = http.put(f"/collections/{pair.name}/points/vectors?wait=true",
                        json={"points": [{"id": 777, "vector": {"a": [1, 2, 3, 4]}}]})
    assert response.status_code == 404, response.text
    pair.assert_same()  # point 1 was not changed either


def test_update_and_delete_vectors(pair: Pair) -> None:
    pair.both(lambda c, n: c.update_vectors(n, [
        models.PointVectors(id=2, vector={"a": [1.0, 2.0, 3.0, 4.0]}),
        models.PointVectors(id=UUIDS[2], vector={
            "s": models.SparseVector(indices=[3, 1], values=[0.5, 0.25])}),
    ]))
    pair.both(lambda c, n: c.delete_vectors(n, ["b"], models.PointIdsList(points=[3, 4])))
    pair.both(lambda c, n: c.delete_vectors(n, ["s"], models.FilterSelector(
        filter=group_filter("z"))))
    pair.assert_same()
    hits = pair.remote.query_points(pair.name, query=[1.0, 2.0, 3.0, 4.0], using="a", limit=1)
    assert hits.points[0].id == 2 and hits.points[0].payload["n"] == 2


def test_batch_applies_operations_in_order(pair: Pair) -> None:
    operations = [
        models.UpsertOperation(upsert=models.PointsList(points=[point(100, 100)])),
        models.SetPayloadOperation(set_payload=models.SetPayload(payload={"p": 1}, points=[100])),
        models.OverwritePayloadOperation(overwrite_payload=models.SetPayload(
            payload={"o": 2}, points=[5])),
        models.DeletePayloadOperation(delete_payload=models.DeletePayload(keys=["n"],
                                                                          points=[6])),
        models.ClearPayloadOperation(clear_payload=models.PointIdsList(points=[7])),
        models.UpdateVectorsOperation(update_vectors=models.UpdateVectors(points=[
            models.PointVectors(id=100, vector={"b": [0.5, 0.5, 0.5, 0.5]})])),
        models.DeleteVectorsOperation(delete_vectors=models.DeleteVectors(
            vector=["a"], points=[8])),
        models.DeleteOperation(delete=models.FilterSelector(filter=group_filter("x"))),
        models.DeleteOperation(delete=models.PointIdsList(points=[UUIDS[4]])),
    ]
    pair.both(lambda c, n: c.batch_update_points(n, operations))
    pair.assert_same()


def test_bad_batch_writes_nothing(pair: Pair, http: HttpSession) -> None:
    url = f"/collections/{pair.name}/points/batch?wait=true"
    good = {"delete": {"points": [1, 2]}}
    bad_operations = [
        {"update_vectors": {"points": [{"id": 3, "vector": {"a": [1, 2]}}]}},
        {"update_vectors": {"points": [{"id": 3, "vector": {"nope": [1, 2, 3, 4]}}]}},
        {"delete_vectors": {"points": [3], "vector": ["nope"]}},
        {"set_payload": {"payload": {"x": 1}, "filter": {"must": [{"bogus": 1}]}}},
        {"clear_payload": {"points": [-5]}},
        {"delete_payload": {"points": [3]}},
        {"set_payload": {"payload": {"x": 1}, "points": [424242]}},
        {"teleport": {}},
    ]
    for bad in bad_operations:
        response = http.post(url, json={"operations": [good, bad]})
        assert response.status_code in (400, 404), (bad, response.text)
        assert "error" in response.json()["status"], response.text
    pair.assert_same()


@pytest.mark.parametrize(("path", "method", "body"), [
    ("/points/delete", "post", {"filter": {"must": {"key": "n"}}}),
    ("/points/delete", "post", {"points": ["not-an-id"]}),
    ("/points/payload", "post", {"payload": [1], "points": [1]}),
    ("/points/payload", "post", {"payload": {"a": 1}, "points": [1], "key": "a..b"}),
    ("/points/payload", "put", {"payload": {"a": 1}}),
    ("/points/vectors", "put", {"points": [{"id": 1, "vector": {"a": [1, 2, 3]}}]}),
    ("/points/vectors/delete", "post", {"points": [1], "vector": ["zzz"]}),
    ("/points/scroll", "post", {"limit": 0}),
    ("/points/scroll", "post", {"offset": "nope"}),
    ("/points/count", "post", {"filter": {"must": [{"key": "n", "range": {"gt": "x"}}]}}),
])
def test_bad_requests_are_400(
    pair: Pair, http: HttpSession, path: str, method: str, body: dict
) -> None:
    response = getattr(http, method)(f"/collections/{pair.name}{path}?wait=true", json=body)
    assert response.status_code == 400, response.text
    assert response.json()["status"]["error"]
    pair.assert_same()


def test_scroll_pages_match_local_mode(pair: Pair) -> None:
    for flt in (None, group_filter("y")):
        for limit in (1, 4, 7, 100):
            pages: dict[str, list] = {}
            for label, c in (("remote", pair.remote), ("local", pair.local)):
                ids, offset = [], None
                while True:
                    records, offset = c.scroll(pair.name, scroll_filter=flt, limit=limit,
                                               offset=offset)
                    ids.append([r.id for r in records])
                    if offset is None:
                        break
                pages[label] = ids
            assert pages["remote"] == pages["local"]
    records, following = pair.remote.scroll(pair.name, limit=2, offset=UUIDS[0],
                                            with_payload=["n"], with_vectors=["b"])
    local_records, local_following = pair.local.scroll(pair.name, limit=2, offset=UUIDS[0],
                                                       with_payload=["n"], with_vectors=["b"])
    assert following == local_following
    assert [(r.id, r.payload, set(r.vector)) for r in records] == [
        (r.id, r.payload, set(r.vector)) for r in local_records
    ]


def test_filtered_count_matches_local_mode(pair: Pair) -> None:
    filters = [
        group_filter("x"),
        models.Filter(must=[models.FieldCondition(key="n", range=models.Range(gte=5, lt=22))]),
        models.Filter(must_not=[models.HasIdCondition(has_id=[1, 2, UUIDS[3]])]),
        models.Filter(must=[models.FieldCondition(key="meta.k", match=models.MatchValue(
            value=1))]),
    ]
    for flt in filters:
        want = pair.local.count(pair.name, count_filter=flt, exact=True).count
        assert pair.remote.count(pair.name, count_filter=flt, exact=True).count == want


def test_changes_survive_a_crash(tmp_path: Path, unique_name: str) -> None:
    proc = NodeProcess(tmp_path / "storage", name="points-crash")
    proc.start_and_wait()
    try:
        client = QdrantClient(url=proc.url, timeout=30, check_compatibility=False)
        pair = Pair(client, unique_name)
        pair.both(lambda c, n: c.delete(n, models.FilterSelector(filter=group_filter("x"))))
        pair.both(lambda c, n: c.set_payload(n, {"deep": 1}, points=[2], key="meta"))
        pair.both(lambda c, n: c.update_vectors(n, [
            models.PointVectors(id=4, vector={"b": [0.0, 1.0, 0.0, 1.0]})]))
        pair.both(lambda c, n: c.delete_vectors(n, ["a"], models.PointIdsList(points=[5])))
        pair.both(lambda c, n: c.clear_payload(n, models.PointIdsList(points=[7])))
        client.close()
        proc.restart(graceful=False)
        pair.remote = QdrantClient(url=proc.url, timeout=30, check_compatibility=False)
        pair.assert_same()
        pair.remote.close()
        pair.local.close()
    finally:
        proc.stop()
