"""A local shard: a WAL in front of a set of segments, with its own background optimizer.

Every write is validated before it reaches the WAL, appended there, then applied to the
segments under the shard lock; `sync` makes it durable before it is acknowledged. A flush
snapshots the segments and writes the manifest (the commit point of a snapshot), after which
the WAL is truncated. On open, the last manifest's segments are loaded and the WAL replayed.
"""

from __future__ import annotations

import heapq
import json
import logging
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.engine import stored_pickle
from node.engine.durable_files import write_atomic
from node.engine.heap_trim import release_free_heap
from node.engine.ids import PointId
from node.engine.multivector_quantization import build_multi_codes
from node.engine.multivector_search import multi_graph_rows
from node.engine.optimization_log import OPTIMIZER_NAMES, OptimizationLog, segment_info
from node.engine.point_batch import PointBatch, subset
from node.engine.point_changes import POINT_CHANGES
from node.engine.point_filter import PointFilter, filter_mask, with_text_indexes
from node.engine.point_order import point_id_order
from node.engine.quantization import QuantizedVectors
from node.engine.search import full_scan_vectors
from node.engine.segment import Segment, remove_tree
from node.engine.segment_ids import IdKeys
from node.engine.shard_config import DenseVectorSpec, ShardConfig
from node.engine.vector_index_builder import GraphBase, build_vector_index
from node.engine.wal import WriteAheadLog
from node.errors import StorageFailed

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
# After a failed optimization, the next try waits this long.
OPTIMIZER_RETRY_SECONDS = 5.0
# Ops that append rows to the appendable segment: an upsert, and changes of vectors (a point
# whose vectors change moves to a new row).
_APPENDING_OPS = ("upsert", "update_vectors", "delete_vectors")
# Seconds without writes after which the appendable tail may join a merge.
TAIL_IDLE_SECONDS = 1.0
# A tail this many times smaller than the smallest sealed segment is left to full scans.
TAIL_SHARE = 10


@dataclass
class ShardInfo:
    points: int
    vectors: int
    indexed_vectors: int
    segments: int
    status: str  # green, yellow, grey, red
    optimizer_error: str | None


