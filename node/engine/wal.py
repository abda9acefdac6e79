"""Write-ahead log of one local shard.

The shard appends each update (already serialised to bytes) here before applying it, so that a
node killed at any moment replays, on restart, every record whose append returned durable.

On disk: a directory of segment files `wal-<first_seq:020d>.log`, each a run of framed records

    magic (4) | payload length (u32) | seq (u64) | crc32(seq bytes + payload) (u32) | payload

with consecutive sequence numbers. Only the last (active) segment is ever written, and a segment
is fsynced before the next one is created, so only the last segment can end in a torn record;
opening the log cuts such a tail off. The active segment is never deleted and its name holds the
next sequence number when it is empty, so numbering survives truncation and restarts without a
separate meta file.
"""

from __future__ import annotations

import os
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from node.engine.durable_files import fsync_dir

_MAGIC = b"FWAL"
_HEADER = struct.Struct("<4sIQI")  # magic, payload length, seq, crc32
_SEQ = struct.Struct("<Q")
_MAX_RECORD = 2**32 - 1
_SEGMENT_RE = re.compile(r"^wal-(\d{20})\.log$")
_AHEAD_RE = re.compile(r"^wal-ahead-(\d+)\.log$")
_READ_CHUNK = 1 << 20


class WalError(RuntimeError):
    """The write-ahead log cannot serve the request (closed, or failed on an earlier I/O error)."""


class WalCorruptedError(WalError):
    """A segment other than the last is damaged: durable records were lost, refuse to guess."""


@dataclass
class _Segment:
    first_seq: int
    path: Path
    size: int


def _segment_name(first_seq: int) -> str:
    return f"wal-{first_seq:020d}.log"


def _crc(seq: int, payload: bytes | memoryview) -> int:
    return zlib.crc32(payload, zlib.crc32(_SEQ.pack(seq)))


def _frame(seq: int, payload: bytes) -> bytes:
    return _HEADER.pack(_MAGIC, len(payload), seq, _crc(seq, payload)) + payload


def _scan_valid_prefix(data: bytes, first_seq: int) -> tuple[int, int]:
    """Return (valid byte length, last good seq) of a segment's contents.

    Stops at the first record whose magic, length, seq or CRC does not check out.
    """
    offset, seq = 0, first_seq - 1
    view = memoryview(data)
    while offset + _HEADER.size <= len(data):
        magic, length, rec_seq, crc = _HEADER.unpack_from(data, offset)
        end = offset + _HEADER.size + length
        if magic != _MAGIC or rec_seq != seq + 1 or end > len(data):
            break
        if _crc(rec_seq, view[offset + _HEADER.size : end]) != crc:
            break
        offset, seq = end, rec_seq
    return offset, seq


