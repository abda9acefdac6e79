"""Payload indexes and strict mode through qdrant-client: index types, payload_schema counts,
indexed filters giving the same answers as unindexed ones, and strict mode's refusals."""

from __future__ import annotations

import numpy as np
import pytest
from client_errors import API_ERRORS, status_of
from qdrant_client import QdrantClient, models

from node.engine.filters import compile_filter
from node.engine.payload_index import build_field_index
from node.model import decode
from node.model.filters import Filter

SCHEMAS = {
    "tenant": models.KeywordIndexParams(type="keyword", is_tenant=True),
    "count": models.PayloadSchemaType.INTEGER,
    "price": models.PayloadSchemaType.FLOAT,
    "flag": models.PayloadSchemaType.BOOL,
    "place": models.PayloadSchemaType.GEO,
    "title": models.TextIndexParams(type="text", tokenizer="word", lowercase=True),
    "ref": models.PayloadSchemaType.UUID,
    "when": models.DatetimeIndexParams(type="datetime", is_principal=True),
}


def _payload(i: int, rng: np.random.Generator) -> dict:
    payload = {
        "tenant": f"t{i % 50}",
        "count": int(rng.integers(0, 100)),
        "price": float(rng.random() * 10),
        "flag": bool(i % 2),
        "place": {"lon": float(rng.uniform(-10, 10)), "lat": float(rng.uniform(40, 60))},
        "title": f"item number {i}",
        "ref": "5c56c793-69f3-4fbf-87e6-c4bf54c28c26",
        "when": f"2026-01-{1 + i % 28:02d}T10:00:00Z",
    }
    if i % 10 == 0:
        del payload["count"]
    return payload


@pytest.fixture(scope="module")
def indexed(client: QdrantClient, face: str):
    name = f"payload_index_{face}"
    rng = np.random.default_rng(9)
    client.create_collection(name, vectors_config=models.VectorParams(size=8, distance="Dot"),
                             shard_number=2)
    vectors = rng.normal(size=(1000, 8)).astype(np.float32)
    client.upsert(name, [models.PointStruct(id=i, vector=vectors[i].tolist(),
                                            payload=_payload(i, rng)) for i in range(1000)])
    for field, schema in SCHEMAS.items():
        client.create_payload_index(name, field, field_schema=schema, wait=True)
    return name, vectors


def test_payload_schema_lists_every_index_with_counts(client, indexed):
    name, _ = indexed
    schema = client.get_collection(name).payload_schema
    assert set(schema) == set(SCHEMAS)
    assert schema["tenant"].data_type == models.PayloadSchemaType.KEYWORD
    assert schema["tenant"].params.is_tenant is True
    assert schema["title"].params.tokenizer == models.TokenizerType.WORD
    assert schema["count"].points == 900
    assert schema["tenant"].points == 1000


def test_indexed_filters_answer_like_a_full_scan(client, indexed, unique_name):
    name, vectors = indexed
    reference = QdrantClient(":memory:")
    reference.create_collection(unique_name, vectors_config=models.VectorParams(size=8,
                                                                              distance="Dot"))
    points = client.scroll(name, limit=1000, with_vectors=True)[0]
    reference.upsert(unique_name, [models.PointStruct(id=p.id, vector=p.vector,
                                                      payload=p.payload) for p in points])
    filters = [
        models.Filter(must=[models.FieldCondition(key="tenant",
                                                  match=models.MatchValue(value="t7"))]),
        models.Filter(must=[models.FieldCondition(key="tenant",
                                                  match=models.MatchAny(any=["t1", "t2"])),
                            models.FieldCondition(key="count", range=models.Range(gte=20, lt=60))]),
        models.Filter(must=[models.FieldCondition(key="price", range=models.Range(gt=9.5))]),
        models.Filter(must=[models.FieldCondition(key="flag", match=models.MatchValue(value=True))],
                      must_not=[models.FieldCondition(key="count",
                                                      range=models.Range(lte=50))]),
    ]
    query = [0.5] * 8
    for flt in filters:
        ours = client.query_points(name, query=query, query_filter=flt, limit=20).points
        theirs = reference.query_points(unique_name, query=query, query_filter=flt, limit=20).points
        assert [p.id for p in ours] == [p.id for p in theirs]
        assert client.count(name, count_filter=flt).count == reference.count(
            unique_name, count_filter=flt).count


