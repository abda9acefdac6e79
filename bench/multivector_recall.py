"""Recall of the multivector graph path against exact max_sim, inside one sealed segment.

Late-interaction-like data: each document holds 8..24 sub-vectors drawn around a few of many
topic centroids; each query holds 4..8 sub-vectors taken from one document's and perturbed.
The graph path (every sub-vector in one HNSW graph, candidates from each query sub-vector's
`ef` neighbours, rescored exactly) is compared with exact max_sim over every document: recall@10
and milliseconds per query, printed as a table for a sweep of `ef`.

Then quantized sub-vectors: for each kind of codes, their bytes against the float32 rows', and
recall@10 and milliseconds per query of a full scan on the codes (no graph) and of the graph
path narrowed on the codes, each with rescoring (`--oversampling`) and without.

    python -m bench.multivector_recall [--docs 3000] [--dim 64] [--queries 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.dataset import K, recall
from node.engine.multivector_quantization import build_multi_codes
from node.engine.multivector_search import multi_graph_rows, search_multi_segment
from node.engine.point_batch import PointBatch
from node.engine.query_scoring import NEAREST, VectorQuery
from node.engine.search import SearchParams
from node.engine.segment import Segment
from node.engine.shard_config import ShardConfig

SEED = 20261203
QUANTIZATIONS = {
    "scalar": {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}},
    "product": {"product": {"compression": "x16", "always_ram": True}},
    "binary": {"binary": {"always_ram": True}},
    "binary 2 bits": {"binary": {"always_ram": True, "encoding": "two_bits",
                                 "query_encoding": "scalar8bits"}},
}


def _documents(rng: np.random.Generator, docs: int, dim: int) -> list[np.ndarray]:
    centroids = rng.normal(size=(max(16, docs // 10), dim)).astype(np.float32)
    out = []
    for _ in range(docs):
        topics = centroids[rng.integers(0, len(centroids), size=3)]
        rows = int(rng.integers(8, 25))
        picked = topics[rng.integers(0, 3, size=rows)]
        out.append((picked + 0.35 * rng.normal(size=picked.shape)).astype(np.float32))
    return out


def _queries(rng: np.random.Generator, documents: list[np.ndarray], count: int) -> list:
    out = []
    for _ in range(count):
        doc = documents[int(rng.integers(0, len(documents)))]
        rows = doc[rng.integers(0, len(doc), size=int(rng.integers(4, 9)))]
        out.append((rows + 0.5 * rng.normal(size=rows.shape)).astype(np.float32))
    return out


def _normalised(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def _top(segment: Segment, spec, query: np.ndarray, params: SearchParams,
         use_graph: bool = True) -> list[int]:
    vq = VectorQuery(vector_name=spec.name, kind=NEAREST, sparse=False, nearest=query)
    mask = ~segment.deleted[: segment.total]
    scores, offsets = search_multi_segment(segment, spec, vq, K, params, mask, use_graph)
    best = np.argsort(-scores, kind="stable")[:K]
    return segment.ids.ids_at(offsets[best])


def _config(dim: int, quantization: dict | None = None) -> ShardConfig:
    vector = {"size": dim, "distance": "Cosine", "multivector_config": {"comparator": "max_sim"}}
    if quantization:
        vector["quantization_config"] = quantization
    return ShardConfig.from_collection_config({
        "params": {"vectors": {"colbert": vector}},
        "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10},
    })


def _timed(segment: Segment, spec, asked: list, params: SearchParams, truth: np.ndarray,
           use_graph: bool = True) -> tuple[float, float]:
    """(recall@10, milliseconds per query)."""
    started = time.perf_counter()
    found = [_top(segment, spec, q, params, use_graph) for q in asked]
    elapsed = (time.perf_counter() - started) * 1000 / len(asked)
    return recall(found, truth), elapsed


def _quantized(segment: Segment, dim: int, asked: list, truth: np.ndarray, ef: int,
               oversampling: float) -> list[dict]:
    """Codes of each kind over the segment's sub-vectors, and searches narrowed on them."""
    results = []
    rows_bytes = segment.multi["colbert"].rows.count * dim * 4
    for kind, quantization in QUANTIZATIONS.items():
        spec = _config(dim, quantization).multi["colbert"]
        started = time.perf_counter()
        codes, _ = build_multi_codes(segment.multi["colbert"], segment.directory, spec)
        segment.multi_quantized["colbert"] = codes
        entry = {"kind": kind, "build_s": time.perf_counter() - started,
                 "code_mb": codes.memory_bytes() / 2**20,
                 "code_ratio": codes.memory_bytes() / rows_bytes}
        for label, rescore in (("rescored", True), ("raw", False)):
            options = {"rescore": rescore, "oversampling": oversampling}
            entry[f"scan {label}"] = _timed(segment, spec, asked, SearchParams(
                quantization=options), truth, use_graph=False)
            entry[f"graph {label}"] = _timed(segment, spec, asked, SearchParams(
                hnsw_ef=ef, quantization=options), truth)
        results.append(entry)
    segment.multi_quantized.pop("colbert", None)
    return results


