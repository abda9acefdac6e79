"""Multivectors (max_sim) through qdrant-client against a real node, compared in bulk with the
client's local mode: same ids in the same order, scores within tolerance. One collection holds
a dense vector, multivectors of each distance (float32 and uint8) and a sparse vector."""

from __future__ import annotations

import time

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from reference_twin import twin_collections

from tests.test_query_congruence import _same

N_POINTS = 300
SEED = 20261203
MAX_SIM = models.MultiVectorConfig(comparator=models.MultiVectorComparator.MAX_SIM)
MULTI = {
    "colbert": (6, models.Distance.COSINE, None),
    "dot": (5, models.Distance.DOT, None),
    "euclid": (4, models.Distance.EUCLID, None),
    "manhattan": (4, models.Distance.MANHATTAN, None),
    "bytes": (4, models.Distance.COSINE, models.Datatype.UINT8),
}


def _matrix(rng: np.random.Generator, name: str, rows: int | None = None) -> list[list[float]]:
    size, _, datatype = MULTI[name]
    rows = rows or int(rng.integers(1, 6))
    if datatype == models.Datatype.UINT8:
        return rng.integers(0, 256, size=(rows, size)).astype(float).tolist()
    return rng.normal(size=(rows, size)).round(4).tolist()


@pytest.fixture(scope="module")
def pair(client: QdrantClient, face: str):
    name = f"multivector_congruence_{face}"
    rng = np.random.default_rng(SEED)
    vectors_config = {"dense": models.VectorParams(size=4, distance=models.Distance.DOT)}
    for vector, (size, distance, datatype) in MULTI.items():
        vectors_config[vector] = models.VectorParams(size=size, distance=distance,
                                                     datatype=datatype, multivector_config=MAX_SIM)
    points = []
    for i in range(N_POINTS):
        vector: dict = {"dense": rng.normal(size=4).round(4).tolist()}
        # Every point holds every multivector: local mode fails on a point without one.
        for multi in MULTI:
            vector[multi] = _matrix(rng, multi)
        if i % 3:
            indices = sorted(rng.choice(40, size=3, replace=False).tolist())
            vector["words"] = models.SparseVector(indices=indices, values=[1.0, 0.5, 0.25])
        points.append(models.PointStruct(id=i, vector=vector,
                                         payload={"group": int(rng.integers(0, 5))}))
    reference = twin_collections(client, name, points, vectors_config,
                                 {"words": models.SparseVectorParams()})
    return name, reference, rng


@pytest.mark.parametrize("using", list(MULTI))
def test_nearest_matches_reference(client, pair, using):
    name, reference, rng = pair
    for trial in range(12):
        query = _matrix(rng, using, rows=int(rng.integers(1, 4)))
        group = int(rng.integers(0, 5))
        flt = (models.Filter(must=[models.FieldCondition(
            key="group", match=models.MatchValue(value=group))]) if trial % 3 == 0 else None)
        limit, offset = int(rng.integers(1, 15)), int(rng.integers(0, 4))
        kwargs = dict(query=query, using=using, query_filter=flt, limit=limit, offset=offset)
        ours = client.query_points(name, **kwargs).points
        theirs = reference.query_points(name, **kwargs).points
        _same(ours, theirs, f"{using} trial {trial}")


def test_score_threshold_and_exact(client, pair):
    name, reference, rng = pair
    for using, threshold in (("colbert", 2.0), ("euclid", 3.0)):
        query = _matrix(rng, using, rows=3)
        kwargs = dict(query=query, using=using, limit=50, score_threshold=threshold)
        ours = client.query_points(name, **kwargs,
                                   search_params=models.SearchParams(exact=True)).points
        _same(ours, reference.query_points(name, **kwargs).points, using)


def test_prefetch_and_fusion(client, pair):
    name, reference, rng = pair
    for trial in range(6):
        prefetch = [
            models.Prefetch(query=_matrix(rng, "colbert", rows=2), using="colbert", limit=30),
            models.Prefetch(query=rng.normal(size=4).round(4).tolist(), using="dense", limit=30),
        ]
        fused = dict(prefetch=prefetch, query=models.FusionQuery(fusion=models.Fusion.RRF),
                     limit=10)
        ours = client.query_points(name, **fused).points
        theirs = reference.query_points(name, **fused).points
        assert [p.id for p in ours] == [p.id for p in theirs], trial
        rescore = dict(prefetch=prefetch[1], query=_matrix(rng, "dot", rows=2), using="dot",
                       limit=10)
        _same(client.query_points(name, **rescore).points,
              reference.query_points(name, **rescore).points, f"rescore {trial}")


def test_retrieve_returns_the_sub_vectors(client, pair):
    name, reference, _ = pair
    ids = [0, 1, 2, 5, 17]
    ours = {p.id: p.vector for p in client.retrieve(name, ids, with_vectors=True)}
    theirs = {p.id: p.vector for p in reference.retrieve(name, ids, with_vectors=True)}
    for pid in ids:
        assert set(ours[pid]) == set(theirs[pid]), pid
        for vector in MULTI:
            if vector == "bytes":
                # Local mode normalises uint8 Cosine vectors to floats; Qdrant keeps the bytes
                # as written (as Flotilla does), normalising only when scoring.
                assert all(x == int(x) for row in ours[pid][vector] for x in row)
                continue
            np.testing.assert_allclose(ours[pid][vector], theirs[pid][vector], atol=1e-5)


