"""The distance matrix of a sample of points: a seeded random sample drawn on each shard, and
each sampled point's nearest neighbours among the sample.

A shard's sample depends only on its points and the seed (candidates are put in id order before
the shuffle), so every replica of a shard with the same points draws the same sample and reads
at any consistency level agree.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from node.engine.ids import PointId
from node.engine.point_batch import SparseVector
from node.engine.point_filter import PointFilter, filter_mask
from node.engine.point_order import point_id_order
from node.engine.scoring import prepare_query, score_rows, score_rows_many, smaller_is_better
from node.engine.segment import Segment
from node.engine.shard import LocalShard
from node.engine.shard_config import DenseVectorSpec
from node.engine.sparse_matrix import SparseMatrix

Vector = np.ndarray | SparseVector

# Sampled points scored against the whole sample at once: bounds the scores held to this many
# rows of the sample's size.
ROWS_PER_BLOCK = 256


def sample_shard(shard: LocalShard, vector_name: str, point_filter: PointFilter | None,
                 sample: int, seed: int) -> tuple[int, list[tuple[PointId, Vector]]]:
    """(how many live points pass the filter and hold vector `vector_name`, dense or sparse,
    up to `sample` of them in random order with a copy of that vector)."""
    candidates: list[tuple] = []  # (id order, id, vector of the offset, offset)
    with shard.lock:
        for segment in shard.segments:
            mask, vector_at = _holding(segment, vector_name)
            if point_filter is not None:
                mask &= filter_mask(segment, point_filter)
            for offset in np.flatnonzero(mask):
                pid = segment.ids.id_at(int(offset))
                candidates.append((point_id_order(pid), pid, vector_at, int(offset)))
        candidates.sort(key=lambda item: item[0])
        order = np.random.default_rng(seed).permutation(len(candidates))[:sample]
        picked = [(candidates[i][1], candidates[i][2](candidates[i][3])) for i in order]
    return len(candidates), picked


def _holding(segment: Segment, name: str) -> tuple[np.ndarray, Callable[[int], Vector]]:
    """(mask of the live offsets holding vector `name`, a copy of the vector at an offset)."""
    storage = segment.dense.get(name)
    if storage is not None:
        return (segment.searchable(name)[0].copy(),
                lambda offset: np.array(storage.get(offset), np.float32))
    vectors = segment.sparse.get(name, {})
    mask = np.zeros(segment.total, dtype=bool)
    mask[np.fromiter(vectors, dtype=np.int64, count=len(vectors))] = True
    mask &= ~segment.deleted[: segment.total]
    return mask, vectors.__getitem__


def nearest_among(spec: DenseVectorSpec, vectors: np.ndarray, limit: int
                  ) -> list[list[tuple[int, float]]]:
    """For each row of `vectors`, its `limit` best-scoring other rows as (row, score), best
    first; equal scores keep row order. Rows are scored a block at a time, so a large sample
    never holds its whole square of scores."""
    count = len(vectors)
    take = min(limit, count - 1)
    out: list[list[tuple[int, float]]] = []
    if take <= 0:
        return [[] for _ in range(count)]
    for first in range(0, count, ROWS_PER_BLOCK):
        block = vectors[first: first + ROWS_PER_BLOCK]
        queries = np.stack([prepare_query(spec, row) for row in block])
        scores = score_rows_many(spec, queries, vectors)
        if scores is None:
            scores = np.stack([score_rows(spec, query, vectors) for query in queries])
        scores = np.asarray(scores, dtype=np.float64)
        keys = scores if smaller_is_better(spec.distance) else -scores
        rows = np.arange(len(block))
        keys[rows, rows + first] = np.inf  # a point is not its own neighbour
        # The best `take` of each row, then those in score order (ties by column).
        best = np.argpartition(keys, take - 1, axis=1)[:, :take]
        best_keys = np.take_along_axis(keys, best, axis=1)
        best = np.take_along_axis(best, np.lexsort((best, best_keys), axis=-1), axis=1)
        for row in rows:
            out.append([(int(col), float(scores[row, col])) for col in best[row]])
    return out


def nearest_among_sparse(rows: list[SparseVector], queries: list[SparseVector], limit: int
                         ) -> list[list[tuple[int, float]]]:
    """For each of `queries` (row i's vector, weighted as the collection's queries are), its
    `limit` best-scoring other rows by dot product, best first. As in a sparse search, a row
    sharing no index with the query is no neighbour."""
    matrix = SparseMatrix.build(dict(enumerate(rows)))
    out = []
    for row, query in enumerate(queries):
        scores = matrix.dot(query, empty_is_zero=False)
        scores[row] = -np.inf
        found = np.flatnonzero(np.isfinite(scores))
        best = found[np.argsort(-scores[found], kind="stable")][:limit]
        out.append([(int(col), float(scores[col])) for col in best])
    return out
