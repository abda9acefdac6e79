"""pysyncobj's Raft journal, written so that a full disk fails a write instead of the process.

pysyncobj keeps its log in a memory-mapped file that it grows by resizing the mapping. On a
filesystem without room (a full tmpfs) the resize succeeds with a sparse file, and the first
store into a page the filesystem cannot back kills the process with SIGBUS. This journal keeps
the same file format (a journal written by pysyncobj loads here and back), but reserves space
with `posix_fallocate` before writing and writes with `pwrite`: no room is an `OSError`
(ENOSPC) raised before anything of the record is stored. An entry joins the in-memory log only
once its record is written, so a follower never acknowledges an entry it could not keep, and a
leader's failed append is a command that is not committed (its caller times out).

Term, vote and commit index live in `<journal>.meta`, replaced atomically; the vote is stored
before pysyncobj sends any message that reflects it, as Raft requires. Every record and the
metadata are decoded with `raft_codec`'s restricted decoder.
"""

from __future__ import annotations

import logging
import os
import struct
from pathlib import Path

import pysyncobj.journal
import pysyncobj.syncobj
from pysyncobj.journal import (
    FIRST_RECORD_OFFSET,
    LAST_RECORD_OFFSET_OFFSET,
    Journal,
    MemoryJournal,
)
from pysyncobj.pickle import dumps, to_bytes

from cluster.consensus import raft_codec
from node.engine.durable_files import write_atomic

log = logging.getLogger(__name__)

_RECORD_HEAD = struct.Struct("<QQ")  # idx, term
_SIZE = struct.Struct("<I")
_MIN_RESERVE = 1 << 20  # space is reserved a megabyte (or a doubling) at a time
_HEADER_BYTES = FIRST_RECORD_OFFSET


def _default_header() -> bytes:
    # The header pysyncobj writes: app name, app version, format version, end of the records.
    name = pysyncobj.journal.APP_NAME.ljust(pysyncobj.journal.NAME_SIZE, b"\0")
    version = pysyncobj.journal.APP_VERSION.ljust(pysyncobj.journal.VERSION_SIZE, b"\0")
    return name + version + struct.pack(
        "<II", pysyncobj.journal.JOURNAL_FORMAT_VERSION, FIRST_RECORD_OFFSET
    )


def _encode(command: bytes, idx: int, term: int) -> bytes:
    body = _RECORD_HEAD.pack(idx, term) + to_bytes(command)
    size = _SIZE.pack(len(body))
    return size + body + size


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    written = 0
    while written < len(data):
        written += os.pwrite(fd, view[written:], offset + written)


