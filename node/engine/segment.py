"""A segment: a set of points with their ids, versions, vectors and payloads.

A shard writes into one appendable segment. The optimizer seals it (its rows never change
again: an updated point is deleted there and written anew elsewhere) and builds HNSW graphs
over it. Every mutation only appends rows, so a persisted snapshot stays valid as the files grow.
"""

from __future__ import annotations

import logging
import os
import pickle
import uuid
from pathlib import Path

import numpy as np

from node.engine import stored_pickle
from node.engine.dense_storage import DenseStorage
from node.engine.durable_files import fsync_dir, write_atomic
from node.engine.hnsw_index import HnswIndex
from node.engine.ids import PointId
from node.engine.multi_storage import MultiStorage
from node.engine.payload_index import FieldIndex, build_field_index
from node.engine.payload_storage import DiskPayloads, RamPayloads
from node.engine.point_batch import DenseColumn, PointBatch, SparseVector
from node.engine.quantization import QuantizedVectors
from node.engine.segment_ids import SegmentIds
from node.engine.shard_config import ShardConfig
from node.engine.sparse_matrix import SparseMatrix
from node.engine.text_analyzer import TextAnalyzer, text_analyzers
from node.engine.vector_index_builder import BuiltIndex, quantized_in_ram

log = logging.getLogger(__name__)


