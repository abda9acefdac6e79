"""Clustered synthetic vectors from a fixed seed, with exact ground truth cached on disk.

Clustered (not uniform) data because uniform random vectors in 128 dimensions make every
neighbour almost equally far, which makes HNSW recall meaningless.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
K = 10
# Keyword payloads: tag10 has 10 values (10% selectivity), tag100 has 100 (1%).
FILTER_FIELDS = {"tag10": 10, "tag100": 100}


@dataclass
class Dataset:
    vectors: np.ndarray  # (n, dim) float32, normalised for Cosine
    queries: np.ndarray  # (q, dim) float32
    truth: np.ndarray  # (q, K) int64 ids of the exact nearest neighbours
    tags: dict[str, np.ndarray]  # field -> (n,) int16 value index
    distance: str

    @property
    def size(self) -> int:
        return int(self.vectors.shape[0])

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])

    def thresholds_kb(self, shards: int = 1) -> tuple[int, int]:
        """(indexing_threshold, full_scan_threshold) in kB: Qdrant's defaults (20000, 10000)
        unless a shard's data is too small for them to build and use an HNSW graph at all."""
        data_kb = self.size * self.dim * 4 // 1024 // shards
        if data_kb >= 40000:
            return 20000, 10000
        return max(10, data_kb // 4), max(10, data_kb // 8)

    def payload(self, i: int) -> dict[str, str]:
        return {field: f"v{int(values[i])}" for field, values in self.tags.items()}

    def filtered_truth(self, field: str, value: int, queries: np.ndarray) -> np.ndarray:
        """Exact top-K among points whose `field` equals `value` (few queries: brute force)."""
        ids = np.flatnonzero(self.tags[field] == value)
        return ids[exact_top_k(self.vectors[ids], queries, self.distance, K)]


def _clustered(rng: np.random.Generator, n: int, dim: int, clusters: int) -> np.ndarray:
    centres = rng.standard_normal((clusters, dim), dtype=np.float32)
    labels = rng.integers(0, clusters, n)
    noise = rng.standard_normal((n, dim), dtype=np.float32) * 0.35
    return centres[labels] + noise


def _prepare(x: np.ndarray, distance: str) -> np.ndarray:
    if distance == "Cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32)


def exact_top_k(data: np.ndarray, queries: np.ndarray, distance: str, k: int) -> np.ndarray:
    """Row indices into data of the k best matches of each query (Cosine data is normalised)."""
    k = min(k, data.shape[0])
    if distance in ("Cosine", "Dot"):
        scores = queries @ data.T
    elif distance == "Euclid":
        scores = -((data * data).sum(1)[None, :] - 2 * queries @ data.T)
    else:
        raise ValueError(f"distance {distance} not supported by the benchmark")
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(scores, part, 1).argsort(1)[:, ::-1]
    return np.take_along_axis(part, order, 1)


def _ground_truth(vectors: np.ndarray, queries: np.ndarray, distance: str) -> np.ndarray:
    out = np.empty((len(queries), K), dtype=np.int64)
    step = 256
    for start in tqdm(range(0, len(queries), step), desc="ground truth", unit="blk", leave=False):
        out[start:start + step] = exact_top_k(vectors, queries[start:start + step], distance, K)
    return out


def load(size: int, dim: int, distance: str, queries: int, seed: int = 42,
         cache_dir: Path = CACHE_DIR) -> Dataset:
    """Build (or read from the cache) the data set of these parameters."""
    key = hashlib.sha1(f"{size}-{dim}-{distance}-{queries}-{seed}-v1".encode()).hexdigest()[:12]
    path = cache_dir / f"data-{size}x{dim}-{distance}-{key}.npz"
    if path.exists():
        z = np.load(path)
        tags = {f: z[f"tag_{f}"] for f in FILTER_FIELDS}
        return Dataset(z["vectors"], z["queries"], z["truth"], tags, distance)
    rng = np.random.default_rng(seed)
    clusters = max(8, size // 500)
    both = _clustered(rng, size + queries, dim, clusters)
    vectors, query_vecs = _prepare(both[:size], distance), _prepare(both[size:], distance)
    tags = {f: rng.integers(0, n, size).astype(np.int16) for f, n in FILTER_FIELDS.items()}
    truth = _ground_truth(vectors, query_vecs, distance)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(tmp, vectors=vectors, queries=query_vecs, truth=truth,
             **{f"tag_{f}": t for f, t in tags.items()})
    tmp.replace(path)
    return Dataset(vectors, query_vecs, truth, tags, distance)


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    """Mean recall@K of result id lists against the exact ids (rows in the same order)."""
    hits = sum(len(set(ids[:K]) & set(truth[i, :K].tolist())) for i, ids in enumerate(found))
    return hits / (len(found) * K) if found else 0.0
