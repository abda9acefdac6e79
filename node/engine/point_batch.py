"""Turning the JSON points of an upsert into validated, typed arrays, before anything is written.

Everything that can be wrong with a point is found here, so that the WAL only ever holds
operations that apply cleanly: an upsert is all or nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from node.engine.ids import PointId, normalize_point_id
from node.engine.shard_config import DenseVectorSpec, ShardConfig
from node.errors import BadRequest


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


UPDATE_MODES = ("upsert", "insert_only", "update_only")


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


def parse_sparse(raw: object, where: str) -> SparseVector:
    if not isinstance(raw, dict) or set(raw) != {"indices", "values"}:
        raise BadRequest(f"{where}: a sparse vector is an object with `indices` and `values`")
    indices, values = raw["indices"], raw["values"]
    if not isinstance(indices, list) or not isinstance(values, list):
        raise BadRequest(f"{where}: `indices` and `values` must be arrays")
    if len(indices) != len(values):
        raise BadRequest(
            f"{where}: `indices` and `values` differ in length ({len(indices)} != {len(values)})"
        )
    if any(isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < 2**32 for i in indices):
        raise BadRequest(f"{where}: sparse indices must be unsigned 32-bit integers")
    vals = _as_float_array(values, where)
    idx = np.asarray(indices, dtype=np.uint32)
    if len(np.unique(idx)) != len(idx):
        raise BadRequest(f"{where}: sparse indices must be unique")
    order = np.argsort(idx, kind="stable")
    return SparseVector(indices=idx[order], values=vals[order].astype(np.float32))


def _as_float_array(values: object, where: str) -> np.ndarray:
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise BadRequest(f"{where}: vector values must be numbers") from None
    if arr.dtype == object or (arr.size and not np.isfinite(arr).all()):
        raise BadRequest(f"{where}: vector values must be finite numbers (no NaN or infinity)")
    return arr


def convert_dense(spec: DenseVectorSpec, rows: object, where: str) -> np.ndarray:
    """Validate a list of dense vectors for `spec` and return them as an (n, size) array of its
    storage dtype; Cosine vectors are normalised, as Qdrant stores them."""
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[1] != spec.size:
        for i, row in enumerate(rows):  # find the offending vector for a precise message
            if not isinstance(row, list) or any(isinstance(x, list) for x in row):
                raise BadRequest(f"{where}[{i}]: expected a vector of {spec.size} numbers")
            if len(row) != spec.size:
                raise BadRequest(
                    f"{where}[{i}]: wrong vector dimension: expected {spec.size}, got {len(row)}"
                )
        _as_float_array(rows, where)
        raise BadRequest(f"{where}: expected vectors of {spec.size} numbers")
    if arr.size and not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise BadRequest(f"{where}[{bad}]: vector values must be finite (no NaN or infinity)")
    if spec.datatype == "uint8":
        ok = (arr >= 0) & (arr <= 255) & (arr == np.floor(arr))
        if not ok.all():
            bad = int(np.argwhere(~ok)[0][0])
            raise BadRequest(
                f"{where}[{bad}]: uint8 vectors take integers from 0 to 255 only"
            )
        return arr.astype(np.uint8)
    if spec.distance == "Cosine":
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        arr = np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)
    if spec.datatype == "float16" and arr.size and np.abs(arr).max() > 65504:
        raise BadRequest(f"{where}: values exceed the float16 range")
    return arr.astype(spec.dtype)


def _split_vector_struct(config: ShardConfig, vector: object, where: str) -> dict[str, object]:
    """Map vector name -> raw value for one point's `vector` field."""
    if isinstance(vector, list):
        if "" not in config.dense and "" not in config.multi:
            raise BadRequest(
                f"{where}: this collection has named vectors "
                f"({', '.join(sorted(config.dense)) or 'none'}); send an object of name -> vector"
            )
        return {"": vector}
    if isinstance(vector, dict):
        return vector
    if vector is None:
        return {}
    raise BadRequest(f"{where}: expected a vector (array) or an object of named vectors")


def _check_vector_name(config: ShardConfig, name: str, where: str) -> None:
    if name not in config.dense and name not in config.sparse and name not in config.multi:
        known = config.vector_names()
        label = f"`{name}`" if name else "the unnamed vector"
        raise BadRequest(
            f"{where}: {label} does not exist in this collection "
            f"(vectors: {', '.join(repr(k) for k in known) or 'none'})"
        )


