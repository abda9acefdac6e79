"""Turning the decoded points of an upsert (node/model) into typed arrays, before anything
is written.

The decode checked their shapes; what depends on the collection (vector names, sizes, dtype
ranges) is checked here, so that the WAL only ever holds operations that apply cleanly: an
upsert is all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from node.engine.dense_values import convert_dense
from node.engine.ids import PointId
from node.engine.multivector import parse_multivector
from node.engine.shard_config import ShardConfig
from node.errors import BadRequest
from node.model.points import Batch, PointStruct, VectorStruct
from node.model.vectors import SparseVectorIn


@dataclass
class SparseVector:
    indices: np.ndarray  # uint32, sorted ascending, unique
    values: np.ndarray  # float32

    def to_json(self) -> dict:
        return {"indices": self.indices.tolist(), "values": self.values.tolist()}


@dataclass
class DenseColumn:
    """The rows of one named dense vector, for the points of a batch at `positions`."""

    rows: np.ndarray
    positions: np.ndarray


@dataclass
class PointBatch:
    ids: list[PointId]
    payloads: list[dict | None]
    dense: dict[str, DenseColumn] = field(default_factory=dict)
    sparse: dict[str, dict[int, SparseVector]] = field(default_factory=dict)
    # Which of the points are written, decided by the shard under its lock: `update_mode`
    # (upsert, insert_only, update_only) and a filter stored points must match to be
    # overwritten. The shard logs only the points it wrote, as a plain upsert.
    update_mode: str = "upsert"
    update_filter: object | None = None  # a compiled filter
    # Multivectors: name -> batch position -> (sub-vectors, size) array.
    multi: dict[str, dict[int, np.ndarray]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.ids)

    def __setstate__(self, state: dict) -> None:
        # WAL records written before multivectors existed have no `multi`.
        state.setdefault("multi", {})
        self.__dict__.update(state)


def sparse_from(raw: SparseVectorIn) -> SparseVector:
    """A decoded sparse vector (indices unique, lengths equal) sorted by index, as kept."""
    indices = np.asarray(raw.indices, dtype=np.uint32)
    order = np.argsort(indices, kind="stable")
    values = np.asarray(raw.values, dtype=np.float32)
    return SparseVector(indices=indices[order], values=values[order])


def _split_vector_struct(config: ShardConfig, vector: VectorStruct, where: str
                         ) -> dict[str, list[float] | SparseVectorIn]:
    """Map vector name -> value for one point's `vector` field."""
    if isinstance(vector, list):
        if "" not in config.dense and "" not in config.multi:
            raise BadRequest(
                f"{where}: this collection has named vectors "
                f"({', '.join(sorted(config.dense)) or 'none'}); send an object of name -> vector"
            )
        return {"": vector}
    return vector


def _check_vector_name(config: ShardConfig, name: str, where: str) -> None:
    if name not in config.dense and name not in config.sparse and name not in config.multi:
        known = config.vector_names()
        label = f"`{name}`" if name else "the unnamed vector"
        raise BadRequest(
            f"{where}: {label} does not exist in this collection "
            f"(vectors: {', '.join(repr(k) for k in known) or 'none'})"
        )


def _multivector(config: ShardConfig, name: str, raw: object, where: str) -> np.ndarray:
    return parse_multivector(config.multi[name], raw, where)


def batch_from_points(config: ShardConfig, points: list[PointStruct]) -> PointBatch:
    """The `points` list form of an upsert, checked against the collection's vectors."""
    if "" in config.dense and all(type(p.vector) is list for p in points):
        return _unnamed_dense_batch(config, points)
    ids: list[PointId] = []
    payloads: list[dict | None] = []
    dense_rows: dict[str, list] = {name: [] for name in config.dense}
    dense_pos: dict[str, list[int]] = {name: [] for name in config.dense}
    sparse: dict[str, dict[int, SparseVector]] = {}
    batch_multi: dict[str, dict[int, np.ndarray]] = {}
    for i, point in enumerate(points):
        where = f"points[{i}].vector"
        ids.append(point.id)
        payloads.append(point.payload)
        for name, value in _split_vector_struct(config, point.vector, where).items():
            _check_vector_name(config, name, where)
            if name in config.multi:
                if isinstance(value, SparseVectorIn):
                    raise BadRequest(f"{where}.{name}: `{name}` is a multivector")
                batch_multi.setdefault(name, {})[i] = _multivector(
                    config, name, value, f"{where}.{name}")
            elif name in config.sparse:
                if not isinstance(value, SparseVectorIn):
                    raise BadRequest(f"{where}.{name}: `{name}` is a sparse vector")
                sparse.setdefault(name, {})[i] = sparse_from(value)
            elif isinstance(value, SparseVectorIn):
                raise BadRequest(f"{where}.{name}: `{name}` is a dense vector")
            else:
                dense_rows[name].append(value)
                dense_pos[name].append(i)
    batch = PointBatch(ids=ids, payloads=payloads, sparse=sparse, multi=batch_multi)
    for name, rows in dense_rows.items():
        if rows:
            label = f"points.vector{'.' + name if name else ''}"
            batch.dense[name] = DenseColumn(
                rows=convert_dense(config.dense[name], rows, label),
                positions=np.asarray(dense_pos[name], dtype=np.int64),
            )
    return batch


