"""The universal query API through qdrant-client, compared in bulk with the client's local mode
(Qdrant's reference semantics in Python): for the same data and requests, the same ids in the
same order and scores within 1e-4. Random data and requests come from fixed seeds."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import AsyncQdrantClient, QdrantClient, models

N_POINTS = 400
SEED = 20261125


def _sparse(rng: np.random.Generator) -> models.SparseVector:
    indices = sorted(rng.choice(60, size=int(rng.integers(1, 8)), replace=False).tolist())
    return models.SparseVector(indices=indices, values=rng.random(len(indices)).round(4).tolist())


@pytest.fixture(scope="module")
def pair(client: QdrantClient, face: str):
    """The same collection in Flotilla (3 shards) and in the reference."""
    name = f"query_congruence_{face}"
    rng = np.random.default_rng(SEED)
    vectors_config = {
        "dense": models.VectorParams(size=8, distance=models.Distance.COSINE),
        "euclid": models.VectorParams(size=4, distance=models.Distance.EUCLID),
    }
    sparse_config = {
        "words": models.SparseVectorParams(),
        "idf": models.SparseVectorParams(modifier=models.Modifier.IDF),
    }
    reference = QdrantClient(":memory:")
    reference.create_collection(name, vectors_config=vectors_config,
                                sparse_vectors_config=sparse_config)
    client.create_collection(name, vectors_config=vectors_config,
                             sparse_vectors_config=sparse_config, shard_number=3)
    points = []
    for i in range(N_POINTS):
        vector = {"dense": rng.normal(size=8).tolist(), "euclid": rng.normal(size=4).tolist()}
        if i % 4:
            vector["words"] = _sparse(rng)
            vector["idf"] = _sparse(rng)
        points.append(models.PointStruct(
            id=i, vector=vector,
            payload={"group": int(rng.integers(0, 12)), "rank": float(rng.random()),
                     "color": str(rng.choice(["red", "green", "blue"]))},
        ))
    reference.upsert(name, points)
    client.upsert(name, points, wait=True)
    # Qdrant orders only by a payload index that keeps values in order.
    client.create_payload_index(name, "rank", field_schema="float", wait=True)
    return name, reference, rng


def _same(ours, theirs, what: str) -> None:
    """Same scores in the same order, and the same ids; among equal scores the order is
    arbitrary (the reference breaks ties by its internal order), and a tie at the end of the
    list may be cut at different ids."""
    assert len(ours) == len(theirs), what
    for a, b in zip(ours, theirs, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4), what
    groups_ours, groups_theirs = _tie_groups(ours), _tie_groups(theirs)
    assert groups_ours[:-1] == groups_theirs[:-1], what


def _tie_groups(points) -> list[set]:
    groups: list[set] = []
    last = None
    for p in points:
        if last is None or abs(p.score - last) > 1e-6:
            groups.append(set())
        groups[-1].add(p.id)
        last = p.score
    return groups


def _random_filter(rng: np.random.Generator) -> models.Filter | None:
    choice = int(rng.integers(0, 3))
    if choice == 0:
        return None
    if choice == 1:
        return models.Filter(must=[models.FieldCondition(
            key="color", match=models.MatchValue(value=str(rng.choice(["red", "blue"]))))])
    return models.Filter(must_not=[models.FieldCondition(
        key="group", range=models.Range(lt=int(rng.integers(2, 8))))])


def _queries(rng: np.random.Generator) -> list[tuple[str, dict]]:
    """(description, query_points keyword arguments) covering every query kind."""
    ids = lambda n: [int(x) for x in rng.choice(N_POINTS, size=n, replace=False)]  # noqa: E731
    dense = lambda: rng.normal(size=8).tolist()  # noqa: E731
    out = []
    for _ in range(6):
        flt = _random_filter(rng)
        out += [
            ("nearest", dict(query=dense(), using="dense", query_filter=flt, limit=7)),
            ("nearest by id", dict(query=ids(1)[0], using="dense", limit=5)),
            ("euclid offset", dict(query=rng.normal(size=4).tolist(), using="euclid",
                                   limit=5, offset=2, query_filter=flt)),
            ("sparse", dict(query=_sparse(rng), using="words", limit=6)),
            ("sparse idf", dict(query=_sparse(rng), using="idf", limit=6)),
        ]
        for strategy in ("average_vector", "best_score", "sum_scores"):
            out.append((f"recommend {strategy}", dict(
                query=models.RecommendQuery(recommend=models.RecommendInput(
                    positive=ids(2) + [dense()], negative=ids(1), strategy=strategy)),
                using="dense", limit=6, query_filter=flt)))
            out.append((f"recommend euclid {strategy}", dict(
                query=models.RecommendQuery(recommend=models.RecommendInput(
                    positive=ids(2), negative=ids(2), strategy=strategy)),
                using="euclid", limit=6)))
        out.append(("sparse recommend", dict(
            query=models.RecommendQuery(recommend=models.RecommendInput(
                positive=[_sparse(rng)], negative=[_sparse(rng)], strategy="best_score")),
            using="words", limit=5)))
        out.append(("discover", dict(
            query=models.DiscoverQuery(discover=models.DiscoverInput(
                target=dense(),
                context=[models.ContextPair(positive=p, negative=n)
                         for p, n in zip(ids(2), ids(2), strict=True)])),
            using="dense", limit=6)))
        out.append(("context", dict(
            query=models.ContextQuery(context=[
                models.ContextPair(positive=ids(1)[0], negative=ids(1)[0]),
                models.ContextPair(positive=dense(), negative=dense())]),
            using="dense", limit=6)))
        for fusion in (models.Fusion.RRF, models.Fusion.DBSF):
            out.append((f"fusion {fusion.value}", dict(
                prefetch=[
                    models.Prefetch(query=dense(), using="dense", limit=20),
                    models.Prefetch(query=_sparse(rng), using="words", limit=20),
                    models.Prefetch(query=rng.normal(size=4).tolist(), using="euclid",
                                    limit=15, filter=flt),
                ],
                query=models.FusionQuery(fusion=fusion), limit=8)))
        # A list: the reference flattens a lone Prefetch object's inner prefetches into siblings.
        out.append(("rescore nested prefetch", dict(
            prefetch=[models.Prefetch(
                prefetch=[models.Prefetch(query=_sparse(rng), using="words", limit=50)],
                query=rng.normal(size=4).tolist(), using="euclid", limit=25)],
            query=dense(), using="dense", limit=5)))
        out.append(("order_by", dict(
            query=models.OrderByQuery(order_by=models.OrderBy(
                key="rank", direction=str(rng.choice(["asc", "desc"])))),
            query_filter=flt, limit=9)))
        out.append(("score threshold", dict(
            query=dense(), using="dense", score_threshold=0.3, limit=50)))
    return out


def test_every_query_kind_matches_reference(client, pair):
    name, reference, rng = pair
    compared = 0
    for what, kwargs in _queries(np.random.default_rng(SEED + 1)):
        params = {"search_params": models.SearchParams(exact=True)}
        ours = client.query_points(name, with_payload=True, **kwargs, **params).points
        theirs = reference.query_points(name, with_payload=True, **kwargs).points
        _same(ours, theirs, what)
        payload_of = {p.id: p.payload for p in theirs}
        assert all(p.payload == payload_of.get(p.id, p.payload) for p in ours), what
        if what == "order_by":
            assert [p.order_value for p in ours] == [p.order_value for p in theirs]
        compared += 1
    print(f"{compared} queries of every kind identical to the reference")


def test_batch_groups_and_legacy_recommend(client, http, pair):
    name, reference, rng = pair
    requests = [
        models.QueryRequest(query=rng.normal(size=8).tolist(), using="dense", limit=4),
        models.QueryRequest(query=_sparse(rng), using="words", limit=4, with_payload=True),
    ]
    ours = client.query_batch_points(name, requests)
    theirs = reference.query_batch_points(name, requests)
    for a, b in zip(ours, theirs, strict=True):
        _same(a.points, b.points, "query batch")
    query = rng.normal(size=8).tolist()
    ours_groups = client.query_points_groups(name, query=query, using="dense",
                                             group_by="color", group_size=2, limit=3).groups
    theirs_groups = reference.query_points_groups(name, query=query, using="dense",
                                                  group_by="color", group_size=2, limit=3).groups
    assert [g.id for g in ours_groups] == [g.id for g in theirs_groups]
    for a, b in zip(ours_groups, theirs_groups, strict=True):
        _same(a.hits, b.hits, "groups")
    response = http.post(f"/collections/{name}/points/recommend", json={
        "positive": [1, 2], "negative": [3], "using": "dense", "limit": 5,
        "strategy": "best_score"})
    assert response.status_code == 200, response.text
    expected = reference.query_points(name, query=models.RecommendQuery(
        recommend=models.RecommendInput(positive=[1, 2], negative=[3], strategy="best_score")),
        using="dense", limit=5).points
    assert [p["id"] for p in response.json()["result"]] == [p.id for p in expected]
    batch = http.post(f"/collections/{name}/points/search/batch", json={"searches": [
        {"vector": {"name": "dense", "vector": query}, "limit": 3}]})
    assert [p["id"] for p in batch.json()["result"][0]] == [
        p.id for p in reference.query_points(name, query=query, using="dense", limit=3).points]


def test_lookup_from_and_sample(client, pair, unique_name):
    name, reference, _ = pair
    client.create_collection(unique_name, vectors_config={
        "dense": models.VectorParams(size=8, distance=models.Distance.COSINE)})
    source_vector = np.random.default_rng(5).normal(size=8).tolist()
    client.upsert(unique_name, [models.PointStruct(id=77, vector={"dense": source_vector})])
    ours = client.query_points(name, query=77, using="dense", limit=5,
                               lookup_from=models.LookupLocation(collection=unique_name)).points
    theirs = reference.query_points(name, query=source_vector, using="dense", limit=5).points
    _same(ours, theirs, "lookup_from")
    sampled = client.query_points(name, query=models.SampleQuery(sample=models.Sample.RANDOM),
                                  limit=10).points
    assert len({p.id for p in sampled}) == 10


def test_scroll_in_payload_order(client, http, pair):
    name, reference, _ = pair
    for direction in ("asc", "desc"):
        order = models.OrderBy(key="rank", direction=direction)
        ours, _ = client.scroll(name, order_by=order, limit=15)
        theirs, _ = reference.scroll(name, order_by=order, limit=15)
        assert [p.id for p in ours] == [p.id for p in theirs]
        assert [p.order_value for p in ours] == [p.order_value for p in theirs]
    response = http.post(f"/collections/{name}/points/scroll", json={"order_by": "group"})
    assert response.status_code == 400
    assert "index" in response.json()["status"]["error"]


@pytest.mark.parametrize("datatype", ["uint8", "float16"])
@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid", "Manhattan"])
def test_scores_on_compact_datatypes(client, unique_name, datatype, distance):
    """uint8 vectors hold integers exactly; float16 inputs are sent already rounded, so scores
    agree to float32 precision, except Cosine on float16: the normalised vector is rounded
    again when stored (as Qdrant stores it), which moves scores by up to ~1e-3."""
    rng = np.random.default_rng(8)
    if datatype == "uint8":
        data = rng.integers(0, 256, size=(300, 6)).astype(np.float32)
    else:
        data = rng.normal(size=(300, 6)).astype(np.float16).astype(np.float32)
    params = models.VectorParams(size=6, distance=distance, datatype=datatype)
    client.create_collection(unique_name, vectors_config=params)
    reference = QdrantClient(":memory:")
    reference.create_collection(unique_name, vectors_config=models.VectorParams(
        size=6, distance=distance))
    points = [models.PointStruct(id=i, vector=data[i].tolist()) for i in range(300)]
    client.upsert(unique_name, points, wait=True)
    reference.upsert(unique_name, points)
    for query in rng.integers(0, 256, size=(10, 6)).astype(float).tolist():
        ours = client.query_points(unique_name, query=query, limit=8,
                                   search_params=models.SearchParams(exact=True)).points
        theirs = reference.query_points(unique_name, query=query, limit=8).points
        assert [p.id for p in ours] == [p.id for p in theirs]
        for a, b in zip(ours, theirs, strict=True):
            tolerance = 1e-3 if (datatype, distance) == ("float16", "Cosine") else 1e-4
            assert a.score == pytest.approx(b.score, rel=1e-5, abs=tolerance)


async def test_async_client_end_to_end(node, unique_name):
    client = AsyncQdrantClient(url=node.url)
    try:
        await client.create_collection(
            unique_name, vectors_config=models.VectorParams(size=3, distance="Dot"))
        await client.upsert(unique_name, [
            models.PointStruct(id=i, vector=[i, 1.0, 0.0], payload={"i": i}) for i in range(5)])
        hits = (await client.query_points(unique_name, query=[1.0, 0.0, 0.0], limit=2)).points
        assert [h.id for h in hits] == [4, 3]
        assert (await client.count(unique_name)).count == 5
    finally:
        await client.close()


@pytest.mark.parametrize("body, needle", [
    ({"query": {"recommend": {"positive": [], "negative": []}}, "using": "dense"}, "example"),
    ({"query": {"fusion": "rrf"}}, "prefetch"),
    ({"query": {"fusion": "max"}, "prefetch": [{"query": [0] * 8, "using": "dense"}]}, "fusion"),
    ({"query": 123456789, "using": "dense"}, "123456789"),
    ({"query": [1, 2], "using": "dense"}, "dimension"),
    ({"query": {"indices": [1], "values": [1.0]}, "using": "dense"}, "dense"),
    ({"query": "not-an-id", "using": "dense"}, "id"),
])
def test_bad_queries(http, pair, body, needle):
    name, _, _ = pair
    response = http.post(f"/collections/{name}/points/query", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert needle in response.json()["status"]["error"]


def test_filter_kinds_of_1_19_match_reference(client, pair):
    """Slices, text_any and prefix across 3 shards: the filter travels to every shard and each
    point lands in the same slice as in the reference."""
    name, reference, _rng = pair
    color = lambda match: models.FieldCondition(key="color", match=match)  # noqa: E731
    filters = [
        models.Filter(must=[models.SliceCondition(slice=models.Slice(total=3, index=i))])
        for i in range(3)
    ] + [
        models.Filter(must=[color(models.MatchTextAny(text_any="blue, RED"))]),
        models.Filter(should=[color(models.MatchPrefix(prefix="gr")),
                              models.SliceCondition(slice=models.Slice(total=5, index=4))]),
        models.Filter(must_not=[color(models.MatchPrefix(prefix="B"))]),  # case-sensitive
    ]
    for flt in filters:
        ours = client.scroll(name, scroll_filter=flt, limit=N_POINTS)[0]
        theirs = reference.scroll(name, scroll_filter=flt, limit=N_POINTS)[0]
        assert sorted(p.id for p in ours) == sorted(p.id for p in theirs), flt
        assert 0 < len(theirs) <= N_POINTS, flt
        assert client.count(name, count_filter=flt).count == len(theirs), flt
