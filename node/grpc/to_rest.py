"""gRPC requests into the JSON bodies the REST face takes, one function per message kind.

The gRPC face answers through the same entry points as REST (node.points, node.queries,
node.catalog), so each protobuf request is turned into the body a REST client would have
sent. The nested parts (filters, vectors, queries, selectors) go through qdrant-client's own
gRPC-to-REST converters and its REST models, so both faces read one shape; only the
request envelopes, which those converters do not cover, are assembled here.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from typing import Any

from google.protobuf.message import Message
from pydantic import BaseModel
from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import GrpcToRest, grpc_to_payload

Body = dict[str, Any]

# grpc FieldType -> the REST `field_schema` word
FIELD_TYPES = {
    pb.FieldTypeKeyword: "keyword",
    pb.FieldTypeInteger: "integer",
    pb.FieldTypeFloat: "float",
    pb.FieldTypeGeo: "geo",
    pb.FieldTypeText: "text",
    pb.FieldTypeBool: "bool",
    pb.FieldTypeDatetime: "datetime",
    pb.FieldTypeUuid: "uuid",
}


# Filter clauses protobuf cannot leave unset: an empty repeated field reads as []. Qdrant
# ignores an empty clause; REST bodies simply do not send one.
EMPTY_CLAUSES = ("must", "should", "must_not")


def plain(value: Any) -> Any:
    """A REST model (or a list or dict of them) as plain JSON values, unset fields left out."""
    if isinstance(value, BaseModel):
        return _without_empty_clauses(
            value.model_dump(mode="json", exclude_none=True, by_alias=True))
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, Enum):  # a converted enum (ShardingMethod.CUSTOM) as its JSON word
        return value.value
    return value


def _without_empty_clauses(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_empty_clauses(v) for k, v in value.items()
                if not (k in EMPTY_CLAUSES and v == [])}
    if isinstance(value, list):
        return [_without_empty_clauses(v) for v in value]
    return value


def short_float(value: float) -> float:
    """A float32 field's value as the decimal it was written as (0.99, not 0.9900000095...):
    protobuf's `float` fields carry single precision, REST bodies carry the decimal."""
    return float(f"{value:.7g}")


def _short_floats(value: Any) -> Any:
    if isinstance(value, float):
        return short_float(value)
    if isinstance(value, dict):
        return {k: _short_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_short_floats(v) for v in value]
    return value


def _put(body: Body, key: str, msg: Message, field: str,
         convert: Callable[[Any], Any] | None = None) -> None:
    """body[key] = the converted field, when the message has it set."""
    if msg.HasField(field):
        raw = getattr(msg, field)
        body[key] = plain(convert(raw)) if convert is not None else raw


def point_id(pid: pb.PointId) -> int | str:
    return pid.num if pid.WhichOneof("point_id_options") == "num" else pid.uuid


def _selector(body: Body, selector: pb.PointsSelector) -> None:
    """A PointsSelector as REST writes it: `points` (ids) or `filter`."""
    body.update(plain(GrpcToRest.convert_points_selector(selector)))


def _read_options(body: Body, msg: Message, *, vectors_field: str = "with_vectors") -> None:
    _put(body, "with_payload", msg, "with_payload", GrpcToRest.convert_with_payload_selector)
    _put(body, "with_vector", msg, vectors_field, GrpcToRest.convert_with_vectors_selector)


# --- points: writes ---------------------------------------------------------------------


def _dense(vector: pb.Vector) -> list[float] | None:
    """A dense vector's values (either form), or None for any other kind."""
    which = vector.WhichOneof("vector")
    if which == "dense":
        return list(vector.dense.data)
    if which is None and not vector.HasField("indices") and not vector.HasField("vectors_count"):
        return list(vector.data)  # the deprecated flat form
    return None


def point_struct(point: pb.PointStruct) -> Body:
    """A point to upsert. Dense vectors, the bulk of every ingest, are read directly (a fifth
    of the converters' cost); other kinds go through qdrant-client's converters."""
    vectors = point.vectors
    kind = vectors.WhichOneof("vectors_options")
    dense: Any = None
    if kind == "vector":
        dense = _dense(vectors.vector)
    elif kind == "vectors":
        named = {name: _dense(v) for name, v in vectors.vectors.vectors.items()}
        dense = None if None in named.values() else named
    if dense is None:
        return plain(GrpcToRest.convert_point_struct(point))
    return {"id": point_id(point.id), "vector": dense, "payload": grpc_to_payload(point.payload)}


