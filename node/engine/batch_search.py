"""A batch of unfiltered nearest queries over a shard, as matrices from end to end.

Each segment answers the whole batch at once: one multi-threaded hnswlib call on the matrix of
queries where it has a graph, one matrix product where it is scanned exactly. Its answer is a
pair of (queries, width) matrices, scores and offsets, each row best first; a row with fewer
hits is padded with offset -1 and the worst possible score. The segments' matrices are joined
column-wise and ranked row by row in numpy, so Python touches only the k hits of each query
that go into the response.
"""

from __future__ import annotations

import os

import numpy as np

from node.engine.ids import PointId
from node.engine.scoring import passes_threshold, score_rows_many, smaller_is_better
from node.engine.search import (
    SearchParams,
    full_scan_vectors,
    graph_scores,
    scan_codes,
    search_segment,
)
from node.engine.segment import Segment
from node.engine.shard_config import DenseVectorSpec

Hit = tuple[float, PointId, dict | None, dict]
# (scores, offsets), both (queries, width); offset -1 marks padding.
Ranked = tuple[np.ndarray, np.ndarray]


def search_segments_batch(segments: list[Segment], spec: DenseVectorSpec, queries: np.ndarray,
                          k: int, params: SearchParams, threshold: float | None = None
                          ) -> list[list[Hit]]:
    """The k best points of the segments for each prepared query: (score, id, payload,
    vectors), best first. The caller holds the shard lock."""
    n = len(queries)
    if n == 0 or k <= 0:
        return [[] for _ in range(n)]
    smaller = smaller_is_better(spec.distance)
    # Segments with nothing to find (an empty appendable one) are skipped, not padded.
    used = [s for s in segments if spec.name in s.dense and s.searchable(spec.name)[1]]
    parts = [search_segment_batch(s, spec, queries, k, params, threshold) for s in used]
    if not parts:
        return [[] for _ in range(n)]
    if len(parts) == 1:
        scores, offsets = parts[0]
        owner = np.zeros(offsets.shape, dtype=np.intp)
    else:
        scores = np.concatenate([p[0] for p in parts], axis=1)
        offsets = np.concatenate([p[1] for p in parts], axis=1)
        owner = np.concatenate([np.full(p[1].shape, i, dtype=np.intp)
                                for i, p in enumerate(parts)], axis=1)
        # Stable: equal scores keep segment order, then rank order, as a sort of the joined
        # lists would.
        order = np.argsort(scores if smaller else -scores, axis=1, kind="stable")[:, :k]
        rows = np.arange(n)[:, None]
        scores, offsets, owner = scores[rows, order], offsets[rows, order], owner[rows, order]
    return _hits(used, scores[:, :k], offsets[:, :k], owner[:, :k], params)


def _hits(segments: list[Segment], scores: np.ndarray, offsets: np.ndarray,
          owner: np.ndarray, params: SearchParams) -> list[list[Hit]]:
    """Rows of ranked matrices as hits; the arrays become Python numbers in one call each,
    as reading numpy scalars one by one costs more."""
    ids = _ids_of_hits(segments, offsets, owner)
    full = params.with_payload or params.with_vectors
    out: list[list[Hit]] = []
    for row_scores, row_ids, row_offsets, row_owner in zip(
            scores.tolist(), ids, offsets.tolist(), owner.tolist(), strict=True):
        if not full:
            out.append([(score, pid, None, {}) for score, pid, off in
                        zip(row_scores, row_ids, row_offsets, strict=True) if off >= 0])
            continue
        hits = []
        for score, pid, off, seg in zip(row_scores, row_ids, row_offsets, row_owner,
                                        strict=True):
            if off >= 0:
                segment = segments[seg]
                hits.append((score, pid,
                             segment.payload(off) if params.with_payload else None,
                             segment.vectors_of(off) if params.with_vectors else {}))
        out.append(hits)
    return out


def _ids_of_hits(segments: list[Segment], offsets: np.ndarray, owner: np.ndarray
                 ) -> list[list[PointId | None]]:
    """The point id of each hit of the ranked matrices (None for padding), read from each
    segment's ids in one call."""
    ids = np.full(offsets.shape, None, dtype=object)
    for i, segment in enumerate(segments):
        mine = (owner == i) & (offsets >= 0)
        if mine.any():
            ids[mine] = segment.ids.ids_at(offsets[mine])
    return ids.tolist()


