"""Score formulas (`query: {"formula": ...}`) and rrf's `k` and `weights`, compared with
qdrant-client's local mode (Qdrant's reference semantics): random expressions evaluated on
random points give the same value or both fail; formula queries through the real client give
the same ids, order and scores; bad formulas get a 400 and are checked before any scoring."""

from __future__ import annotations

import math

import numpy as np
import pytest
from client_errors import API_ERRORS, message_of, status_of
from nodeproc import HttpSession
from qdrant_client import QdrantClient, models
from qdrant_client.hybrid.formula import evaluate_expression
from reference_twin import twin_collections

from cluster.routing.formula_request import plan_expression
from node.engine.formula import Candidate, score_points
from node.errors import BadRequest
from node.model import decode
from node.model.queries import QueryInput

SEED = 20261203
N_POINTS = 300


# --- random expressions ----------------------------------------------------------------------

NUMERIC_KEYS = ["a", "b", "n", "nested.x", "arr[].v", "missing"]
CONDITIONS = [
    {"key": "tag", "match": {"value": "red"}},
    {"key": "tag", "match": {"any": ["red", "blue"]}},
    {"key": "a", "range": {"gte": 0.5}},
    {"is_empty": {"key": "n"}},
    {"has_id": [1, 2, 3, 5, 8, 13]},
]


def random_expression(rng: np.random.Generator, depth: int = 0) -> object:
    leaf = depth >= 3 or rng.random() < 0.3
    if leaf:
        choice = int(rng.integers(0, 4))
        if choice == 0:
            return round(float(rng.normal()), 3)
        if choice == 1:
            return str(rng.choice(["$score", "$score[0]", "$score[1]", "$score[2]"]))
        if choice == 2:
            return str(rng.choice(NUMERIC_KEYS))
        return CONDITIONS[int(rng.integers(0, len(CONDITIONS)))]
    op = str(rng.choice(["mult", "sum", "neg", "abs", "div", "sqrt", "pow", "exp", "log10",
                         "ln", "lin_decay", "exp_decay", "gauss_decay", "geo_distance",
                         "datetime_key"]))
    inner = lambda: random_expression(rng, depth + 1)  # noqa: E731
    if op in ("mult", "sum"):
        return {op: [inner() for _ in range(int(rng.integers(1, 4)))]}
    if op == "div":
        body = {"left": inner(), "right": inner()}
        if rng.random() < 0.5:
            body["by_zero_default"] = round(float(rng.normal()), 2)
        return {"div": body}
    if op == "pow":
        return {"pow": {"base": inner(), "exponent": float(rng.integers(-2, 4))}}
    if op.endswith("_decay"):
        body = {"x": inner()}
        if rng.random() < 0.5:
            body["target"] = inner()
        if rng.random() < 0.5:
            body["scale"] = round(float(rng.uniform(0.1, 5)), 2)
        if rng.random() < 0.5:
            body["midpoint"] = round(float(rng.uniform(0.05, 0.95)), 2)
        return {op: body}
    if op == "geo_distance":
        return {"mult": [0.0001, {"geo_distance": {"origin": {"lat": 52.5, "lon": 13.4},
                                                   "to": "loc"}}]}
    if op == "datetime_key":
        return {"mult": [1e-9, {"datetime_key": "when"}]}
    return {op: inner()}


def random_payload(rng: np.random.Generator) -> dict:
    payload: dict = {"tag": str(rng.choice(["red", "green", "blue"]))}
    if rng.random() < 0.9:
        payload["a"] = round(float(rng.random()), 3)
    if rng.random() < 0.9:
        payload["b"] = int(rng.integers(-5, 10))
    if rng.random() < 0.6:
        payload["n"] = [round(float(rng.normal()), 3)]
    payload["nested"] = {"x": round(float(rng.normal()), 3)}
    payload["arr"] = [{"v": int(rng.integers(0, 5))}]
    if rng.random() < 0.8:
        payload["loc"] = {"lat": float(rng.uniform(40, 60)), "lon": float(rng.uniform(0, 30))}
    if rng.random() < 0.8:
        payload["when"] = f"2026-0{int(rng.integers(1, 10))}-1{int(rng.integers(0, 9))}T10:00:00Z"
    return payload


def _reference_value(raw: dict, pid: int, scores: list[dict], payload: dict) -> float | None:
    query = models.FormulaQuery(**raw)
    try:
        value = evaluate_expression(query.formula, pid, scores, payload, {}, query.defaults or {})
        as_f32 = float(np.float32(value))
        return as_f32 if math.isfinite(as_f32) else None
    except (ValueError, OverflowError, ZeroDivisionError, TypeError):
        return None


