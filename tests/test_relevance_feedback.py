"""Relevance feedback queries (`query: {"relevance_feedback": ...}`, the naive strategy)
compared with qdrant-client's local mode: the same ids, order and scores for every distance,
examples given as vectors or point ids (which leave the results), filters and thresholds."""

from __future__ import annotations

import importlib.metadata

import numpy as np
import pytest
from nodeproc import HttpSession
from qdrant_client import QdrantClient, models
from reference_twin import twin_collections

CLIENT = tuple(int(part) for part in importlib.metadata.version("qdrant-client").split(".")[:2])
pytestmark = pytest.mark.skipif(CLIENT < (1, 17), reason="relevance feedback came with 1.17")
SEED = 777


@pytest.fixture(scope="module")
def pair(client: QdrantClient, face: str):
    name = f"feedback_congruence_{face}"
    rng = np.random.default_rng(SEED)
    vectors_config = {
        "cos": models.VectorParams(size=6, distance=models.Distance.COSINE),
        "euclid": models.VectorParams(size=4, distance=models.Distance.EUCLID),
        "dot": models.VectorParams(size=4, distance=models.Distance.DOT),
    }
    points = [models.PointStruct(
        id=i, vector={"cos": rng.normal(size=6).tolist(), "euclid": rng.normal(size=4).tolist(),
                      "dot": rng.normal(size=4).tolist()},
        payload={"group": int(rng.integers(0, 4))}) for i in range(250)]
    reference = twin_collections(client, name, points, vectors_config)
    return name, reference, rng


@pytest.mark.parametrize("using", ["cos", "euclid", "dot"])
@pytest.mark.parametrize("by_id", [False, True])
def test_feedback_matches_the_reference(pair, client: QdrantClient, using: str,
                                        by_id: bool) -> None:
    name, reference, rng = pair
    size = 6 if using == "cos" else 4
    for _ in range(4):
        if by_id:
            target = int(rng.integers(0, 250))
            examples = [int(i) for i in rng.choice(250, size=4, replace=False)]
        else:
            target = rng.normal(size=size).tolist()
            examples = [rng.normal(size=size).tolist() for _ in range(4)]
        feedback = [models.FeedbackItem(example=e, score=round(float(rng.random()), 3))
                    for e in examples]
        a, b, c = (round(float(x), 2) for x in (rng.uniform(0.5, 2), rng.uniform(0, 2),
                                                 rng.uniform(-1, 2)))
        request = dict(
            query=models.RelevanceFeedbackQuery(relevance_feedback=models.RelevanceFeedbackInput(
                target=target, feedback=feedback,
                strategy=models.NaiveFeedbackStrategy(
                    naive=models.NaiveFeedbackStrategyParams(a=a, b=b, c=c)))),
            using=using, limit=12,
            query_filter=models.Filter(must=[models.FieldCondition(
                key="group", match=models.MatchAny(any=[0, 1, 2]))]),
        )
        ours = client.query_points(name, **request).points
        theirs = reference.query_points(name, **request).points
        assert [p.id for p in ours] == [p.id for p in theirs]
        for x, y in zip(ours, theirs, strict=True):
            assert x.score == pytest.approx(y.score, rel=1e-4, abs=1e-4)
        if by_id:
            assert not {target, *examples} & {p.id for p in ours}


@pytest.mark.parametrize("body, text", [
    ({"target": [0.1] * 6, "feedback": [], "strategy": {"naive": {"a": 1, "b": -1, "c": 1}}},
     "b"),
    ({"target": [0.1] * 6, "feedback": [{"example": [0.1] * 6}],
      "strategy": {"naive": {"a": 1, "b": 1, "c": 1}}}, "score"),
    ({"target": [0.1] * 6, "feedback": [], "strategy": {"smart": {}}}, "strategy"),
    ({"feedback": [], "strategy": {"naive": {"a": 1, "b": 1, "c": 1}}}, "target"),
])
def test_bad_feedback_is_refused(pair, http: HttpSession, body: dict, text: str) -> None:
    response = http.post(f"/collections/{pair[0]}/points/query",
                         json={"query": {"relevance_feedback": body}, "using": "cos"})
    assert response.status_code == 400, response.text
    assert text in response.json()["status"]["error"]
