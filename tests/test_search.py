"""Dense vector search through qdrant-client, compared with the client's local mode (Qdrant's
reference semantics in Python) on the same data: same ids, same order, scores within 1e-4."""

from __future__ import annotations

import time

import numpy as np
import pytest
from nodeproc import assert_concurrent_answers_match
from qdrant_client import QdrantClient, models

DIM = 16
N_POINTS = 1500
N_QUERIES = 25


def _wait_green(client: QdrantClient, name: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while client.get_collection(name).status != models.CollectionStatus.GREEN:
        assert time.monotonic() < deadline, "collection did not turn green"
        time.sleep(0.1)


def _load_both(
    client: QdrantClient, name: str, vectors_config, points: list[models.PointStruct], **extra
) -> QdrantClient:
    reference = QdrantClient(":memory:")
    reference.create_collection(name, vectors_config=vectors_config)
    reference.upsert(name, points)
    client.create_collection(name, vectors_config=vectors_config, **extra)
    for start in range(0, len(points), 500):
        client.upsert(name, points[start : start + 500], wait=True)
    return reference


def _points(rng: np.random.Generator, vector_of) -> list[models.PointStruct]:
    return [
        models.PointStruct(
            id=i, vector=vector_of(i), payload={"group": int(i % 7), "tag": f"t{i % 3}"}
        )
        for i in range(N_POINTS)
    ]


def _assert_same(ours: list[models.ScoredPoint], theirs: list[models.ScoredPoint]) -> None:
    assert [p.id for p in ours] == [p.id for p in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.score == pytest.approx(b.score, abs=1e-4)


DOT4 = models.VectorParams(size=4, distance="Dot")

FILTERS = [
    None,
    models.Filter(must=[models.FieldCondition(key="group", match=models.MatchValue(value=3))]),
    models.Filter(
        should=[models.FieldCondition(key="tag", match=models.MatchAny(any=["t0", "t2"]))],
        must_not=[models.FieldCondition(key="group", range=models.Range(gte=5))],
    ),
]


@pytest.mark.parametrize("distance", ["Cosine", "Dot", "Euclid", "Manhattan"])
def test_exact_search_matches_reference(client, unique_name, distance):
    rng = np.random.default_rng(7)
    data = rng.normal(size=(N_POINTS, DIM)).astype(np.float32)
    points = _points(rng, lambda i: data[i].tolist())
    params = models.VectorParams(size=DIM, distance=distance)
    reference = _load_both(client, unique_name, params, points, shard_number=3)
    compared = 0
    for query in rng.normal(size=(N_QUERIES, DIM)).tolist():
        for query_filter in FILTERS:
            ours = client.query_points(
                unique_name, query=query, limit=10, query_filter=query_filter,
                search_params=models.SearchParams(exact=True), with_payload=True,
            ).points
            theirs = reference.query_points(
                unique_name, query=query, limit=10, query_filter=query_filter, with_payload=True
            ).points
            _assert_same(ours, theirs)
            assert [p.payload for p in ours] == [p.payload for p in theirs]
            compared += 1
    print(f"{distance}: {compared} exact queries identical to the reference")


def test_named_vectors_offset_threshold_and_vectors(client, unique_name):
    rng = np.random.default_rng(11)
    image = rng.normal(size=(N_POINTS, 4)).astype(np.float32)
    text = rng.normal(size=(N_POINTS, 8)).astype(np.float32)
    points = _points(rng, lambda i: {"image": image[i].tolist(), "text": text[i].tolist()})
    config = {
        "image": models.VectorParams(size=4, distance="Dot"),
        "text": models.VectorParams(size=8, distance="Euclid"),
    }
    reference = _load_both(client, unique_name, config, points)
    for query in rng.normal(size=(10, 8)).tolist():
        kwargs = dict(query=query, using="text", limit=5, offset=3, score_threshold=3.5,
                      with_vectors=["text"])
        ours = client.query_points(unique_name, **kwargs).points
        theirs = reference.query_points(unique_name, **kwargs).points
        _assert_same(ours, theirs)
        for a, b in zip(ours, theirs, strict=True):
            assert np.allclose(a.vector["text"], b.vector["text"], atol=1e-6)


def test_hnsw_recall_on_clustered_data(client, unique_name):
    rng = np.random.default_rng(3)
    centers = rng.normal(size=(20, 32)) * 4
    data = (centers[rng.integers(0, 20, 4000)] + rng.normal(size=(4000, 32))).astype(np.float32)
    client.create_collection(
        unique_name,
        vectors_config=models.VectorParams(size=32, distance="Cosine"),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=100),
        hnsw_config=models.HnswConfigDiff(full_scan_threshold=10),
    )
    client.upload_collection(unique_name, vectors=data, ids=list(range(4000)), wait=True)
    _wait_green(client, unique_name)
    # The last appendable segment stays below the threshold and is searched exactly.
    assert client.get_collection(unique_name).indexed_vectors_count >= 3000
    normalized = data / np.linalg.norm(data, axis=1, keepdims=True)
    hits = 0
    queries = rng.normal(size=(50, 32)) * 4 + centers[rng.integers(0, 20, 50)]
    for query in queries:
        q = query / np.linalg.norm(query)
        truth = set(np.argsort(-(normalized @ q))[:10].tolist())
        found = client.query_points(unique_name, query=query.tolist(), limit=10).points
        hits += len(truth & {p.id for p in found})
    recall = hits / 500
    print(f"HNSW recall@10 at default ef: {recall:.3f}")
    assert recall >= 0.95


def test_legacy_search_endpoint(http, client, unique_name):
    client.create_collection(unique_name, vectors_config=DOT4)
    client.upsert(unique_name, [
        models.PointStruct(id=1, vector=[0.05, 0.61, 0.76, 0.74], payload={"city": "Berlin"}),
        models.PointStruct(id=2, vector=[0.19, 0.81, 0.75, 0.11], payload={"city": "London"}),
        models.PointStruct(id=4, vector=[0.18, 0.01, 0.85, 0.80], payload={"city": "Moscow"}),
    ])
    response = http.post(
        f"/collections/{unique_name}/points/search",
        json={"vector": [0.2, 0.1, 0.9, 0.7], "top": 3, "with_payload": True},
    )
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert [p["id"] for p in result] == [4, 1, 2]
    assert result[0]["score"] == pytest.approx(1.362, abs=1e-3)
    assert result[0]["payload"] == {"city": "Moscow"}
    filtered = http.post(
        f"/collections/{unique_name}/points/search",
        json={"vector": [0.2, 0.1, 0.9, 0.7], "limit": 3,
              "filter": {"must": [{"key": "city", "match": {"value": "London"}}]}},
    ).json()["result"]
    assert [p["id"] for p in filtered] == [2]


@pytest.mark.parametrize(
    "body, needle",
    [
        ({"query": [1, 2, 3], "limit": 3}, "dimension"),
        ({"query": [1, 2, 3, 4], "using": "nope"}, "nope"),
        ({"query": [1, 2, 3, 4], "limit": -1}, "limit"),
        ({"query": [1, 2, 3, 4], "filter": {"must": [{"key": "a", "bogus": 1}]}}, "filter"),
        ({"query": [1, 2, 3, 4], "params": {"hnsw_ef": "x"}}, "hnsw_ef"),
    ],
)
def test_bad_queries_are_4xx(http, client, unique_name, body, needle):
    client.create_collection(unique_name, vectors_config=DOT4)
    response = http.post(f"/collections/{unique_name}/points/query", json=body)
    assert 400 <= response.status_code < 500, response.text
    assert needle in response.json()["status"]["error"]


def test_batch_queries_answer_like_single_ones(client, unique_name):
    """Plain dense queries of a batch go to each segment's graph as one multi-query call."""
    rng = np.random.default_rng(21)
    data = rng.normal(size=(3000, 16)).astype(np.float32)
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=16, distance="Euclid"),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=30),
        hnsw_config=models.HnswConfigDiff(full_scan_threshold=10), shard_number=2,
    )
    client.upload_collection(unique_name, vectors=data, ids=list(range(3000)), wait=True)
    _wait_green(client, unique_name)
    queries = rng.normal(size=(20, 16)).tolist()
    requests = [models.QueryRequest(query=q, limit=5, offset=1, with_payload=False)
                for q in queries]
    requests.append(models.QueryRequest(  # a filtered one takes the ordinary path
        query=queries[0], limit=3, filter=models.Filter(must=[models.HasIdCondition(
            has_id=[1, 2, 3, 4])])))
    batch = client.query_batch_points(unique_name, requests)
    for request, answer in zip(requests, batch, strict=True):
        single = client.query_points(unique_name, query=request.query, limit=request.limit,
                                     offset=request.offset, query_filter=request.filter).points
        assert [p.id for p in answer.points] == [p.id for p in single]
        assert [p.score for p in answer.points] == pytest.approx([p.score for p in single])


def test_concurrent_queries_answer_like_sequential_ones(client, node, unique_name):
    """Plain queries arriving together on a shard are gathered and run as one batch: each
    caller still gets exactly its own answer, whatever its limit, ef or threshold."""
    rng = np.random.default_rng(22)
    data = rng.normal(size=(3000, 16)).astype(np.float32)
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=16, distance="Cosine"),
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=30),
        hnsw_config=models.HnswConfigDiff(full_scan_threshold=10),
    )
    client.upload_collection(unique_name, vectors=data, ids=list(range(3000)), wait=True)
    _wait_green(client, unique_name)
    queries = rng.normal(size=(60, 16)).tolist()
    assert_concurrent_answers_match(client, node.url, unique_name, queries, threshold=0.5)
