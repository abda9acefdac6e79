"""Maximal marginal relevance (`query: {"nearest": ..., "mmr": {...}}`) compared with
qdrant-client's local mode (Qdrant's reference semantics): the same ids in the same order with
the same scores, for every distance, sparse vectors, filters, offsets and diversities."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from nodeproc import HttpSession
from qdrant_client import QdrantClient, models
from reference_twin import twin_collections

CLIENT = tuple(int(part) for part in importlib.metadata.version("qdrant-client").split(".")[:2])
# An offset is applied to MMR's output; local mode before 1.20 applied it to the candidate
# search instead, which hides the nearest points from MMR.
OFFSET_AS_QDRANT = pytest.mark.skipif(CLIENT < (1, 20), reason="local mode before 1.20 offsets "
                                      "the candidate search, Qdrant offsets MMR's output")
SEED = 4242
N_POINTS = 300


@pytest.fixture(scope="module")
def pair(client: QdrantClient, face: str):
    name = f"mmr_congruence_{face}"
    rng = np.random.default_rng(SEED)
    vectors_config = {
        "cos": models.VectorParams(size=6, distance=models.Distance.COSINE),
        "dot": models.VectorParams(size=4, distance=models.Distance.DOT),
        "euclid": models.VectorParams(size=3, distance=models.Distance.EUCLID),
        "manhattan": models.VectorParams(size=5, distance=models.Distance.MANHATTAN),
    }
    points = []
    for i in range(N_POINTS):
        indices = sorted(rng.choice(30, size=int(rng.integers(1, 6)), replace=False).tolist())
        points.append(models.PointStruct(
            id=i,
            vector={"cos": rng.normal(size=6).tolist(), "dot": rng.normal(size=4).tolist(),
                    "euclid": rng.normal(size=3).tolist(),
                    "manhattan": rng.normal(size=5).tolist(),
                    "words": models.SparseVector(indices=indices,
                                                 values=rng.random(len(indices)).tolist())},
            payload={"group": int(rng.integers(0, 5))},
        ))
    reference = twin_collections(client, name, points, vectors_config,
                                 {"words": models.SparseVectorParams()})
    return name, reference, rng


CASES = [
    ("cos", 0.5, None, 10, 0, None),
    ("cos", 0.0, 40, 10, 0, None),
    ("cos", 1.0, 40, 10, 0, None),
    pytest.param("dot", 0.3, 50, 12, 3, None, marks=OFFSET_AS_QDRANT),
    ("euclid", 0.7, 60, 8, 0, {"key": "group", "match": {"value": 2}}),
    ("manhattan", 0.5, 30, 30, 0, None),
    ("words", 0.5, 40, 10, 0, None),
    pytest.param("words", 0.9, 20, 25, 2, {"key": "group", "match": {"any": [0, 1]}},
                 marks=OFFSET_AS_QDRANT),
]


@pytest.mark.parametrize("using, diversity, candidates, limit, offset, where", CASES)
def test_mmr_matches_the_reference(pair, client: QdrantClient, using: str, diversity: float,
                                   candidates: int | None, limit: int, offset: int,
                                   where: dict | None) -> None:
    name, reference, rng = pair
    for _ in range(5):
        if using == "words":
            indices = sorted(rng.choice(30, size=4, replace=False).tolist())
            vector = models.SparseVector(indices=indices, values=rng.random(4).tolist())
        else:
            size = {"cos": 6, "dot": 4, "manhattan": 5}.get(using, 3)
            vector = rng.normal(size=size).tolist()
        request = dict(
            query=models.NearestQuery(nearest=vector, mmr=models.Mmr(
                diversity=diversity, candidates_limit=candidates)),
            using=using, limit=limit, offset=offset,
        )
        if where:
            request["query_filter"] = models.Filter(must=[where])
        ours = client.query_points(name, **request).points
        theirs = reference.query_points(name, **request).points
        assert [p.id for p in ours] == [p.id for p in theirs], (using, diversity)
        for a, b in zip(ours, theirs, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-4)


@pytest.mark.parametrize("mmr, text", [
    ({"diversity": 1.5}, "diversity"), ({"diversity": "high"}, "diversity"),
    ({"candidates_limit": -1}, "candidates_limit"), ({"candidates_limit": 20000},
                                                     "candidates_limit"),
    ({"lambda": 0.5}, "mmr"),
])
def test_bad_mmr_is_refused(pair, http: HttpSession, mmr: dict, text: str) -> None:
    response = http.post(f"/collections/{pair[0]}/points/query", json={
        "query": {"nearest": [0.1] * 6, "mmr": mmr}, "using": "cos"})
    assert response.status_code == 400, response.text
    assert text in response.json()["status"]["error"]
