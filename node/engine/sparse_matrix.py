"""The sparse vectors of a segment as one CSR matrix, for vectorised dot products."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.engine.point_batch import SparseVector


@dataclass
class SparseMatrix:
    offsets: np.ndarray  # segment offset of each row
    indptr: np.ndarray
    indices: np.ndarray
    values: np.ndarray

    @staticmethod
    def build(vectors: dict[int, SparseVector]) -> SparseMatrix:
        offsets = np.fromiter(sorted(vectors), dtype=np.int64, count=len(vectors))
        lengths = np.array([len(vectors[int(o)].indices) for o in offsets], dtype=np.int64)
        indptr = np.zeros(len(offsets) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        if len(offsets):
            indices = np.concatenate([vectors[int(o)].indices for o in offsets])
            values = np.concatenate([vectors[int(o)].values for o in offsets])
        else:
            indices, values = np.zeros(0, np.uint32), np.zeros(0, np.float32)
        return SparseMatrix(offsets, indptr, indices.astype(np.uint32), values.astype(np.float32))

    def dot(self, query: SparseVector, empty_is_zero: bool) -> np.ndarray:
        """Dot product of every row with `query`; rows sharing no index score -inf unless
        `empty_is_zero` (Qdrant's rule: plain sparse search skips them, the example-based
        queries count them as 0)."""
        rows = len(self.offsets)
        if rows == 0:
            return np.zeros(0, np.float32)
        row_of_entry = np.repeat(np.arange(rows), np.diff(self.indptr))
        scores = np.zeros(rows, dtype=np.float64)
        overlap = np.zeros(rows, dtype=bool)
        if len(query.indices) and len(self.indices):
            pos = np.searchsorted(query.indices, self.indices)
            pos = np.minimum(pos, len(query.indices) - 1)
            hit = query.indices[pos] == self.indices
            contributions = np.where(hit, self.values * query.values[pos], 0.0)
            scores = np.bincount(row_of_entry, weights=contributions, minlength=rows)
            overlap = np.bincount(row_of_entry, weights=hit, minlength=rows) > 0
        scores = scores.astype(np.float32)
        if not empty_is_zero:
            scores[~overlap] = -np.inf
        return scores

    def document_frequency(self, indices: np.ndarray) -> np.ndarray:
        """For each of `indices`, how many rows hold a value there (indices are unique per
        row, so counting entries counts rows)."""
        present, counts = np.unique(self.indices, return_counts=True)
        if not len(present):
            return np.zeros(len(indices), dtype=np.int64)
        pos = np.minimum(np.searchsorted(present, indices), len(present) - 1)
        return np.where(present[pos] == indices, counts[pos], 0).astype(np.int64)
