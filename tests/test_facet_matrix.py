"""Facet counts and the distance matrix through qdrant-client, on one node and on a 3-node
cluster, compared in bulk with the client's local mode (Qdrant's reference semantics): the same
facet hits (values, counts, order), and for a matrix whose sample covers every matching point
the same ids, the same neighbours in the same order and scores within 1e-4. Random data and
requests come from fixed seeds."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import numpy as np
import pytest
from client_errors import API_ERRORS, message_of, status_of
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.timeout(300)

N_POINTS = 300
SEED = 20261203
COLORS = ["red", "green", "blue", "amber", "violet", "teal"]
REFS = [str(uuid.UUID(int=i * 7919 + 1)) for i in range(5)]
INDEXES = {"color": "keyword", "group": "integer", "flag": "bool", "ref": "uuid"}
VECTORS = {
    "dense": models.VectorParams(size=8, distance=models.Distance.COSINE),
    "euclid": models.VectorParams(size=4, distance=models.Distance.EUCLID),
    "dot": models.VectorParams(size=5, distance=models.Distance.DOT),
    "manhattan": models.VectorParams(size=3, distance=models.Distance.MANHATTAN),
}
SPARSE = {"words": models.SparseVectorParams(),
          "idf": models.SparseVectorParams(modifier=models.Modifier.IDF)}


def _sparse(rng: np.random.Generator) -> models.SparseVector:
    indices = sorted(rng.choice(40, size=int(rng.integers(1, 6)), replace=False).tolist())
    return models.SparseVector(indices=indices, values=rng.random(len(indices)).round(4).tolist())


def _points(rng: np.random.Generator) -> list[models.PointStruct]:
    points = []
    for i in range(N_POINTS):
        vector = {name: rng.normal(size=params.size).tolist() for name, params in VECTORS.items()
                  if name == "dense" or i % 5}  # every fifth point lacks the other vectors
        if i % 5:
            vector.update({name: _sparse(rng) for name in SPARSE})
        color: object = str(rng.choice(COLORS[: 2 + i % 5]))
        if i % 7 == 0:  # an array, with a repeated value counted once
            color = [color, str(rng.choice(COLORS)), color]
        payload = {"color": color, "group": int(rng.integers(0, 15)),
                   "flag": bool(rng.random() < 0.3), "rank": float(rng.random()),
                   "all_vectors": bool(i % 5)}
        if i % 3:
            payload["ref"] = str(rng.choice(REFS))
        if i % 11 == 0:
            payload["group"] = [int(rng.integers(0, 15)), int(rng.integers(15, 20))]
        # Integer ids only: the reference cannot sort a sample of mixed ids.
        points.append(models.PointStruct(id=i, vector=vector, payload=payload))
    return points


def _load(target: QdrantClient, name: str, points, **create) -> None:
    target.create_collection(name, vectors_config=VECTORS, sparse_vectors_config=SPARSE,
                             **create)
    for start in range(0, len(points), 100):
        target.upsert(name, points[start: start + 100], wait=True)
    for key, schema in INDEXES.items():
        target.create_payload_index(name, key, field_schema=schema, wait=True)


@pytest.fixture(scope="module")
def reference() -> QdrantClient:
    local = QdrantClient(":memory:")
    _load(local, "facets", _points(np.random.default_rng(SEED)))
    return local


@pytest.fixture(scope="module", params=["single node", "cluster"])
def target(request, client, face) -> Iterator[QdrantClient]:
    """The same collection as the reference's, on one node (3 shards) or on a 3-node cluster
    (3 shards of 2 replicas), queried through the client over the face under test."""
    points = _points(np.random.default_rng(SEED))
    if request.param == "single node":
        _load(client, "facets", points, shard_number=3)
        yield client
        client.delete_collection("facets")
        return
    cluster = request.getfixturevalue("cluster")
    with cluster.client(cluster.nodes[0]) as first:
        _load(first, "facets", points, shard_number=3, replication_factor=2)
        cluster.wait_all_active("facets")
    other = cluster.nodes[1]  # a node that did not take the writes
    reader = QdrantClient(url=other.url, grpc_port=other.grpc_port,
                          prefer_grpc=face == "grpc", timeout=60)
    try:
        yield reader
    finally:
        reader.close()
        with cluster.client(cluster.nodes[0]) as first:
            first.delete_collection("facets")


def _random_filter(rng: np.random.Generator) -> models.Filter | None:
    choice = int(rng.integers(0, 4))
    if choice == 0:
        return None
    if choice == 1:
        return models.Filter(must=[models.FieldCondition(
            key="color", match=models.MatchAny(any=[str(c) for c in rng.choice(COLORS, 2)]))])
    if choice == 2:
        return models.Filter(must_not=[models.FieldCondition(
            key="group", range=models.Range(lt=int(rng.integers(2, 10))))])
    return models.Filter(should=[
        models.FieldCondition(key="flag", match=models.MatchValue(value=True)),
        models.FieldCondition(key="rank", range=models.Range(gt=float(rng.random()))),
    ])


def test_facets_match_reference(target, reference):
    rng = np.random.default_rng(SEED + 1)
    compared = 0
    for _ in range(60):
        key = str(rng.choice(list(INDEXES)))
        flt = _random_filter(rng)
        limit = int(rng.integers(1, 25))
        exact = bool(rng.random() < 0.5)
        ours = target.facet("facets", key, facet_filter=flt, limit=limit, exact=exact).hits
        theirs = reference.facet("facets", key, facet_filter=flt, limit=limit).hits
        assert [(h.value, h.count) for h in ours] == [(h.value, h.count) for h in theirs], (
            key, flt, limit)
        compared += 1
    print(f"{compared} facet requests identical to the reference")


def _with_vector(flt: models.Filter | None, using: str) -> models.Filter | None:
    if using == "dense":
        return flt
    has_all = models.FieldCondition(key="all_vectors", match=models.MatchValue(value=True))
    return models.Filter(must=[has_all] + ([flt] if flt is not None else []))


def _same_neighbours(ours, theirs, what) -> None:
    """Per sampled point, the same neighbours in the same order with scores within 1e-4."""
    assert len(ours) == len(theirs), what
    for (a1, b1, s1), (a2, b2, s2) in zip(ours, theirs, strict=True):
        assert a1 == a2, what
        assert s1 == pytest.approx(s2, abs=1e-4), what
        if b1 != b2:  # only an exact tie may list two neighbours the other way round
            assert abs(s1 - s2) < 1e-6, what


_REFERENCE_PAIRS: dict[str, list] = {}


def _reference_pairs(reference: QdrantClient, kwargs: dict) -> list:
    """The reference's pairs, computed once for both targets (local mode is slow at this)."""
    key = repr(sorted(kwargs.items()))
    if key not in _REFERENCE_PAIRS:
        _REFERENCE_PAIRS[key] = reference.search_matrix_pairs("facets", **kwargs).pairs
    return _REFERENCE_PAIRS[key]


