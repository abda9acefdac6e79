"""Changing some vectors of stored points (`update_vectors`, `delete_vectors`).

Vectors are checked against the collection here, before anything is written. Applying a
change moves the point: its full row is read back, the named vectors are replaced or dropped,
and the copy is appended.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from node.engine.ids import PointId
from node.engine.multivector import parse_multivector
from node.engine.point_batch import (
    DenseColumn,
    PointBatch,
    SparseVector,
    convert_dense,
    sparse_from,
)
from node.engine.shard_config import ShardConfig
from node.errors import BadRequest
from node.model.points import PointVectors
from node.model.vectors import SparseVectorIn

VectorValues = dict[str, np.ndarray | SparseVector]


def check_vector_name(config: ShardConfig, name: str, where: str) -> str:
    if name not in config.vector_names():
        known = ", ".join(repr(k) for k in config.vector_names()) or "none"
        raise BadRequest(f"{where}: vector {name!r} does not exist (vectors: {known})")
    return name


def vector_updates(config: ShardConfig, points: list[PointVectors]
                   ) -> list[tuple[PointId, VectorValues]]:
    """The `points` of an `update_vectors` request: (id, new vectors by name) each."""
    out = []
    for i, point in enumerate(points):
        where = f"points[{i}]"
        raw = {"": point.vector} if isinstance(point.vector, list) else point.vector
        values: VectorValues = {}
        for name, value in raw.items():
            check_vector_name(config, name, f"{where}.vector")
            label = f"{where}.vector{'.' + name if name else ''}"
            if name in config.multi:
                if isinstance(value, SparseVectorIn):
                    raise BadRequest(f"{label}: expected a multivector")
                values[name] = parse_multivector(config.multi[name], value, label)
            elif name in config.sparse:
                if not isinstance(value, SparseVectorIn):
                    raise BadRequest(f"{label}: expected a sparse vector")
                values[name] = sparse_from(value)
            elif isinstance(value, list):
                values[name] = convert_dense(config.dense[name], [value], label)[0]
            else:
                raise BadRequest(f"{label}: expected a dense vector")
        out.append((point.id, values))
    return out


def vector_names(config: ShardConfig, names: list[str]) -> list[str]:
    return list(dict.fromkeys(check_vector_name(config, n, "vector") for n in names))


def replace_vectors(
    point: PointBatch, new: VectorValues, dropped: Iterable[str] = ()
) -> PointBatch:
    """A one-point batch like `point` with the vectors in `new` replaced and `dropped` removed."""
    gone = set(dropped) | set(new)
    result = PointBatch(ids=list(point.ids), payloads=list(point.payloads))
    result.dense = {n: c for n, c in point.dense.items() if n not in gone}
    result.sparse = {n: v for n, v in point.sparse.items() if n not in gone}
    result.multi = {n: v for n, v in point.multi.items() if n not in gone}
    for name, value in new.items():
        if isinstance(value, SparseVector):
            result.sparse[name] = {0: value}
        elif value.ndim == 2:
            result.multi[name] = {0: value}
        else:
            result.dense[name] = DenseColumn(
                rows=value.reshape(1, -1), positions=np.zeros(1, dtype=np.int64)
            )
    return result
