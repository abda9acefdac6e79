"""Payload storage of a segment: JSON bytes in RAM, or an append-only file read on demand.

The on-disk form appends each new payload to a log and keeps only (position, length) per point
in memory, so memory stays small for large payloads and any snapshot of the index is valid for
any later state of the append-only file.
"""

from __future__ import annotations

import os
from array import array
from pathlib import Path

import numpy as np
import orjson


class RamPayloads:
    """Payloads in memory as their JSON bytes, all in one buffer with a (start, length) per
    offset: no Python object per point (a parsed dict of a few keys costs several hundred
    bytes, a bytes object of its JSON some 60 besides the text). Each read parses a fresh copy.

    A payload changed in place leaves its old bytes behind in the buffer; they are dropped when
    they outweigh the live ones, and from every persisted state.
    """

    def __init__(self, state: list | dict | None = None) -> None:
        self._data = bytearray()
        self._starts = array("Q")
        self._lengths = array("I")  # 0: no payload
        self._garbage = 0  # bytes of the buffer no offset points at
        if isinstance(state, dict) and state.get("form") == _PACKED:
            self._data = bytearray(state["data"])
            self._lengths = array("I", np.asarray(state["lengths"], np.uint32).tobytes())
            self._starts = array("Q", _starts_of(self._lengths).tobytes())
        elif isinstance(state, dict):  # the oldest form: offset -> payload dict
            for offset, payload in state.items():
                self.set(offset, payload)
        else:  # the form before this one: a list of JSON bytes (or None) per offset
            for offset, data in enumerate(state or []):
                if data:
                    self._put(offset, data)

    def __len__(self) -> int:
        return len(self._lengths)

    def get(self, offset: int) -> dict | None:
        if offset >= len(self._lengths) or not self._lengths[offset]:
            return None
        start = self._starts[offset]
        return orjson.loads(self._data[start : start + self._lengths[offset]])

    def set(self, offset: int, payload: dict | None) -> None:
        if offset >= len(self._lengths) and not payload:
            return
        self._put(offset, orjson.dumps(payload) if payload else b"")

    def _put(self, offset: int, data: bytes) -> None:
        missing = offset + 1 - len(self._lengths)
        if missing > 0:
            self._starts.extend(array("Q", bytes(8 * missing)))
            self._lengths.extend(array("I", bytes(4 * missing)))
        self._garbage += self._lengths[offset]
        self._starts[offset] = len(self._data) if data else 0
        self._lengths[offset] = len(data)
        self._data += data
        if self._garbage > 1 << 20 and self._garbage * 2 > len(self._data):
            self._compact()

    def _compact(self) -> None:
        data, lengths = self._live()
        self._data, self._starts = bytearray(data), array("Q", _starts_of(lengths).tobytes())
        self._garbage = 0

    def _live(self) -> tuple[bytes, np.ndarray]:
        """The buffer without garbage, in offset order, and the length of each payload."""
        lengths = np.frombuffer(self._lengths, dtype=np.uint32).copy()
        if not self._garbage:
            return bytes(self._data), lengths
        view = memoryview(self._data)
        data = b"".join(view[s : s + n] for s, n in zip(self._starts, self._lengths, strict=True)
                        if n)
        return data, lengths

    def persist(self) -> None:
        pass

    def state(self) -> dict:
        data, lengths = self._live()
        return {"form": _PACKED, "data": data, "lengths": lengths}

    def close(self) -> None:
        pass


_PACKED = "packed-json"


def _starts_of(lengths: array | np.ndarray) -> np.ndarray:
    ends = np.cumsum(np.asarray(lengths, dtype=np.uint64), dtype=np.uint64)
    return ends - np.asarray(lengths, dtype=np.uint64)


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
