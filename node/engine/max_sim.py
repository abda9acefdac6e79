"""max_sim, the score of a multivector query against stored multivectors.

For each query sub-vector, the best similarity over the point's sub-vectors; summed over the
query's sub-vectors. Similarities are the ones Qdrant ranks with internally: the dot product
(Cosine on normalised sub-vectors), the negated squared Euclidean distance, the negated
Manhattan distance. A nearest query then reports Euclid as sqrt(|sum|) and Manhattan as |sum|,
distances where smaller is better, as Qdrant (and qdrant-client's local mode) do.
"""

from __future__ import annotations

import numpy as np

from node.engine.shard_config import DenseVectorSpec

# Sub-vector pairs scored per chunk of the elementwise (Manhattan) path: bounds its memory.
_CHUNK_CELLS = 4_000_000


def prepare_multi_query(spec: DenseVectorSpec, matrix: np.ndarray) -> np.ndarray:
    query = np.asarray(matrix, dtype=np.float32)
    if spec.distance == "Cosine":
        norms = np.linalg.norm(query, axis=1, keepdims=True)
        query = np.divide(query, norms, out=np.zeros_like(query), where=norms > 0)
    return query


def _similarities(spec: DenseVectorSpec, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(query sub-vectors, rows) internal similarities."""
    data = np.asarray(rows, dtype=np.float32)
    if spec.distance == "Cosine" and spec.datatype == "uint8":
        norms = np.linalg.norm(data, axis=1, keepdims=True)
        data = np.divide(data, norms, out=np.zeros_like(data), where=norms > 0)
    if spec.distance in ("Cosine", "Dot"):
        return query @ data.T
    # Differences taken elementwise (not expanded into dot products): close points keep
    # their precision, as in the reference.
    out = np.empty((len(query), len(data)), dtype=np.float32)
    step = max(1, _CHUNK_CELLS // max(1, len(query) * data.shape[1]))
    for first in range(0, len(data), step):
        diff = query[:, None, :] - data[None, first : first + step, :]
        part = (diff * diff if spec.distance == "Euclid" else np.abs(diff)).sum(axis=2)
        out[:, first : first + step] = -part
    return out


def max_sim_core(spec: DenseVectorSpec, query: np.ndarray, rows: np.ndarray,
                 lengths: np.ndarray) -> np.ndarray:
    """Sum over query sub-vectors of the best similarity, for each point whose `lengths[i]`
    sub-vectors follow one another in `rows`; larger is better for every distance."""
    if not len(lengths):
        return np.zeros(0, dtype=np.float32)
    return best_sums(_similarities(spec, query, rows), lengths)


def best_sums(sims: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """From (query sub-vectors, rows) similarities, each point's sum over query sub-vectors of
    its best row, for points whose `lengths[i]` rows follow one another."""
    if not len(lengths):
        return np.zeros(0, dtype=np.float32)
    starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
    best = np.maximum.reduceat(sims, starts, axis=1)
    return best.sum(axis=0, dtype=np.float64).astype(np.float32)


def max_sim_scores(spec: DenseVectorSpec, query: np.ndarray, rows: np.ndarray,
                   lengths: np.ndarray) -> np.ndarray:
    """max_sim as a nearest query reports it."""
    return reported(spec, max_sim_core(spec, query, rows, lengths))


def reported(spec: DenseVectorSpec, core: np.ndarray) -> np.ndarray:
    """A max_sim core (larger is better) as a nearest query reports it."""
    if spec.distance == "Euclid":
        return np.sqrt(np.abs(core))
    if spec.distance == "Manhattan":
        return np.abs(core)
    return core
