"""Changing some vectors of stored points (`update_vectors`, `delete_vectors`).

Vectors are validated here, before anything is written. Applying a change moves the point: its
full row is read back, the named vectors are replaced or dropped, and the copy is appended.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from node.engine.ids import PointId, normalize_point_id
from node.engine.multivector import parse_multivector
from node.engine.point_batch import (
    DenseColumn,
    PointBatch,
    SparseVector,
    convert_dense,
    parse_sparse,
)
from node.engine.shard_config import ShardConfig
from node.errors import BadRequest

VectorValues = dict[str, np.ndarray | SparseVector]


def check_vector_name(config: ShardConfig, name: object, where: str) -> str:
    if not isinstance(name, str) or name not in config.vector_names():
        known = ", ".join(repr(k) for k in config.vector_names()) or "none"
        raise BadRequest(f"{where}: vector {name!r} does not exist (vectors: {known})")
    return name


def parse_vector_updates(config: ShardConfig, points: object) -> list[tuple[PointId, VectorValues]]:
    """The `points` of an `update_vectors` request: (id, new vectors by name) each."""
    if not isinstance(points, list) or not points:
        raise BadRequest("points: expected a non-empty array of {id, vector}")
    out = []
    for i, point in enumerate(points):
        where = f"points[{i}]"
        if not isinstance(point, dict) or "id" not in point or "vector" not in point:
            raise BadRequest(f"{where}: expected an object with `id` and `vector`")
        raw = point["vector"]
        if isinstance(raw, list):
            raw = {"": raw}
        if not isinstance(raw, dict):
            raise BadRequest(f"{where}.vector: expected a vector or an object of named vectors")
        values: VectorValues = {}
        for name, value in raw.items():
            check_vector_name(config, name, f"{where}.vector")
            label = f"{where}.vector{'.' + name if name else ''}"
            if name in config.multi:
                values[name] = parse_multivector(config.multi[name], value, label)
            elif name in config.sparse:
                values[name] = parse_sparse(value, label)
            elif isinstance(value, list):
                values[name] = convert_dense(config.dense[name], [value], label)[0]
            else:
                raise BadRequest(f"{label}: expected a dense vector")
        out.append((normalize_point_id(point["id"]), values))
    return out


def parse_vector_names(config: ShardConfig, names: object) -> list[str]:
    if not isinstance(names, list) or not names:
        raise BadRequest("vector: expected a non-empty array of vector names")
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
