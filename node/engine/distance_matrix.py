"""The distance matrix of a sample of points: a seeded random sample drawn on each shard, and
each sampled point's nearest neighbours among the sample.

A shard's sample depends only on its points and the seed (candidates are put in id order before
the shuffle), so every replica of a shard with the same points draws the same sample and reads
at any consistency level agree.
"""

from __future__ import annotations

import numpy as np

from node.engine.ids import PointId
from node.engine.point_filter import PointFilter, filter_mask
from node.engine.point_order import point_id_order
from node.engine.scoring import prepare_query, score_rows, score_rows_many, smaller_is_better
from node.engine.shard import LocalShard
from node.engine.shard_config import DenseVectorSpec

# Sampled points scored against the whole sample at once: bounds the scores held to this many
# rows of the sample's size.
ROWS_PER_BLOCK = 256


def sample_shard(shard: LocalShard, vector_name: str, point_filter: PointFilter | None,
                 sample: int, seed: int) -> tuple[int, list[tuple[PointId, np.ndarray]]]:
    """(how many live points pass the filter and hold vector `vector_name`, up to `sample` of
    them in random order with a copy of that vector)."""
    candidates: list[tuple] = []  # (id order, id, vector storage, offset)
    with shard.lock:
        for segment in shard.segments:
            if vector_name not in segment.dense:
                continue
            mask = segment.searchable(vector_name)[0].copy()
            if point_filter is not None:
                mask &= filter_mask(segment, point_filter)
            storage = segment.dense[vector_name]
            for offset in np.flatnonzero(mask):
                pid = segment.point_ids[offset]
                candidates.append((point_id_order(pid), pid, storage, int(offset)))
        candidates.sort(key=lambda item: item[0])
        order = np.random.default_rng(seed).permutation(len(candidates))[:sample]
        picked = [
            (candidates[i][1], np.array(candidates[i][2].get(candidates[i][3]), np.float32))
            for i in order
        ]
    return len(candidates), picked


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
        for row in rows:
            best = np.argsort(keys[row], kind="stable")[:take]
            out.append([(int(col), float(scores[row, col])) for col in best])
    return out
