"""The typed request model (node/model): every kind decodes from JSON bytes and from plain
dicts (what the gRPC face builds), errors name the field path, and the forms qdrant-client
sends are accepted."""

from __future__ import annotations

import uuid

import msgspec
import pytest
from qdrant_client import models

from node.errors import BadRequest
from node.model import aliases, cluster_ops, decode, filters, payload_index, points, queries

MODULES = (filters, points, queries, aliases, payload_index, cluster_ops)
KINDS = [t for m in MODULES for t in vars(m).values()
         if isinstance(t, type) and issubclass(t, msgspec.Struct) and t.__module__ == m.__name__]


@pytest.mark.parametrize("kind", KINDS, ids=lambda t: t.__name__)
def test_every_kind_has_a_decoder(kind: type) -> None:
    msgspec.json.Decoder(kind)  # unsupported unions fail here, not on a client's first request


@pytest.mark.parametrize(("kind", "body", "message"), [
    (queries.QueryRequest, b'{"query": [1, true]}',
     "query[1]: Expected `float | array`, got `bool`"),
    (queries.QueryRequest, b'{"filter": {"must": [{"key": "a", "match": {}}]}}',
     "filter.must[0].match: expected exactly one of"),
    (queries.QueryRequest, b'{"prefetch": [{"limit": -1}]}', "prefetch[0].limit: Expected"),
    (queries.SearchBatchRequest, b'{"searches": [{"vector": [1]}, {"vector": "x"}]}',
     "searches[0].limit: required"),
    (points.UpsertRequest, b'{"points": [{"id": -5, "vector": [1]}]}', "points[0].id: Expected"),
    (points.UpsertRequest, b'{"points": [{"id": "nope", "vector": [1]}]}',
     "points[0].id: point id must be"),
    (points.UpsertRequest, b'{"batch": {"ids": [1, 2], "vectors": [[1]]}}',
     "batch.vectors: expected an array of 2 vectors"),
    (points.BatchRequest, b'{"operations": [{"delete": {"points": [1]}}, {"drop": {}}]}',
     "operations[1]: Object contains unknown field `drop`"),
    (points.DeleteRequest, b'{"points": [1], "filter": {}}', "give either `points` or `filter`"),
    (points.SetPayloadRequest, b'{"points": [1], "payload": {}, "key": "a["}', "key: invalid"),
    (aliases.ChangeAliasesRequest, b'{"actions": [{"delete_alias": {}}]}',
     "actions[0].delete_alias: Object missing required field `alias_name`"),
    (payload_index.CreateIndexRequest,
     b'{"field_name": "a", "field_schema": {"type": "keyword", "lookup": true}}',
     "field_schema.lookup: not a parameter of a keyword index"),
    (cluster_ops.ClusterOperation,
     b'{"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": -1}}',
     "move_shard.to_peer_id: Expected `int` >= 0"),
    (cluster_ops.ClusterOperation, b'{}', "expected one of move_shard"),
])
def test_errors_name_the_field(kind: type, body: bytes, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        decode(kind, body)
    assert str(caught.value).startswith(message), str(caught.value)


def test_dicts_decode_like_json() -> None:
    raw = {"query": {"recommend": {"positive": [1, str(uuid.UUID(int=7))]}},
           "filter": {"must": {"key": "a", "match": {"any": ["x"]}}}, "with_payload": ["a"]}
    assert decode(queries.QueryRequest, raw) == decode(queries.QueryRequest,
                                                       msgspec.json.encode(raw))


def test_client_request_models_are_accepted() -> None:
    """What qdrant-client's REST models serialise to decodes (the forms it sends)."""
    flt = models.Filter(
        must=[models.FieldCondition(key="n", range=models.Range(gte=1)),
              models.FieldCondition(key="t", range=models.DatetimeRange(gt="2024-01-01T00:00:00Z")),
              models.FieldCondition(key="c", match=models.MatchExcept(**{"except": ["x"]})),
              models.HasIdCondition(has_id=[1, str(uuid.UUID(int=3))]),
              models.IsNullCondition(is_null=models.PayloadField(key="z")),
              models.NestedCondition(nested=models.Nested(key="o", filter=models.Filter(
                  must=[models.FieldCondition(key="p", match=models.MatchValue(value=1))])))],
        min_should=models.MinShould(conditions=[
            models.FieldCondition(key="g", geo_radius=models.GeoRadius(
                center=models.GeoPoint(lon=1, lat=2), radius=5))], min_count=1),
    )
    requests = [
        (queries.QueryRequest, models.QueryRequest(
            query=models.FusionQuery(fusion=models.Fusion.RRF), filter=flt,
            prefetch=[models.Prefetch(query=[0.1, 0.2], limit=5),
                      models.Prefetch(query=models.SparseVector(indices=[1], values=[0.5]),
                                      using="s")],
            with_payload=models.PayloadSelectorExclude(exclude=["x"]), with_vector=["v"])),
        (queries.ScrollRequest, models.ScrollRequest(limit=2, order_by=models.OrderBy(
            key="n", direction=models.Direction.DESC))),
        (points.UpsertRequest, models.PointsList(points=[
            models.PointStruct(id=1, vector={"s": models.SparseVector(indices=[2], values=[1]),
                                             "d": [0.5]}, payload={"a": [1, {"b": None}]})])),
        (points.UpsertRequest, models.PointsBatch(batch=models.Batch(ids=[1], vectors=[[1.0]]))),
        (points.BatchRequest, models.UpdateOperations(operations=[
            models.SetPayloadOperation(set_payload=models.SetPayload(payload={"a": 1},
                                                                     points=[1])),
            models.DeleteVectorsOperation(delete_vectors=models.DeleteVectors(
                vector=["d"], filter=flt)),
        ])),
    ]
    # The older search and recommend requests, where the client still has their models.
    if hasattr(models, "SearchRequest"):
        requests.append((queries.SearchRequest, models.SearchRequest(
            vector=models.NamedVector(name="v", vector=[0.1]), limit=3, filter=flt,
            params=models.SearchParams(hnsw_ef=8, quantization=models.QuantizationSearchParams(
                rescore=True)))))
    if hasattr(models, "RecommendRequest"):
        requests.append((queries.RecommendRequest, models.RecommendRequest(
            positive=[1], limit=2, strategy="best_score")))
    for kind, request in requests:
        body = request.model_dump_json(exclude_unset=True, by_alias=True).encode()
        decode(kind, body)