class FileJournal(Journal):
    """The Raft log on disk; see the module docstring."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._meta_path = Path(path + ".meta")
        self._meta = self._read_meta()
        self._meta_saved = True
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        # Nothing counts as reserved at first: the first add reserves the whole file, holes a
        # sparse (pysyncobj-written) journal may have included.
        self._allocated = 0
        self._entries: list[tuple[bytes, int, int]] = []
        self._starts: list[int] = []  # file offset of each entry's record
        data = self._read_all()
        if len(data) < _HEADER_BYTES:
            self._reserve(_MIN_RESERVE)
            _pwrite_all(self._fd, _default_header(), 0)
            data = _default_header()
        end = _SIZE.unpack_from(data, LAST_RECORD_OFFSET_OFFSET)[0]
        offset = FIRST_RECORD_OFFSET
        while offset < end:
            size = _SIZE.unpack_from(data, offset)[0]
            body = data[offset + 4: offset + 4 + size]
            idx, term = _RECORD_HEAD.unpack_from(body)
            self._entries.append((body[_RECORD_HEAD.size:], idx, term))
            self._starts.append(offset)
            offset += size + 8
        self._end = offset

    def _read_all(self) -> bytes:
        size = os.fstat(self._fd).st_size
        chunks = []
        offset = 0
        while offset < size:
            chunk = os.pread(self._fd, size - offset, offset)
            if not chunk:
                break
            chunks.append(chunk)
            offset += len(chunk)
        return b"".join(chunks)

    def _reserve(self, needed: int) -> None:
        """Make sure the file has blocks for `needed` bytes; OSError (ENOSPC) if it cannot."""
        if needed <= self._allocated:
            return
        target = max(needed, 2 * self._allocated, _MIN_RESERVE)
        try:
            os.posix_fallocate(self._fd, 0, target)
        except OSError:
            if target == needed:
                raise
            os.posix_fallocate(self._fd, 0, needed)  # the doubling did not fit; this may
            target = needed
        self._allocated = target

    def _set_end(self, end: int) -> None:
        _pwrite_all(self._fd, _SIZE.pack(end), LAST_RECORD_OFFSET_OFFSET)
        self._end = end

    # ---- pysyncobj's Journal interface --------------------------------------------------

    def add(self, command: bytes, idx: int, term: int) -> None:
        record = _encode(command, idx, term)
        start = self._end
        self._reserve(start + len(record))
        _pwrite_all(self._fd, record, start)
        self._set_end(start + len(record))
        self._entries.append((command, idx, term))
        self._starts.append(start)

    def clear(self) -> None:
        self._entries = []
        self._starts = []
        self._set_end(FIRST_RECORD_OFFSET)

    def __getitem__(self, item: int | slice) -> object:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def deleteEntriesFrom(self, entryFrom: int) -> None:  # noqa: N802 - pysyncobj's name
        if entryFrom >= len(self._entries):
            return
        self._set_end(self._starts[entryFrom])
        del self._entries[entryFrom:]
        del self._starts[entryFrom:]

    def deleteEntriesTo(self, entryTo: int) -> None:  # noqa: N802 - pysyncobj's name
        # Rewritten in place, front to back: the kept records only move towards the start, into
        # space already reserved, so this cannot run out of room half-way.
        kept = self._entries[entryTo:]
        self._entries, self._starts = [], []
        self._end = FIRST_RECORD_OFFSET
        records = [_encode(*entry) for entry in kept]
        offset = FIRST_RECORD_OFFSET
        for entry, record in zip(kept, records, strict=True):
            _pwrite_all(self._fd, record, offset)
            self._entries.append(entry)
            self._starts.append(offset)
            offset += len(record)
        self._set_end(offset)

    def _destroy(self) -> None:
        if self._fd >= 0:
            self.flush()
            os.close(self._fd)
            self._fd = -1

    def flush(self) -> None:
        os.fsync(self._fd)

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:  # noqa: N802, N803
        self._meta["raftCommitIndex"] = raftCommitIndex
        self._meta_saved = False

    def getRaftCommitIndex(self) -> int:  # noqa: N802
        return self._meta.get("raftCommitIndex", 1)

    def setCurrentTerm(self, term: int, votedForNodeId: object) -> None:  # noqa: N802, N803
        # Raises when the disk is full: pysyncobj then sends no vote request or grant.
        self._meta["currentTerm"] = term
        self._meta["votedForNodeId"] = votedForNodeId
        self._store_meta()

    def getCurrentTerm(self) -> int:  # noqa: N802
        return self._meta.get("currentTerm", 0)

    def getVotedForNodeId(self) -> object:  # noqa: N802
        return self._meta.get("votedForNodeId", None)

    def onOneSecondTimer(self) -> None:  # noqa: N802
        if self._meta_saved:
            return
        try:
            self._store_meta()
        except OSError as exc:  # the commit index is stored again next second
            log.warning("Raft journal: could not store the commit index: %s", exc)

    # ---- metadata -----------------------------------------------------------------------

    def _read_meta(self) -> dict:
        try:
            data = self._meta_path.read_bytes()
        except FileNotFoundError:
            return {}
        meta = raft_codec.loads(data)
        if not isinstance(meta, dict):
            raise ValueError(f"{self._meta_path} does not hold Raft metadata")
        return meta

    def _store_meta(self) -> None:
        write_atomic(self._meta_path, dumps(self._meta))
        self._meta_saved = True


def create_journal(journalFile: str | None = None) -> Journal:  # noqa: N803 - pysyncobj's name
    if journalFile is None:
        return MemoryJournal()
    return FileJournal(journalFile)


def install() -> None:
    """Have pysyncobj build this journal instead of its own; idempotent."""
    pysyncobj.syncobj.createJournal = create_journal