def search_segment_batch(segment: Segment, spec: DenseVectorSpec, queries: np.ndarray, k: int,
                         params: SearchParams, threshold: float | None = None) -> Ranked:
    """The segment's best hits for every query, as ranked matrices: the graph for the whole
    batch where it applies, one matrix product for an exact scan, and search_segment one
    query at a time on the rarer paths (quantized scans, skipped unindexed data)."""
    smaller = smaller_is_better(spec.distance)
    index = segment.indexes.get(spec.name)
    storage = segment.dense.get(spec.name)
    if storage is None or segment.total == 0:
        return _empty(len(queries), smaller)
    mask, candidates = segment.searchable(spec.name)
    if candidates == 0:
        return _empty(len(queries), smaller)
    if index is not None and not params.exact:
        found = _graph_batch(index, storage, spec, queries, k, params, candidates)
        if found is not None:
            scores, labels, in_order = found
            if in_order and threshold is None:
                return scores, labels
            return _ranked(spec, scores, labels, k, threshold)
    elif not (params.indexed_only and candidates >= full_scan_vectors(spec)) and \
            scan_codes(segment, spec, params) is None:
        offsets = np.flatnonzero(mask)
        scores = score_rows_many(spec, queries, storage.vectors()[offsets])
        if scores is not None:
            return _ranked(spec, scores, np.broadcast_to(offsets, scores.shape), k, threshold)
    return _padded([search_segment(segment, spec, q, k, params, None, threshold)
                    for q in queries], smaller)


def _graph_batch(index, storage, spec: DenseVectorSpec, queries: np.ndarray, k: int,
                 params: SearchParams, candidates: int
                 ) -> tuple[np.ndarray, np.ndarray, bool] | None:
    """Scores and labels of the graph's candidates for the whole batch, and whether they are
    ranked already; None when the graph cannot give enough of them (the caller then searches
    one query at a time)."""
    # Manhattan's graph is built in L2: ask it for more candidates, rescoring picks the best.
    wanted = min(k * 4 if spec.distance == "Manhattan" else k, candidates)
    try:
        labels, distances = index.search(queries, wanted, params.hnsw_ef or spec.hnsw.ef_construct,
                                         threads=os.cpu_count() or 1)
    except RuntimeError:
        return None
    labels = labels.astype(np.int64)
    scores = graph_scores(spec, distances)
    if scores is not None and wanted == k:  # hnswlib answers nearest first: ranked already
        return scores, labels, True
    if scores is None:  # rescored on the stored rows: (queries, wanted, dim) against each query
        rows = np.asarray(storage.vectors()[labels], dtype=np.float32)
        scores = _rescore(spec, queries, rows)
    return scores, labels, False


def _rescore(spec: DenseVectorSpec, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Exact scores of each query's candidate rows, as score_rows gives them one by one."""
    q = np.asarray(queries, dtype=np.float32)[:, None, :]
    if spec.distance == "Dot":
        return np.einsum("qwd,qd->qw", rows, q[:, 0, :])
    if spec.distance == "Cosine":
        dots = np.einsum("qwd,qd->qw", rows, q[:, 0, :])
        if spec.datatype != "uint8":
            return dots
        norms = np.linalg.norm(rows, axis=2)
        return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    diff = rows - q
    if spec.distance == "Euclid":
        return np.sqrt(np.einsum("qwd,qwd->qw", diff, diff))
    return np.abs(diff).sum(axis=2)


def _ranked(spec: DenseVectorSpec, scores: np.ndarray, offsets: np.ndarray, k: int,
            threshold: float | None) -> Ranked:
    """The k best of each row, best first; hits below the threshold become padding."""
    smaller = smaller_is_better(spec.distance)
    scores = np.asarray(scores, dtype=np.float32)
    keys = scores if smaller else -scores
    width = scores.shape[1]
    # Fancy indexing by (row, column) arrays: take_along_axis does the same in more steps.
    rows = np.arange(len(scores))[:, None]
    if k < width:
        part = np.argpartition(keys, k - 1, axis=1)[:, :k]
        order = part[rows, np.argsort(keys[rows, part], axis=1, kind="stable")]
    else:
        order = np.argsort(keys, axis=1, kind="stable")
    scores = scores[rows, order]
    offsets = offsets[rows, order]
    if threshold is not None:
        keep = passes_threshold(spec.distance, scores, threshold)
        scores = np.where(keep, scores, np.inf if smaller else -np.inf).astype(np.float32)
        offsets = np.where(keep, offsets, -1)
    return scores, offsets


def _padded(per_query: list[tuple[np.ndarray, np.ndarray]], smaller: bool) -> Ranked:
    """Per-query (scores, offsets) arrays, each best first, as padded matrices."""
    width = max((len(offsets) for _, offsets in per_query), default=0)
    scores = np.full((len(per_query), width), np.inf if smaller else -np.inf, np.float32)
    offsets = np.full((len(per_query), width), -1, np.int64)
    for i, (row_scores, row_offsets) in enumerate(per_query):
        scores[i, :len(row_scores)] = row_scores
        offsets[i, :len(row_offsets)] = row_offsets
    return scores, offsets


def _empty(n: int, smaller: bool) -> Ranked:
    return _padded([(np.zeros(0, np.float32), np.zeros(0, np.int64))] * n, smaller)
