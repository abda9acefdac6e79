"""Point writes: upsert (list or columnar batch), delete, payload changes, vector changes, and
the `/points/batch` list of them. Which vector names and sizes a collection takes is checked
below, against its config; the shapes are checked here."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from node.model.decode import invalid
from node.model.filters import Filter, check_key, normalized_id, normalized_ids
from node.model.shard_keys import ShardKeySelector
from node.model.vectors import PointIdIn, SparseVectorIn

MAX_POINT_ID = 2**64 - 1

# One point's vectors: the unnamed dense vector (or multivector), or name -> dense vector,
# multivector or sparse vector. A multivector is an array of vectors; msgspec takes a union
# with one array-like member, so one array type holds both and the engine tells them apart.
DenseOrMulti = list[float | list[float]]
VectorStruct = DenseOrMulti | dict[str, DenseOrMulti | SparseVectorIn]
Payload = dict[str, Any]


class PointStruct(msgspec.Struct):
    id: PointIdIn
    vector: VectorStruct
    payload: Payload | None = None

    def __post_init__(self) -> None:
        if type(self.id) is not int or self.id > MAX_POINT_ID:  # ints are >= 0 already
            self.id = normalized_id(self.id)


class PointVectors(msgspec.Struct):
    id: PointIdIn
    vector: VectorStruct

    def __post_init__(self) -> None:
        self.id = normalized_id(self.id)


class Batch(msgspec.Struct):
    """The columnar form: ids, and per vector name a list with one vector per id."""

    ids: list[PointIdIn]
    vectors: list[DenseOrMulti] | dict[str, list[DenseOrMulti | SparseVectorIn]] | None = None
    payloads: list[Payload | None] | None = None

    def __post_init__(self) -> None:
        self.ids = normalized_ids(self.ids, "ids")
        n = len(self.ids)
        if self.payloads is not None and len(self.payloads) != n:
            raise invalid("payloads", f"expected an array of {n} payloads, one per id")
        columns = {"": self.vectors} if isinstance(self.vectors, list) else self.vectors or {}
        for name, column in columns.items():
            if len(column) != n:
                where = f"vectors.{name}" if name else "vectors"
                raise invalid(where, f"expected an array of {n} vectors, one per id")


class UpsertRequest(msgspec.Struct):
    points: list[PointStruct] | None = None
    batch: Batch | None = None
    # Which points are written: all, only new ones, or only stored ones (that match the filter).
    update_mode: Literal["upsert", "insert_only", "update_only"] | None = None
    update_filter: Filter | None = None
    # The keys of a custom-sharded collection the points go to (each key gets them all).
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        if (self.points is None) == (self.batch is None):
            raise ValueError("expected `points` (a list of points) or `batch`, one of them")


class PointsSelector(msgspec.Struct):
    """The points an operation applies to: listed ids, or those a filter matches."""

    points: list[PointIdIn] | None = None
    filter: Filter | None = None
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        if self.points is not None and self.filter is not None:
            raise ValueError("give either `points` or `filter`, not both")
        if self.points is None and self.filter is None:
            raise ValueError("expected `points` (a list of ids) or `filter`")
        if self.points is not None:
            self.points = list(dict.fromkeys(normalized_ids(self.points, "points")))


class DeleteRequest(PointsSelector):
    pass


class ClearPayloadRequest(PointsSelector):
    pass


class SetPayloadRequest(PointsSelector):
    payload: Payload | None = None
    key: str | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.payload is None:
            raise invalid("payload", "required (a JSON object)")
        if self.key is not None:
            check_key(self.key, "key")


class DeletePayloadRequest(PointsSelector):
    keys: list[str] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.keys is None:
            raise invalid("keys", "required (an array of payload keys)")
        for i, key in enumerate(self.keys):
            check_key(key, f"keys[{i}]")


class UpdateVectorsRequest(msgspec.Struct):
    points: list[PointVectors]
    update_filter: Filter | None = None  # only the named points that match it change
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        if not self.points:
            raise invalid("points", "expected a non-empty array of {id, vector}")


class DeleteVectorsRequest(PointsSelector):
    vector: list[str] | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.vector:
            raise invalid("vector", "expected a non-empty array of vector names")


_OPERATIONS = ("upsert", "delete", "set_payload", "overwrite_payload", "delete_payload",
               "clear_payload", "update_vectors", "delete_vectors")


class UpdateOperation(msgspec.Struct, forbid_unknown_fields=True):
    """One entry of `/points/batch`: exactly one operation."""

    upsert: UpsertRequest | None = None
    delete: DeleteRequest | None = None
    set_payload: SetPayloadRequest | None = None
    overwrite_payload: SetPayloadRequest | None = None
    delete_payload: DeletePayloadRequest | None = None
    clear_payload: ClearPayloadRequest | None = None
    update_vectors: UpdateVectorsRequest | None = None
    delete_vectors: DeleteVectorsRequest | None = None

    def __post_init__(self) -> None:
        if len(self.given()) != 1:
            raise ValueError("expected an object with exactly one operation")

    def given(self) -> list[str]:
        return [name for name in _OPERATIONS if getattr(self, name) is not None]

    def operation(self) -> tuple[str, msgspec.Struct]:
        name = self.given()[0]
        return name, getattr(self, name)


class BatchRequest(msgspec.Struct):
    operations: list[UpdateOperation]


# The request type of each single-operation route.
REQUEST_OF = {
    "delete": DeleteRequest,
    "set_payload": SetPayloadRequest,
    "overwrite_payload": SetPayloadRequest,
    "delete_payload": DeletePayloadRequest,
    "clear_payload": ClearPayloadRequest,
    "update_vectors": UpdateVectorsRequest,
    "delete_vectors": DeleteVectorsRequest,
}
