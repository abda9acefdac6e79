"""Multivector queries inside a segment: exact max_sim over the candidates, or candidates
from an HNSW graph of every sub-vector first, narrowed on quantized codes when there are some.

hnswlib has no max_sim space, so the graph holds each sub-vector as its own element, labelled
by its row; a row maps back to the point owning it. Each query sub-vector's `ef` nearest rows
name candidate points, which are then scored exactly: the graph only narrows the set.
"""

from __future__ import annotations

import numpy as np

from node.engine.hnsw_index import HnswIndex
from node.engine.max_sim import max_sim_core, max_sim_scores
from node.engine.multi_storage import MultiStorage, _ranges
from node.engine.multivector_quantization import preselect
from node.engine.query_scoring import NEAREST, VectorQuery, combine
from node.engine.search import SearchParams, codes_wanted, full_scan_vectors
from node.engine.segment import Segment
from node.engine.shard_config import DenseVectorSpec


def multi_scores(spec: DenseVectorSpec, storage: MultiStorage, query: VectorQuery,
                 offsets: np.ndarray) -> np.ndarray:
    """Exact scores of the points at `offsets` (each holding the vector)."""
    lengths = storage.counts[offsets].astype(np.int64)
    rows = storage.rows.vectors()[np.repeat(storage.starts[offsets], lengths) + _ranges(lengths)]
    if query.kind == NEAREST:
        return max_sim_scores(spec, query.nearest, rows, lengths)
    return combine(query, lambda example: max_sim_core(spec, example, rows, lengths))


def search_multi_segment(
    segment: Segment, spec: DenseVectorSpec, query: VectorQuery, k: int,
    params: SearchParams, mask: np.ndarray, use_graph: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, offsets) of every candidate in `mask` worth ranking; unordered. Nearest
    queries on a segment with quantized codes narrow the candidates on the codes first."""
    storage = segment.multi[spec.name]
    mask = mask & storage.present
    offsets = np.flatnonzero(mask)
    if (use_graph and query.kind == NEAREST and not params.exact and segment.sealed
            and int(storage.counts[offsets].sum()) >= full_scan_vectors(spec)):
        found = graph_candidates(segment, spec, query.nearest, k, params, mask)
        if found is not None:
            offsets = found
    quantized = segment.multi_quantized.get(spec.name)
    if quantized is not None and query.kind == NEAREST and codes_wanted(params):
        scores, offsets = preselect(spec, quantized, storage, query.nearest, offsets, k,
                                    params.quantization or {})
        if scores is not None:
            return scores, offsets
    return multi_scores(spec, storage, query, offsets), offsets


def graph_candidates(segment: Segment, spec: DenseVectorSpec, query: np.ndarray, k: int,
                     params: SearchParams, mask: np.ndarray) -> np.ndarray | None:
    """Offsets of the points owning the rows nearest to any query sub-vector; None when the
    graph finds fewer than k candidates (a tight filter): exact search then."""
    graph, owners = _graph(segment, spec)
    if graph is None:
        return None
    ef = max(params.hnsw_ef or spec.hnsw.ef_construct, k)
    wanted = min(ef, graph.count)
    try:
        labels, _ = graph.search(query, wanted, ef)
    except RuntimeError:
        return None
    owned = owners[labels.reshape(-1).astype(np.int64)]
    owned = np.unique(owned[owned >= 0])
    owned = owned[mask[owned]]
    return owned if len(owned) >= k else None


def _graph(segment: Segment, spec: DenseVectorSpec) -> tuple[HnswIndex | None, np.ndarray]:
    """The segment's graph of sub-vectors, built once per set of rows (a sealed segment's
    rows never change; its deletions are masked at query time). Kept in memory only: it is
    derived from the rows, and rebuilt after a restart by the first query needing it."""
    storage = segment.multi[spec.name]
    cached = segment.multi_graphs.get(spec.name)
    if cached is not None and cached[0] == storage.rows.count:
        return cached[1], cached[2]
    owners = storage.owners()
    labels = np.flatnonzero(owners >= 0)
    graph = None
    if len(labels):
        rows = np.asarray(storage.rows.vectors()[labels], dtype=np.float32)
        graph = HnswIndex.build(spec, rows, labels)
    segment.multi_graphs[spec.name] = (storage.rows.count, graph, owners)
    return graph, owners


def multi_graph_rows(segment: Segment, spec: DenseVectorSpec) -> int:
    """Build the segment's graph of `spec`'s sub-vectors now; the rows it holds."""
    graph, _ = _graph(segment, spec)
    return 0 if graph is None else graph.count
