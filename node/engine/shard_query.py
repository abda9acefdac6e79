"""Running a vector query over the segments of a shard: candidates, scores, the k best.

Dense nearest-neighbour queries take the planner of node/engine/search.py (HNSW or exact);
sparse queries and the example-based kinds (recommend, discover, context) score every
candidate exactly, vectorised per segment.
"""

from __future__ import annotations

import numpy as np

from node.engine.batch_search import Hit, search_segments_batch
from node.engine.ids import PointId
from node.engine.multivector_search import search_multi_segment
from node.engine.point_filter import PointFilter, filter_mask, matching_points
from node.engine.query_scoring import NEAREST, VectorQuery, dense_scores, sparse_scores
from node.engine.search import SearchParams, full_scan_vectors, search_segment
from node.engine.segment import Segment
from node.engine.segment_ids import IdKeys
from node.engine.shard import LocalShard
from node.engine.shard_config import DenseVectorSpec


def _candidates(
    segment: Segment, query: VectorQuery, point_filter: PointFilter | None,
    restrict_ids: set[PointId] | None,
) -> np.ndarray:
    count = segment.total
    mask = ~segment.deleted[:count]
    if query.sparse:
        has = np.zeros(count, dtype=bool)
        has[list(segment.sparse[query.vector_name])] = True
        mask &= has
    elif query.vector_name in segment.multi:
        mask &= segment.multi[query.vector_name].present
    else:
        mask &= segment.dense[query.vector_name].present
    if restrict_ids is not None:
        allowed = np.zeros(count, dtype=bool)
        offsets = segment.ids.offsets_of(IdKeys(list(restrict_ids)))
        allowed[offsets[offsets >= 0]] = True
        mask &= allowed
    if point_filter is not None:
        mask &= filter_mask(segment, point_filter)
    return mask


def _segment_hits(
    segment: Segment, shard: LocalShard, query: VectorQuery, k: int, params: SearchParams,
    point_filter: PointFilter | None, threshold: float | None,
    restrict_ids: set[PointId] | None,
) -> tuple[np.ndarray, np.ndarray]:
    spec = vector_spec(shard, query)
    if query.vector_name in shard.config.multi:
        if query.vector_name not in segment.multi:
            return np.zeros(0, np.float32), np.zeros(0, np.int64)
        mask = _candidates(segment, query, point_filter, restrict_ids)
        scores, offsets = search_multi_segment(segment, spec, query, k, params, mask,
                                               use_graph=restrict_ids is None)
    elif spec is not None and query.kind == NEAREST and restrict_ids is None:
        allowed = filter_mask(segment, point_filter) if point_filter is not None else None
        return search_segment(segment, spec, query.nearest, k, params, allowed, threshold)
    else:
        scores, offsets = _scan_hits(segment, spec, query, point_filter, restrict_ids)
    return _ranked(spec, query, scores, offsets, k, threshold)


def _scan_hits(segment: Segment, spec, query: VectorQuery, point_filter: PointFilter | None,
               restrict_ids: set[PointId] | None) -> tuple[np.ndarray, np.ndarray]:
    """Exact scores of every candidate, for sparse and example-based dense queries."""
    mask = _candidates(segment, query, point_filter, restrict_ids)
    if query.sparse:
        matrix = segment.sparse_matrix(query.vector_name)
        keep = mask[matrix.offsets]
        offsets = matrix.offsets[keep]
        scores = sparse_scores(query, matrix)[keep]
        finite = scores != -np.inf
        offsets, scores = offsets[finite], scores[finite]
    else:
        offsets = np.flatnonzero(mask)
        scores = dense_scores(spec, query, segment.dense[query.vector_name].vectors()[offsets])
    return scores, offsets


def _ranked(spec, query: VectorQuery, scores: np.ndarray, offsets: np.ndarray, k: int,
            threshold: float | None) -> tuple[np.ndarray, np.ndarray]:
    if threshold is not None:
        above = scores >= threshold if query.threshold_bigger_is_better(spec) else (
            scores <= threshold)
        offsets, scores = offsets[above], scores[above]
    keys = -scores if query.bigger_is_better(spec) else scores
    order = np.argsort(keys, kind="stable")[:k]
    return scores[order], offsets[order]


def vector_spec(shard: LocalShard, query: VectorQuery) -> DenseVectorSpec | None:
    """The spec of the dense or multivector the query searches; None for a sparse one."""
    if query.sparse:
        return None
    name = query.vector_name
    return shard.config.multi[name] if name in shard.config.multi else shard.config.dense[name]


