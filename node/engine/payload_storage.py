"""Payload storage of a segment: JSON bytes in RAM, or an append-only file read on demand.

The on-disk form appends each new payload to a log and keeps only (position, length) per point
in memory, so memory stays small for large payloads and any snapshot of the index is valid for
any later state of the append-only file.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson


class RamPayloads:
    """Payloads in memory as their JSON bytes, one slot per offset: a parsed dict of a few
    keys costs several hundred bytes, its JSON a few dozen. Each read parses a fresh copy."""

    def __init__(self, state: list | dict | None = None) -> None:
        if isinstance(state, dict):  # the form earlier versions kept: offset -> payload dict
            rows: list[bytes | None] = []
            for offset, payload in state.items():
                rows.extend([None] * (offset + 1 - len(rows)))
                rows[offset] = _packed(payload) if payload else None
            state = rows
        self._rows: list[bytes | None] = list(state or [])

    def get(self, offset: int) -> dict | None:
        data = self._rows[offset] if offset < len(self._rows) else None
        return None if data is None else orjson.loads(data)

    def set(self, offset: int, payload: dict | None) -> None:
        if offset >= len(self._rows):
            if not payload:
                return
            self._rows.extend([None] * (offset + 1 - len(self._rows)))
        self._rows[offset] = _packed(payload) if payload else None

    def raw(self, offsets: list[int]) -> list[bytes | None]:
        """The stored JSON bytes at `offsets`, for `adopt`."""
        return [self._rows[o] if o < len(self._rows) else None for o in offsets]

    def adopt(self, offsets: range, rows: list[bytes | None]) -> None:
        """Hold these very bytes objects (the same payloads `raw` gave) at `offsets`. A merge
        copies rows through parsed payloads; keeping the old objects instead of re-encoded
        ones leaves the memory they sit in used, not fragmented by the copy."""
        for offset, data in zip(offsets, rows, strict=True):
            if offset < len(self._rows):
                self._rows[offset] = data

    def persist(self) -> None:
        pass

    def state(self) -> list:
        return list(self._rows)

    def close(self) -> None:
        pass


def _packed(payload: dict) -> bytes:
    # orjson's bytes keep the buffer it wrote into (kilobytes): copied to their exact size.
    return bytes(memoryview(orjson.dumps(payload)))


class DiskPayloads:
    def __init__(self, path: Path, state: dict | None = None) -> None:
        self.path = path
        state = state or {}
        self._index: dict[int, tuple[int, int]] = dict(state.get("index", {}))
        self._end = state.get("end", 0)
        # Unbuffered: reads use pread on the descriptor and must see every write.
        self._file = open(path, "a+b", buffering=0)  # noqa: SIM115 - lives with the segment
        # Bytes past the snapshot's end belong to writes the WAL will replay: drop them.
        self._file.truncate(self._end)
        self._dirty = False

    def get(self, offset: int) -> dict | None:
        where = self._index.get(offset)
        if where is None:
            return None
        data = os.pread(self._file.fileno(), where[1], where[0])
        return orjson.loads(data)

    def set(self, offset: int, payload: dict | None) -> None:
        if not payload:
            self._index.pop(offset, None)
            return
        data = orjson.dumps(payload)
        self._file.seek(self._end)
        self._file.write(data)
        self._index[offset] = (self._end, len(data))
        self._end += len(data)
        self._dirty = True

    def persist(self) -> None:
        if self._dirty:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._dirty = False

    def state(self) -> dict:
        return {"index": dict(self._index), "end": self._end}

    def close(self) -> None:
        self._file.close()
