"""Bad multivector input over raw HTTP: a 400 in Qdrant's envelope and nothing written.
Also: strict mode's multivector_config.max_vectors, and bad quantization configs of
multivectors (at create, in a PATCH), each refused with nothing changed."""

from __future__ import annotations

import pytest
from nodeproc import HttpSession
from test_bad_input import assert_rejected, count

pytestmark = pytest.mark.timeout(60)

MULTI = {"size": 3, "distance": "Cosine", "multivector_config": {"comparator": "max_sim"}}


@pytest.fixture
def collection(http: HttpSession, unique_name: str) -> str:
    response = http.put(f"/collections/{unique_name}", json={
        "vectors": {"multi": MULTI, "dense": {"size": 2, "distance": "Dot"}},
        "strict_mode_config": {"enabled": True,
                               "multivector_config": {"multi": {"max_vectors": 3}}},
    })
    assert response.status_code == 200, response.text
    good = {"id": 1, "vector": {"multi": [[1, 2, 3]], "dense": [1, 1]}}
    response = http.put(f"/collections/{unique_name}/points?wait=true", json={"points": [good]})
    assert response.status_code == 200, response.text
    return unique_name


BAD_VECTORS = {
    "ragged": ([[1, 2, 3], [1, 2]], ("dimension",)),
    "wrong size": ([[1, 2], [3, 4]], ("dimension",)),
    "empty": ([], ("non-empty",)),
    "flat vector": ([1, 2, 3], ("multivector",)),
    "too many": ([[1, 2, 3]] * 4, ("max_vectors",)),
    "not numbers": ([["a", 2, 3]], ("number", "Expected `float`")),
    "nested too deep": ([[[1, 2, 3]]], ("vector", "number", "Expected `float`")),
}


@pytest.mark.parametrize("case", list(BAD_VECTORS))
def test_bad_multivector_writes_nothing(http: HttpSession, collection: str, case: str):
    value, mentions = BAD_VECTORS[case]
    other = {"id": 2, "vector": {"multi": [[1, 1, 1]]}}
    bad = {"id": 3, "vector": {"multi": value}}
    for body in ({"points": [other, bad]},
                 {"batch": {"ids": [2, 3], "vectors": {"multi": [[[1, 1, 1]], value]}}}):
        response = http.put(f"/collections/{collection}/points?wait=true", json=body)
        assert_rejected(response, (400, 422), mentions)
    response = http.put(f"/collections/{collection}/points/vectors?wait=true",
                        json={"points": [{"id": 1, "vector": {"multi": value}}]})
    assert_rejected(response, (400, 422), mentions)
    assert count(http, collection) == 1
    stored = http.post(f"/collections/{collection}/points",
                       json={"ids": [1], "with_vector": True}).json()["result"][0]
    assert len(stored["vector"]["multi"]) == 1


@pytest.mark.parametrize("query, mentions", [
    ([1, 2, 3], ("multivector",)),
    ([[1, 2, 3], [1, 2]], ("dimension",)),
    ([[1, 2]], ("dimension",)),
    ([], ("vector",)),
])
def test_bad_multivector_queries(http: HttpSession, collection: str, query, mentions):
    response = http.post(f"/collections/{collection}/points/query",
                         json={"query": query, "using": "multi"})
    assert_rejected(response, (400, 422), mentions)


def test_multivector_query_on_a_dense_vector(http: HttpSession, collection: str):
    response = http.post(f"/collections/{collection}/points/query",
                         json={"query": [[1, 2], [3, 4]], "using": "dense"})
    assert_rejected(response, (400, 422), ("multivector",))


def test_bad_configs(http: HttpSession, unique_name: str):
    cases = [
        ({**MULTI, "multivector_config": {"comparator": "min_sim"}}, ("comparator",)),
        ({**MULTI, "multivector_config": {}}, ("comparator",)),
    ]
    for params, mentions in cases:
        response = http.put(f"/collections/{unique_name}", json={"vectors": {"m": params}})
        assert_rejected(response, (400, 422), mentions)
    assert http.get(f"/collections/{unique_name}/exists").json()["result"]["exists"] is False