def upsert(msg: pb.UpsertPoints) -> Body:
    body: Body = {"points": [point_struct(p) for p in msg.points]}
    _put(body, "update_filter", msg, "update_filter", GrpcToRest.convert_filter)
    _put(body, "update_mode", msg, "update_mode", GrpcToRest.convert_update_mode)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def delete_points(msg: pb.DeletePoints) -> Body:
    body: Body = {}
    _selector(body, msg.points)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def update_vectors(msg: pb.UpdatePointVectors) -> Body:
    body: Body = {"points": [plain(GrpcToRest.convert_point_vectors(p)) for p in msg.points]}
    _put(body, "update_filter", msg, "update_filter", GrpcToRest.convert_filter)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def delete_vectors(msg: pb.DeletePointVectors) -> Body:
    body: Body = {"vector": list(msg.vectors.names)}
    _selector(body, msg.points_selector)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def set_payload(msg: pb.SetPayloadPoints) -> Body:
    body: Body = {"payload": grpc_to_payload(msg.payload)}
    if msg.HasField("points_selector"):
        _selector(body, msg.points_selector)
    _put(body, "key", msg, "key")
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def delete_payload(msg: pb.DeletePayloadPoints) -> Body:
    body: Body = {"keys": list(msg.keys)}
    if msg.HasField("points_selector"):
        _selector(body, msg.points_selector)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def clear_payload(msg: pb.ClearPayloadPoints) -> Body:
    body: Body = {}
    _selector(body, msg.points)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def update_batch(msg: pb.UpdateBatchPoints) -> Body:
    return {"operations": [_update_operation(op) for op in msg.operations]}


def _update_operation(op: pb.PointsUpdateOperation) -> Body:
    """One batch operation as REST's; its shard key selector is converted here, since the
    client's conversion hands it on as a protobuf message."""
    which = op.WhichOneof("operation")
    inner = getattr(op, which) if which is not None else None
    selector = None
    if inner is not None and "shard_key_selector" in inner.DESCRIPTOR.fields_by_name \
            and inner.HasField("shard_key_selector"):
        selector = plain(GrpcToRest.convert_shard_key_selector(inner.shard_key_selector))
        op = copy_message(op)
        getattr(op, which).ClearField("shard_key_selector")
    body = plain(GrpcToRest.convert_points_update_operation(op))
    if selector is not None:
        (operation,) = body.values()
        operation["shard_key"] = selector
    return body


def copy_message(msg: Message) -> Message:
    duplicate = type(msg)()
    duplicate.CopyFrom(msg)
    return duplicate


def create_field_index(msg: pb.CreateFieldIndexCollection) -> Body:
    body: Body = {"field_name": msg.field_name}
    if msg.HasField("field_index_params"):
        body["field_schema"] = plain(
            GrpcToRest.convert_payload_schema_params(msg.field_index_params))
    elif msg.HasField("field_type"):
        body["field_schema"] = FIELD_TYPES.get(msg.field_type, msg.field_type)
    return body


# --- points: reads and queries -------------------------------------------------------------


def get_points(msg: pb.GetPoints) -> Body:
    body: Body = {"ids": [point_id(p) for p in msg.ids]}
    _read_options(body, msg)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def scroll(msg: pb.ScrollPoints) -> Body:
    body: Body = {}
    _put(body, "filter", msg, "filter", GrpcToRest.convert_filter)
    _put(body, "offset", msg, "offset", point_id)
    _put(body, "limit", msg, "limit")
    _put(body, "order_by", msg, "order_by", GrpcToRest.convert_order_by)
    _read_options(body, msg)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def count(msg: pb.CountPoints) -> Body:
    body: Body = {}
    _put(body, "filter", msg, "filter", GrpcToRest.convert_filter)
    _put(body, "exact", msg, "exact")
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def _search_common(body: Body, msg: Message) -> Body:
    _put(body, "filter", msg, "filter", GrpcToRest.convert_filter)
    body["limit"] = msg.limit
    _put(body, "offset", msg, "offset")
    _put(body, "params", msg, "params", GrpcToRest.convert_search_params)
    _put(body, "score_threshold", msg, "score_threshold", short_float)
    _read_options(body, msg)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def search(msg: pb.SearchPoints) -> Body:
    vector: Any = list(msg.vector)
    if msg.HasField("sparse_indices"):
        vector = {"indices": list(msg.sparse_indices.data), "values": vector}
    if msg.HasField("vector_name"):
        vector = {"name": msg.vector_name, "vector": vector}
    elif isinstance(vector, dict):  # a sparse vector is always named in REST
        vector = {"name": "", "vector": vector}
    return _search_common({"vector": vector}, msg)


def search_batch(msg: pb.SearchBatchPoints) -> Body:
    return {"searches": [search(s) for s in msg.search_points]}


def recommend(msg: pb.RecommendPoints) -> Body:
    def examples(ids, vectors) -> list:
        return [point_id(p) for p in ids] + [
            plain(GrpcToRest.convert_vector(v)) for v in vectors]

    body: Body = {
        "positive": examples(msg.positive, msg.positive_vectors),
        "negative": examples(msg.negative, msg.negative_vectors),
    }
    _put(body, "strategy", msg, "strategy", GrpcToRest.convert_recommend_strategy)
    _put(body, "using", msg, "using")
    _put(body, "lookup_from", msg, "lookup_from", GrpcToRest.convert_lookup_location)
    return _search_common(body, msg)