def test_distance_matrix_matches_reference(target, reference):
    rng = np.random.default_rng(SEED + 2)
    compared = pairs = 0
    for _ in range(20):
        using = str(rng.choice(list(VECTORS) + list(SPARSE)))
        flt = _random_filter(rng)
        limit = int(rng.integers(1, 6))
        kwargs = dict(query_filter=flt, limit=limit, sample=N_POINTS + 10, using=using)
        ours = target.search_matrix_pairs("facets", **kwargs).pairs
        assert all(p.a % 5 and p.b % 5 for p in ours) or using == "dense"
        # The reference fails on points without the vector: the filter leaves them out there.
        kwargs["query_filter"] = _with_vector(flt, using)
        if kwargs["query_filter"] is not flt:
            ours = target.search_matrix_pairs("facets", **kwargs).pairs
        theirs = _reference_pairs(reference, kwargs)
        _same_neighbours([(p.a, p.b, p.score) for p in ours],
                         [(p.a, p.b, p.score) for p in theirs], (using, flt, limit))
        # The reference's offsets come from the same computation as its pairs.
        offsets = target.search_matrix_offsets("facets", **kwargs)
        ids = offsets.ids
        holding = reference.scroll("facets", scroll_filter=kwargs["query_filter"], limit=1000,
                                   with_vectors=[using])[0]
        assert ids == sorted(p.id for p in holding if using in (p.vector or {}))
        assert offsets.offsets_row == [ids.index(p.a) for p in theirs]
        _same_neighbours(
            [(ids[r], ids[c], s) for r, c, s in zip(
                offsets.offsets_row, offsets.offsets_col, offsets.scores, strict=True)],
            [(p.a, p.b, p.score) for p in theirs], ("offsets", using, flt, limit))
        compared += 1
        pairs += len(theirs)
    assert pairs > 1000
    print(f"{compared} distance matrices ({pairs} pairs) identical to the reference")