def test_index_follows_updates_and_can_be_dropped(client, indexed, unique_name):
    name, _ = indexed
    client.create_collection(unique_name, vectors_config=models.VectorParams(size=2,
                                                                           distance="Dot"))
    client.create_payload_index(unique_name, "color", field_schema="keyword", wait=True)
    client.upsert(unique_name, [models.PointStruct(id=1, vector=[1, 0], payload={"color": "red"})])
    red = models.Filter(must=[models.FieldCondition(key="color",
                                                    match=models.MatchValue(value="red"))])
    assert client.count(unique_name, count_filter=red).count == 1
    client.set_payload(unique_name, payload={"color": "blue"}, points=[1], wait=True)
    assert client.count(unique_name, count_filter=red).count == 0
    client.delete_payload_index(unique_name, "color", wait=True)
    assert client.get_collection(unique_name).payload_schema == {}


def test_bad_index_requests(http, indexed):
    name, _ = indexed
    for body, needle in [
        ({"field_name": "x", "field_schema": "vector"}, "type"),
        ({"field_schema": "keyword"}, "field_name"),
        ({"field_name": "x", "field_schema": {"type": "keyword", "lookup": True}}, "lookup"),
    ]:
        response = http.put(f"/collections/{name}/index", json=body)
        assert response.status_code == 400, response.text
        assert needle in response.json()["status"]["error"]
    assert http.delete(f"/collections/{name}/index/missing").status_code == 404


def test_strict_mode_refusals(client, unique_name):
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=2, distance="Dot"),
        strict_mode_config=models.StrictModeConfig(
            enabled=True, max_query_limit=5, unindexed_filtering_retrieve=False,
            search_max_hnsw_ef=64, search_allow_exact=False, upsert_max_batchsize=3,
            filter_max_conditions=2, max_timeout=5),
    )
    client.create_payload_index(unique_name, "tag", field_schema="keyword", wait=True)
    client.upsert(unique_name, [models.PointStruct(id=i, vector=[i, 1], payload={"tag": "a"})
                                for i in range(3)])
    tag = models.FieldCondition(key="tag", match=models.MatchValue(value="a"))
    assert len(client.query_points(unique_name, query=[1, 1], limit=5,
                                   query_filter=models.Filter(must=[tag])).points) == 3
    refused = [
        dict(query=[1, 1], limit=6),
        dict(query=[1, 1], query_filter=models.Filter(must=[models.FieldCondition(
            key="other", match=models.MatchValue(value=1))])),
        dict(query=[1, 1], search_params=models.SearchParams(hnsw_ef=128)),
        dict(query=[1, 1], search_params=models.SearchParams(exact=True)),
        dict(query=[1, 1], query_filter=models.Filter(must=[tag, tag, tag])),
        dict(query=[1, 1], timeout=10),
    ]
    for kwargs in refused:
        with pytest.raises(API_ERRORS) as error:
            client.query_points(unique_name, **kwargs)
        assert status_of(error.value) == 400
    with pytest.raises(API_ERRORS):
        client.upsert(unique_name, [models.PointStruct(id=10 + i, vector=[1, 1])
                                    for i in range(4)])
    assert client.count(unique_name).count == 3


def test_index_lookups_are_as_typed_as_the_filter():
    """An index lookup returns exactly the points the per-point check accepts: true is not 1,
    1.0 matches no integer, booleans are not numbers, an array inside an array is one value."""
    payloads = [{"v": 1}, {"v": True}, {"v": 1.0}, {"v": "1"}, {"v": [0, [1]]}, {"v": False},
                {"v": 0}, {"v": None}, {}]
    index = build_field_index("v", "integer", enumerate(payloads))
    conditions = [{"match": {"value": 1}}, {"match": {"value": True}}, {"match": {"value": 0}},
                  {"match": {"value": False}}, {"match": {"any": [0, 1]}},
                  {"match": {"value": "1"}}, {"range": {"gte": 1}}, {"range": {"lt": 1}}]
    for condition in conditions:
        compiled = compile_filter(decode(Filter, {"must": [{"key": "v", **condition}]}))
        [(_key, hint)] = compiled.index_hints()
        expected = {i for i, p in enumerate(payloads) if compiled.matches(i, p, lambda _n: False)}
        assert set(index.lookup(hint).tolist()) == expected, condition