class LocalShard:
    def __init__(
        self,
        path: Path,
        config: ShardConfig,
        on_optimizer_run: Callable[[str, int], None] | None = None,
    ) -> None:
        self.path = path
        self.config = config
        self._on_optimizer_run = on_optimizer_run
        self.optimizations = OptimizationLog()
        self.lock = threading.RLock()
        # Payload field -> index schema, as the collection's metadata lists them.
        self.payload_schemas: dict[str, dict] = {}
        # Live writes received since a shard transfer into this replica began (None: no
        # transfer), and which transfer that is (its metadata version).
        self._transfer_queue: list[tuple] | None = None
        self._transfer_id: int | None = None
        # How many times a new transfer began here, dropping every point without queueing the
        # writes applied before: such a write is gone unless the stream's source had it.
        self.points_dropped = 0
        path.mkdir(parents=True, exist_ok=True)
        (path / "segments").mkdir(exist_ok=True)
        manifest = self._read_manifest()
        self.generation: int = manifest.get("generation", 0)
        self.segments: list[Segment] = [
            Segment.load(path / "segments" / s["id"], config, s["generation"])
            for s in manifest.get("segments", [])
        ]
        self._remove_unlisted_segments()
        appendable = [s for s in self.segments if not s.sealed]
        if appendable:
            self.appendable = appendable[0]
        else:
            self.appendable = Segment.create(path / "segments", config)
            self.segments.append(self.appendable)
        self.wal = WriteAheadLog(
            path / "wal", capacity_mb=config.wal_capacity_mb,
            segments_ahead=config.wal_segments_ahead,
        )
        self.applied_seq: int = manifest.get("applied_seq", 0)
        for seq, record in self.wal.replay(self.applied_seq):
            self._apply(stored_pickle.loads(record), seq)
            self.applied_seq = seq
        self._last_flush = time.monotonic()
        self._last_write = time.monotonic()
        self._optimizer: threading.Thread | None = None
        self._optimizer_error: str | None = None
        self._optimizer_retry_at = 0.0
        self._closed = False
        # Optimizations found pending at start wait for the next update (Qdrant's grey status).
        self._pending_at_start = self._next_optimization(now=False) is not None

    # ---- manifest -----------------------------------------------------------------------

    def _read_manifest(self) -> dict:
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except FileNotFoundError:
            return {}

    def _remove_unlisted_segments(self) -> None:
        listed = {s.id for s in self.segments}
        for directory in (self.path / "segments").iterdir():
            if directory.name not in listed:
                remove_tree(directory)  # an optimizer's output that never reached a manifest

    # ---- writes -------------------------------------------------------------------------

    def upsert(self, batch: PointBatch, *, sync: bool = True) -> int:
        if batch.update_mode == "upsert" and batch.update_filter is None:
            return self._write(("upsert", batch), sync)
        with self.lock:
            self._check_open()
            written = self._writable_part(batch)
            if written is None:
                return self.applied_seq  # nothing to write: every point was left as it was
            seq = self._append_and_apply(("upsert", written))
        return self._after_write(seq, sync)

    @staticmethod
    def _stored_point_matches(pid: PointId, where: tuple[Segment, int] | None,
                              point_filter: PointFilter) -> bool:
        """Whether point `pid`, stored at `where` (segment, offset), passes the filter."""
        if where is None:
            return False
        segment, offset = where
        return with_text_indexes(point_filter, segment).matches(
            pid, segment.payload(offset), lambda name: segment.has_vector(offset, name))

    def _writable_part(self, batch: PointBatch) -> PointBatch | None:
        """The points of a conditional upsert that its mode and filter let through, as a
        plain upsert (what the WAL records, so a replay writes exactly the same)."""
        keep = []
        for pid, where in zip(batch.ids, self._locate_all(batch.ids), strict=True):
            if where is None:
                keep.append(batch.update_mode != "update_only")
            elif batch.update_mode == "insert_only":
                keep.append(False)
            else:
                keep.append(batch.update_filter is None
                            or self._stored_point_matches(pid, where, batch.update_filter))
        if not any(keep):
            return None
        written = subset(batch, np.flatnonzero(keep))
        written.update_mode, written.update_filter = "upsert", None
        return written

    def update(
        self,
        kind: str,
        ids: list[PointId] | None,
        point_filter: PointFilter | None,
        args: tuple = (),
        *,
        sync: bool = True,
    ) -> int | None:
        """Write the op (kind, ids, *args); with a filter alone, ids are the points it matches
        now; with both, the given ids that match it (a conditional update).

        The filter is resolved under the shard lock, in the same critical section as the write,
        so the WAL holds the exact ids the op applied to. None when no point was targeted.
        """
        with self.lock:
            self._check_open()
            if point_filter is not None and ids is not None:
                ids = [pid for pid, where in zip(ids, self._locate_all(ids), strict=True)
                       if self._stored_point_matches(pid, where, point_filter)]
            elif point_filter is not None:
                ids = self._ids_matching(point_filter)
            if not ids:
                return None
            seq = self._append_and_apply((kind, ids, *args))
        return self._after_write(seq, sync)

    def _write(self, op: tuple, sync: bool) -> int:
        with self.lock:
            self._check_open()
            seq = self._append_and_apply(op)
        return self._after_write(seq, sync)

    def _append_and_apply(self, op: tuple, *, from_transfer: bool = False) -> int:
        record = pickle.dumps(op, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            # Rows for the points the op may append are reserved before the WAL holds it: a
            # full disk then fails the op with nothing of it logged or applied.
            if op[0] in _APPENDING_OPS:
                rows = len(op[1].ids) if op[0] == "upsert" else len(op[1])
                self.appendable.reserve(self.appendable.total + rows)
            seq = self.wal.append(record, sync=False)
        except OSError as exc:
            raise StorageFailed.from_os_error(exc) from exc
        self._apply(op, seq)
        self.applied_seq = seq
        self._pending_at_start = False
        self._last_write = time.monotonic()
        if self._transfer_queue is not None and not from_transfer:
            self._transfer_queue.append(op)
        return seq

    # ---- receiving a shard transfer -----------------------------------------------------
    # From the first live write that reaches the replica as a receiver (or the stream's start,
    # whichever comes first) until the replica stops being one, live writes are applied and
    # also queued. Each stream attempt drops every point first and applies the whole queue
    # again at its end, in order. Every op sets values (never adds to them), so this leaves
    # each point as the last write made it, whether its streamed copy was taken before or
    # after that write, and however many attempts the stream took.

    def receiving(self, transfer_id: int) -> bool:
        return self._transfer_queue is not None and self._transfer_id == transfer_id

    def begin_transfer(self, transfer_id: int) -> None:
        """Start receiving transfer `transfer_id`: drop every point held here and queue live
        writes from now on. Nothing happens if that transfer began already."""
        with self.lock:
            self._check_open()
            if self.receiving(transfer_id):
                return
            self._drop_all_points()
            self.points_dropped += 1
            self._transfer_queue, self._transfer_id = [], transfer_id
        self.sync_wal()

    def restart_transfer_stream(self, transfer_id: int) -> None:
        """Before a stream attempt: drop every point; the queued live writes stay queued."""
        with self.lock:
            self._check_open()
            if not self.receiving(transfer_id):
                self._transfer_queue, self._transfer_id = [], transfer_id
                self.points_dropped += 1
            self._drop_all_points()
        self.sync_wal()

    def apply_transfer_batch(self, batch: PointBatch) -> None:
        with self.lock:
            self._check_open()
            self._append_and_apply(("upsert", batch), from_transfer=True)

    def replay_transfer_queue(self) -> None:
        """After a stream: apply every live write queued since the transfer began, again."""
        with self.lock:
            for op in list(self._transfer_queue or []):
                self._append_and_apply(op, from_transfer=True)
        self.sync_wal()

    def end_transfer(self, as_of: int) -> None:
        """The metadata at version `as_of` says the replica is not receiving (Active, Dead):
        stop queueing, unless the transfer began after that version."""
        with self.lock:
            if self._transfer_id is not None and self._transfer_id <= as_of:
                self._transfer_queue, self._transfer_id = None, None

    def _drop_all_points(self) -> None:
        ids = [pid for s in self.segments for pid in s.ids.ids_at(s.live_offsets())]
        if ids:
            self._append_and_apply(("delete", ids), from_transfer=True)

    def _after_write(self, seq: int, sync: bool) -> int:
        if sync:
            self.sync_wal()  # outside the lock: concurrent writers share the fsync
        self.maybe_start_optimizer()
        return seq

    def sync_wal(self) -> None:
        """Make every logged write durable; a write not yet durable is not acknowledged."""
        try:
            self.wal.sync()
        except OSError as exc:
            raise StorageFailed.from_os_error(exc) from exc

    def _apply(self, op: tuple, seq: int) -> None:
        kind = op[0]
        if kind == "upsert":
            self._apply_upsert(op[1], seq)
        elif kind in POINT_CHANGES:
            apply_change = POINT_CHANGES[kind]
            ids = op[1]
            # Found all at once, unless an id repeats: its second change must see the first.
            located = self._locate_all(ids) if len(set(ids)) == len(ids) else None
            for i, pid in enumerate(ids):
                where = located[i] if located is not None else self._locate(pid)
                # Ids absent by now are skipped: ops must replay cleanly on any earlier state.
                if where is not None:
                    apply_change(self, *where, pid, op[2:], seq)
        else:
            raise ValueError(f"unknown shard operation {kind!r}")

    def _apply_upsert(self, batch: PointBatch, seq: int) -> None:
        last_position: dict[PointId, int] = {}
        for pos, pid in enumerate(batch.ids):
            last_position[pid] = pos  # a later duplicate in one batch wins
        for where in self._locate_all(list(last_position)):
            if where is not None:
                where[0].delete_row(where[1], seq)
        self.appendable.append(batch, list(last_position.values()), seq)

    def move_point(self, segment: Segment, offset: int, point: PointBatch, seq: int) -> None:
        """Replace a point whose vectors change: its row is deleted, the new one appended."""
        segment.delete_row(offset, seq)
        self.appendable.append(point, [0], seq)

    def _locate(self, pid: PointId) -> tuple[Segment, int] | None:
        """(segment, offset) of the live row of `pid`, or None."""
        for segment in self.segments:
            offset = segment.ids.offset_of(pid)
            if offset is not None:
                return segment, offset
        return None

    def _locate_all(self, pids: list[PointId]) -> list[tuple[Segment, int] | None]:
        """_locate of each id, searching each segment once for all of them."""
        found: list[tuple[Segment, int] | None] = [None] * len(pids)
        if not pids:
            return found
        keys = IdKeys(pids)
        missing = len(pids)
        for segment in self.segments:
            if not segment.live_count:
                continue
            offsets = segment.ids.offsets_of(keys)
            hits = np.flatnonzero(offsets >= 0)
            for i, offset in zip(hits.tolist(), offsets[hits].tolist(), strict=True):
                found[i] = (segment, offset)
            missing -= len(hits)
            if not missing:
                break  # an id is live in one segment only: the others hold none of these
        return found

    # ---- reads --------------------------------------------------------------------------

    def retrieve(self, ids: list[PointId]) -> list[tuple[PointId, dict | None, dict]]:
        """(id, payload, vectors by name) of each stored id, in the order asked."""
        out = []
        with self.lock:
            for pid, where in zip(ids, self._locate_all(ids), strict=True):
                if where is not None:
                    segment, offset = where
                    out.append((pid, segment.payload(offset), segment.vectors_of(offset)))
        return out

    def count(self, point_filter: PointFilter | None = None) -> int:
        with self.lock:
            if point_filter is None:
                return sum(s.live_count for s in self.segments)
            return sum(int(filter_mask(s, point_filter).sum()) for s in self.segments)

    def _ids_matching(self, point_filter: PointFilter) -> list[PointId]:
        found: list[PointId] = []
        for segment in self.segments:
            offsets = np.flatnonzero(filter_mask(segment, point_filter))
            found.extend(segment.ids.ids_at(offsets))
        return found

    def existing(self, ids: list[PointId]) -> set[PointId]:
        """Which of `ids` are stored here."""
        with self.lock:
            return {pid for pid, where in zip(ids, self._locate_all(ids), strict=True)
                    if where is not None}

    def scroll(
        self, point_filter: PointFilter | None, start: PointId | None, limit: int
    ) -> list[tuple[PointId, dict | None, dict]]:
        """The first `limit` points in id order from `start` (inclusive) that the filter lets
        through: (id, payload, vectors by name)."""
        with self.lock:
            found = []
            for segment in self.segments:
                allowed = None if point_filter is None else filter_mask(segment, point_filter)
                # Each segment's first `limit` in order: the page is among them.
                for pid, offset in segment.ids.in_order(start, limit, allowed):
                    found.append((point_id_order(pid), pid, segment, offset))
            first = heapq.nsmallest(limit, found, key=lambda item: item[0])
            return [(pid, seg.payload(off), seg.vectors_of(off)) for _, pid, seg, off in first]

    def info(self) -> ShardInfo:
        with self.lock:
            running = self._optimizer is not None and self._optimizer.is_alive()
            pending = self._next_optimization(now=False) is not None
            if self._optimizer_error:
                status = "red"
            elif running or (pending and not self._pending_at_start):
                status = "yellow"
            elif pending:
                status = "grey"
            else:
                status = "green"
            return ShardInfo(
                points=sum(s.live_count for s in self.segments),
                vectors=sum(s.vector_count() for s in self.segments),
                indexed_vectors=sum(s.indexed_vector_count() for s in self.segments),
                segments=len(self.segments),
                status=status,
                optimizer_error=self._optimizer_error,
            )

    # ---- configuration ------------------------------------------------------------------

    def update_config(self, config: ShardConfig) -> None:
        """Take a new collection config; segments built for the old one are rebuilt."""
        with self.lock:
            self.config = config
            self._pending_at_start = False
            vectors_changed = [s.adopt_vectors(config) for s in self.segments]
            if self._storage_mismatch(self.appendable):
                self._seal_appendable()
            if any(vectors_changed):
                # WAL records from before the change must not be replayed into a vector
                # created later under the same name: persist now, so replay starts after it.
                self.flush(force=True)
        self.maybe_start_optimizer()

    def _storage_mismatch(self, segment: Segment) -> bool:
        if segment.payload_on_disk != self.config.on_disk_payload:
            return True
        return any(
            segment.dense[name].on_disk != spec.on_disk for name, spec in self.config.dense.items()
        ) or any(
            name in segment.multi and segment.multi[name].rows.on_disk != spec.on_disk
            for name, spec in self.config.multi.items()
        )

    def _index_mismatch(self, segment: Segment) -> bool:
        return any(
            layout != self.config.index_layout(name)
            for name, layout in segment.index_layouts.items()
        ) or any(
            layout != self.config.multi_codes_layout(name)
            for name, layout in segment.multi_layouts.items() if name in self.config.multi
        )

    # ---- optimizer ----------------------------------------------------------------------

    def _needs_index(self, segment: Segment) -> bool:
        threshold = self.config.optimizer.indexing_threshold_kb
        dense_unindexed = bool(self.config.dense) and len(segment.indexes) < len(self.config.dense)
        # A multivector's graph is built when its segment is sealed (see _build_target_indexes).
        multi_unsealed = bool(self.config.multi) and not segment.sealed
        return (
            threshold > 0
            and (dense_unindexed or multi_unsealed)
            and segment.unindexed_vector_kb() > threshold
        )

    def _needs_vacuum(self, segment: Segment) -> bool:
        opt = self.config.optimizer
        return (
            segment.sealed
            and segment.total >= opt.vacuum_min_vector_number
            and segment.deleted_count > opt.deleted_threshold * segment.total
        )

    def _next_optimization(self, *, now: bool = True) -> tuple[str, list[Segment]] | None:
        """The next optimization to run; with `now` false, also one that only waits for
        writes to pause (what the status reports as pending)."""
        if self.config.optimizer.max_optimization_threads == 0:
            return None  # optimizations disabled by config
        for segment in self.segments:
            if not segment.sealed:
                if self._needs_index(segment):
                    return self._index_task(segment)
                continue
            if self._storage_mismatch(segment) or self._index_mismatch(segment):
                return ("rebuild", [segment])
            if self._needs_vacuum(segment):
                return ("vacuum", [segment])
            if self._needs_index(segment):
                return self._index_task(segment)
        merge = self._merge_candidates(now)
        return ("merge", merge) if merge else None

    def _index_task(self, segment: Segment) -> tuple[str, list[Segment]]:
        """How a segment that needs a graph gets one: merged into an indexed segment when the
        shard is over its target count and one can take it (extending that graph inserts the
        same points a graph of its own would, and leaves one segment fewer to merge later),
        else indexed alone."""
        opt = self.config.optimizer
        others = [s for s in self.segments if s.sealed and s.live_count > 0 and s is not segment]
        if len(others) + 1 > opt.segment_target():
            room = opt.max_segment_kb() - segment.unindexed_vector_kb()
            bases = [s for s in others if self._extensible(s) and s.unindexed_vector_kb() <= room]
            if bases:
                return ("merge", [max(bases, key=lambda s: s.total), segment])
        return ("index", [segment])

    def _extensible(self, segment: Segment) -> bool:
        """Whether a merge can keep this segment's graphs: without deletions its rows are
        copied to the same offsets, and its graphs match the config."""
        return (
            segment.sealed
            and segment.deleted_count == 0
            and len(segment.indexes) == len(self.config.dense)
            and not self._storage_mismatch(segment)
            and not self._index_mismatch(segment)
        )

    def _merge_candidates(self, now: bool = True) -> list[Segment]:
        """The smallest segments to merge into one, so the shard settles to its target count
        of segments (fewer graphs to search per query), within `max_segment_size`.

        While writes flow the shard may hold up to twice the target before merging.
        The appendable tail takes part only once writes paused, and only when it is worth a
        rebuild: past the size at which a full scan stops being cheap, or at least a tenth of
        the smallest sealed segment (so a trickle of writes rebuilds a graph at most once per
        tenth of its size). Merging it into a sealed neighbour gets it a graph without
        building one for a tail that keeps growing."""
        opt = self.config.optimizer
        if not (self.config.dense or self.config.multi):
            return []
        paused = not now or time.monotonic() - self._last_write >= TAIL_IDLE_SECONDS
        pool = [s for s in self.segments if s.sealed and s.live_count > 0]
        tail = self.appendable
        tail_kb = tail.unindexed_vector_kb()
        smallest_kb = min((s.unindexed_vector_kb() for s in pool), default=0.0)
        if (
            tail.live_count > 0
            and paused
            and (tail.live_count > self._full_scan_rows() or tail_kb * TAIL_SHARE >= smallest_kb)
        ):
            pool.append(tail)
        # While writes flow, segments may pile up to twice the target before a merge: each
        # merge during an ingest rebuilds graphs the next sealed segment makes stale again.
        target = opt.segment_target() * (1 if paused else 2)
        excess = len(pool) - target
        if excess <= 0:
            return []
        pool.sort(key=lambda s: s.unindexed_vector_kb())
        chosen, size = [], 0.0
        for segment in pool:
            if len(chosen) > excess or size + segment.unindexed_vector_kb() > opt.max_segment_kb():
                break
            chosen.append(segment)
            size += segment.unindexed_vector_kb()
        return chosen if len(chosen) >= 2 else []

    def _full_scan_rows(self) -> int:
        """Rows up to which some dense vector (or multivector's sub-vector) is searched by a
        full scan rather than a graph."""
        specs = [*self.config.dense.values(), *self.config.multi.values()]
        return min(full_scan_vectors(spec) for spec in specs)

    def maybe_start_optimizer(self) -> None:
        """Start the optimizer thread if some optimization is due and none runs."""
        with self.lock:
            if self._closed or self._pending_at_start:
                return
            if self._optimizer is not None and self._optimizer.is_alive():
                return
            if time.monotonic() < self._optimizer_retry_at:
                return  # it failed a moment ago (a full disk, say): not again on every write
            if self._next_optimization() is None:
                return
            self._optimizer = threading.Thread(
                target=self._run_optimizer, name=f"optimizer-{self.path.name}", daemon=True
            )
            self._optimizer.start()

    def optimization_state(self) -> dict:
        """Running and completed optimizations, the one due next (the queue: the optimizer
        picks one at a time) and the segments no optimization wants."""
        with self.lock:
            running = self.optimizations.running()
            busy = {seg["uuid"] for r in running for seg in r.segments}
            task = self._next_optimization(now=False)
            queued = []
            if task is not None:
                kind, segments = task
                infos = [segment_info(s.id, s.live_count) for s in segments]
                if not busy.intersection(i["uuid"] for i in infos):
                    queued.append({"optimizer": OPTIMIZER_NAMES.get(kind, kind),
                                   "segments": infos})
            wanted = busy | {i["uuid"] for q in queued for i in q["segments"]}
            idle = [info for info in (segment_info(s.id, s.live_count) for s in self.segments)
                    if info["uuid"] not in wanted]
        return {"running": running, "completed": self.optimizations.completed(),
                "queued": queued, "idle": idle}

    def _run_optimizer(self) -> None:
        record = None
        try:
            while True:
                with self.lock:
                    if self._closed:
                        return
                    task = self._next_optimization()
                    if task is None:
                        return
                    kind, segments = task
                    if self.appendable in segments:
                        self._seal_appendable()
                    record = self.optimizations.start(
                        kind, [segment_info(s.id, s.live_count) for s in segments])
                if kind == "index":
                    inserted = self._build_indexes(segments[0])
                else:
                    inserted = self._rebuild(segments)
                self.optimizations.finish(record)
                record = None
                self._optimizer_error = None  # it ran again and succeeded (space came back)
                del task, segments  # the replaced segments' graphs go now...
                release_free_heap()  # ...and the heap they held back to the OS
                if self._on_optimizer_run is not None:
                    self._on_optimizer_run(kind, inserted)
        except Exception as exc:  # the shard keeps serving; the status turns red
            log.exception("optimizer of shard %s failed", self.path)
            self._optimizer_error = f"{type(exc).__name__}: {exc}"
            self._optimizer_retry_at = time.monotonic() + OPTIMIZER_RETRY_SECONDS
            if record is not None:
                self.optimizations.finish(record, error=self._optimizer_error)

    def _new_segment(self, config: ShardConfig) -> Segment:
        segment = Segment.create(self.path / "segments", config)
        segment.set_payload_indexes(self.payload_schemas)
        return segment

    def set_payload_indexes(self, schemas: dict[str, dict]) -> None:
        """Index exactly these payload fields in every segment."""
        with self.lock:
            self.payload_schemas = dict(schemas)
            for segment in self.segments:
                segment.set_payload_indexes(self.payload_schemas)

    def indexed_points(self) -> dict[str, int]:
        """Live points holding a value, per indexed payload field."""
        with self.lock:
            return {
                field: sum(s.indexed_points(field) for s in self.segments)
                for field in self.payload_schemas
            }

    def _seal_appendable(self) -> None:
        """Freeze the appendable segment's rows; new writes go to a fresh segment."""
        self.appendable.sealed = True
        self.appendable.ids.compact()  # its ids join the sorted arrays now, not at the flush
        self.appendable.dirty = True
        self.appendable = self._new_segment(self.config)
        self.segments.append(self.appendable)

    def _build_indexes(self, segment: Segment) -> int:
        """Graphs for a sealed segment; returns the points inserted into them."""
        inserted = 0
        for name, spec in self.config.dense.items():
            if name in segment.indexes:
                continue
            with self.lock:
                if name not in segment.dense:
                    continue  # removed from the collection since this build began
                live = segment.live_offsets()
                segment.building = True
            try:
                built = build_vector_index(segment.dense[name], segment.directory, spec, live)
                inserted += built.inserted
                with self.lock:
                    if self._closed:
                        return inserted
                    if name not in segment.dense or name not in self.config.dense:
                        continue  # the vector was removed meanwhile; the flush drops the files
                    segment.attach_index(name, built, self.config.index_layout(name))
                    segment.building = False  # listed now: the flush keeps them
                    self.flush(force=True)
            finally:
                with self.lock:  # a failed build's files are removed by the next flush
                    segment.building = False
        for spec in list(self.config.multi.values()):
            with self.lock:
                if spec.name not in segment.multi:
                    continue  # removed from the collection meanwhile
                layout = self.config.multi_codes_layout(spec.name)
                sealed_as = segment.multi_layouts.get(spec.name)
                segment.building = True
            try:
                # Off the lock: the sealed rows do not change; the graph stays in memory only.
                inserted += multi_graph_rows(segment, spec)
                if sealed_as == layout:
                    continue  # its codes (if any) are built already
                codes = self._multi_codes(segment, spec)
                with self.lock:
                    if self._closed:
                        return inserted
                    # Not attached when the vector changed meanwhile; the flush drops the files.
                    if spec.name in segment.multi and spec == self.config.multi.get(spec.name):
                        segment.attach_multi_codes(spec.name, layout, *codes)
            finally:
                with self.lock:
                    segment.building = False
        if self.config.multi:
            with self.lock:
                if not self._closed:
                    self.flush(force=True)  # the seal is durable once its graphs are ready
        return inserted

    def _rebuild(self, sources: list[Segment]) -> int:
        """Copy the live points of `sources` into one new segment built for the current
        config (a rebuild or vacuum of one segment, or a merge of several); returns the points
        inserted into graphs."""
        with self.lock:
            config = self.config
            # The largest source whose graphs a merge can keep: copied first, its rows keep
            # their offsets, which are its graphs' labels. A vacuum or a config change finds
            # none and builds fresh graphs.
            bases: dict[str, GraphBase] = {}
            first = max((s for s in sources if self._extensible(s)), key=lambda s: s.total,
                        default=None)
            if first is not None:
                sources = [first] + [s for s in sources if s is not first]
                bases = {name: GraphBase(first.directory / first.index_files[name], first.total)
                         for name in config.dense}
            plan = []
            for source in sources:
                source.touched = set()
                plan.append((source, source.live_offsets()))
        target = self._new_segment(config)
        target.sealed = True
        target.reserve(sum(len(offsets) for _, offsets in plan))
        try:
            inserted = self._fill(target, plan, config, bases)
        except BaseException:
            # The sources stay as they were; the unlisted copy must not linger on disk.
            with self.lock:
                for source in sources:
                    source.touched = None
            target.close()
            remove_tree(target.directory)
            raise
        with self.lock:
            if self._closed:
                target.close()
                return inserted
            for source in sources:
                self._replay_touched(source, target)
            target.adopt_vectors(self.config)  # vectors added or removed while it was built
            at = min(self.segments.index(source) for source in sources)
            self.segments = [s for s in self.segments if s not in sources]
            self.segments.insert(at, target)
            self.flush(force=True)
            for source in sources:
                source.close()
                remove_tree(source.directory)
        return inserted

    def _fill(self, target: Segment, plan: list, config: ShardConfig,
              bases: dict[str, GraphBase]) -> int:
        """Copy the planned rows into `target` and build its graphs; the points inserted."""
        for source, offsets in plan:
            for start in range(0, len(offsets), 4096):
                chunk = offsets[start : start + 4096]
                with self.lock:
                    batch = source.as_batch(chunk)
                    versions = source.versions[chunk].copy()
                _append_with_versions(target, batch, versions)
        if self._needs_index_for(target, config):
            return self._build_target_indexes(target, config, bases)
        return 0

    @staticmethod
    def _replay_touched(source: Segment, target: Segment) -> None:
        """Changes made to `source` while it was copied, made again on the copy."""
        for offset in sorted(source.touched or ()):
            pid = source.ids.id_at(offset)
            version = int(source.versions[offset])
            if source.deleted[offset]:
                if pid in target.ids:
                    target.delete(pid, version)
            else:
                target.set_payload_at(target.offset_of(pid), source.payload(offset), version)
        source.touched = None

    def _needs_index_for(self, segment: Segment, config: ShardConfig) -> bool:
        threshold = config.optimizer.indexing_threshold_kb
        return (bool(config.dense or config.multi) and threshold > 0
                and segment.unindexed_vector_kb() > threshold)

    def _build_target_indexes(
        self, target: Segment, config: ShardConfig, bases: dict[str, GraphBase]
    ) -> int:
        live = target.live_offsets()
        inserted = 0
        for name, spec in config.dense.items():
            built = build_vector_index(target.dense[name], target.directory, spec, live,
                                       bases.get(name))
            target.attach_index(name, built, config.index_layout(name))
            inserted += built.inserted
        for spec in config.multi.values():
            # Kept in memory only, off the lock here so that no query pays for building it.
            inserted += multi_graph_rows(target, spec)
            target.attach_multi_codes(spec.name, config.multi_codes_layout(spec.name),
                                      *self._multi_codes(target, spec))
        return inserted

    @staticmethod
    def _multi_codes(segment: Segment, spec: DenseVectorSpec
                     ) -> tuple[QuantizedVectors | None, str | None]:
        """Quantized codes of a sealed segment's multivector when its config asks for them."""
        if not spec.quantization:
            return None, None
        return build_multi_codes(segment.multi[spec.name], segment.directory, spec)

    # ---- persistence --------------------------------------------------------------------

    def flush(self, force: bool = False) -> None:
        """Snapshot dirty segments and commit them in the manifest, then trim the WAL."""
        with self.lock:
            if self._closed:
                return
            interval = self.config.optimizer.flush_interval_sec
            if not force and time.monotonic() - self._last_flush < interval:
                return
            self._last_flush = time.monotonic()
            if not any(s.dirty for s in self.segments):
                return  # nothing applied since the last snapshot
            generation = self.generation + 1
            for segment in self.segments:
                if segment.dirty or segment.generation == 0:
                    segment.persist(generation)  # a clean segment keeps its last state file
            manifest = {
                "generation": generation,
                "applied_seq": self.applied_seq,
                "segments": [
                    {"id": s.id, "generation": s.generation, "sealed": s.sealed}
                    for s in self.segments
                ],
            }
            write_atomic(self.path / MANIFEST, json.dumps(manifest).encode())
            self.generation = generation
            for segment in self.segments:
                segment.remove_stale_files()
                segment.map_indexed_vectors()
            self.wal.truncate_through(self.applied_seq)

    def close(self) -> None:
        with self.lock:
            if self._closed:
                return
            self.flush(force=True)
            self._closed = True
        optimizer = self._optimizer
        if optimizer is not None and optimizer is not threading.current_thread():
            optimizer.join(timeout=60)
        with self.lock:
            for segment in self.segments:
                segment.close()
            self.wal.close()

    def _check_open(self) -> None:
        if self._closed:
            from node.errors import Unavailable

            raise Unavailable("the shard is closed")

    def drop(self) -> None:
        """Close and delete every file of the shard."""
        self.close()
        remove_tree(self.path)


def _append_with_versions(segment: Segment, batch: PointBatch, versions: np.ndarray) -> None:
    start = segment.total
    segment.append(batch, list(range(len(batch))), 0)
    segment.versions[start : start + len(batch)] = versions
