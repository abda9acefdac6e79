"""Quantized copies of a segment's dense vectors: small codes that find search candidates fast.

One `QuantizedVectors` per (segment, vector name). Its scores are approximate and keep the
orientation of `scoring.score_rows` (Cosine/Dot: larger is better; Euclid/Manhattan: smaller is
better), so the caller takes `scoring.top_k` of `oversampled_limit(limit, oversampling)`
candidates and rescores them on the original vectors. A multivector's codes are one per
sub-vector (multivector_quantization.py); `similarities` scores several query sub-vectors at
once, in max_sim's orientation.

- scalar: int8 codes per dimension (offset and scale per dimension from quantile bounds); scores
  are those of the dequantized vectors, computed from the codes plus affine correction terms.
- binary: thermometer bits per dimension around the per-dimension mean: one bit (above/below),
  two bits (three levels: low, middle, high) or 1.5 bits (two bits for the half of the
  dimensions with the largest spread, one for the rest). The Hamming distance of two codes is
  the L1 distance of their levels. A `scalar4bits`/`scalar8bits` query is scored exactly
  against the levels' mean values, with a 4/8-bit quantized query, one popcount per query bit.
- product: the dimensions are split into `dim * 4 / N` sub-vectors, each encoded as one of 256
  k-means centroids (one byte); a query builds a table of sub-scores and sums table lookups.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import numpy as np

from node.engine.durable_files import fsync_dir, write_atomic

META_FILE = "quantization.json"
TABLES_FILE = "tables.npz"
CODES_FILE = "codes.npy"
NORMS_FILE = "norms.npy"

TRAIN_ROWS = 20000  # rows sampled to fit bounds, thresholds and codebooks
KMEANS_ITERATIONS = 10
CENTROIDS = 256
CHUNK_ROWS = 32768  # bounds the float temporaries of scoring
SEED = 0
# Two-bit thresholds at mean +- this many standard deviations: three levels of about equal
# population for Gaussian-like components.
LEVEL_THRESHOLD = 0.45
QUERY_BITS = {"scalar4bits": 4, "scalar8bits": 8}
COMPRESSION = {"x4": 4, "x8": 8, "x16": 16, "x32": 32, "x64": 64}


def oversampled_limit(limit: int, oversampling: float | None) -> int:
    """How many candidates to take from the quantized vectors before rescoring `limit`."""
    return int(math.ceil(limit * max(1.0, oversampling or 1.0)))


class QuantizedVectors:
    """Codes of every row of one dense vector storage, and how to score them against a query."""

    def __init__(self, method: str, distance: str, config: dict, dim: int,
                 tables: dict[str, np.ndarray], codes: np.ndarray,
                 norms: np.ndarray | None = None) -> None:
        self.method = method
        self.distance = distance
        self.config = config  # the canonical QuantizationConfig dict
        self.dim = dim
        self.tables = tables  # small per-dimension arrays and codebooks, always in RAM
        self.codes = codes  # (n, code bytes) uint8, in RAM or memory-mapped
        self.norms = norms  # scalar/Euclid: squared norm of each dequantized row

    # ----- building -----

    @staticmethod
    def build(config: dict, distance: str, vectors: np.ndarray) -> QuantizedVectors:
        """Quantize `vectors` (n, dim) float32 as stored, per the canonical QuantizationConfig."""
        data = np.asarray(vectors, dtype=np.float32)
        if distance == "Cosine":
            # float rows are stored normalised already; uint8 rows are normalised when scored
            norms = np.linalg.norm(data, axis=1, keepdims=True)
            data = np.divide(data, norms, out=np.zeros_like(data), where=norms > 0)
        method = _method(config)
        if method == "scalar":
            return _build_scalar(config, distance, data)
        if method == "binary":
            return _build_binary(config, distance, data)
        return _build_product(config, distance, data)

    @property
    def options(self) -> dict:
        return self.config[self.method] or {}

    def __len__(self) -> int:
        return len(self.codes)

    def memory_bytes(self) -> int:
        """Bytes held in RAM; memory-mapped codes are not counted."""
        arrays = [*self.tables.values(), self.codes]
        if self.norms is not None:
            arrays.append(self.norms)
        return sum(a.nbytes for a in arrays if not isinstance(a, np.memmap))

    # ----- scoring -----

    def scores(self, query: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
        """Approximate scores of all rows (or of the row positions `rows`) for a prepared query."""
        query = np.asarray(query, dtype=np.float32)
        positions = None if rows is None else np.asarray(rows, dtype=np.int64)
        count = len(self.codes) if positions is None else len(positions)
        out = np.empty(count, dtype=np.float32)
        score_chunk = self._scorer(query)
        for start in range(0, count, CHUNK_ROWS):
            stop = min(count, start + CHUNK_ROWS)
            if positions is None:
                codes = self.codes[start:stop]
                norms = None if self.norms is None else self.norms[start:stop]
            else:
                codes = self.codes[positions[start:stop]]
                norms = None if self.norms is None else self.norms[positions[start:stop]]
            out[start:stop] = score_chunk(codes, norms)
        return out

    def similarities(self, queries: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """(queries, rows) approximate similarities of prepared queries to the rows at positions
        `rows`, in max_sim's orientation (larger is better): the dot product, the negated
        squared Euclidean distance, the negated Manhattan distance. Each chunk of codes is
        read once for every query."""
        queries = np.asarray(queries, dtype=np.float32)
        positions = np.asarray(rows, dtype=np.int64)
        out = np.empty((len(queries), len(positions)), dtype=np.float32)
        batched = self.method == "scalar" and self.distance != "Manhattan"
        scorers = [] if batched else [self._scorer(query) for query in queries]
        for start in range(0, len(positions), CHUNK_ROWS):
            picked = positions[start:start + CHUNK_ROWS]
            codes = self.codes[picked]
            norms = None if self.norms is None else self.norms[picked]
            if batched:
                out[:, start:start + len(picked)] = self._scalar_similarities(queries, codes,
                                                                              norms)
                continue
            for i, score_chunk in enumerate(scorers):
                out[i, start:start + len(picked)] = score_chunk(codes, norms)
        if batched or self.distance in ("Cosine", "Dot"):
            return out
        if self.distance == "Euclid" and not self._hamming_scores():
            return -(out * out)  # the scorers report the distance, max_sim its square
        # Manhattan, and the Hamming count of binary codes: both stand for a distance already
        return -out

    def _scorer(self, query: np.ndarray):
        scorers = {"scalar": self._scalar_scorer, "binary": self._binary_scorer,
                   "product": self._product_scorer}
        return scorers[self.method](query)

    def _hamming_scores(self) -> bool:
        """Whether Euclid scores are plain Hamming counts (binary codes, a binary query)."""
        return (self.method == "binary"
                and (self.options.get("query_encoding") or "default") not in QUERY_BITS)

    def _scalar_similarities(self, queries: np.ndarray, codes: np.ndarray,
                             norms: np.ndarray | None) -> np.ndarray:
        """Scalar codes against every query in one product: q . (offset + scale * c)."""
        offset, scale = self.tables["offset"], self.tables["scale"]
        dots = (queries * scale) @ codes.astype(np.float32).T + (queries @ offset)[:, None]
        if self.distance != "Euclid":
            return dots
        query_norms = np.einsum("ij,ij->i", queries, queries)
        return -np.maximum(norms[None, :] - 2.0 * dots + query_norms[:, None], 0.0)

    def _scalar_scorer(self, query: np.ndarray):
        offset, scale = self.tables["offset"], self.tables["scale"]
        # |offset + scale * c - q| = scale * |c - (q - offset) / scale|
        target = (query - offset) / scale
        # q . (offset + scale * c) = q . offset + (q * scale) . c
        weights, shift = query * scale, float(query @ offset)
        query_norm = float(query @ query)

        def affine(codes, norms) -> np.ndarray:
            values = codes.astype(np.float32)
            if self.distance == "Manhattan":
                return np.abs(values - target) @ scale
            dot = values @ weights + shift
            if self.distance != "Euclid":
                return dot
            return np.sqrt(np.maximum(norms - 2.0 * dot + query_norm, 0.0))

        return affine

    def _binary_scorer(self, query: np.ndarray):
        words = _word_dtype(self.codes.shape[1])
        query_bits = QUERY_BITS.get(self.options.get("query_encoding") or "default")
        if query_bits is None:
            packed = _pack(self._binary_bits(query[None, :]))[0].view(words)
            nbits = len(self.tables["bit_dims"])

            def symmetric(codes, _norms) -> np.ndarray:
                hamming = np.bitwise_count(codes.view(words) ^ packed).sum(axis=1, dtype=np.int64)
                if self.distance in ("Cosine", "Dot"):
                    return (nbits - 2 * hamming).astype(np.float32)
                return hamming.astype(np.float32)

            return symmetric
        base, low, step, planes = self._query_planes(query, query_bits)
        planes = planes.view(words)

        def asymmetric(codes, _norms) -> np.ndarray:
            codes = codes.view(words)
            # sum over bits of weight * bit, with weight = low + step * sum_k 2^k plane_k
            total = low * np.bitwise_count(codes).sum(axis=1, dtype=np.int64).astype(np.float64)
            weighted = np.zeros(len(codes), dtype=np.int64)
            for k, plane in enumerate(planes):
                weighted += np.bitwise_count(codes & plane).sum(axis=1, dtype=np.int64) << k
            total += step * weighted + base
            if self.distance == "Euclid":
                total = np.sqrt(np.maximum(total, 0.0))
            return total.astype(np.float32)

        return asymmetric

    def _binary_bits(self, data: np.ndarray) -> np.ndarray:
        """Thermometer bits (n, bits): bit b of a dimension is set above its threshold b."""
        dims, rank = self.tables["bit_dims"], self.tables["bit_rank"]
        return data[:, dims] > self.tables["thresholds"][rank, dims]

    def _query_planes(self, query: np.ndarray, query_bits: int):
        """The query as bit weights, quantized to `query_bits` bit planes packed like the codes.

        A dimension's score term f(level value) is linear in its thermometer bits:
        f(v0) + bit1 * (f(v1) - f(v0)) + bit2 * (f(v2) - f(v1)).
        """
        levels = self.tables["levels"]  # (3, dim) mean value of each level
        if self.distance in ("Cosine", "Dot"):
            terms = levels * query
        elif self.distance == "Euclid":
            terms = (levels - query) ** 2
        else:
            terms = np.abs(levels - query)
        dims, rank = self.tables["bit_dims"], self.tables["bit_rank"]
        weights = (terms[rank + 1, dims] - terms[rank, dims]).astype(np.float64)
        base = float(terms[0].sum())
        low = float(weights.min()) if len(weights) else 0.0
        span = float(weights.max()) - low if len(weights) else 0.0
        top = (1 << query_bits) - 1
        step = span / top if span > 0 else 1.0
        units = np.rint((weights - low) / step).astype(np.int64)
        planes = np.stack([(units >> k) & 1 for k in range(query_bits)]).astype(bool)
        return base, low, step, _pack(planes)

    def _product_scorer(self, query: np.ndarray):
        codebooks, starts = self.tables["codebooks"], self.tables["starts"]
        table = np.empty((len(starts) - 1, codebooks.shape[1]), dtype=np.float32)
        for m in range(len(starts) - 1):
            sub = query[starts[m]:starts[m + 1]]
            centroids = codebooks[m, :, : len(sub)]
            if self.distance in ("Cosine", "Dot"):
                table[m] = centroids @ sub
            elif self.distance == "Euclid":
                table[m] = ((centroids - sub) ** 2).sum(axis=1)
            else:
                table[m] = np.abs(centroids - sub).sum(axis=1)
        flat = table.ravel()
        offsets = (np.arange(len(table)) * table.shape[1]).astype(np.intp)

        def lookup(codes, _norms) -> np.ndarray:
            total = flat[codes.astype(np.intp) + offsets].sum(axis=1)
            return np.sqrt(total) if self.distance == "Euclid" else total

        return lookup

    # ----- persistence -----

    def save(self, path: Path) -> None:
        """Write into directory `path`; the metadata file, written last, is the commit point."""
        path.mkdir(parents=True, exist_ok=True)
        _save_npy(path / CODES_FILE, np.ascontiguousarray(self.codes))
        if self.norms is not None:
            _save_npy(path / NORMS_FILE, np.ascontiguousarray(self.norms))
        with open(path / TABLES_FILE, "wb") as f:
            np.savez(f, **self.tables)
            f.flush()
            os.fsync(f.fileno())
        meta = {"method": self.method, "distance": self.distance, "config": self.config,
                "dim": self.dim, "count": len(self.codes), "norms": self.norms is not None}
        write_atomic(path / META_FILE, json.dumps(meta).encode())
        fsync_dir(path)

    @staticmethod
    def load(path: Path, in_ram: bool | None = None) -> QuantizedVectors:
        """Codes go to RAM with `always_ram` (or `in_ram=True`), else they are memory-mapped."""
        meta = json.loads((path / META_FILE).read_text())
        options = meta["config"][meta["method"]] or {}
        if in_ram is None:
            in_ram = bool(options.get("always_ram"))
        mode = None if in_ram or meta["count"] == 0 else "r"  # an empty file cannot be mapped
        with np.load(path / TABLES_FILE) as npz:
            tables = {name: npz[name] for name in npz.files}
        codes = np.load(path / CODES_FILE, mmap_mode=mode)
        norms = np.load(path / NORMS_FILE, mmap_mode=mode) if meta["norms"] else None
        return QuantizedVectors(meta["method"], meta["distance"], meta["config"], meta["dim"],
                                tables, codes, norms)


# ----- builders -----


def _method(config: dict) -> str:
    for method in ("scalar", "product", "binary"):
        if method in config:
            return method
    raise ValueError(f"unknown quantization config {config!r}")


def _sample(data: np.ndarray) -> np.ndarray:
    if len(data) <= TRAIN_ROWS:
        return data
    rng = np.random.default_rng(SEED)
    return data[np.sort(rng.choice(len(data), TRAIN_ROWS, replace=False))]


def _build_scalar(config: dict, distance: str, data: np.ndarray) -> QuantizedVectors:
    dim = data.shape[1]
    quantile = (config["scalar"] or {}).get("quantile")
    if not len(data):
        low = high = np.zeros(dim, dtype=np.float32)
    elif quantile is None or quantile >= 1:
        low, high = data.min(axis=0), data.max(axis=0)
    else:
        # clip the (1 - quantile) / 2 tails on each side, per dimension
        tail = (1.0 - quantile) / 2.0
        low, high = np.quantile(_sample(data), [tail, 1.0 - tail], axis=0)
    # per dimension: components with a small range keep their precision (see the tests)
    scale = (high - low) / 255.0
    scale = np.where(scale > 0, scale, 1.0).astype(np.float32)
    low = np.asarray(low, dtype=np.float32)
    codes = np.empty(data.shape, dtype=np.uint8)
    norms = np.empty(len(data), dtype=np.float32) if distance == "Euclid" else None
    for start in range(0, len(data), CHUNK_ROWS):
        part = np.rint((data[start:start + CHUNK_ROWS] - low) / scale)
        codes[start:start + CHUNK_ROWS] = np.clip(part, 0, 255)
        if norms is not None:
            restored = low + scale * codes[start:start + CHUNK_ROWS].astype(np.float32)
            norms[start:start + CHUNK_ROWS] = np.einsum("ij,ij->i", restored, restored)
    return QuantizedVectors("scalar", distance, config, dim,
                            {"offset": low, "scale": scale}, codes, norms)


def _build_binary(config: dict, distance: str, data: np.ndarray) -> QuantizedVectors:
    dim = data.shape[1]
    encoding = (config["binary"] or {}).get("encoding") or "one_bit"
    sample = _sample(data)
    center = sample.mean(axis=0) if len(sample) else np.zeros(dim, np.float32)
    spread = np.sqrt(((sample - center) ** 2).mean(axis=0)) if len(sample) else np.ones(dim)
    # which dimensions get a second bit: all (two_bits), the widest half (one_and_half_bits)
    if encoding == "two_bits":
        wide = np.arange(dim)
    elif encoding == "one_and_half_bits":
        wide = np.sort(np.argsort(-spread, kind="stable")[: dim // 2])
    else:
        wide = np.zeros(0, dtype=np.int64)
    # thresholds[0] is every dimension's first bit, thresholds[1] the second of wide ones
    thresholds = np.stack([center, center]).astype(np.float32)
    thresholds[0, wide] = center[wide] - LEVEL_THRESHOLD * spread[wide]
    thresholds[1, wide] = center[wide] + LEVEL_THRESHOLD * spread[wide]
    bit_dims = np.concatenate([np.arange(dim), wide]).astype(np.int64)
    bit_rank = np.concatenate([np.zeros(dim), np.ones(len(wide))]).astype(np.int64)
    tables = {"thresholds": thresholds, "bit_dims": bit_dims, "bit_rank": bit_rank,
              "levels": _level_means(sample, center, thresholds, wide)}
    quantized = QuantizedVectors("binary", distance, config, dim, tables,
                                 np.zeros((0, 0), dtype=np.uint8))
    nbytes = (len(bit_dims) + 7) // 8
    codes = np.empty((len(data), nbytes), dtype=np.uint8)
    for start in range(0, len(data), CHUNK_ROWS):
        codes[start:start + CHUNK_ROWS] = _pack(
            quantized._binary_bits(data[start:start + CHUNK_ROWS]))
    quantized.codes = codes
    return quantized


def _level_means(sample: np.ndarray, center: np.ndarray, thresholds: np.ndarray,
                 wide: np.ndarray) -> np.ndarray:
    """(3, dim) mean value of each level; one-bit dimensions use levels 0 and 1 only."""
    dim = len(center)
    levels = np.zeros((3, dim), dtype=np.float32)
    if not len(sample):
        return levels
    level = (sample > thresholds[0]).astype(np.int64)
    level[:, wide] += sample[:, wide] > thresholds[1, wide]
    for value in range(3):
        inside = level == value
        counts = inside.sum(axis=0)
        sums = np.where(inside, sample, 0.0).sum(axis=0)
        # an empty level keeps its threshold as value
        fallback = thresholds[min(value, 1)]
        levels[value] = np.where(counts > 0, sums / np.maximum(counts, 1), fallback)
    return levels


def _build_product(config: dict, distance: str, data: np.ndarray) -> QuantizedVectors:
    n, dim = data.shape
    ratio = COMPRESSION[(config["product"] or {}).get("compression", "x4")]
    parts = min(dim, max(1, dim * 4 // ratio))
    # sub-vectors of dim / parts dimensions (the first ones one wider when it does not divide)
    widths = np.full(parts, dim // parts)
    widths[: dim % parts] += 1
    starts = np.concatenate([[0], np.cumsum(widths)]).astype(np.int64)
    centroids = max(1, min(CENTROIDS, n))
    codebooks = np.zeros((parts, centroids, int(widths.max())), dtype=np.float32)
    codes = np.empty((n, parts), dtype=np.uint8)
    sample = _sample(data)
    for m in range(parts):
        sub = slice(starts[m], starts[m + 1])
        book = _kmeans(sample[:, sub], centroids) if n else codebooks[m, :, : widths[m]]
        codebooks[m, :, : widths[m]] = book
        for start in range(0, n, CHUNK_ROWS):
            chunk = _augment(data[start:start + CHUNK_ROWS, sub])
            codes[start:start + CHUNK_ROWS, m] = _nearest(chunk, book)
    return QuantizedVectors("product", distance, config, dim,
                            {"codebooks": codebooks, "starts": starts}, codes)


def _kmeans(points: np.ndarray, k: int) -> np.ndarray:
    """A few Lloyd iterations from k distinct random points (deterministic)."""
    rng = np.random.default_rng(SEED)
    centroids = points[rng.choice(len(points), k, replace=False)].copy()
    augmented = _augment(points)
    for _ in range(KMEANS_ITERATIONS):
        assign = _nearest(augmented, centroids)
        counts = np.bincount(assign, minlength=k)
        sums = np.stack([np.bincount(assign, weights=column, minlength=k)
                         for column in points.T], axis=1)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None]
        # an empty cluster restarts at a random point
        empty = np.flatnonzero(~filled)
        if len(empty):
            centroids[empty] = points[rng.choice(len(points), len(empty))]
    return centroids


def _augment(points: np.ndarray) -> np.ndarray:
    return np.hstack([points, np.ones((len(points), 1), dtype=points.dtype)])


def _nearest(augmented: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Nearest centroid of each point given as [p, 1]: one matmul per call.

    |p - c|^2 = |p|^2 - 2 p.c + |c|^2, and |p|^2 does not change the argmin.
    """
    weights = np.hstack([-2.0 * centroids, (centroids ** 2).sum(axis=1, keepdims=True)])
    return np.argmin(augmented @ weights.T.astype(np.float32), axis=1)


# ----- helpers -----


def _pack(bits: np.ndarray) -> np.ndarray:
    return np.packbits(bits, axis=1)


def _word_dtype(nbytes: int) -> type:
    """The widest unsigned word the code length is a multiple of, for fast popcounts."""
    for size, dtype in ((8, np.uint64), (4, np.uint32), (2, np.uint16)):
        if nbytes % size == 0:
            return dtype
    return np.uint8


def _save_npy(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