def test_the_sample_is_random_and_within_the_filter(target):
    flt = models.Filter(must=[models.FieldCondition(key="flag",
                                                    match=models.MatchValue(value=True))])
    matching = {p.id for p in target.scroll("facets", scroll_filter=flt, limit=1000)[0]}
    seen: set = set()
    for _ in range(8):
        result = target.search_matrix_offsets("facets", query_filter=flt, sample=10, limit=2,
                                              using="dense")
        assert len(result.ids) == 10 and set(result.ids) <= matching
        assert result.offsets_row == [row for row in range(10) for _ in range(2)]
        seen.update(result.ids)
    assert len(seen) > 20  # eight samples of ten from ~90 points: not the same ten each time


def test_reads_at_every_consistency(target):
    for consistency in (models.ReadConsistencyType.ALL, models.ReadConsistencyType.MAJORITY, 2):
        hits = target.facet("facets", "color", limit=3, consistency=consistency,
                            timeout=5).hits
        assert len(hits) == 3
        pairs = target.search_matrix_pairs("facets", sample=5, limit=1, using="dense",
                                           consistency=consistency, timeout=5).pairs
        assert len(pairs) == 5


BAD_REQUESTS = [
    ("facet", {"key": "rank"}, 400, 'Index required but not found for "rank"'),
    ("facet", {"key": "nowhere"}, 400, "Index required but not found"),
    ("facet", {"key": "color", "limit": 0}, 422, "limit: value 0 invalid"),
    ("facet", {"key": "color", "limit": -3}, 400, "Format error in JSON body"),
    ("facet", {"limit": 3}, 400, "Format error in JSON body: Object missing required field `key`"),
    ("facet", {"key": "color", "filter": {"must": [{"nonsense": 1}]}}, 400, "filter"),
    ("facet", {"key": "color", "exact": "yes"}, 400, "exact"),
    ("facet", {"key": "color", "shard_key": "k"}, 400, "Shard key k not found"),
    ("points/search/matrix/pairs", {"using": 5}, 400, "Format error in JSON body: using"),
    ("points/search/matrix/pairs", {"using": "nope"}, 400,
     "Not existing vector name error: nope"),
    ("points/search/matrix/pairs", {}, 400, "Not existing vector name error"),
    ("points/search/matrix/pairs", {"using": "dense", "sample": 1}, 422,
     "sample: value 1 invalid, must be 2 or larger"),
    ("points/search/matrix/offsets", {"using": "dense", "limit": 0}, 422,
     "limit: value 0 invalid"),
    ("points/search/matrix/offsets", {"using": "dense", "limit": -1}, 400, "limit"),
    ("points/search/matrix/offsets", {"using": "dense", "filter": {"must": 5}}, 400, "filter"),
]


