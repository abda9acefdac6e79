"""Scores of every kind of vector query, as Qdrant computes them.

Nearest queries report the metric itself. Example-based queries (recommend best_score and
sum_scores, discover, context, relevance feedback) rank by a "core" similarity where larger is
always better: Euclid and Manhattan enter as negated squared / absolute distances.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from node.engine.point_batch import SparseVector
from node.engine.scoring import score_rows, smaller_is_better
from node.engine.shard_config import DenseVectorSpec

NEAREST = "nearest"
RECOMMEND_BEST = "best_score"
RECOMMEND_SUM = "sum_scores"
DISCOVER = "discover"
CONTEXT = "context"
FEEDBACK = "relevance_feedback"
_EPSILON = 1.1920929e-7  # the float32 epsilon Qdrant subtracts in context pairs


@dataclass
class VectorQuery:
    """A query on one named vector, with every example already turned into a vector."""

    vector_name: str
    kind: str
    sparse: bool
    nearest: np.ndarray | SparseVector | None = None
    positives: list = field(default_factory=list)
    negatives: list = field(default_factory=list)
    target: np.ndarray | SparseVector | None = None
    pairs: list[tuple] = field(default_factory=list)
    # relevance_feedback: score = scale * sim(target) + sum of weight * (sim(pos) - sim(neg))
    # over `pairs`, one weight each.
    weights: list[float] = field(default_factory=list)
    scale: float = 1.0

    def bigger_is_better(self, spec: DenseVectorSpec | None) -> bool:
        if self.kind != NEAREST or self.sparse or spec is None:
            return True
        return not smaller_is_better(spec.distance)

    def threshold_bigger_is_better(self, spec: DenseVectorSpec | None) -> bool:
        """score_threshold keeps scores above it, except for a distance metric's ranking."""
        if self.sparse or spec is None:
            return True
        return not smaller_is_better(spec.distance)


def core_scores(spec: DenseVectorSpec, example: np.ndarray, rows: np.ndarray) -> np.ndarray:
    if spec.distance == "Euclid":
        diff = np.asarray(rows, dtype=np.float32) - example
        return -np.einsum("ij,ij->i", diff, diff)
    if spec.distance == "Manhattan":
        return -np.abs(np.asarray(rows, dtype=np.float32) - example).sum(axis=1)
    return score_rows(spec, example, rows)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return x / (1.0 + np.abs(x))


def _scaled_sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (_sigmoid(x) + 1.0)


def combine(query: VectorQuery, similarity) -> np.ndarray:
    """Scores of the example-based kinds, given `similarity(example) -> scores of all rows`."""
    if query.kind in (RECOMMEND_BEST, RECOMMEND_SUM):
        pos = [similarity(v) for v in query.positives]
        neg = [similarity(v) for v in query.negatives]
        if query.kind == RECOMMEND_SUM:
            zero = np.zeros_like(similarity(query.positives[0] if pos else query.negatives[0]))
            return (sum(pos, zero) - sum(neg, zero)).astype(np.float32)
        best_pos = np.max(pos, axis=0) if pos else None
        best_neg = np.max(neg, axis=0) if neg else None
        if best_pos is None:
            best_pos = np.full_like(best_neg, -np.inf)
        if best_neg is None:
            best_neg = np.full_like(best_pos, -np.inf)
        with np.errstate(invalid="ignore"):  # the branch np.where discards may see -inf
            return np.where(
                best_pos > best_neg, _scaled_sigmoid(best_pos), -_scaled_sigmoid(best_neg)
            ).astype(np.float32)
    if query.kind == FEEDBACK:
        total = np.float32(query.scale) * similarity(query.target)
        for (positive, negative), weight in zip(query.pairs, query.weights, strict=True):
            total = total + np.float32(weight) * (similarity(positive) - similarity(negative))
        return np.asarray(total, dtype=np.float32)
    if query.kind in (DISCOVER, CONTEXT):
        total = None
        for positive, negative in query.pairs:
            pos, neg = similarity(positive), similarity(negative)
            if query.kind == DISCOVER:
                part = np.where(pos > neg, 1, np.where(pos == neg, 0, -1)).astype(np.float32)
            else:
                part = _sigmoid(np.minimum(pos - neg - _EPSILON, 0.0)).astype(np.float32)
            total = part if total is None else total + part
        if query.kind == DISCOVER:
            target = _scaled_sigmoid(similarity(query.target))
            return (target if total is None else total + target).astype(np.float32)
        return total.astype(np.float32)
    raise ValueError(f"not an example-based query: {query.kind}")


def dense_scores(spec: DenseVectorSpec, query: VectorQuery, rows: np.ndarray) -> np.ndarray:
    if query.kind == NEAREST:
        return score_rows(spec, query.nearest, rows)
    return combine(query, lambda example: core_scores(spec, example, rows))


def sparse_scores(query: VectorQuery, matrix) -> np.ndarray:
    if query.kind == NEAREST:
        return matrix.dot(query.nearest, empty_is_zero=False)
    return combine(query, lambda example: matrix.dot(example, empty_is_zero=True))
