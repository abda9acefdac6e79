"""Storage of one multivector within a segment: every sub-vector as a row of one flat
DenseStorage (in RAM or memory-mapped, appended like a dense vector), and per point the first
row and the number of rows it owns (0: the point has no value for this vector).

Rows are only appended, so the rows file stays a prefix-consistent copy; the per-point
(start, count) pairs live in the segment's state file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from node.engine.dense_storage import DenseStorage
from node.engine.shard_config import DenseVectorSpec

_MIN_POINTS = 256


class MultiStorage:
    def __init__(self, path: Path, spec: DenseVectorSpec, points: int = 0,
                 state: dict | None = None, sealed: bool = False) -> None:
        self.spec = spec
        self.dim = spec.size
        self.dtype = spec.dtype
        rows = int(state["rows"]) if state else 0
        # A sealed segment's rows never change and its graph keeps a copy of them in memory:
        # they are read from the file (the page cache) rather than held twice.
        self.rows = DenseStorage(path, spec.size, spec.dtype, spec.on_disk, rows, mapped=sealed)
        self.starts = np.zeros(max(points, _MIN_POINTS), dtype=np.int64)
        self.counts = np.zeros(max(points, _MIN_POINTS), dtype=np.int32)
        self.points = points  # point offsets covered (the segment's row count)
        if state:
            self.starts[:points] = state["starts"]
            self.counts[:points] = state["counts"]

    def _grow(self, needed: int) -> None:
        if needed <= len(self.starts):
            return
        size = max(needed, len(self.starts) * 3 // 2)
        starts = np.zeros(size, dtype=np.int64)
        counts = np.zeros(size, dtype=np.int32)
        starts[: self.points] = self.starts[: self.points]
        counts[: self.points] = self.counts[: self.points]
        self.starts, self.counts = starts, counts

    def append(self, values: list[np.ndarray | None]) -> None:
        """One entry per new point offset: its sub-vectors, or None for none."""
        n = len(values)
        self._grow(self.points + n)
        given = [v for v in values if v is not None]
        first = self.rows.count
        if given:
            flat = np.concatenate([np.asarray(v, dtype=self.dtype) for v in given])
            self.rows.append(flat, len(flat))
        cursor = first
        for i, value in enumerate(values):
            offset = self.points + i
            length = 0 if value is None else len(value)
            self.starts[offset], self.counts[offset] = cursor, length
            cursor += length
        self.points += n

    def reserve(self, points: int, rows: int) -> None:
        self._grow(points)
        self.rows.reserve(rows)

    @property
    def present(self) -> np.ndarray:
        return self.counts[: self.points] > 0

    def get(self, offset: int) -> np.ndarray | None:
        count = int(self.counts[offset])
        if not count:
            return None
        start = int(self.starts[offset])
        return self.rows.vectors()[start : start + count]

    def clear(self, offset: int) -> None:
        """Forget the point's value (its rows stay in the file, unreferenced)."""
        self.counts[offset] = 0

    def owners(self) -> np.ndarray:
        """For every stored row, the point offset it belongs to (-1: no longer referenced)."""
        owner = np.full(self.rows.count, -1, dtype=np.int64)
        live = np.flatnonzero(self.counts[: self.points])
        if len(live):
            lengths = self.counts[live].astype(np.int64)
            row_index = np.repeat(self.starts[live], lengths) + _ranges(lengths)
            owner[row_index] = np.repeat(live, lengths)
        return owner

    def persist(self) -> None:
        self.rows.persist()

    def state(self) -> dict:
        return {"rows": self.rows.count, "starts": self.starts[: self.points].copy(),
                "counts": self.counts[: self.points].copy()}

    def nbytes(self) -> int:
        return self.rows.nbytes()

    def close(self) -> None:
        self.rows.close()


def _ranges(lengths: np.ndarray) -> np.ndarray:
    """0..n-1 for each n of `lengths`, concatenated."""
    ends = np.cumsum(lengths)
    return np.arange(int(ends[-1]) if len(ends) else 0) - np.repeat(ends - lengths, lengths)
