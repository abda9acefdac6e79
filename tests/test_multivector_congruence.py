"""Multivectors (max_sim) through qdrant-client against a real node, compared in bulk with the
client's local mode: same ids in the same order, scores within tolerance. One collection holds
a dense vector, multivectors of each distance (float32 and uint8) and a sparse vector."""

from __future__ import annotations

import numpy as np
import pytest
from qdrant_client import QdrantClient, models

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
def pair(client: QdrantClient):
    name = "multivector_congruence"
    rng = np.random.default_rng(SEED)
    vectors_config = {"dense": models.VectorParams(size=4, distance=models.Distance.DOT)}
    for vector, (size, distance, datatype) in MULTI.items():
        vectors_config[vector] = models.VectorParams(size=size, distance=distance,
                                                     datatype=datatype, multivector_config=MAX_SIM)
    sparse_config = {"words": models.SparseVectorParams()}
    reference = QdrantClient(":memory:")
    reference.create_collection(name, vectors_config=vectors_config,
                                sparse_vectors_config=sparse_config)
    client.create_collection(name, vectors_config=vectors_config,
                             sparse_vectors_config=sparse_config, shard_number=2)
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
    reference.upsert(name, points)
    client.upsert(name, points, wait=True)
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
