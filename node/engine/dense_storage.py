"""Append-only storage of one named dense vector within a segment: in RAM or memory-mapped.

Rows are only ever appended (an overwritten point gets a new row), so the file on disk is a
prefix-consistent copy: a segment snapshot that records its row count is valid for any later
state of the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_GROWTH = 1.5
_MIN_CAPACITY = 256


class DenseStorage:
    def __init__(self, path: Path, dim: int, dtype: np.dtype, on_disk: bool, count: int = 0,
                 mapped: bool = False):
        self.path = path
        self.dim = dim
        self.dtype = np.dtype(dtype)
        self.on_disk = on_disk
        self.count = count
        # Rows already on disk (RAM mode); none for a vector added to a filled segment.
        self._persisted = count if path.exists() else 0
        self._present = np.zeros(max(count, _MIN_CAPACITY), dtype=bool)
        # Rows served read-only from the file: a sealed segment whose graph holds a copy.
        self.mapped = False
        if mapped and not on_disk and count:
            self._data = self._read_only_map()
            self.mapped = True
        else:
            self._data = self._open(max(count, _MIN_CAPACITY))

    def _open(self, capacity: int) -> np.ndarray:
        row_bytes = self.dim * self.dtype.itemsize
        if self.on_disk:
            size = max(capacity, 1) * row_bytes
            if not self.path.exists() or self.path.stat().st_size < size:
                # Blocks reserved up front: a mapped page the filesystem cannot back would be a
                # SIGBUS at the first store; a full disk is an OSError here instead, before any
                # row is written.
                with open(self.path, "ab") as f:
                    os.posix_fallocate(f.fileno(), 0, size)
            return np.memmap(self.path, dtype=self.dtype, mode="r+", shape=(capacity, self.dim))
        data = np.zeros((capacity, self.dim), dtype=self.dtype)
        if self.count and self.path.exists():
            stored = np.fromfile(self.path, dtype=self.dtype, count=self.count * self.dim)
            data[: self.count] = stored.reshape(self.count, self.dim)
        return data

    def _grow(self, needed: int) -> None:
        capacity = len(self._data)
        if needed <= capacity:
            return
        new_capacity = max(needed, int(capacity * _GROWTH))
        if self.on_disk:
            self._data.flush()
            self._data = self._open(new_capacity)
        else:
            data = np.zeros((new_capacity, self.dim), dtype=self.dtype)
            data[: self.count] = self._data[: self.count]
            self._data = data
        present = np.zeros(new_capacity, dtype=bool)
        present[: len(self._present)] = self._present
        self._present = present

    def reserve(self, rows: int) -> None:
        """Room for `rows` rows at once: a copy that knows its size skips growing step by step
        (each step holds the old and the new array together)."""
        self._grow(rows)

    def append(self, rows: np.ndarray | None, n: int, present: np.ndarray | None = None) -> int:
        """Append `n` rows (zeros where `rows` is None) and return the first new offset."""
        start = self.count
        self._grow(start + n)
        if rows is not None:
            self._data[start : start + n] = rows
        self._present[start : start + n] = True if present is None else present
        self.count = start + n
        return start

    @property
    def present(self) -> np.ndarray:
        return self._present[: self.count]

    def vectors(self) -> np.ndarray:
        """A view of every stored row (absent ones are zero)."""
        return self._data[: self.count]

    def get(self, offset: int) -> np.ndarray | None:
        return self._data[offset] if self._present[offset] else None

    def persist(self) -> None:
        """Make every appended row durable."""
        if self.on_disk:
            self._data.flush()
            return
        if self.count > self._persisted:
            with open(self.path, "ab") as f:
                f.truncate(self._persisted * self.dim * self.dtype.itemsize)
                f.seek(0, os.SEEK_END)
                f.write(self._data[self._persisted : self.count].tobytes())
                f.flush()
                os.fsync(f.fileno())
            self._persisted = self.count

    def _read_only_map(self) -> np.ndarray:
        return np.memmap(self.path, dtype=self.dtype, mode="r", shape=(self.count, self.dim))

    def map_persisted(self) -> None:
        """Serve the (sealed, persisted) rows from their file instead of RAM. For a segment
        with an HNSW graph, which keeps its own copy of the vectors in memory, this leaves one
        copy in RAM instead of two; rescoring reads a few rows through the page cache."""
        if self.on_disk or self.mapped or not self.count:
            return
        self.persist()
        self._data = self._read_only_map()
        self.mapped = True

    def state(self) -> dict:
        return {"count": self.count, "present": np.packbits(self.present)}

    def restore_presence(self, state: dict) -> None:
        bits = np.unpackbits(state["present"], count=state["count"]).astype(bool)
        self._present[: len(bits)] = bits

    def nbytes(self) -> int:
        return self.count * self.dim * self.dtype.itemsize

    def close(self) -> None:
        if self.on_disk and not self.mapped:
            self._data.flush()
        self._data = np.zeros((0, self.dim), dtype=self.dtype)