def _unnamed_dense_batch(config: ShardConfig, points: list[PointStruct]) -> PointBatch:
    """The common case, without the per-point work of named and sparse vectors: every point
    has the collection's unnamed dense vector."""
    batch = PointBatch(ids=[p.id for p in points], payloads=[p.payload for p in points])
    if points:
        rows = convert_dense(config.dense[""], [p.vector for p in points], "points.vector")
        batch.dense[""] = DenseColumn(rows=rows, positions=np.arange(len(points), dtype=np.int64))
    return batch


def batch_from_columns(config: ShardConfig, batch: Batch) -> PointBatch:
    """The `batch` (columnar) form of an upsert: ids, vectors, payloads."""
    n = len(batch.ids)
    payloads = list(batch.payloads) if batch.payloads is not None else [None] * n
    vectors = batch.vectors
    if isinstance(vectors, list):
        if "" not in config.dense and "" not in config.multi:
            raise BadRequest("batch.vectors: this collection has named vectors; send name -> list")
        vectors = {"": vectors}
    result = PointBatch(ids=list(batch.ids), payloads=payloads)
    positions = np.arange(n, dtype=np.int64)
    for name, column in (vectors or {}).items():
        _check_vector_name(config, name, "batch.vectors")
        sparse = [isinstance(v, SparseVectorIn) for v in column]
        if name in config.multi:
            if any(sparse):
                raise BadRequest(f"batch.vectors.{name}: `{name}` takes multivectors")
            result.multi[name] = {
                i: _multivector(config, name, v, f"batch.vectors.{name}[{i}]")
                for i, v in enumerate(column)
            }
        elif name in config.sparse:
            if not all(sparse):
                raise BadRequest(f"batch.vectors.{name}: `{name}` takes sparse vectors")
            result.sparse[name] = {i: sparse_from(v) for i, v in enumerate(column)}
        else:
            if any(sparse):
                raise BadRequest(f"batch.vectors.{name}: `{name}` takes dense vectors")
            label = f"batch.vectors{'.' + name if name else ''}"
            result.dense[name] = DenseColumn(
                rows=convert_dense(config.dense[name], column, label), positions=positions
            )
    return result


def subset(batch: PointBatch, positions: np.ndarray) -> PointBatch:
    """The points of `batch` at `positions` (sorted), as a batch of their own."""
    picked = positions.tolist()
    result = PointBatch(
        ids=[batch.ids[p] for p in picked], payloads=[batch.payloads[p] for p in picked]
    )
    for name, column in batch.dense.items():
        keep = np.isin(column.positions, positions)
        if keep.any():
            # Positions are sorted, so a kept position's new index is its rank among them.
            result.dense[name] = DenseColumn(
                rows=column.rows[keep],
                positions=np.searchsorted(positions, column.positions[keep]),
            )
    result.update_mode, result.update_filter = batch.update_mode, batch.update_filter
    new_index = {p: i for i, p in enumerate(picked)}
    for kind, target in ((batch.sparse, result.sparse), (batch.multi, result.multi)):
        for name, vectors in kind.items():
            chosen = {new_index[p]: v for p, v in vectors.items() if p in new_index}
            if chosen:
                target[name] = chosen
    return result


def batch_from_records(records: list[tuple[PointId, dict | None, dict]]) -> PointBatch:
    """Stored points (id, payload, vectors by name) as an upsert batch of the same points."""
    batch = PointBatch(ids=[r[0] for r in records], payloads=[r[1] for r in records])
    dense: dict[str, tuple[list, list[int]]] = {}
    for position, (_, _, vectors) in enumerate(records):
        for name, vector in vectors.items():
            if isinstance(vector, SparseVector):
                batch.sparse.setdefault(name, {})[position] = vector
            elif vector.ndim == 2:
                batch.multi.setdefault(name, {})[position] = vector
            else:
                rows, positions = dense.setdefault(name, ([], []))
                rows.append(vector)
                positions.append(position)
    for name, (rows, positions) in dense.items():
        batch.dense[name] = DenseColumn(rows=np.stack(rows),
                                        positions=np.asarray(positions, dtype=np.int64))
    return batch