def _our_value(raw: dict, pid: int, scores: list[dict], payload: dict) -> float | None:
    query = decode(QueryInput, raw)
    expression, defaults = plan_expression(query.formula), query.defaults or {}
    point = Candidate(pid, payload, [s.get(pid) for s in scores], lambda name: False)
    try:
        return score_points(expression, [point], defaults)[0]
    except BadRequest:
        return None


def test_random_expressions_agree_with_the_reference() -> None:
    rng = np.random.default_rng(SEED)
    agreed = failed_both = 0
    for _ in range(1500):
        raw: dict = {"formula": random_expression(rng)}
        if rng.random() < 0.5:
            raw["defaults"] = {"missing": 2.5, "n": 1.0, "$score[2]": 0.25}
        pid = int(rng.integers(0, 20))
        scores = [{pid: float(rng.normal())}, {pid: float(rng.normal())} if rng.random() < 0.5
                  else {}]
        payload = random_payload(rng)
        ours = _our_value(raw, pid, scores, payload)
        theirs = _reference_value(raw, pid, scores, payload)
        if theirs is None:
            assert ours is None, (raw, payload, scores, ours)
            failed_both += 1
        else:
            assert ours == pytest.approx(theirs, rel=1e-5, abs=1e-6), (raw, payload, scores)
            agreed += 1
    # Both outcomes are exercised in bulk, not only by chance.
    assert agreed > 600 and failed_both > 100, (agreed, failed_both)


# --- formula queries end to end --------------------------------------------------------------


@pytest.fixture(scope="module")
def pair(client: QdrantClient, face: str):
    name = f"formula_congruence_{face}"
    rng = np.random.default_rng(SEED)
    vectors_config = {"dense": models.VectorParams(size=8, distance=models.Distance.COSINE)}
    points = [models.PointStruct(id=i, vector={"dense": rng.normal(size=8).tolist()},
                                 payload=random_payload(rng)) for i in range(N_POINTS)]
    reference = twin_collections(client, name, points, vectors_config, shard_number=3)
    return name, reference, rng


FORMULAS = [
    {"sum": ["$score", {"mult": [0.5, {"key": "tag", "match": {"value": "red"}}]}]},
    {"mult": ["$score", {"exp_decay": {"x": "a", "target": 1.0, "scale": 0.5}}]},
    {"sum": ["$score[0]", {"mult": [0.3, "$score[1]"]}]},
    {"sum": ["$score", {"gauss_decay": {
        "x": {"geo_distance": {"origin": {"lat": 50, "lon": 10}, "to": "loc"}},
        "scale": 500000}}]},
    {"div": {"left": "$score", "right": "b", "by_zero_default": 0}},
    {"sum": ["$score", {"lin_decay": {"x": {"datetime_key": "when"},
                                      "target": {"datetime": "2026-05-01T00:00:00Z"},
                                      "scale": 86400 * 60}}]},
    {"sum": ["$score", {"mult": [0.1, "n"]}]},
]


@pytest.mark.parametrize("index", range(len(FORMULAS)))
def test_formula_queries_match_the_reference(pair, client: QdrantClient, index: int) -> None:
    name, reference, rng = pair
    query = rng.normal(size=8).tolist()
    other = rng.normal(size=8).tolist()
    request = dict(
        prefetch=[models.Prefetch(query=query, using="dense", limit=40),
                  models.Prefetch(query=other, using="dense", limit=25)],
        query=models.FormulaQuery(formula=FORMULAS[index],
                                  defaults={"loc": {"lat": 0, "lon": 0}, "a": 0, "b": 1, "n": 0,
                                            "when": "2026-01-01T00:00:00Z"}),
        limit=15, with_payload=True,
    )
    ours = client.query_points(name, **request).points
    theirs = reference.query_points(name, **request).points
    assert [p.id for p in ours] == [p.id for p in theirs]
    for a, b in zip(ours, theirs, strict=True):
        assert a.score == pytest.approx(b.score, rel=1e-5, abs=1e-5)
        assert a.payload == b.payload


def test_formula_threshold_and_offset(pair, client: QdrantClient) -> None:
    name, reference, rng = pair
    request = dict(
        prefetch=models.Prefetch(query=rng.normal(size=8).tolist(), using="dense", limit=50),
        query=models.FormulaQuery(formula={"sum": ["$score", "a"]}, defaults={"a": 0}),
        limit=10, offset=5, score_threshold=0.6,
    )
    ours = client.query_points(name, **request).points
    theirs = reference.query_points(name, **request).points
    assert [p.id for p in ours] == [p.id for p in theirs]
    assert all(p.score >= 0.6 for p in ours)


