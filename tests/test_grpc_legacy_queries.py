"""The legacy gRPC methods SearchGroups, RecommendGroups, Discover and DiscoverBatch, which
Flotilla answers as the query API's equivalents (its REST face serves only those): through the
generated stub (qdrant-client has no methods for them), each answer compared with the REST
query it stands for, and bad input refused with INVALID_ARGUMENT or NOT_FOUND."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import numpy as np
import pytest
from nodeproc import HttpSession, NodeProcess
from qdrant_client import grpc as pb

pytestmark = pytest.mark.timeout(120)

NAME = "legacy_queries"
DIM = 4
N = 80


def _vector(values) -> pb.Vector:
    return pb.Vector(dense=pb.DenseVector(data=list(values)))


def _id(num: int) -> pb.PointId:
    return pb.PointId(num=num)


@pytest.fixture(scope="module")
def points_stub(node: NodeProcess, http: HttpSession) -> Iterator[pb.PointsStub]:
    rng = np.random.default_rng(11)
    r = http.put(f"/collections/{NAME}", json={
        "vectors": {"dense": {"size": DIM, "distance": "Cosine"}},
        "sparse_vectors": {"words": {}}, "shard_number": 2})
    assert r.status_code == 200, r.text
    points = []
    for i in range(N):
        indices = sorted(rng.choice(30, size=3, replace=False).tolist())
        points.append({"id": i, "payload": {"group": i % 7, "i": i}, "vector": {
            "dense": rng.normal(size=DIM).round(4).tolist(),
            "words": {"indices": indices, "values": rng.random(3).round(3).tolist()}}})
    r = http.put(f"/collections/{NAME}/points?wait=true", json={"points": points})
    assert r.status_code == 200, r.text
    with grpc.insecure_channel(f"{node.host}:{node.grpc_port}") as channel:
        yield pb.PointsStub(channel)
    http.delete(f"/collections/{NAME}")


def _rest(http: HttpSession, path: str, body: dict) -> dict | list:
    r = http.post(f"/collections/{NAME}/points/{path}", json=body)
    assert r.status_code == 200, r.text
    return r.json()["result"]


def _hits(scored) -> list[tuple[int, float]]:
    return [(p.id.num, round(p.score, 4)) for p in scored]


def _rest_hits(points: list[dict]) -> list[tuple[int, float]]:
    return [(p["id"], round(p["score"], 4)) for p in points]


def _groups(result: pb.GroupsResult) -> list[tuple[int, list[tuple[int, float]]]]:
    return [(g.id.unsigned_value, _hits(g.hits)) for g in result.groups]


def _rest_groups(result: dict) -> list[tuple[int, list[tuple[int, float]]]]:
    return [(g["id"], _rest_hits(g["hits"])) for g in result["groups"]]


def test_search_groups_answers_as_query_groups(points_stub, http) -> None:
    query = [0.3, -0.2, 0.9, 0.1]
    got = points_stub.SearchGroups(pb.SearchPointGroups(
        collection_name=NAME, vector=query, vector_name="dense", group_by="group",
        group_size=3, limit=4, with_payload=pb.WithPayloadSelector(enable=True)), timeout=10)
    want = _rest(http, "query/groups", {"query": query, "using": "dense", "group_by": "group",
                                        "group_size": 3, "limit": 4, "with_payload": True})
    assert _groups(got.result) == _rest_groups(want)
    assert len(got.result.groups) == 4
    assert all(g.hits[0].payload["group"].integer_value == g.id.unsigned_value
               for g in got.result.groups)

    sparse = points_stub.SearchGroups(pb.SearchPointGroups(
        collection_name=NAME, vector=[1.0, 0.5], sparse_indices=pb.SparseIndices(data=[3, 7]),
        vector_name="words", group_by="group", group_size=2, limit=3), timeout=10)
    want = _rest(http, "query/groups", {
        "query": {"indices": [3, 7], "values": [1.0, 0.5]}, "using": "words",
        "group_by": "group", "group_size": 2, "limit": 3})
    assert _groups(sparse.result) == _rest_groups(want)


def test_recommend_groups_answers_as_query_groups(points_stub, http) -> None:
    got = points_stub.RecommendGroups(pb.RecommendPointGroups(
        collection_name=NAME, positive=[_id(1), _id(2)], negative=[_id(3)],
        positive_vectors=[_vector([0.1, 0.2, 0.3, 0.4])], using="dense",
        strategy=pb.RecommendStrategy.BestScore, group_by="group", group_size=2, limit=3,
        filter=pb.Filter(must_not=[pb.Condition(field=pb.FieldCondition(
            key="group", match=pb.Match(integer=0)))])), timeout=10)
    want = _rest(http, "query/groups", {
        "query": {"recommend": {"positive": [1, 2, [0.1, 0.2, 0.3, 0.4]], "negative": [3],
                                "strategy": "best_score"}},
        "using": "dense", "group_by": "group", "group_size": 2, "limit": 3,
        "filter": {"must_not": [{"key": "group", "match": {"value": 0}}]}})
    assert _groups(got.result) == _rest_groups(want)
    assert 0 not in [g for g, _ in _groups(got.result)]


def _discover_request(**extra) -> pb.DiscoverPoints:
    pairs = [pb.ContextExamplePair(positive=pb.VectorExample(id=_id(4)),
                                   negative=pb.VectorExample(id=_id(5))),
             pb.ContextExamplePair(positive=pb.VectorExample(vector=_vector([1, 0, 0, 0])),
                                   negative=pb.VectorExample(id=_id(6)))]
    return pb.DiscoverPoints(collection_name=NAME, context=pairs, using="dense", limit=6,
                             **extra)


REST_CONTEXT = [{"positive": 4, "negative": 5}, {"positive": [1.0, 0.0, 0.0, 0.0],
                                                  "negative": 6}]


def test_discover_answers_as_a_discovery_or_context_query(points_stub, http) -> None:
    target = pb.TargetVector(single=pb.VectorExample(id=_id(9)))
    got = points_stub.Discover(_discover_request(target=target, offset=1), timeout=10)
    want = _rest(http, "query", {"query": {"discover": {"target": 9, "context": REST_CONTEXT}},
                                 "using": "dense", "limit": 6, "offset": 1})
    assert _hits(got.result) == _rest_hits(want["points"])
    assert len(got.result) == 6

    context_only = points_stub.Discover(_discover_request(), timeout=10)
    want = _rest(http, "query", {"query": {"context": REST_CONTEXT}, "using": "dense",
                                 "limit": 6})
    assert _hits(context_only.result) == _rest_hits(want["points"])

    batch = points_stub.DiscoverBatch(pb.DiscoverBatchPoints(
        collection_name=NAME, discover_points=[_discover_request(target=target),
                                               _discover_request()]), timeout=10)
    assert [_hits(b.result) for b in batch.result] == [
        _hits(points_stub.Discover(_discover_request(target=target), timeout=10).result),
        _hits(context_only.result)]


BAD = [
    ("SearchGroups", pb.SearchPointGroups(collection_name=NAME, vector=[1, 0, 0, 0],
                                          vector_name="dense", group_by="group", limit=3),
     grpc.StatusCode.INVALID_ARGUMENT),  # group_size 0
    ("SearchGroups", pb.SearchPointGroups(collection_name=NAME, vector=[1, 0], group_by="group",
                                          vector_name="dense", group_size=1, limit=3),
     grpc.StatusCode.INVALID_ARGUMENT),  # wrong dimension
    ("RecommendGroups", pb.RecommendPointGroups(collection_name=NAME, positive=[_id(10**6)],
                                                using="dense", group_by="group", group_size=1,
                                                limit=2),
     grpc.StatusCode.NOT_FOUND),  # an example point that does not exist
    ("Discover", pb.DiscoverPoints(collection_name=NAME, using="dense", limit=3,
                                   target=pb.TargetVector(single=pb.VectorExample())),
     grpc.StatusCode.INVALID_ARGUMENT),  # an empty example
    ("Discover", pb.DiscoverPoints(collection_name=NAME, using="nope", limit=3,
                                   target=pb.TargetVector(single=pb.VectorExample(id=_id(1)))),
     grpc.StatusCode.INVALID_ARGUMENT),
    ("Discover", pb.DiscoverPoints(collection_name="no_such_collection", limit=3,
                                   target=pb.TargetVector(single=pb.VectorExample(id=_id(1)))),
     grpc.StatusCode.NOT_FOUND),
    ("DiscoverBatch", pb.DiscoverBatchPoints(collection_name=NAME, discover_points=[
        pb.DiscoverPoints(collection_name=NAME, using="dense", limit=3, context=[
            pb.ContextExamplePair(positive=pb.VectorExample(id=_id(1)))])]),
     grpc.StatusCode.INVALID_ARGUMENT),  # a context pair without its negative
]


@pytest.mark.parametrize(("method", "request_", "code"), BAD,
                         ids=[f"{m}-{i}" for i, (m, _, _) in enumerate(BAD)])
def test_bad_input_is_refused(points_stub, method, request_, code) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        getattr(points_stub, method)(request_, timeout=10)
    assert refused.value.code() is code, refused.value.details()
    assert refused.value.details()