def recommend_batch(msg: pb.RecommendBatchPoints) -> Body:
    return {"searches": [recommend(r) for r in msg.recommend_points]}


def query(msg: pb.QueryPoints) -> Body:
    body = plain(GrpcToRest.convert_query_points(msg))
    if "score_threshold" in body:
        body["score_threshold"] = short_float(body["score_threshold"])
    return body


def query_batch(msg: pb.QueryBatchPoints) -> Body:
    return {"searches": [query(q) for q in msg.query_points]}


def query_groups(msg: pb.QueryPointGroups) -> Body:
    body: Body = {"group_by": msg.group_by}
    if msg.prefetch:
        body["prefetch"] = [plain(GrpcToRest.convert_prefetch_query(p)) for p in msg.prefetch]
    _put(body, "query", msg, "query", GrpcToRest.convert_query)
    _put(body, "using", msg, "using")
    _put(body, "filter", msg, "filter", GrpcToRest.convert_filter)
    _put(body, "params", msg, "params", GrpcToRest.convert_search_params)
    _put(body, "score_threshold", msg, "score_threshold", short_float)
    _read_options(body, msg)
    _put(body, "lookup_from", msg, "lookup_from", GrpcToRest.convert_lookup_location)
    _put(body, "limit", msg, "limit")
    _put(body, "group_size", msg, "group_size")
    _put(body, "with_lookup", msg, "with_lookup", GrpcToRest.convert_with_lookup)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


# --- legacy groups and discovery, as the query API's equivalents ---------------------------
# Flotilla's REST face serves these only through /points/query and /points/query/groups, so
# the legacy gRPC requests become those bodies (Qdrant runs them as the same queries).


def _groups_common(body: Body, msg: Message) -> Body:
    body.update({"group_by": msg.group_by, "group_size": msg.group_size, "limit": msg.limit})
    _put(body, "filter", msg, "filter", GrpcToRest.convert_filter)
    _put(body, "params", msg, "params", GrpcToRest.convert_search_params)
    _put(body, "score_threshold", msg, "score_threshold", short_float)
    _read_options(body, msg)
    _put(body, "with_lookup", msg, "with_lookup", GrpcToRest.convert_with_lookup)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def search_groups(msg: pb.SearchPointGroups) -> Body:
    vector: Any = list(msg.vector)
    if msg.HasField("sparse_indices"):
        vector = {"indices": list(msg.sparse_indices.data), "values": vector}
    body: Body = {"query": vector}
    _put(body, "using", msg, "vector_name")
    return _groups_common(body, msg)


def _examples(ids, vectors) -> list:
    return [point_id(p) for p in ids] + [plain(GrpcToRest.convert_vector(v)) for v in vectors]


def recommend_groups(msg: pb.RecommendPointGroups) -> Body:
    recommend: Body = {"positive": _examples(msg.positive, msg.positive_vectors),
                       "negative": _examples(msg.negative, msg.negative_vectors)}
    _put(recommend, "strategy", msg, "strategy", GrpcToRest.convert_recommend_strategy)
    body: Body = {"query": {"recommend": recommend}}
    _put(body, "using", msg, "using")
    _put(body, "lookup_from", msg, "lookup_from", GrpcToRest.convert_lookup_location)
    return _groups_common(body, msg)


def _example(example: pb.VectorExample) -> Any:
    which = example.WhichOneof("example")
    if which == "id":
        return point_id(example.id)
    if which == "vector":
        return plain(GrpcToRest.convert_vector(example.vector))
    raise ValueError("an example needs an id or a vector")


def discover(msg: pb.DiscoverPoints) -> Body:
    """A discovery query; with no target, a context query (as Qdrant's discover reads it)."""
    context = [{"positive": _example(pair.positive), "negative": _example(pair.negative)}
               for pair in msg.context]
    if msg.HasField("target"):
        if msg.target.WhichOneof("target") != "single":
            raise ValueError("target: expected a single example")
        query: Body = {"discover": {"target": _example(msg.target.single), "context": context}}
    else:
        query = {"context": context}
    body: Body = {"query": query, "limit": msg.limit}
    _put(body, "filter", msg, "filter", GrpcToRest.convert_filter)
    _put(body, "params", msg, "params", GrpcToRest.convert_search_params)
    _put(body, "offset", msg, "offset")
    _put(body, "using", msg, "using")
    _put(body, "lookup_from", msg, "lookup_from", GrpcToRest.convert_lookup_location)
    _read_options(body, msg)
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def discover_batch(msg: pb.DiscoverBatchPoints) -> Body:
    return {"searches": [discover(d) for d in msg.discover_points]}