def _multivector(config: ShardConfig, name: str, raw: object, where: str) -> np.ndarray:
    from node.engine.multivector import parse_multivector  # it builds on convert_dense

    return parse_multivector(config.multi[name], raw, where)


def _parse_payload(raw: object, where: str) -> dict | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: payload must be a JSON object")
    return raw


def batch_from_points(config: ShardConfig, points: object) -> PointBatch:
    """The `points` list form of an upsert."""
    if not isinstance(points, list):
        raise BadRequest("points: expected an array of points")
    ids: list[PointId] = []
    payloads: list[dict | None] = []
    dense_rows: dict[str, list] = {name: [] for name in config.dense}
    dense_pos: dict[str, list[int]] = {name: [] for name in config.dense}
    sparse: dict[str, dict[int, SparseVector]] = {}
    batch_multi: dict[str, dict[int, np.ndarray]] = {}
    for i, point in enumerate(points):
        where = f"points[{i}]"
        if not isinstance(point, dict):
            raise BadRequest(f"{where}: expected an object with `id` and `vector`")
        if "id" not in point:
            raise BadRequest(f"{where}.id: missing")
        if "vector" not in point:
            raise BadRequest(f"{where}.vector: missing (send {{}} for a point without vectors)")
        ids.append(normalize_point_id(point["id"]))
        payloads.append(_parse_payload(point.get("payload"), f"{where}.payload"))
        vectors = _split_vector_struct(config, point.get("vector"), f"{where}.vector")
        for name, value in vectors.items():
            _check_vector_name(config, name, f"{where}.vector")
            if name in config.multi:
                batch_multi.setdefault(name, {})[i] = _multivector(
                    config, name, value, f"{where}.vector.{name}")
            elif name in config.sparse:
                sparse.setdefault(name, {})[i] = parse_sparse(value, f"{where}.vector.{name}")
            elif isinstance(value, dict):
                raise BadRequest(f"{where}.vector.{name}: `{name}` is a dense vector")
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


def batch_from_columns(config: ShardConfig, batch: object) -> PointBatch:
    """The `batch` (columnar) form of an upsert: ids, vectors, payloads."""
    if not isinstance(batch, dict) or "ids" not in batch:
        raise BadRequest("batch: expected an object with `ids` and `vectors`")
    raw_ids = batch["ids"]
    if not isinstance(raw_ids, list):
        raise BadRequest("batch.ids: expected an array")
    n = len(raw_ids)
    ids = [normalize_point_id(x) for x in raw_ids]
    raw_payloads = batch.get("payloads")
    if raw_payloads is None:
        payloads: list[dict | None] = [None] * n
    elif not isinstance(raw_payloads, list) or len(raw_payloads) != n:
        raise BadRequest(f"batch.payloads: expected an array of {n} payloads, one per id")
    else:
        payloads = [_parse_payload(p, f"batch.payloads[{i}]") for i, p in enumerate(raw_payloads)]
    vectors = batch.get("vectors")
    if isinstance(vectors, list):
        if "" not in config.dense and "" not in config.multi:
            raise BadRequest("batch.vectors: this collection has named vectors; send name -> list")
        vectors = {"": vectors}
    if vectors is None:
        vectors = {}
    if not isinstance(vectors, dict):
        raise BadRequest("batch.vectors: expected an array of vectors or an object of named lists")
    result = PointBatch(ids=ids, payloads=payloads)
    positions = np.arange(n, dtype=np.int64)
    for name, column in vectors.items():
        _check_vector_name(config, name, "batch.vectors")
        if not isinstance(column, list) or len(column) != n:
            raise BadRequest(f"batch.vectors.{name}: expected an array of {n} vectors, one per id")
        if name in config.multi:
            result.multi[name] = {
                i: _multivector(config, name, v, f"batch.vectors.{name}[{i}]")
                for i, v in enumerate(column)
            }
        elif name in config.sparse:
            result.sparse[name] = {
                i: parse_sparse(v, f"batch.vectors.{name}[{i}]") for i, v in enumerate(column)
            }
        else:
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
