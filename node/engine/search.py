"""Nearest-neighbour search of one dense vector inside a segment.

The planner: exact search when asked, when the segment has no graph for the vector, or when a
filter leaves fewer candidates than `full_scan_threshold`; the HNSW graph otherwise. Graph
results are rescored exactly, so every path reports the same scores.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from node.engine.quantization import oversampled_limit
from node.engine.scoring import passes_threshold, score_rows, top_k
from node.engine.segment import Segment
from node.engine.shard_config import DenseVectorSpec


@dataclass(frozen=True)
class SearchParams:
    hnsw_ef: int | None = None
    exact: bool = False
    indexed_only: bool = False
    quantization: dict | None = None  # {"ignore", "rescore", "oversampling"}
    # What the hits carry besides id and score: ranking needs neither, and fetching them
    # only for the final page saves work (and network between nodes).
    with_payload: bool = True
    with_vectors: bool = True


def full_scan_vectors(spec: DenseVectorSpec) -> int:
    """`full_scan_threshold` (kB of float32 vectors) as a number of vectors."""
    return max(1, spec.hnsw.full_scan_threshold_kb * 1024 // (spec.size * 4))


def search_segment(
    segment: Segment,
    spec: DenseVectorSpec,
    query: np.ndarray,
    k: int,
    params: SearchParams,
    allowed: np.ndarray | None = None,
    score_threshold: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, offsets) of the k best points of the segment, best first."""
    empty = (np.zeros(0, np.float32), np.zeros(0, np.int64))
    storage = segment.dense.get(spec.name)
    count = segment.total
    if storage is None or count == 0 or k <= 0:
        return empty
    mask, candidates = segment.searchable(spec.name)
    if allowed is not None:
        mask = mask & allowed[:count]
        candidates = int(mask.sum())
    if candidates == 0:
        return empty
    index = segment.indexes.get(spec.name)
    small = candidates < full_scan_vectors(spec)
    if index is None and params.indexed_only and not small:
        return empty  # not indexed yet: skipped when only indexed data is asked for
    if index is not None and not params.exact and not (allowed is not None and small):
        # Manhattan's graph is built in L2: ask it for more candidates, rescoring picks the best.
        wanted = k * 4 if spec.distance == "Manhattan" else k
        found = _graph_candidates(index, query, min(wanted, candidates), params, mask, allowed)
        if found is not None:
            offsets, distances = found
            scores = graph_scores(spec, distances)
            if scores is None:
                scores = score_rows(spec, query, storage.vectors()[offsets])
            return _best(spec, scores, offsets, k, score_threshold)
    offsets = np.flatnonzero(mask)
    quantized = scan_codes(segment, spec, params)
    if quantized is not None:
        return _quantized_scan(spec, storage, quantized, query, offsets, k,
                               params.quantization or {}, score_threshold)
    scores = score_rows(spec, query, storage.vectors()[offsets])
    return _best(spec, scores, offsets, k, score_threshold)


def scan_codes(segment: Segment, spec: DenseVectorSpec, params: SearchParams):
    """The quantized codes a full scan scores on first, or None: none built, or the search
    asks for exact scores or to ignore them."""
    quantized = segment.quantized.get(spec.name)
    return quantized if quantized is not None and codes_wanted(params) else None


def codes_wanted(params: SearchParams) -> bool:
    """Whether a search scores on quantized codes first: not when it asks for exact scores
    or to ignore them."""
    return not params.exact and not (params.quantization or {}).get("ignore")


def _quantized_scan(spec, storage, quantized, query, offsets, k, options, threshold):
    """Candidates by their quantized scores, then (unless `rescore` is false) the best of
    `limit * oversampling` of them rescored on the original vectors."""
    approx = quantized.scores(query, rows=offsets)
    picked = top_k(spec.distance, approx, oversampled_limit(k, options.get("oversampling")))
    candidates = offsets[picked]
    if options.get("rescore") is False:
        return _best(spec, approx[picked].astype(np.float32), candidates, k, threshold)
    scores = score_rows(spec, query, storage.vectors()[candidates])
    return _best(spec, scores, candidates, k, threshold)


def _graph_candidates(index, query, k, params, mask, allowed
                      ) -> tuple[np.ndarray, np.ndarray] | None:
    ef = params.hnsw_ef or index.spec.hnsw.ef_construct
    filter_fn = None
    if allowed is not None:
        limit = len(mask)
        filter_fn = lambda label: label < limit and bool(mask[label])  # noqa: E731
    try:
        labels, distances = index.search(query[None, :], k, ef, filter_fn)
    except RuntimeError:
        return None  # the graph could not return k results: fall back to exact search
    return labels[0].astype(np.int64), distances[0]


def graph_scores(spec: DenseVectorSpec, distances: np.ndarray) -> np.ndarray | None:
    """Scores straight from the graph's distances where its space computes the score itself
    on the very rows stored (float32): no need to read the rows again to rescore them."""
    if spec.datatype != "float32":
        return None
    if spec.distance in ("Cosine", "Dot"):  # hnswlib's inner-product distance is 1 - dot
        return (1.0 - distances).astype(np.float32)
    if spec.distance == "Euclid":  # hnswlib's l2 distance is squared
        return np.sqrt(np.maximum(distances, 0.0)).astype(np.float32)
    return None


def _best(spec, scores, offsets, k, threshold) -> tuple[np.ndarray, np.ndarray]:
    keep = passes_threshold(spec.distance, scores, threshold)
    scores, offsets = scores[keep], offsets[keep]
    order = top_k(spec.distance, scores, k)
    return scores[order], offsets[order]