def is_plain(query: VectorQuery, point_filter: PointFilter | None,
             restrict_ids: set[PointId] | None) -> bool:
    """An unfiltered nearest query on a dense vector: one that can join a batch of others."""
    return (query.kind == NEAREST and not query.sparse and point_filter is None
            and not restrict_ids and getattr(query.nearest, "ndim", 1) == 1)


def is_light(shard: LocalShard, query: VectorQuery, point_filter: PointFilter | None,
             restrict_ids: set[PointId] | None) -> bool:
    """A plain query that the shard answers from graphs (plus small exact scans)."""
    if not is_plain(query, point_filter, restrict_ids):
        return False
    spec = shard.config.dense.get(query.vector_name)
    if spec is None:
        return False
    limit = full_scan_vectors(spec)
    return all(query.vector_name in s.indexes or s.total <= limit for s in shard.segments)


def query_shard(
    shard: LocalShard,
    query: VectorQuery,
    k: int,
    params: SearchParams,
    point_filter: PointFilter | None = None,
    score_threshold: float | None = None,
    restrict_ids: set[PointId] | None = None,
) -> list[Hit]:
    """The k best points of the shard for `query`: (score, id, payload, vectors), best first."""
    spec = vector_spec(shard, query)
    found: list[tuple[float, PointId, Segment, int]] = []
    with shard.lock:
        for segment in shard.segments:
            scores, offsets = _segment_hits(
                segment, shard, query, k, params, point_filter, score_threshold, restrict_ids
            )
            _collect(found, segment, scores, offsets)
        return _best_hits(found, k, query.bigger_is_better(spec), params)


def query_shard_batch(
    shard: LocalShard,
    vector_name: str,
    queries: np.ndarray,
    k: int,
    params: SearchParams,
    score_threshold: float | None = None,
) -> list[list[Hit]]:
    """The k best points for each of many prepared, unfiltered nearest queries."""
    spec = shard.config.dense[vector_name]
    with shard.lock:
        return search_segments_batch(shard.segments, spec, queries, k, params, score_threshold)


def _collect(found: list, segment: Segment, scores: np.ndarray, offsets: np.ndarray) -> None:
    """Add a segment's (score, id, segment, offset) candidates; plain Python numbers, since
    iterating numpy scalars one by one costs more than converting the arrays at once."""
    ids = segment.ids.ids_at(offsets)
    found.extend((score, pid, segment, offset) for score, pid, offset
                 in zip(scores.tolist(), ids, offsets.tolist(), strict=True))


def _best_hits(found: list, k: int, bigger_is_better: bool, params: SearchParams) -> list[Hit]:
    """The k best candidates as hits, with payload and vectors only where asked for."""
    if len(found) > 1:
        found.sort(key=lambda item: item[0], reverse=bigger_is_better)
    best = found[:k]
    if not (params.with_payload or params.with_vectors):
        return [(score, pid, None, {}) for score, pid, _, _ in best]
    return [(score, pid, segment.payload(off) if params.with_payload else None,
             segment.vectors_of(off) if params.with_vectors else {})
            for score, pid, segment, off in best]


def sparse_statistics(shard: LocalShard, name: str, indices: np.ndarray) -> tuple[int, np.ndarray]:
    """(live points with this sparse vector, document frequency of each index in it): inputs
    of IDF. As in Qdrant (and the reference from qdrant-client 1.16 on), a point without the
    vector is not part of the corpus. A deleted point's sparse vectors are dropped at once, so
    the matrices hold live rows only."""
    total, df = 0, np.zeros(len(indices), dtype=np.int64)
    with shard.lock:
        for segment in shard.segments:
            matrix = segment.sparse_matrix(name)
            total += len(matrix.offsets)
            df += matrix.document_frequency(np.asarray(indices))
    return total, df


def scan_shard(
    shard: LocalShard, point_filter: PointFilter | None, restrict_ids: set[PointId] | None = None
) -> list[tuple[PointId, dict | None, dict]]:
    """Every live point of the shard that passes the filter: (id, payload, vectors)."""
    out = []
    with shard.lock:
        for segment, offset in matching_points(shard.segments, point_filter):
            pid = segment.ids.id_at(offset)
            if restrict_ids is None or pid in restrict_ids:
                out.append((pid, segment.payload(offset), segment.vectors_of(offset)))
    return out
