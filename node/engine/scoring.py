"""Scores of each distance, exactly as Qdrant reports them.

Cosine and Dot are similarities (larger is better); Euclid and Manhattan are distances (smaller
is better). Cosine vectors are stored normalised, except uint8 ones, which are normalised here.
"""

from __future__ import annotations

import math

import numpy as np

from node.engine.shard_config import DenseVectorSpec

DISTANCE_METRICS = frozenset({"Euclid", "Manhattan"})


def smaller_is_better(distance: str) -> bool:
    return distance in DISTANCE_METRICS


def prepare_query(spec: DenseVectorSpec, vector: np.ndarray) -> np.ndarray:
    query = np.asarray(vector, dtype=np.float32)
    if spec.distance == "Cosine":
        norm = math.sqrt(float(query @ query))  # np.linalg.norm costs 3x more on one vector
        if norm > 0:
            query = query / np.float32(norm)
    return query


def prepare_queries(spec: DenseVectorSpec, vectors: np.ndarray) -> np.ndarray:
    """prepare_query for the rows of a matrix of queries, in one pass."""
    queries = np.asarray(vectors, dtype=np.float32)
    if spec.distance == "Cosine":
        norms = np.sqrt(np.einsum("ij,ij->i", queries, queries))[:, None]
        queries = np.divide(queries, norms, out=queries.copy(), where=norms > 0)
    return queries


def score_rows(spec: DenseVectorSpec, query: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Scores of `rows` (n, dim) against one prepared query."""
    data = np.asarray(rows, dtype=np.float32)
    if spec.distance == "Dot":
        return data @ query
    if spec.distance == "Cosine":
        if spec.datatype == "uint8":
            norms = np.linalg.norm(data, axis=1)
            return np.divide(data @ query, norms, out=np.zeros(len(data), np.float32),
                             where=norms > 0)
        return data @ query
    diff = data - query
    if spec.distance == "Euclid":
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return np.abs(diff).sum(axis=1)


def score_rows_many(spec: DenseVectorSpec, queries: np.ndarray, rows: np.ndarray
                    ) -> np.ndarray | None:
    """Scores of `rows` against many prepared queries, one row of scores per query, where a
    single matrix product computes what score_rows does; None for the other distances."""
    if spec.distance == "Dot" or (spec.distance == "Cosine" and spec.datatype != "uint8"):
        return np.asarray(queries, dtype=np.float32) @ np.asarray(rows, dtype=np.float32).T
    return None


def passes_threshold(distance: str, scores: np.ndarray, threshold: float | None) -> np.ndarray:
    if threshold is None:
        return np.ones(len(scores), dtype=bool)
    if smaller_is_better(distance):
        return scores <= threshold
    return scores >= threshold


def top_k(distance: str, scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k best scores, best first."""
    if k <= 0 or not len(scores):
        return np.zeros(0, dtype=np.int64)
    keys = scores if smaller_is_better(distance) else -scores
    if k < len(keys):
        part = np.argpartition(keys, k - 1)[:k]
        return part[np.argsort(keys[part], kind="stable")]
    return np.argsort(keys, kind="stable")