# Quantization configs Qdrant's schema refuses: each names the field at fault.
BAD_QUANTIZATIONS = {
    "quantile below 0.5": ({"scalar": {"type": "int8", "quantile": 0.3}}, ("quantile",)),
    "quantile above 1": ({"scalar": {"type": "int8", "quantile": 1.5}}, ("quantile",)),
    "scalar type": ({"scalar": {"type": "int4"}}, ("type",)),
    "compression": ({"product": {"compression": "x3"}}, ("compression",)),
    "no compression": ({"product": {}}, ("compression",)),
    "binary encoding": ({"binary": {"encoding": "three_bits"}}, ("encoding",)),
    "query encoding": ({"binary": {"query_encoding": "scalar2bits"}}, ("query_encoding",)),
    "always_ram": ({"binary": {"always_ram": "yes"}}, ("always_ram",)),
    "two kinds": ({"scalar": {"type": "int8"}, "binary": {}}, ("exactly one", "quantization")),
    "unknown kind": ({"turbo": {}}, ("turbo",)),
}


@pytest.mark.parametrize("case", list(BAD_QUANTIZATIONS))
def test_bad_quantization_of_a_multivector(http: HttpSession, collection: str, case: str):
    quantization, mentions = BAD_QUANTIZATIONS[case]
    fresh = f"{collection}_new"
    for body in ({"vectors": {"m": {**MULTI, "quantization_config": quantization}}},
                 {"vectors": {"m": MULTI}, "quantization_config": quantization}):
        response = http.put(f"/collections/{fresh}", json=body)
        assert_rejected(response, (400, 422), mentions)
    assert http.get(f"/collections/{fresh}/exists").json()["result"]["exists"] is False
    before = http.get(f"/collections/{collection}").json()["result"]["config"]
    for body in ({"vectors": {"multi": {"quantization_config": quantization}}},
                 {"quantization_config": quantization}):
        response = http.patch(f"/collections/{collection}", json=body)
        assert_rejected(response, (400, 422), mentions)
    assert http.get(f"/collections/{collection}").json()["result"]["config"] == before
    assert count(http, collection) == 1


@pytest.mark.parametrize("quantization, mentions", [
    ({"oversampling": 0.5}, ("oversampling",)),
    ({"rescore": "yes"}, ("rescore",)),
    ({"ignore": 1}, ("ignore",)),
])
def test_bad_quantization_search_params(http: HttpSession, collection: str, quantization,
                                        mentions):
    response = http.post(f"/collections/{collection}/points/query", json={
        "query": [[1, 2, 3]], "using": "multi", "params": {"quantization": quantization}})
    assert_rejected(response, (400, 422), mentions)


def test_named_multivector_added_to_a_collection(http: HttpSession, collection: str):
    response = http.put(f"/collections/{collection}/vectors/late",
                        json={"dense": {**MULTI, "size": 2}})
    assert response.status_code == 200, response.text
    response = http.put(f"/collections/{collection}/points/vectors?wait=true",
                        json={"points": [{"id": 1, "vector": {"late": [[1, 0], [0, 1]]}}]})
    assert response.status_code == 200, response.text
    response = http.post(f"/collections/{collection}/points/query",
                         json={"query": [[1, 0]], "using": "late", "with_vector": ["late"]})
    assert response.status_code == 200, response.text
    [hit] = response.json()["result"]["points"]
    assert hit["score"] == pytest.approx(1.0) and hit["vector"]["late"] == [[1, 0], [0, 1]]


def test_legacy_search_takes_a_single_vector_as_one_sub_vector(http: HttpSession,
                                                                 collection: str):
    """As Qdrant's /points/search does; the query API refuses it (test above)."""
    response = http.post(f"/collections/{collection}/points/search",
                         json={"vector": {"name": "multi", "vector": [1, 2, 3]}, "limit": 3})
    assert response.status_code == 200, response.text
    [hit] = response.json()["result"]
    assert hit["id"] == 1 and hit["score"] == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize("query, mentions", [
    ({"nearest": [[1, 2, 3]], "mmr": {"diversity": 0.5}}, ("mmr",)),
    ({"relevance_feedback": {"target": [[1, 2, 3]], "feedback": [
        {"example": [[1, 0, 0]], "score": 1.0}],
        "strategy": {"naive": {"a": 1, "b": 1, "c": 1}}}}, ("relevance_feedback",)),
])
def test_queries_not_available_for_multivectors(http: HttpSession, collection: str, query,
                                                mentions):
    """Left out (see the report): no reference semantics to check them against."""
    response = http.post(f"/collections/{collection}/points/query",
                         json={"query": query, "using": "multi"})
    assert_rejected(response, (400,), mentions)


def test_distance_matrix_of_a_multivector_is_refused(http: HttpSession, collection: str):
    response = http.post(f"/collections/{collection}/points/search/matrix/pairs",
                         json={"using": "multi", "sample": 5, "limit": 2})
    assert_rejected(response, (400,), ("multivector",))
