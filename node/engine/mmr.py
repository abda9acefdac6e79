"""Maximal marginal relevance: re-ranking nearest-neighbour candidates for diversity.

Starting from the candidate most similar to the query, each next pick maximises
`lambda * similarity(query, c) - (1 - lambda) * max similarity(c, picked)`, with
`lambda = 1 - diversity`. Similarities are the raw ones Qdrant ranks with (Euclid and Manhattan
as negated distances, squared for Euclid; sparse as dot products where a missing overlap is 0).
Ties go as in Qdrant: the pending candidates are kept in a list whose chosen element is
replaced by the last one, and among equal scores the last one wins.
"""

from __future__ import annotations

import numpy as np

from node.engine.point_batch import SparseVector
from node.engine.query_scoring import core_scores
from node.engine.shard_config import DenseVectorSpec
from node.engine.sparse_matrix import SparseMatrix


def dense_similarities(spec: DenseVectorSpec, query: np.ndarray, rows: np.ndarray
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(query -> each row, row -> row matrix) for prepared dense vectors."""
    rows = np.asarray(rows, dtype=np.float32)
    to_query = core_scores(spec, query, rows)
    between = np.stack([core_scores(spec, row, rows) for row in rows])
    return np.asarray(to_query, np.float32), np.asarray(between, np.float32)


def sparse_similarities(query: SparseVector, rows: list[SparseVector]
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(query -> each row, row -> row matrix) for sparse vectors."""
    matrix = SparseMatrix.build(dict(enumerate(rows)))
    to_query = matrix.dot(query, empty_is_zero=True)
    between = np.stack([matrix.dot(row, empty_is_zero=True) for row in rows])
    return to_query, between


def select(to_query: np.ndarray, between: np.ndarray, diversity: float, count: int) -> list[int]:
    """Positions of up to `count` candidates in MMR order."""
    if not len(to_query) or count <= 0:
        return []
    keep = 1.0 - diversity
    to_query = np.asarray(to_query, dtype=np.float64)  # scores in double, as the reference
    pending = list(range(len(to_query)))
    selected = [_swap_remove(pending, _last_argmax(to_query[pending]))]
    # The highest similarity of each candidate to anything picked so far.
    closest = between[:, selected[0]].astype(np.float64)
    while len(selected) < count and pending:
        scores = keep * to_query[pending] - (1.0 - keep) * closest[pending]
        if np.all(np.isneginf(scores)):
            break
        picked = _swap_remove(pending, _last_argmax(scores))
        selected.append(picked)
        closest = np.maximum(closest, between[:, picked])
    return selected


def _last_argmax(values: np.ndarray) -> int:
    values = np.asarray(values)
    return int(len(values) - 1 - np.argmax(values[::-1]))


def _swap_remove(items: list[int], position: int) -> int:
    chosen = items[position]
    items[position] = items[-1]
    items.pop()
    return chosen