class Segment:
    def __init__(
        self, directory: Path, config: ShardConfig, state: dict | None = None, generation: int = 0
    ) -> None:
        self.directory = directory
        # The generation of the state file this segment was last persisted as (0: never).
        self.generation = generation
        self.id = directory.name
        self.config = config
        state = state or {}
        self.sealed: bool = state.get("sealed", False)
        self.ids = _ids_from_state(state)
        count = len(self.ids)
        self.versions = np.zeros(max(count, 256), dtype=np.uint64)
        self.versions[:count] = state.get("versions", np.zeros(0, dtype=np.uint64))
        self.dense: dict[str, DenseStorage] = {}
        dense_state = state.get("dense", {})
        for name, spec in config.dense.items():
            storage = DenseStorage(
                directory / f"dense-{_safe(name)}.raw", spec.size, spec.dtype, spec.on_disk, count,
                mapped=self.sealed and name in state.get("index_files", {}),
            )
            if name in dense_state:
                storage.restore_presence(dense_state[name])
            elif count:
                storage.present[:] = False
            self.dense[name] = storage
        self.sparse: dict[str, dict[int, SparseVector]] = {
            name: dict(state.get("sparse", {}).get(name, {})) for name in config.sparse
        }
        multi_state = state.get("multi", {})
        self.multi: dict[str, MultiStorage] = {
            name: MultiStorage(directory / f"multi-{_safe(name)}.raw", spec, count,
                               multi_state.get(name), sealed=self.sealed)
            for name, spec in config.multi.items()
        }
        # How this segment was built; the shard compares it with the current config.
        self.payload_on_disk: bool = state.get("payload_on_disk", config.on_disk_payload)
        self.index_layouts: dict[str, tuple] = dict(state.get("index_layouts", {}))
        if self.payload_on_disk:
            self.payloads: RamPayloads | DiskPayloads = DiskPayloads(
                directory / "payload.log", state.get("payloads")
            )
        else:
            self.payloads = RamPayloads(state.get("payloads"))
        self.quantized_dirs: dict[str, str] = dict(state.get("quantized_dirs", {}))
        self.quantized: dict[str, QuantizedVectors] = {
            name: QuantizedVectors.load(directory / dirname,
                                        in_ram=quantized_in_ram(config.dense[name]))
            for name, dirname in self.quantized_dirs.items()
        }
        # Codes of multivectors (see multivector_quantization), and for each multivector the
        # quantization config a sealed segment's codes were built for (recorded without codes
        # too, so that a config asking for them later rebuilds the segment).
        self.multi_quantized_dirs: dict[str, str] = {
            name: dirname for name, dirname in state.get("multi_quantized_dirs", {}).items()
            if name in config.multi}
        self.multi_quantized: dict[str, QuantizedVectors] = {
            name: QuantizedVectors.load(directory / dirname,
                                        in_ram=quantized_in_ram(config.multi[name]))
            for name, dirname in self.multi_quantized_dirs.items()
        }
        self.multi_layouts: dict[str, str] = {
            name: layout for name, layout in state.get("multi_layouts", {}).items()
            if name in config.multi}
        self.index_files: dict[str, str] = dict(state.get("index_files", {}))
        self.indexes: dict[str, HnswIndex] = {}
        for name, filename in list(self.index_files.items()):
            if not (directory / filename).is_file():
                # A graph is derived data: without its file the vector is searched in full
                # until the optimizer builds the graph again.
                log.warning("segment %s: graph file %s is missing; it will be rebuilt",
                            directory, filename)
                del self.index_files[name]
                self.index_layouts.pop(name, None)
                continue
            index = HnswIndex.load(config.dense[name], directory / filename, count)
            for off in np.flatnonzero(self.deleted[:count]):
                index.mark_deleted(int(off))
            self.indexes[name] = index
        self.dirty = not state
        # Bumped by every change of sparse vectors; keys the cached CSR matrices.
        self.sparse_version = 0
        # Bumped by every append and delete; keys the cached searchable masks.
        self.rows_version = 0
        self._searchable: dict[str, tuple[int, np.ndarray, int]] = {}
        self._sparse_cache: dict[str, tuple[int, SparseMatrix]] = {}
        # While the optimizer copies this segment, the offsets changed meanwhile.
        self.touched: set[int] | None = None
        # While the optimizer builds a graph for this segment, its files are written next to
        # the segment before they are listed; a flush meanwhile must not take them for stale.
        self.building = False
        # Multivector name -> (rows_version, graph of its sub-vectors): built on demand in
        # memory for sealed segments (see multivector_search).
        self.multi_graphs: dict[str, tuple] = {}
        # Payload field -> in-memory index; rebuilt from the payloads when opened.
        self.payload_indexes: dict[str, FieldIndex] = {}
        # How full-text conditions read each text-indexed field (its index's params).
        self.text_analyzers: dict[str, TextAnalyzer] = {}

    @staticmethod
    def create(parent: Path, config: ShardConfig) -> Segment:
        directory = parent / uuid.uuid4().hex
        directory.mkdir(parents=True)
        fsync_dir(parent)
        return Segment(directory, config)

    @staticmethod
    def load(directory: Path, config: ShardConfig, generation: int) -> Segment:
        with open(directory / f"state-{generation}.pkl", "rb") as f:
            state = stored_pickle.load(f)
        return Segment(directory, config, state, generation)

    # ---- counts -------------------------------------------------------------------------

    @property
    def total(self) -> int:
        return len(self.ids)

    @property
    def live_count(self) -> int:
        return self.ids.live_count

    @property
    def deleted(self) -> np.ndarray:
        """Per row, whether it is deleted (read-only: rows are deleted through `delete`)."""
        return self.ids.deleted

    @property
    def deleted_count(self) -> int:
        return self.total - self.live_count

    def live_offsets(self) -> np.ndarray:
        return self.ids.live_offsets()

    def vector_count(self) -> int:
        live = ~self.deleted[: self.total]
        dense = sum(int((s.present & live).sum()) for s in self.dense.values())
        sparse = sum(
            sum(1 for off in vectors if not self.deleted[off]) for vectors in self.sparse.values()
        )
        multi = sum(int((s.present & live).sum()) for s in self.multi.values())
        return dense + sparse + multi

    def indexed_vector_count(self) -> int:
        live = ~self.deleted[: self.total]
        dense = sum(int((self.dense[name].present & live).sum()) for name in self.indexes)
        # A sealed segment's multivectors are searched through a graph (built when sealed, or
        # by the first query after a restart).
        if not self.sealed:
            return dense
        return dense + sum(int((m.present & live).sum()) for m in self.multi.values())

    def unindexed_vector_kb(self) -> float:
        multi_rows = sum(m.rows.nbytes() for m in self.multi.values())
        return (self.live_count * self.config.vector_row_bytes() + multi_rows) / 1024

    # ---- writes -------------------------------------------------------------------------

    def append(self, batch: PointBatch, positions: list[int], version: int) -> None:
        """Append the batch's points at `positions` (all new to this segment)."""
        n = len(positions)
        start = self.total
        self._grow(start + n)
        for name, storage in self.dense.items():
            column = batch.dense.get(name)
            if column is not None and column.rows.shape[1:] != (storage.dim,):
                column = None  # written for an earlier vector of this name, since removed
            rows, present = None, np.zeros(n, dtype=bool)
            if column is not None:
                where = {int(p): i for i, p in enumerate(column.positions)}
                picks = [where.get(p, -1) for p in positions]
                present = np.array([i >= 0 for i in picks], dtype=bool)
                if present.all() and len(picks) == len(column.positions):
                    rows = column.rows if picks == list(range(n)) else column.rows[picks]
                elif present.any():
                    rows = np.zeros((n, storage.dim), dtype=storage.dtype)
                    rows[present] = column.rows[[i for i in picks if i >= 0]]
            storage.append(rows, n, present)
        for name, multi in self.multi.items():
            given = batch.multi.get(name, {})
            values = [given.get(p) for p in positions]
            # A value written for an earlier vector of this name (since removed) is dropped.
            multi.append([v if v is not None and v.shape[1:] == (multi.dim,) else None
                          for v in values])
        self.ids.append([batch.ids[pos] for pos in positions])
        self.versions[start : start + n] = version
        for i, pos in enumerate(positions):
            offset = start + i
            for name, vectors in batch.sparse.items():
                vec = vectors.get(pos)
                stored = self.sparse.get(name)  # None: a vector removed since the write
                if vec is not None and stored is not None:
                    stored[offset] = vec
            self.payloads.set(offset, batch.payloads[pos])
            for index in self.payload_indexes.values():
                index.add(offset, batch.payloads[pos])
        self.sparse_version += 1
        self.rows_version += 1
        self.dirty = True

    def _grow(self, needed: int) -> None:
        if needed <= len(self.versions):
            return
        size = max(needed, len(self.versions) * 3 // 2)
        versions = np.zeros(size, dtype=np.uint64)
        versions[: len(self.versions)] = self.versions
        self.versions = versions

    def offset_of(self, pid: PointId) -> int:
        """The live row of `pid` (KeyError when it has none here)."""
        offset = self.ids.offset_of(pid)
        if offset is None:
            raise KeyError(pid)
        return offset

    def delete(self, pid: PointId, version: int) -> None:
        self.delete_row(self.offset_of(pid), version)

    def delete_row(self, offset: int, version: int) -> None:
        """Delete the live row at `offset`."""
        self.ids.delete_row(offset)
        self.rows_version += 1
        self.versions[offset] = version
        self.sparse_drop(offset)
        self.payloads.set(offset, None)
        for index in self.indexes.values():
            index.mark_deleted(offset)
        self._touch(offset)

    def sparse_drop(self, offset: int) -> None:
        for vectors in self.sparse.values():
            vectors.pop(offset, None)
        self.sparse_version += 1

    def sparse_matrix(self, name: str) -> SparseMatrix:
        cached = self._sparse_cache.get(name)
        if cached is None or cached[0] != self.sparse_version:
            cached = (self.sparse_version, SparseMatrix.build(self.sparse[name]))
            self._sparse_cache[name] = cached
        return cached[1]

    def set_payload_at(self, offset: int, payload: dict | None, version: int) -> None:
        """Replace the payload of the live row at `offset`."""
        self.payloads.set(offset, payload)
        for index in self.payload_indexes.values():
            index.add(offset, payload)
        self.versions[offset] = version
        self._touch(offset)

    def set_payload_indexes(self, schemas: dict[str, dict]) -> None:
        """Index exactly the fields of `schemas` (field -> schema), building new ones now."""
        for field in [f for f in self.payload_indexes if f not in schemas]:
            del self.payload_indexes[field]
        for field, schema in schemas.items():
            current = self.payload_indexes.get(field)
            if current is None or current.schema != schema:
                live = ((int(o), self.payloads.get(int(o))) for o in self.live_offsets())
                self.payload_indexes[field] = build_field_index(field, schema, live)
        self.text_analyzers = text_analyzers(schemas)

    def indexed_points(self, field: str) -> int:
        """Live points holding a value of an indexed field."""
        index = self.payload_indexes.get(field)
        if index is None:
            return 0
        return int((~self.deleted[index.offsets_with_value()]).sum())

    def _touch(self, offset: int) -> None:
        self.dirty = True
        if self.touched is not None:
            self.touched.add(offset)

    # ---- reads --------------------------------------------------------------------------

    def payload(self, offset: int) -> dict | None:
        return self.payloads.get(offset)

    def searchable(self, name: str) -> tuple[np.ndarray, int]:
        """(mask of live offsets holding dense vector `name`, how many): computed once per
        change of the segment's rows, not once per query."""
        cached = self._searchable.get(name)
        if cached is None or cached[0] != self.rows_version:
            mask = ~self.deleted[: self.total] & self.dense[name].present
            cached = (self.rows_version, mask, int(mask.sum()))
            self._searchable[name] = cached
        return cached[1], cached[2]

    def has_vector(self, offset: int, name: str) -> bool:
        storage = self.dense.get(name)
        if storage is not None:
            return bool(storage.present[offset])
        if name in self.multi:
            return bool(self.multi[name].counts[offset])
        return offset in self.sparse.get(name, ())

    def vectors_of(self, offset: int) -> dict[str, np.ndarray | SparseVector]:
        out: dict[str, np.ndarray | SparseVector] = {}
        for name, storage in self.dense.items():
            vec = storage.get(offset)
            if vec is not None:
                out[name] = vec
        for name, vectors in self.sparse.items():
            if offset in vectors:
                out[name] = vectors[offset]
        for name, multi in self.multi.items():
            value = multi.get(offset)
            if value is not None:
                out[name] = value
        return out

    # ---- vectors added to or removed from the collection ---------------------------------

    def adopt_vectors(self, config: ShardConfig) -> bool:
        """Match this segment's vectors to `config`: a vector the collection gained starts
        absent for every stored point; one it lost goes with its graph and codes (their files
        at the next flush). A name given a new size or datatype counts as lost and gained.
        Returns whether anything changed."""
        changed = False
        for name in list(self.dense):
            spec = config.dense.get(name)
            storage = self.dense[name]
            if spec is None or spec.size != storage.dim or spec.dtype != storage.dtype:
                self._drop_dense(name)
                changed = True
        for name, spec in config.dense.items():
            if name not in self.dense:
                path = self.directory / f"dense-{_safe(name)}.raw"
                path.unlink(missing_ok=True)  # rows of an earlier vector of this name
                # Every stored point starts without it (presence bits are all clear).
                self.dense[name] = DenseStorage(path, spec.size, spec.dtype, spec.on_disk,
                                                self.total)
                changed = True
        changed |= self._adopt_multi(config)
        for name in [n for n in self.sparse if n not in config.sparse]:
            del self.sparse[name]
            self._sparse_cache.pop(name, None)
            changed = True
        for name in config.sparse:
            if name not in self.sparse:
                self.sparse[name] = {}
                changed = True
        if changed:
            self.config = config
            self.dirty = True
            self.sparse_version += 1
            self.rows_version += 1
        return changed

    def _adopt_multi(self, config: ShardConfig) -> bool:
        changed = False
        for name in list(self.multi):
            spec = config.multi.get(name)
            if spec is None or (spec.size, spec.dtype) != (self.multi[name].dim,
                                                          self.multi[name].dtype):
                del self.multi[name]
                self.multi_graphs.pop(name, None)
                self.multi_quantized.pop(name, None)
                self.multi_quantized_dirs.pop(name, None)
                self.multi_layouts.pop(name, None)
                changed = True
        for name, spec in config.multi.items():
            if name not in self.multi:
                path = self.directory / f"multi-{_safe(name)}.raw"
                path.unlink(missing_ok=True)  # rows of an earlier vector of this name
                self.multi[name] = MultiStorage(path, spec, self.total)
                changed = True
        return changed

    def _drop_dense(self, name: str) -> None:
        # Only references are dropped: a graph build running off the lock may still read the
        # rows; its result is not attached (see LocalShard._build_indexes).
        del self.dense[name]
        self.indexes.pop(name, None)
        self.index_files.pop(name, None)
        self.index_layouts.pop(name, None)
        self.quantized.pop(name, None)
        self.quantized_dirs.pop(name, None)
        self._searchable.pop(name, None)

    def reserve(self, rows: int) -> None:
        """Room for `rows` rows of every dense vector (a copy into a new segment)."""
        for storage in self.dense.values():
            storage.reserve(rows)

    def as_batch(self, offsets: np.ndarray) -> PointBatch:
        """The points at `offsets` (ids, payloads, copies of their vectors) as one batch."""
        batch = PointBatch(
            ids=self.ids.ids_at(offsets),
            payloads=[self.payload(int(o)) for o in offsets],
        )
        positions = np.arange(len(offsets), dtype=np.int64)
        for name, storage in self.dense.items():
            present = storage.present[offsets]
            if present.any():
                batch.dense[name] = DenseColumn(
                    rows=np.array(storage.vectors()[offsets[present]]),
                    positions=positions[present],
                )
        for name, vectors in self.sparse.items():
            picked = {i: vectors[int(o)] for i, o in enumerate(offsets) if int(o) in vectors}
            if picked:
                batch.sparse[name] = picked
        for name, multi in self.multi.items():
            chosen = {i: np.array(v) for i, o in enumerate(offsets)
                      if (v := multi.get(int(o))) is not None}
            if chosen:
                batch.multi[name] = chosen
        return batch

    # ---- persistence --------------------------------------------------------------------

    def attach_index(self, name: str, built: BuiltIndex, layout: tuple) -> None:
        """Take a graph (and quantized codes) built for vector `name` off the lock."""
        self.index_layouts[name] = layout
        index = built.graph
        for off in np.flatnonzero(self.deleted[: self.total]):
            index.mark_deleted(int(off))
        self.indexes[name] = index
        self.index_files[name] = built.graph_file
        if built.quantized is not None:
            self.quantized[name] = built.quantized
            self.quantized_dirs[name] = built.quantized_dir
        self.dirty = True

    def attach_multi_codes(self, name: str, layout: str, built: QuantizedVectors | None,
                           dirname: str | None) -> None:
        """Record what multivector `name` was sealed with: its codes, if its config asks for
        them, built off the lock."""
        self.multi_layouts[name] = layout
        if built is not None and dirname is not None:
            self.multi_quantized[name] = built
            self.multi_quantized_dirs[name] = dirname
        self.dirty = True

    def derived_files(self) -> set[str]:
        """Graph files and quantized-code directories the segment's state lists."""
        return {*self.index_files.values(), *self.quantized_dirs.values(),
                *self.multi_quantized_dirs.values()}

    def map_indexed_vectors(self) -> None:
        """Once persisted, rows of vectors with a graph are read from their files (see
        DenseStorage.map_persisted)."""
        if self.sealed:
            for name in self.indexes:
                self.dense[name].map_persisted()

    def persist(self, generation: int) -> None:
        """Write a snapshot of this segment as generation `generation`."""
        for storage in self.dense.values():
            storage.persist()
        for multi in self.multi.values():
            multi.persist()
        self.payloads.persist()
        count = self.total
        state = {
            "sealed": self.sealed,
            "ids": self.ids.state(),
            "versions": self.versions[:count].copy(),
            "deleted": np.packbits(self.deleted[:count]),
            "dense": {name: s.state() for name, s in self.dense.items()},
            "sparse": {name: dict(v) for name, v in self.sparse.items()},
            "multi": {name: m.state() for name, m in self.multi.items()},
            "payloads": self.payloads.state(),
            "index_files": dict(self.index_files),
            "quantized_dirs": dict(self.quantized_dirs),
            "multi_quantized_dirs": dict(self.multi_quantized_dirs),
            "multi_layouts": dict(self.multi_layouts),
            "index_layouts": dict(self.index_layouts),
            "payload_on_disk": self.payload_on_disk,
        }
        write_atomic(
            self.directory / f"state-{generation}.pkl",
            pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL),
        )
        self.dirty = False
        self.generation = generation

    def remove_stale_files(self) -> None:
        keep = {f"state-{self.generation}.pkl", *self.derived_files()}
        vector_files = {f"dense-{_safe(name)}.raw" for name in self.dense}
        vector_files |= {f"multi-{_safe(name)}.raw" for name in self.multi}
        for path in self.directory.iterdir():
            if path.name.startswith(("dense-", "multi-")) and path.name not in vector_files:
                path.unlink(missing_ok=True)  # a vector the collection no longer has
                continue
            stale_state = path.name.startswith("state-") and path.name not in keep
            if self.building and path.name.startswith(("hnsw-", "quant-")):
                continue  # a build's files, not listed yet
            stale_index = path.name.startswith("hnsw-") and path.name not in keep
            if path.name.startswith("quant-") and path.name not in keep:
                remove_tree(path)
            elif stale_state or stale_index:
                path.unlink(missing_ok=True)

    def nbytes(self) -> int:
        return (sum(s.nbytes() for s in self.dense.values())
                + sum(m.nbytes() for m in self.multi.values()))

    def close(self) -> None:
        for storage in self.dense.values():
            storage.close()
        for multi in self.multi.values():
            multi.close()
        self.payloads.close()


def _ids_from_state(state: dict) -> SegmentIds:
    """The ids of a persisted segment: sorted arrays, or (state files written before them) a
    list of every row's id."""
    stored = state.get("ids")
    pids = state.get("point_ids", [])
    count = len(stored["int_offsets"]) + len(stored["uuid_offsets"]) if stored else len(pids)
    deleted = np.zeros(count, dtype=bool)
    if count:
        deleted = np.unpackbits(state["deleted"], count=count).astype(bool)
    if stored:
        return SegmentIds.from_state(stored, deleted)
    return SegmentIds.from_list(pids, deleted)


def _safe(name: str) -> str:
    """A vector name as a file-name part (names are arbitrary strings)."""
    return name.encode().hex() if name else "default"


def remove_tree(path: Path) -> None:
    if not path.exists():
        return
    for child in path.iterdir():
        if child.is_dir():
            remove_tree(child)
        else:
            child.unlink(missing_ok=True)
    os.rmdir(path)
