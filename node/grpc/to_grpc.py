"""Results of the REST entry points (plain JSON values) into gRPC response messages.

Points and hits, the bulk of every answer, are built directly from the result dicts; rarer and
deeper shapes (collection info, cluster info, groups) go through qdrant-client's REST models
and its REST-to-gRPC converters.
"""

from __future__ import annotations

from typing import Any

from qdrant_client import grpc as pb
from qdrant_client.conversions.conversion import RestToGrpc, json_to_value
from qdrant_client.http import models

UPDATE_STATUS = {"acknowledged": pb.Acknowledged, "completed": pb.Completed}


def point_id(value: int | str) -> pb.PointId:
    return pb.PointId(num=value) if isinstance(value, int) else pb.PointId(uuid=str(value))


def _floats(values: Any) -> list[float]:
    return values.tolist() if hasattr(values, "tolist") else list(values)


def _vector(value: Any) -> pb.VectorOutput:
    if isinstance(value, dict):  # sparse
        return pb.VectorOutput(sparse=pb.SparseVector(
            indices=list(value["indices"]), values=_floats(value["values"])))
    values = _floats(value)
    if values and isinstance(values[0], list):
        return pb.VectorOutput(multi_dense=pb.MultiDenseVector(
            vectors=[pb.DenseVector(data=v) for v in values]))
    return pb.VectorOutput(dense=pb.DenseVector(data=values))


def vectors(value: Any) -> pb.VectorsOutput:
    if isinstance(value, dict) and not ("indices" in value and "values" in value):
        return pb.VectorsOutput(vectors=pb.NamedVectorsOutput(
            vectors={name: _vector(v) for name, v in value.items()}))
    return pb.VectorsOutput(vector=_vector(value))


def payload(value: dict | None) -> dict[str, pb.Value]:
    return {k: json_to_value(v) for k, v in (value or {}).items()}


def _order_value(value: int | float) -> pb.OrderValue:
    return pb.OrderValue(int=value) if isinstance(value, int) else pb.OrderValue(float=value)


def scored_point(hit: dict) -> pb.ScoredPoint:
    out = pb.ScoredPoint(id=point_id(hit["id"]), score=hit["score"],
                         version=hit.get("version") or 0, payload=payload(hit.get("payload")))
    if hit.get("vector") is not None:
        out.vectors.CopyFrom(vectors(hit["vector"]))
    if hit.get("order_value") is not None:
        out.order_value.CopyFrom(_order_value(hit["order_value"]))
    return out


def retrieved_point(record: dict) -> pb.RetrievedPoint:
    out = pb.RetrievedPoint(id=point_id(record["id"]), payload=payload(record.get("payload")))
    if record.get("vector") is not None:
        out.vectors.CopyFrom(vectors(record["vector"]))
    if record.get("order_value") is not None:
        out.order_value.CopyFrom(_order_value(record["order_value"]))
    return out


def update_result(result: dict) -> pb.UpdateResult:
    return pb.UpdateResult(operation_id=result["operation_id"],
                           status=UPDATE_STATUS[result["status"]])


def groups_result(result: dict) -> pb.GroupsResult:
    return RestToGrpc.convert_groups_result(models.GroupsResult.model_validate(result))


def collection_info(info: dict) -> pb.CollectionInfo:
    return RestToGrpc.convert_collection_info(models.CollectionInfo.model_validate(info))


def alias_description(alias: dict) -> pb.AliasDescription:
    return pb.AliasDescription(alias_name=alias["alias_name"],
                               collection_name=alias["collection_name"])


def facet_hits(result: dict) -> list[pb.FacetHit]:
    return [RestToGrpc.convert_facet_value_hit(models.FacetValueHit.model_validate(hit))
            for hit in result["hits"]]


def matrix_pairs(result: dict) -> pb.SearchMatrixPairs:
    return RestToGrpc.convert_search_matrix_pairs(
        models.SearchMatrixPairsResponse.model_validate(result))


def matrix_offsets(result: dict) -> pb.SearchMatrixOffsets:
    return RestToGrpc.convert_search_matrix_offsets(
        models.SearchMatrixOffsetsResponse.model_validate(result))


def snapshot(description: dict) -> pb.SnapshotDescription:
    return RestToGrpc.convert_snapshot_description(
        models.SnapshotDescription.model_validate(description))
