"""Quantized collections through qdrant-client: codes are built with the graph, full scans use
them for candidates and rescore on the original vectors, and they survive a restart."""

from __future__ import annotations

import time

import numpy as np
import pytest
from nodeproc import NodeProcess
from qdrant_client import QdrantClient, models

# Binary codes of few dimensions rank poorly; 128 is a typical size where they are used.
DIM = 128
QUANTIZATIONS = {
    "scalar": models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
        type=models.ScalarType.INT8, quantile=0.99, always_ram=True)),
    "binary": models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=True)),
    "product": models.ProductQuantization(product=models.ProductQuantizationConfig(
        compression=models.CompressionRatio.X16, always_ram=False)),
}


def _wait_indexed(client: QdrantClient, name: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        info = client.get_collection(name)
        if info.status == models.CollectionStatus.GREEN and info.indexed_vectors_count:
            return
        assert time.monotonic() < deadline, "index and quantization not built in time"
        time.sleep(0.1)


@pytest.mark.parametrize("method", list(QUANTIZATIONS))
def test_quantized_scan_recall_and_restart(tmp_path, method):
    node = NodeProcess(tmp_path / "storage", name=f"quant-{method}")
    node.start_and_wait()
    try:
        client = QdrantClient(url=node.url, timeout=30)
        rng = np.random.default_rng(4)
        centers = rng.normal(size=(30, DIM)) * 3
        # Queries from the data's own distribution; all centred, as embeddings usually are
        # (sign bits of off-centre data say little).
        rows = centers[rng.integers(0, 30, 3020)] + rng.normal(size=(3020, DIM))
        rows = (rows - rows.mean(axis=0)).astype(np.float32)
        data, queries = rows[:3000], rows[3000:]
        client.create_collection(
            "q", vectors_config=models.VectorParams(size=DIM, distance="Cosine"),
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=50),
            quantization_config=QUANTIZATIONS[method],
        )
        client.upload_collection("q", vectors=data, ids=list(range(3000)),
                                 payload=[{"part": i % 4} for i in range(3000)], wait=True)
        _wait_indexed(client, "q")
        part = models.Filter(must=[models.FieldCondition(key="part",
                                                         match=models.MatchValue(value=1))])
        # A small filtered candidate set is scanned: with quantized codes when there are some.
        client.update_collection("q", hnsw_config=models.HnswConfigDiff(full_scan_threshold=10000))
        hits = 0
        for query in queries.tolist():
            exact = client.query_points("q", query=query, query_filter=part, limit=10,
                                        search_params=models.SearchParams(exact=True)).points
            fast = client.query_points("q", query=query, query_filter=part, limit=10,
                                       search_params=models.SearchParams(
                                           quantization=models.QuantizationSearchParams(
                                               rescore=True, oversampling=3.0))).points
            hits += len({p.id for p in exact} & {p.id for p in fast})
            exact_scores = {p.id: p.score for p in exact}
            for p in fast:  # rescored: scores are the exact ones
                if p.id in exact_scores:
                    assert p.score == pytest.approx(exact_scores[p.id], abs=1e-5)
        recall = hits / 200
        print(f"{method}: recall@10 of quantized filtered scans with rescoring {recall:.3f}")
        assert recall >= (0.7 if method == "binary" else 0.9)
        ignored = client.query_points("q", query=data[0].tolist(), query_filter=part, limit=3,
                                      search_params=models.SearchParams(
                                          quantization=models.QuantizationSearchParams(
                                              ignore=True))).points
        assert len(ignored) == 3
        node.stop()
        node.start_and_wait()
        client = QdrantClient(url=node.url, timeout=30)
        again = client.query_points("q", query=data[5].tolist(), query_filter=part, limit=5,
                                    search_params=models.SearchParams(
                                        quantization=models.QuantizationSearchParams(
                                            rescore=True, oversampling=3.0))).points
        assert len(again) == 5
        assert client.get_collection("q").config.quantization_config is not None
    finally:
        node.stop()