class WriteAheadLog:
    """Append-only, segmented, crash-safe log of opaque records numbered 1, 2, 3, ...

    Thread-safe. Concurrent `append(..., sync=True)` calls share fsyncs (group commit).
    """

    def __init__(
        self,
        directory: Path,
        capacity_mb: int = 32,
        segments_ahead: int = 0,
        *,
        capacity_bytes: int | None = None,
    ) -> None:
        self._dir = Path(directory)
        self._capacity = capacity_bytes if capacity_bytes is not None else capacity_mb << 20
        if self._capacity <= 0:
            raise ValueError("WAL segment capacity must be positive")
        self._segments_ahead = max(0, segments_ahead)
        # _lock guards the segment list, the active fd and the counters. Group commit: one
        # thread at a time (the leader) fsyncs everything written so far; threads that need a
        # sync meanwhile wait on _synced and most find their record covered when it ends.
        self._lock = threading.Lock()
        self._synced = threading.Condition(self._lock)
        self._syncing = False
        self._ahead_lock = threading.Lock()
        self._segments: list[_Segment] = []
        self._ahead: list[Path] = []
        self._ahead_counter = 0
        self._ahead_running = False  # a background replenisher is at work (under _ahead_lock)
        self._ahead_threads: list[threading.Thread] = []
        self._fd = -1
        self._last_seq = 0
        self._synced_seq = 0
        self._fsyncs = 0  # observed by tests to check group commit
        self._failed: BaseException | None = None
        self._closed = False
        self._open()

    # ---------------------------------------------------------------- opening and recovery

    def _open(self) -> None:
        if not self._dir.exists():
            self._dir.mkdir(parents=True)
            fsync_dir(self._dir.parent)
        segments: list[_Segment] = []
        ahead: list[tuple[int, Path]] = []
        for entry in self._dir.iterdir():
            if m := _SEGMENT_RE.match(entry.name):
                segments.append(_Segment(int(m.group(1)), entry, entry.stat().st_size))
            elif m := _AHEAD_RE.match(entry.name):
                ahead.append((int(m.group(1)), entry))
        segments.sort(key=lambda s: s.first_seq)
        ahead.sort()

        if not segments:
            path = self._dir / _segment_name(1)
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            fsync_dir(self._dir)
            segments.append(_Segment(1, path, 0))

        active = segments[-1]
        self._fd = os.open(active.path, os.O_RDWR)
        data = os.pread(self._fd, active.size, 0) if active.size else b""
        valid, last = _scan_valid_prefix(data, active.first_seq)
        if valid < active.size:
            # A crash mid-write tears only unacknowledged records (an acknowledged one was
            # fsynced, with all before it); nothing after a damaged record can be trusted.
            os.ftruncate(self._fd, valid)
            os.fsync(self._fd)
            active.size = valid
        self._segments = segments
        self._last_seq = self._synced_seq = last

        # Ahead files are empty by construction (renamed into use before the first write);
        # extras beyond what is asked for now are removed.
        keep = ahead[: self._segments_ahead]
        for _, path in ahead[self._segments_ahead :]:
            path.unlink()
        for _, path in keep:
            if path.stat().st_size:
                os.truncate(path, 0)
        self._ahead = [path for _, path in keep]
        self._ahead_counter = ahead[-1][0] + 1 if ahead else 0
        if len(keep) != len(ahead):
            fsync_dir(self._dir)
        self._replenish_ahead()

    # ---------------------------------------------------------------- segments ahead

    def _replenish_ahead(self, background: bool = False) -> None:
        created = False
        try:
            while True:
                with self._ahead_lock:
                    if self._closed or len(self._ahead) >= self._segments_ahead:
                        # Decided under the lock, so a rollover that takes a file after this
                        # point starts a new replenisher instead of counting on this one.
                        if background:
                            self._ahead_running = False
                        break
                    path = self._dir / f"wal-ahead-{self._ahead_counter}.log"
                    self._ahead_counter += 1
                    os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
                    self._ahead.append(path)
                    created = True
        except BaseException:
            if background:
                with self._ahead_lock:
                    self._ahead_running = False  # rollover falls back to creating files itself
            raise
        if created:
            fsync_dir(self._dir)

    def _take_ahead(self) -> Path | None:
        with self._ahead_lock:
            return self._ahead.pop(0) if self._ahead else None

    def _replenish_in_background(self) -> None:
        # File creation and the directory fsync happen off the append path; rollover only renames.
        if self._segments_ahead == 0:
            return
        with self._ahead_lock:
            if self._ahead_running:
                return
            self._ahead_running = True
        thread = threading.Thread(
            target=self._replenish_ahead, args=(True,), name="wal-ahead", daemon=True
        )
        self._ahead_threads = [t for t in self._ahead_threads if t.is_alive()] + [thread]
        thread.start()

    # ---------------------------------------------------------------- writing

    def _check_usable(self) -> None:
        if self._closed:
            raise WalError("write-ahead log is closed")
        if self._failed is not None:
            raise WalError("write-ahead log failed on an earlier I/O error") from self._failed

    def _roll(self) -> None:
        """Start a new active segment; caller holds _lock."""
        try:
            self._roll_unguarded()
        except BaseException as exc:
            self._failed = exc  # the active fd may be gone: no further appends
            raise

    def _roll_unguarded(self) -> None:
        os.fsync(self._fd)  # the old segment is complete and durable before the next exists
        self._fsyncs += 1
        self._synced_seq = self._last_seq
        self._synced.notify_all()
        os.close(self._fd)
        self._fd = -1
        first = self._last_seq + 1
        path = self._dir / _segment_name(first)
        ahead = self._take_ahead()
        if ahead is not None:
            os.rename(ahead, path)
        else:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        fsync_dir(self._dir)
        self._fd = os.open(path, os.O_RDWR)
        self._segments.append(_Segment(first, path, 0))
        self._replenish_in_background()

    def _write_active(self, data: bytes) -> None:
        """Write at the end of the active segment; on failure cut back so no torn record stays."""
        active = self._segments[-1]
        start = active.size
        view = memoryview(data)
        written = 0
        try:
            while written < len(data):
                written += os.pwrite(self._fd, view[written:], start + written)
        except BaseException as exc:
            try:
                os.ftruncate(self._fd, start)
            except OSError:
                self._failed = exc  # the tail may hold garbage: refuse further appends
            raise
        active.size = start + len(data)

    def _append_locked(self, records: list[bytes]) -> list[int]:
        self._check_usable()
        for record in records:
            if len(record) > _MAX_RECORD:
                raise ValueError(f"WAL record of {len(record)} bytes exceeds {_MAX_RECORD}")
        seqs: list[int] = []
        pending: list[bytes] = []
        pending_size = 0
        seq = self._last_seq
        for record in records:
            seq += 1
            frame = _frame(seq, record)
            size = self._segments[-1].size + pending_size
            if size > 0 and size + len(frame) > self._capacity:
                if pending:
                    self._write_active(b"".join(pending))
                    pending, pending_size = [], 0
                self._last_seq = seq - 1
                self._roll()
            pending.append(frame)
            pending_size += len(frame)
            seqs.append(seq)
        if pending:
            self._write_active(b"".join(pending))
        self._last_seq = seq
        return seqs

    def append(self, record: bytes, *, sync: bool = True) -> int:
        """Append one record and return its sequence number; durable on return if `sync`."""
        with self._lock:
            seq = self._append_locked([record])[0]
        if sync:
            self._sync_through(seq)
        return seq

    def append_many(self, records: list[bytes], *, sync: bool = True) -> list[int]:
        """Append records as a batch with one fsync; return their consecutive sequence numbers."""
        if not records:
            return []
        with self._lock:
            seqs = self._append_locked(list(records))
        if sync:
            self._sync_through(seqs[-1])
        return seqs

    def sync(self) -> None:
        """Make everything appended so far durable."""
        with self._lock:
            self._check_usable()
            target = self._last_seq
        self._sync_through(target)

    def _sync_through(self, seq: int) -> None:
        with self._lock:
            while True:
                if self._synced_seq >= seq:
                    return  # another thread's fsync already covered this record
                self._check_usable()
                if not self._syncing:
                    break
                self._synced.wait()
            self._syncing = True
            # Everything up to `target` is written to the active segment or to older, already
            # fsynced ones. The fsync runs without the lock so appends go on meanwhile; a dup
            # keeps the fd valid if a rollover closes the original.
            target = self._last_seq
            fd = os.dup(self._fd)
        error: OSError | None = None
        try:
            os.fsync(fd)
        except OSError as exc:
            error = exc
        finally:
            os.close(fd)
        with self._lock:
            self._syncing = False
            if error is None:
                self._fsyncs += 1
                self._synced_seq = max(self._synced_seq, target)
            else:
                # After a failed fsync the page cache state is unknown; stop accepting writes.
                self._failed = error
            self._synced.notify_all()
        if error is not None:
            raise error

    # ---------------------------------------------------------------- reading

    def replay(self, after_seq: int = 0) -> Iterator[tuple[int, bytes]]:
        """Yield (seq, record) for every stored record with seq > after_seq, in order.

        Sees the records appended before the call; raises WalCorruptedError on a damaged
        record, which only bit rot after opening (or an older damaged segment) can produce.
        """
        with self._lock:
            if self._closed:
                raise WalError("write-ahead log is closed")
            snapshot = [_Segment(s.first_seq, s.path, s.size) for s in self._segments]
            last_seq = self._last_seq
        for index, segment in enumerate(snapshot):
            end_seq = snapshot[index + 1].first_seq - 1 if index + 1 < len(snapshot) else last_seq
            if end_seq <= after_seq:
                continue
            yield from self._replay_segment(segment, end_seq, after_seq)

    def _replay_segment(
        self, segment: _Segment, end_seq: int, after_seq: int
    ) -> Iterator[tuple[int, bytes]]:
        try:
            with open(segment.path, "rb", buffering=_READ_CHUNK) as f:
                yield from self._read_records(f, segment, end_seq, after_seq)
        except FileNotFoundError:
            return  # truncated meanwhile: the caller declared those records persisted elsewhere

    @staticmethod
    def _read_records(
        f: BinaryIO, segment: _Segment, end_seq: int, after_seq: int
    ) -> Iterator[tuple[int, bytes]]:
        expected, offset = segment.first_seq, 0
        while expected <= end_seq:
            header = f.read(_HEADER.size)
            if len(header) < _HEADER.size:
                break
            magic, length, seq, crc = _HEADER.unpack(header)
            end = offset + _HEADER.size + length
            if magic != _MAGIC or seq != expected or end > segment.size:
                break
            if seq <= after_seq:
                f.seek(length, os.SEEK_CUR)  # skipped records are not checksummed
            else:
                payload = f.read(length)
                if len(payload) != length or _crc(seq, payload) != crc:
                    break
                yield seq, payload
            offset = end
            expected += 1
        if expected <= end_seq:
            raise WalCorruptedError(
                f"{segment.path.name}: record {expected} is missing or damaged "
                f"(segment should hold records through {end_seq})"
            )

    # ---------------------------------------------------------------- truncation

    def truncate_through(self, seq: int) -> None:
        """Forget records <= seq (persisted elsewhere): delete segment files holding only those.

        When every stored record is covered, a fresh active segment is started first so that the
        old one can go too; numbering continues regardless.
        """
        with self._lock:
            self._check_usable()
            seq = min(seq, self._last_seq)
            active = self._segments[-1]
            if active.size > 0 and seq == self._last_seq:
                self._roll()
            doomed: list[_Segment] = []
            while len(self._segments) > 1 and self._segments[1].first_seq - 1 <= seq:
                doomed.append(self._segments.pop(0))
            # Oldest first: an interrupted truncation leaves a contiguous suffix of segments.
            for segment in doomed:
                segment.path.unlink(missing_ok=True)
            if doomed:
                fsync_dir(self._dir)

    # ---------------------------------------------------------------- state

    @property
    def last_seq(self) -> int:
        """Highest sequence number ever appended (0 if none)."""
        return self._last_seq

    @property
    def first_seq(self) -> int:
        """Lowest sequence number still stored (last_seq + 1 when nothing is stored)."""
        with self._lock:
            for segment in self._segments:
                if segment.size > 0:
                    return segment.first_seq
            return self._last_seq + 1

    def size_bytes(self) -> int:
        """Bytes of stored records, headers included."""
        with self._lock:
            return sum(segment.size for segment in self._segments)

    def close(self) -> None:
        """Make everything durable and release the files; idempotent."""
        for thread in list(self._ahead_threads):
            thread.join()  # let the ahead files be complete, and no thread outlive the log
        with self._lock:
            while self._syncing:
                self._synced.wait()
            if self._closed:
                return
            try:
                if self._failed is None and self._synced_seq < self._last_seq:
                    os.fsync(self._fd)
                    self._fsyncs += 1
                    self._synced_seq = self._last_seq
            finally:
                os.close(self._fd)
                self._fd = -1
                with self._ahead_lock:
                    self._closed = True
                self._synced.notify_all()

    def __enter__(self) -> WriteAheadLog:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