def facet(msg: pb.FacetCounts) -> Body:
    body: Body = {"key": msg.key}
    _put(body, "filter", msg, "filter", GrpcToRest.convert_filter)
    _put(body, "limit", msg, "limit")
    _put(body, "exact", msg, "exact")
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def search_matrix(msg: pb.SearchMatrixPoints) -> Body:
    body: Body = {}
    _put(body, "filter", msg, "filter", GrpcToRest.convert_filter)
    _put(body, "sample", msg, "sample")
    _put(body, "limit", msg, "limit")
    _put(body, "using", msg, "using")
    _put(body, "shard_key", msg, "shard_key_selector", GrpcToRest.convert_shard_key_selector)
    return body


def vector_name_config(msg: pb.CreateVectorNameRequest) -> Body:
    """The new vector's config as REST's VectorNameConfig: {"dense": ...} or {"sparse": ...}."""
    which = msg.WhichOneof("vector_config")
    if which == "dense_config":
        given = msg.dense_config
        dense: Body = {"size": given.size,
                       "distance": GrpcToRest.convert_distance(given.distance).value}
        _put(dense, "multivector_config", given, "multivector_config",
             GrpcToRest.convert_multivector_config)
        if given.HasField("datatype"):
            dense["datatype"] = GrpcToRest.convert_datatype(given.datatype).value
        return {"dense": dense}
    if which == "sparse_config":
        given = msg.sparse_config
        sparse: Body = {}
        if given.HasField("modifier"):
            sparse["modifier"] = GrpcToRest.convert_modifier(given.modifier).value
        if given.HasField("datatype"):
            sparse["datatype"] = GrpcToRest.convert_datatype(given.datatype).value
        return {"sparse": sparse}
    raise ValueError('expected exactly one of "dense_config" or "sparse_config"')


# --- collections ------------------------------------------------------------------------


def create_collection(msg: pb.CreateCollection) -> Body:
    body: Body = {}
    _put(body, "vectors", msg, "vectors_config", GrpcToRest.convert_vectors_config)
    _put(body, "sparse_vectors", msg, "sparse_vectors_config",
         GrpcToRest.convert_sparse_vector_config)
    _put(body, "shard_number", msg, "shard_number")
    _put(body, "sharding_method", msg, "sharding_method", GrpcToRest.convert_sharding_method)
    _put(body, "replication_factor", msg, "replication_factor")
    _put(body, "write_consistency_factor", msg, "write_consistency_factor")
    _put(body, "on_disk_payload", msg, "on_disk_payload")
    _put(body, "hnsw_config", msg, "hnsw_config", GrpcToRest.convert_hnsw_config_diff)
    _put(body, "wal_config", msg, "wal_config", GrpcToRest.convert_wal_config_diff)
    _put(body, "optimizers_config", msg, "optimizers_config",
         GrpcToRest.convert_optimizers_config_diff)
    _put(body, "quantization_config", msg, "quantization_config",
         GrpcToRest.convert_quantization_config)
    _put(body, "strict_mode_config", msg, "strict_mode_config",
         GrpcToRest.convert_strict_mode_config)
    body = _short_floats(body)  # every float of a collection's config is a float32 field
    if msg.metadata:
        body["metadata"] = grpc_to_payload(msg.metadata)
    return body


def update_collection(msg: pb.UpdateCollection) -> Body:
    return _short_floats(plain(GrpcToRest.convert_update_collection(msg)))


def change_aliases(msg: pb.ChangeAliases) -> Body:
    return {"actions": [plain(GrpcToRest.convert_alias_operations(a)) for a in msg.actions]}


def cluster_operation(msg: pb.UpdateCollectionClusterSetupRequest) -> Body:
    """The request's one operation as REST's ClusterOperations body ({"move_shard": ...})."""
    which = msg.WhichOneof("operation")
    if which is None:
        raise ValueError("expected one of move_shard, replicate_shard, abort_transfer, "
                         "drop_replica")
    body = plain(GrpcToRest.convert_cluster_operations(getattr(msg, which)))
    if which == "create_shard_key" and not msg.create_shard_key.placement:
        body["create_sharding_key"].pop("placement", None)  # see create_shard_key
    return body


def create_shard_key(msg: pb.CreateShardKeyRequest) -> Body:
    """REST's CreateShardingKey body. An empty `placement` is how proto3 says "not given"
    (REST's empty list is an error), so it is left out."""
    body = plain(GrpcToRest.convert_create_shard_key(msg.request))
    if not msg.request.placement:
        body.pop("placement", None)
    return body


def delete_shard_key(msg: pb.DeleteShardKeyRequest) -> Body:
    return plain(GrpcToRest.convert_delete_shard_key(msg.request))