def run(docs: int, dim: int, queries: int, efs: list[int], quantized_ef: int | None = None,
        oversampling: float = 4.0) -> list[dict]:
    """The exact search, then the graph path per `ef`; with `quantized_ef`, then each kind
    of codes (their entries have a "kind")."""
    rng = np.random.default_rng(SEED)
    config = _config(dim)
    spec = config.multi["colbert"]
    documents = [_normalised(d) for d in _documents(rng, docs, dim)]
    asked = [_normalised(q) for q in _queries(rng, documents, queries)]
    with tempfile.TemporaryDirectory() as tmp:
        segment = Segment.create(Path(tmp), config)
        batch = PointBatch(ids=list(range(docs)), payloads=[None] * docs,
                           multi={"colbert": dict(enumerate(documents))})
        segment.append(batch, list(range(docs)), 1)
        segment.sealed = True
        started = time.perf_counter()
        rows = multi_graph_rows(segment, spec)
        build_s = time.perf_counter() - started
        started = time.perf_counter()
        truth = np.array([_top(segment, spec, q, SearchParams(exact=True)) for q in asked])
        exact_ms = (time.perf_counter() - started) * 1000 / queries
        results = [{"ef": "exact", "recall": 1.0, "ms_per_query": exact_ms, "rows": rows,
                     "build_s": build_s}]
        scan = _timed(segment, spec, asked, SearchParams(), truth, use_graph=False)
        results[0]["scan_ms_per_query"] = scan[1]
        for ef in efs:
            found, elapsed = _timed(segment, spec, asked, SearchParams(hnsw_ef=ef), truth)
            results.append({"ef": ef, "recall": found, "ms_per_query": elapsed})
        if quantized_ef is not None:
            results.extend(_quantized(segment, dim, asked, truth, quantized_ef, oversampling))
        segment.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--ef", type=int, nargs="*", default=[10, 40, 100, 200, 400])
    parser.add_argument("--quantized-ef", type=int, default=100,
                        help="hnsw_ef of the graph searches narrowed on codes")
    parser.add_argument("--oversampling", type=float, default=4.0)
    args = parser.parse_args(argv)
    results = run(args.docs, args.dim, args.queries, args.ef, args.quantized_ef,
                  args.oversampling)
    head = results[0]
    print(f"multivector max_sim, {args.docs} documents, {head['rows']} sub-vectors of "
          f"{args.dim} dims, {args.queries} queries; graph built in {head['build_s']:.1f} s; "
          f"exact full scan {head['scan_ms_per_query']:.2f} ms/query")
    print(f"{'ef':>6} {'recall@10':>10} {'ms/query':>9}")
    for r in results:
        if "ef" in r:
            print(f"{r['ef']:>6} {r['recall']:>10.3f} {r['ms_per_query']:>9.2f}")
    print(f"\nquantized sub-vectors: recall@10 / ms per query; rescored with oversampling "
          f"{args.oversampling}, graph searches with ef {args.quantized_ef}")
    paths = ("scan rescored", "scan raw", "graph rescored", "graph raw")
    print(f"float32 sub-vectors: {head['rows'] * args.dim * 4 / 2**20:.1f} MB")
    print(f"{'codes':>14} {'MB':>6} {'/rows':>6} {'build s':>8} "
          + " ".join(f"{p:>16}" for p in paths))
    for r in results:
        if "kind" in r:
            cells = " ".join(f"{r[p][0]:>7.3f} {r[p][1]:>8.2f}" for p in paths)
            print(f"{r['kind']:>14} {r['code_mb']:>6.2f} {r['code_ratio']:>6.3f} "
                  f"{r['build_s']:>8.2f} {cells}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
