"""Recall of the multivector graph path against exact max_sim, inside one sealed segment.

Late-interaction-like data: each document holds 8..24 sub-vectors drawn around a few of many
topic centroids; each query holds 4..8 sub-vectors taken from one document's and perturbed.
The graph path (every sub-vector in one HNSW graph, candidates from each query sub-vector's
`ef` neighbours, rescored exactly) is compared with exact max_sim over every document: recall@10
and milliseconds per query, printed as a table for a sweep of `ef`.

    python -m bench.multivector_recall [--docs 3000] [--dim 64] [--queries 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.dataset import K, recall
from node.engine.multivector_search import multi_graph_rows, search_multi_segment
from node.engine.point_batch import PointBatch
from node.engine.query_scoring import NEAREST, VectorQuery
from node.engine.search import SearchParams
from node.engine.segment import Segment
from node.engine.shard_config import ShardConfig

SEED = 20261203


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


def _top(segment: Segment, spec, query: np.ndarray, params: SearchParams) -> list[int]:
    vq = VectorQuery(vector_name=spec.name, kind=NEAREST, sparse=False, nearest=query)
    mask = ~segment.deleted[: segment.total]
    scores, offsets = search_multi_segment(segment, spec, vq, K, params, mask, use_graph=True)
    best = np.argsort(-scores, kind="stable")[:K]
    return segment.ids.ids_at(offsets[best])


def run(docs: int, dim: int, queries: int, efs: list[int]) -> list[dict]:
    rng = np.random.default_rng(SEED)
    config = ShardConfig.from_collection_config({
        "params": {"vectors": {"colbert": {"size": dim, "distance": "Cosine",
                                           "multivector_config": {"comparator": "max_sim"}}}},
        "hnsw_config": {"m": 16, "ef_construct": 100, "full_scan_threshold": 10},
    })
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
        for ef in efs:
            params = SearchParams(hnsw_ef=ef)
            started = time.perf_counter()
            found = [_top(segment, spec, q, params) for q in asked]
            elapsed = (time.perf_counter() - started) * 1000 / queries
            results.append({"ef": ef, "recall": recall(found, truth), "ms_per_query": elapsed})
        segment.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=3000)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--queries", type=int, default=100)
    parser.add_argument("--ef", type=int, nargs="*", default=[10, 40, 100, 200, 400])
    args = parser.parse_args(argv)
    results = run(args.docs, args.dim, args.queries, args.ef)
    head = results[0]
    print(f"multivector max_sim, {args.docs} documents, {head['rows']} sub-vectors of "
          f"{args.dim} dims, {args.queries} queries; graph built in {head['build_s']:.1f} s")
    print(f"{'ef':>6} {'recall@10':>10} {'ms/query':>9}")
    for r in results:
        print(f"{r['ef']:>6} {r['recall']:>10.3f} {r['ms_per_query']:>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
