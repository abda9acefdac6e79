"""Multivectors survive a node restart, graceful or SIGKILL: in RAM and memory-mapped
(on_disk), from the WAL alone and from sealed segments the optimizer wrote."""

from __future__ import annotations

import contextlib

import numpy as np
import pytest
from qdrant_client import QdrantClient, models
from test_multivector_congruence import MAX_SIM, _wait_indexed

pytestmark = pytest.mark.timeout(180)


def _snapshot(client: QdrantClient, name: str, ids: list[int], query) -> tuple:
    points = {p.id: p.vector for p in client.retrieve(name, ids, with_vectors=True)}
    # Exact: a graph rebuilt after the restart may rank its approximate results differently.
    exact = models.SearchParams(exact=True)
    hits = {using: [(h.id, round(h.score, 4)) for h in client.query_points(
        name, query=query[using], using=using, limit=20, search_params=exact).points]
        for using in query}
    return points, hits


@pytest.mark.parametrize("graceful", [True, False])
def test_multivectors_survive_a_restart(own_node, graceful: bool):
    name = "multivector_restart"
    rng = np.random.default_rng(11)
    config = {
        "ram": models.VectorParams(size=5, distance=models.Distance.COSINE,
                                   multivector_config=MAX_SIM),
        "mapped": models.VectorParams(size=3, distance=models.Distance.MANHATTAN, on_disk=True,
                                      datatype=models.Datatype.UINT8, multivector_config=MAX_SIM),
    }
    with contextlib.closing(QdrantClient(url=own_node.url, timeout=30)) as client:
        client.create_collection(
            name, vectors_config=config,
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=2),
            hnsw_config=models.HnswConfigDiff(full_scan_threshold=10))

        def batch(ids):
            return [models.PointStruct(id=i, vector={
                "ram": rng.normal(size=(int(rng.integers(1, 5)), 5)).round(4).tolist(),
                "mapped": rng.integers(0, 256, size=(int(rng.integers(1, 5)), 3)).tolist(),
            }) for i in ids]

        client.upsert(name, batch(range(400)), wait=True)
        _wait_indexed(client, name, 400)  # these are in sealed segments now
        client.upsert(name, batch(range(400, 450)), wait=True)  # these only in the WAL, maybe
        client.update_vectors(name, [models.PointVectors(id=3, vector={"ram": [[1, 0, 0, 0, 0]]})],
                              wait=True)
        client.delete(name, points_selector=[5, 401], wait=True)
        query = {"ram": rng.normal(size=(3, 5)).tolist(),
                 "mapped": rng.integers(0, 256, size=(2, 3)).tolist()}
        before = _snapshot(client, name, list(range(450)), query)
    assert before[0][3]["ram"] == [[1, 0, 0, 0, 0]] and 5 not in before[0]

    own_node.restart(graceful=graceful)
    with contextlib.closing(QdrantClient(url=own_node.url, timeout=30)) as client:
        # Optimizations pending at the restart wait for the next write (grey): not awaited.
        after = _snapshot(client, name, list(range(450)), query)
        assert client.count(name).count == 448
    assert after == before


@pytest.mark.parametrize("graceful", [True, False])
def test_quantized_multivectors_survive_a_restart(own_node, graceful: bool):
    """Codes in RAM (always_ram) and memory-mapped (on_disk vectors): after a restart a search
    without rescoring reports the same approximate scores, so the codes were kept, not rebuilt
    or dropped; updates and deletes made after sealing are honoured."""
    name = "multivector_quantized_restart"
    rng = np.random.default_rng(12)
    config = {
        "ram": models.VectorParams(
            size=16, distance=models.Distance.COSINE, multivector_config=MAX_SIM,
            quantization_config=models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.95, always_ram=True))),
        "mapped": models.VectorParams(
            size=16, distance=models.Distance.EUCLID, on_disk=True, multivector_config=MAX_SIM,
            quantization_config=models.ProductQuantization(
                product=models.ProductQuantizationConfig(
                    compression=models.CompressionRatio.X16))),
    }
    raw = models.SearchParams(quantization=models.QuantizationSearchParams(rescore=False))
    with contextlib.closing(QdrantClient(url=own_node.url, timeout=30)) as client:
        client.create_collection(
            name, vectors_config=config,
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=2),
            hnsw_config=models.HnswConfigDiff(full_scan_threshold=10))

        def batch(ids):
            return [models.PointStruct(id=i, vector={
                v: rng.normal(size=(int(rng.integers(1, 5)), 16)).round(4).tolist()
                for v in config}) for i in ids]

        client.upsert(name, batch(range(400)), wait=True)
        _wait_indexed(client, name, 800)
        client.update_vectors(name, [models.PointVectors(
            id=3, vector={"ram": [[1.0] + [0.0] * 15]})], wait=True)
        client.delete(name, points_selector=[5, 7], wait=True)
        _wait_indexed(client, name, 794)  # point 3 moved to the unindexed tail
        query = {"ram": rng.normal(size=(3, 16)).tolist(),
                 "mapped": rng.normal(size=(2, 16)).tolist()}

        def approximate() -> dict:
            return {using: [(h.id, round(h.score, 4)) for h in client.query_points(
                name, query=q, using=using, limit=20, search_params=raw).points]
                for using, q in query.items()}

        before = approximate(), _snapshot(client, name, list(range(400)), query)
        exact_hits = before[1][1]
        assert before[0] != exact_hits, "no approximate score: the codes were not used"
        [top] = client.query_points(name, query=[[1.0] + [0.0] * 15], using="ram",
                                    limit=1).points
        assert top.id == 3 and 5 not in before[1][0] and 7 not in before[1][0]

    own_node.restart(graceful=graceful)
    with contextlib.closing(QdrantClient(url=own_node.url, timeout=30)) as client:
        after = approximate(), _snapshot(client, name, list(range(400)), query)
        assert client.count(name).count == 398
    assert after == before