@pytest.mark.parametrize("formula, text", [
    ({"pow": {"base": "$score"}}, "exponent"),
    ({"lin_decay": {"x": "a", "midpoint": 1.5}}, "midpoint"),
    ({"exp_decay": {"x": "a", "scale": 0}}, "scale"),
    ({"datetime": "yesterday"}, "datetime"),
    ("$score[x]", "score"),
    ({"sum": "$score"}, "array"),
    ({"sum": ["$score"], "mult": [1]}, "exactly one"),
    ({"key": "tag", "match": {"nonsense": 1}}, "match"),
    ({"geo_distance": {"origin": {"lat": 95, "lon": 0}, "to": "loc"}}, "lat"),
    (True, "query.formula: Expected `float | str | object | null`, got `bool`"),
    ([1, 2], "query.formula: Expected `float | str | object | null`, got `array`"),
    ({"sum": [1, {"neg": "a b[x"}]}, "query.formula.sum[1].neg"),
    ({"div": {"left": 1, "right": {"key": "a"}}}, "query.formula.div.right"),
    ({"gauss_decay": {"x": "$score[1]", "target": {"ln": {"abs": False}}}},
     "query.formula.gauss_decay.target.ln.abs"),
    ({"datetime_key": "a..b"}, "query.formula.datetime_key"),
])
def test_bad_formulas_are_refused(pair, http: HttpSession, formula: object, text: str) -> None:
    name = pair[0]
    response = http.post(f"/collections/{name}/points/query", json={
        "prefetch": {"query": [0.1] * 8, "using": "dense", "limit": 5},
        "query": {"formula": formula},
    })
    assert response.status_code == 400, response.text
    assert text in response.json()["status"]["error"]


def test_formula_errors_of_a_point_are_400(pair, client: QdrantClient) -> None:
    name = pair[0]
    with pytest.raises(API_ERRORS) as raised:  # "missing" has no value nor default
        client.query_points(name, prefetch=models.Prefetch(query=[0.1] * 8, using="dense"),
                            query=models.FormulaQuery(formula={"sum": ["$score", "missing"]}))
    assert status_of(raised.value) == 400
    assert "missing" in message_of(raised.value)


def test_formula_without_prefetch_is_refused(pair, http: HttpSession) -> None:
    response = http.post(f"/collections/{pair[0]}/points/query",
                         json={"query": {"formula": "$score"}})
    assert response.status_code == 400 and "prefetch" in response.text


# --- rrf with k and weights --------------------------------------------------------------------


def _expected_rrf(sources: list[list[int]], k: int, weights: list[float]) -> dict[int, float]:
    scores: dict[int, float] = {}
    for ids, weight in zip(sources, weights, strict=True):
        for rank, pid in enumerate(ids):
            # A source of weight 0 adds nothing, but its points take part (with 0).
            added = 1 / ((rank + 1) / weight + k - 1) if weight > 0 else 0.0
            scores[pid] = scores.get(pid, 0.0) + added
    return scores


@pytest.mark.parametrize("k, weights", [(None, None), (60, None), (1, [1.0, 3.0]),
                                        (10, [0.5, 0.0])])
def test_rrf_k_and_weights(pair, http: HttpSession, k: int | None,
                           weights: list[float] | None) -> None:
    name, _, rng = pair
    prefetch = [{"query": rng.normal(size=8).tolist(), "using": "dense", "limit": 20}
                for _ in range(2)]
    sources = []
    for p in prefetch:
        response = http.post(f"/collections/{name}/points/query", json=p)
        sources.append([hit["id"] for hit in response.json()["result"]["points"]])
    rrf = {key: value for key, value in (("k", k), ("weights", weights)) if value is not None}
    response = http.post(f"/collections/{name}/points/query",
                         json={"prefetch": prefetch, "query": {"rrf": rrf}, "limit": 50})
    assert response.status_code == 200, response.text
    expected = _expected_rrf(sources, k or 2, weights or [1.0, 1.0])
    got = response.json()["result"]["points"]
    assert [hit["score"] for hit in got] == pytest.approx(
        sorted(expected.values(), reverse=True)[:50], rel=1e-6)
    assert all(expected[hit["id"]] == pytest.approx(hit["score"]) for hit in got)


@pytest.mark.parametrize("rrf, text", [({"k": 0}, "k"), ({"weights": [1.0]}, "weights"),
                                       ({"other": 1}, "rrf")])
def test_bad_rrf_is_refused(pair, http: HttpSession, rrf: dict, text: str) -> None:
    response = http.post(f"/collections/{pair[0]}/points/query", json={
        "prefetch": [{"query": [0.1] * 8, "using": "dense"}, {"query": [0.2] * 8,
                                                               "using": "dense"}],
        "query": {"rrf": rrf},
    })
    assert response.status_code == 400, response.text
    assert text in response.json()["status"]["error"]