def _wait_indexed(client: QdrantClient, name: str, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        info = client.get_collection(name)
        if info.status == models.CollectionStatus.GREEN and info.indexed_vectors_count >= count:
            return
        assert time.monotonic() < deadline, f"{name} not indexed: {info}"
        time.sleep(0.05)


def test_graph_path_of_sealed_segments_matches_reference(client, face):
    """With a small indexing threshold the optimizer seals the points into segments searched
    through a graph of their sub-vectors (candidates), rescored exactly."""
    name = f"multivector_indexed_{face}"
    rng = np.random.default_rng(SEED + 1)
    config = {"colbert": models.VectorParams(size=8, distance=models.Distance.COSINE,
                                             multivector_config=MAX_SIM),
              "euclid": models.VectorParams(size=8, distance=models.Distance.EUCLID,
                                            multivector_config=MAX_SIM)}
    reference = QdrantClient(":memory:")
    reference.create_collection(name, vectors_config=config)
    client.create_collection(name, vectors_config=config,
                             optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
                             hnsw_config=models.HnswConfigDiff(full_scan_threshold=10))
    points = [models.PointStruct(id=i, vector={
        v: rng.normal(size=(int(rng.integers(2, 6)), 8)).round(4).tolist() for v in config
    }, payload={"group": i % 4}) for i in range(600)]
    reference.upsert(name, points)
    client.upsert(name, points, wait=True)
    _wait_indexed(client, name, len(points))
    for trial in range(20):
        using = "colbert" if trial % 2 else "euclid"
        query = rng.normal(size=(int(rng.integers(1, 4)), 8)).round(4).tolist()
        flt = models.Filter(must=[models.FieldCondition(
            key="group", match=models.MatchValue(value=trial % 4))]) if trial % 5 == 0 else None
        kwargs = dict(query=query, using=using, query_filter=flt, limit=10)
        ours = client.query_points(name, **kwargs,
                                   search_params=models.SearchParams(hnsw_ef=128)).points
        _same(ours, reference.query_points(name, **kwargs).points, f"trial {trial}")


def test_recommend_and_discover_match_reference(client, pair):
    name, reference, rng = pair
    for trial in range(6):
        using = ["colbert", "dot", "euclid"][trial % 3]
        queries = [
            models.RecommendQuery(recommend=models.RecommendInput(
                positive=[int(rng.integers(0, N_POINTS)), _matrix(rng, using, rows=2)],
                negative=[int(rng.integers(0, N_POINTS))],
                strategy=models.RecommendStrategy.BEST_SCORE)),
            models.RecommendQuery(recommend=models.RecommendInput(
                positive=[int(rng.integers(0, N_POINTS))],
                negative=[_matrix(rng, using, rows=3)],
                strategy=models.RecommendStrategy.SUM_SCORES)),
            models.DiscoverQuery(discover=models.DiscoverInput(
                target=_matrix(rng, using, rows=2),
                context=[models.ContextPair(positive=int(rng.integers(0, N_POINTS)),
                                            negative=int(rng.integers(0, N_POINTS)))])),
            models.ContextQuery(context=[models.ContextPair(
                positive=_matrix(rng, using, rows=1), negative=_matrix(rng, using, rows=2))]),
        ]
        for query in queries:
            kwargs = dict(query=query, using=using, limit=10)
            _same(client.query_points(name, **kwargs).points,
                  reference.query_points(name, **kwargs).points, f"{using} {query}")


def test_update_and_delete_vectors(client, unique_name):
    config = {"multi": models.VectorParams(size=3, distance=models.Distance.DOT,
                                           multivector_config=MAX_SIM),
              "dense": models.VectorParams(size=2, distance=models.Distance.DOT)}
    client.create_collection(unique_name, vectors_config=config)
    client.upsert(unique_name, [models.PointStruct(
        id=i, vector={"multi": [[i, 0, 0]], "dense": [1, i]}) for i in range(1, 4)], wait=True)
    client.update_vectors(unique_name, [models.PointVectors(
        id=2, vector={"multi": [[0, 0, 5], [1, 1, 1]]})], wait=True)
    point = client.retrieve(unique_name, [2], with_vectors=True)[0]
    assert point.vector == {"multi": [[0, 0, 5], [1, 1, 1]], "dense": [1, 2]}
    hits = client.query_points(unique_name, query=[[0, 0, 1]], using="multi", limit=3).points
    assert [(h.id, h.score) for h in hits] == [(2, 5.0), (1, 0.0), (3, 0.0)]
    client.delete_vectors(unique_name, vectors=["multi"], points=[2], wait=True)
    assert client.retrieve(unique_name, [2], with_vectors=True)[0].vector == {"dense": [1, 2]}
    has_multi = models.Filter(must=[models.HasVectorCondition(has_vector="multi")])
    assert client.count(unique_name, count_filter=has_multi).count == 2
    hits = client.query_points(unique_name, query=[[1, 0, 0]], using="multi", limit=5).points
    assert [h.id for h in hits] == [3, 1]
    client.delete(unique_name, points_selector=[3], wait=True)
    hits = client.query_points(unique_name, query=[[1, 0, 0]], using="multi", limit=5).points
    assert [h.id for h in hits] == [1]
