"""Point update requests (upsert, delete, payload and vector changes, batches), decoded at the
edge (node/model/points.py), as the operations the shards apply.

Every request is turned into `PointUpdate`s before anything is written, so a bad input in any
operation of a batch leaves the collection untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from node.engine.filters import CompiledFilter, compile_filter
from node.engine.ids import PointId
from node.engine.point_batch import PointBatch, batch_from_columns, batch_from_points
from node.engine.shard_config import ShardConfig
from node.engine.vector_update import VectorValues, vector_names, vector_updates
from node.model.points import (
    BatchRequest,
    ClearPayloadRequest,
    DeletePayloadRequest,
    DeleteRequest,
    DeleteVectorsRequest,
    PointsSelector,
    SetPayloadRequest,
    UpdateVectorsRequest,
    UpsertRequest,
)
from node.model.shard_keys import ShardKeySelector

# Operations on existing points: naming a point that does not exist is a 404, as in Qdrant.
NEEDS_EXISTING = frozenset(
    {"set_payload", "overwrite_payload", "delete_payload", "clear_payload",
     "update_vectors", "delete_vectors"}
)


@dataclass
class PointUpdate:
    """One operation: `kind` is the shard op; it targets `ids` or the points `filter` matches."""

    kind: str
    ids: list[PointId] | None = None
    filter: CompiledFilter | None = None
    args: tuple = ()
    batch: PointBatch | None = None  # upsert
    vectors: dict[PointId, VectorValues] = field(default_factory=dict)  # update_vectors
    shard_key: ShardKeySelector | None = None  # the keys it goes to (custom sharding)


def _target(request: PointsSelector) -> tuple[list[PointId] | None, CompiledFilter | None]:
    return request.points, compile_filter(request.filter)


def _delete(request: DeleteRequest, config: ShardConfig) -> PointUpdate:
    return PointUpdate("delete", *_target(request))


def _set_payload(request: SetPayloadRequest, config: ShardConfig) -> PointUpdate:
    # the key was checked at decode; it is applied as text (the op is pickled in the WAL)
    return PointUpdate("set_payload", *_target(request), (request.payload, request.key))


def _overwrite_payload(request: SetPayloadRequest, config: ShardConfig) -> PointUpdate:
    return PointUpdate("overwrite_payload", *_target(request), (request.payload,))


def _delete_payload(request: DeletePayloadRequest, config: ShardConfig) -> PointUpdate:
    return PointUpdate("delete_payload", *_target(request), (list(request.keys),))


def _clear_payload(request: ClearPayloadRequest, config: ShardConfig) -> PointUpdate:
    return PointUpdate("clear_payload", *_target(request))


def _update_vectors(request: UpdateVectorsRequest, config: ShardConfig) -> PointUpdate:
    vectors: dict[PointId, VectorValues] = {}
    for pid, values in vector_updates(config, request.points):
        vectors.setdefault(pid, {}).update(values)  # a later entry for the same id wins
    return PointUpdate("update_vectors", list(vectors), compile_filter(request.update_filter),
                       vectors=vectors)


def _delete_vectors(request: DeleteVectorsRequest, config: ShardConfig) -> PointUpdate:
    names = vector_names(config, request.vector)
    return PointUpdate("delete_vectors", *_target(request), (names,))


def plan_upsert(config: ShardConfig, request: UpsertRequest) -> PointUpdate:
    if request.points is not None:
        batch = batch_from_points(config, request.points)
    else:
        batch = batch_from_columns(config, request.batch)
    batch.update_mode = request.update_mode or "upsert"
    batch.update_filter = compile_filter(request.update_filter)
    return PointUpdate("upsert", list(dict.fromkeys(batch.ids)), batch=batch,
                       shard_key=request.shard_key)


_PLANNERS = {
    "upsert": lambda request, config: plan_upsert(config, request),
    "delete": _delete,
    "set_payload": _set_payload,
    "overwrite_payload": _overwrite_payload,
    "delete_payload": _delete_payload,
    "clear_payload": _clear_payload,
    "update_vectors": _update_vectors,
    "delete_vectors": _delete_vectors,
}


def plan_update(config: ShardConfig, kind: str, request: msgspec.Struct) -> PointUpdate:
    """One decoded update request (`delete`, `set_payload`, ...) as a PointUpdate."""
    update = _PLANNERS[kind](request, config)
    update.shard_key = request.shard_key  # type: ignore[attr-defined]
    return update


def plan_batch(config: ShardConfig, request: BatchRequest) -> list[PointUpdate]:
    """The `operations` of `/points/batch`, in order."""
    return [plan_update(config, *op.operation()) for op in request.operations]