@pytest.mark.parametrize(("route", "body", "status", "message"), BAD_REQUESTS)
def test_bad_input_gets_qdrants_error(http, client, route, body, status, message):
    if not client.collection_exists("bad_facets"):
        client.create_collection("bad_facets", vectors_config=VECTORS)
        client.create_payload_index("bad_facets", "color", field_schema="keyword", wait=True)
    response = http.post(f"/collections/bad_facets/{route}", json=body)
    assert response.status_code == status, response.text
    error = response.json()["status"]["error"]
    assert message in error, error
    missing = http.post(f"/collections/no_such_collection/{route}",
                        json={"key": "color", "using": "dense"})
    assert missing.status_code == 404, missing.text


def test_facet_through_the_client_raises_on_a_missing_index(target):
    with pytest.raises(API_ERRORS) as refused:
        target.facet("facets", "rank")
    assert status_of(refused.value) == 400


def test_facets_follow_writes(client, unique_name):
    """Counts read the payloads as they are now: after an overwrite, a delete, a payload set
    by filter (indexes keep stale entries until a rebuild; facets must not count them)."""
    client.create_collection(unique_name, vectors_config=VECTORS, shard_number=2)
    client.create_payload_index(unique_name, "color", field_schema="keyword", wait=True)
    client.upsert(unique_name, [
        models.PointStruct(id=i, vector={"dense": [1.0] * 8},
                           payload={"color": COLORS[i % 3]}) for i in range(30)], wait=True)
    assert [(h.value, h.count) for h in client.facet(unique_name, "color").hits] == [
        ("blue", 10), ("green", 10), ("red", 10)]
    client.overwrite_payload(unique_name, {"color": "teal"}, points=[0, 1, 2], wait=True)
    client.delete(unique_name, points_selector=[3, 4], wait=True)
    client.set_payload(unique_name, {"color": ["red", "amber"]}, points=models.Filter(must=[
        models.FieldCondition(key="color", match=models.MatchValue(value="green"))]), wait=True)
    # 0..29 colored red, green, blue by i % 3; 0, 1, 2 became teal, 3 and 4 are gone, greens
    # (i % 3 == 1) now hold red and amber.
    assert [(h.value, h.count) for h in client.facet(unique_name, "color").hits] == [
        ("red", 16), ("blue", 9), ("amber", 8), ("teal", 3)]
    amber = models.Filter(must=[models.FieldCondition(
        key="color", match=models.MatchValue(value="amber"))])
    assert [(h.value, h.count) for h in client.facet(
        unique_name, "color", facet_filter=amber, limit=2).hits] == [("amber", 8), ("red", 8)]


CLIENT_REFUSALS = [
    (lambda c: c.facet("bad_facets", "rank"), 400, "Index required but not found for"),
    (lambda c: c.facet("bad_facets", "color", limit=0), 400, "limit: value 0 invalid"),
    (lambda c: c.search_matrix_pairs("bad_facets", using="nope"), 400,
     "Not existing vector name error: nope"),
    (lambda c: c.search_matrix_pairs("bad_facets", using="dense", sample=1), 400,
     "sample: value 1 invalid, must be 2 or larger"),
    (lambda c: c.search_matrix_offsets("bad_facets", using="dense", limit=0), 400,
     "limit: value 0 invalid"),
    (lambda c: c.facet("no_such_collection", "color"), 404, "no_such_collection"),
    (lambda c: c.search_matrix_offsets("no_such_collection", using="dense"), 404,
     "no_such_collection"),
]


@pytest.mark.parametrize(("call", "status", "message"), CLIENT_REFUSALS)
def test_bad_input_through_the_client_is_refused_by_either_face(client, call, status, message):
    """Over gRPC a 400 or 422 arrives as INVALID_ARGUMENT and a 404 as NOT_FOUND, with REST's
    message."""
    if not client.collection_exists("bad_facets"):
        client.create_collection("bad_facets", vectors_config=VECTORS)
        client.create_payload_index("bad_facets", "color", field_schema="keyword", wait=True)
    with pytest.raises(API_ERRORS) as refused:
        call(client)
    assert status_of(refused.value) in ((400, 422) if status == 400 else (status,))
    assert message in message_of(refused.value)
