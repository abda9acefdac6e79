"""Payload storage of a segment: a dict in RAM, or an append-only file read on demand.

The on-disk form appends each new payload to a log and keeps only (position, length) per point
in memory, so memory stays small for large payloads and any snapshot of the index is valid for
any later state of the append-only file.
"""

from __future__ import annotations

import os
from pathlib import Path

import orjson


class RamPayloads:
    def __init__(self, state: dict | None = None) -> None:
        self._payloads: dict[int, dict] = dict(state or {})

    def get(self, offset: int) -> dict | None:
        return self._payloads.get(offset)

    def set(self, offset: int, payload: dict | None) -> None:
        if payload:
            self._payloads[offset] = payload
        else:
            self._payloads.pop(offset, None)

    def persist(self) -> None:
        pass

    def state(self) -> dict:
        return dict(self._payloads)

    def close(self) -> None:
        pass


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
