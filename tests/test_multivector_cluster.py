"""Multivectors in a 3-node cluster: written with rf=2, a replica added by replicate_shard (a
transfer of the shard's points, multivectors included), changed after the transfer, a node
restarted; every replica then holds exactly the written data (read from each one through the
internal API), and every node answers max_sim queries as qdrant-client's local mode. The same
with quantized multivectors: codes built by every replica, the transferred one included."""

from __future__ import annotations

import time

import numpy as np
import pytest
from cluster_harness import Cluster, shard_call
from qdrant_client import QdrantClient, models
from test_multivector_congruence import MAX_SIM
from test_query_congruence import _same

pytestmark = pytest.mark.timeout(300)
RECOVERY_TIMEOUT = 90
VECTORS = {
    "colbert": models.VectorParams(size=6, distance=models.Distance.COSINE,
                                   multivector_config=MAX_SIM),
    "half": models.VectorParams(size=4, distance=models.Distance.DOT,
                                datatype=models.Datatype.FLOAT16, multivector_config=MAX_SIM),
    "dense": models.VectorParams(size=4, distance=models.Distance.EUCLID),
}


def _point(rng: np.random.Generator, pid: int) -> models.PointStruct:
    vector = {name: rng.normal(size=(int(rng.integers(1, 5)), p.size)).round(3).tolist()
              for name, p in VECTORS.items() if p.multivector_config}
    vector["dense"] = rng.normal(size=4).round(3).tolist()
    vector["words"] = models.SparseVector(indices=[pid % 50, 50 + pid % 7], values=[1.0, 0.5])
    return models.PointStruct(id=pid, vector=vector, payload={"n": pid})


def _replica_points(cluster: Cluster, name: str) -> dict[tuple[int, int], dict]:
    """(shard id, peer id) -> {point id: (payload, vectors)}, read from each replica itself."""
    out = {}
    for node in cluster.nodes:
        info = cluster.collection_cluster(node, name)
        uuid = cluster.get(node, f"/internal/v1/collections/{name}")["uuid"]
        for shard in info["local_shards"]:
            records = shard_call(node, uuid, "scan", None, shard_id=shard["shard_id"])
            out[(shard["shard_id"], info["peer_id"])] = {
                pid: (payload, vectors) for pid, payload, vectors in records}
    return out


def _assert_same_points(ours: dict, theirs: dict, where: str) -> None:
    assert set(ours) == set(theirs), where
    for pid, (payload, vectors) in ours.items():
        other_payload, other_vectors = theirs[pid]
        assert payload == other_payload and set(vectors) == set(other_vectors), (where, pid)
        for vname, value in vectors.items():
            other = other_vectors[vname]
            if isinstance(value, np.ndarray):
                assert value.dtype == other.dtype and np.array_equal(value, other), (where, pid)
            else:  # a sparse vector
                assert value.to_json() == other.to_json(), (where, pid, vname)


def test_replicas_of_multivectors_agree_after_transfer_and_restart(cluster: Cluster):
    name = "multivector_replicas"
    first = cluster.nodes[0]
    rng = np.random.default_rng(7)
    reference = QdrantClient(":memory:")
    sparse = {"words": models.SparseVectorParams()}
    reference.create_collection(name, vectors_config=VECTORS, sparse_vectors_config=sparse)
    with cluster.client(first) as client:
        client.create_collection(name, vectors_config=VECTORS, sparse_vectors_config=sparse,
                                 shard_number=2, replication_factor=2)
        cluster.wait_all_active(name, RECOVERY_TIMEOUT)
        points = [_point(rng, pid) for pid in range(240)]
        client.upsert(name, points, wait=True)
        reference.upsert(name, points)

    placement = cluster.placement(first, name)
    holders = {peer for peer, _ in placement[0]}
    spare = next(cluster.peer_id(n) for n in cluster.nodes if cluster.peer_id(n) not in holders)
    response = cluster.http(first).post(f"/collections/{name}/cluster", json={
        "replicate_shard": {"shard_id": 0, "from_peer_id": min(holders), "to_peer_id": spare}})
    assert response.status_code == 200, response.text
    cluster.wait_all_active(name, RECOVERY_TIMEOUT)

    # Changes after the transfer reach every replica, the new one included.
    with cluster.client(cluster.nodes[1]) as client:
        changed = [models.PointVectors(id=pid, vector={"colbert": [[1, 0, 0, 0, 0, 0]] * 2})
                   for pid in range(0, 40, 3)]
        client.update_vectors(name, changed, wait=True)
        reference.update_vectors(name, changed)
        client.delete_vectors(name, vectors=["half"], points=list(range(1, 40, 5)), wait=True)
        reference.delete_vectors(name, vectors=["half"], points=list(range(1, 40, 5)))
        client.delete(name, points_selector=list(range(200, 215)), wait=True)
        reference.delete(name, points_selector=list(range(200, 215)))

    cluster.restart(cluster.nodes[2])
    cluster.wait_all_active(name, RECOVERY_TIMEOUT)

    replicas = _replica_points(cluster, name)
    assert len(replicas) == 5, sorted(replicas)  # shard 0 on 3 peers, shard 1 on 2
    expected = {p.id: p for p in reference.retrieve(name, list(range(240)), with_vectors=True,
                                                    with_payload=True)}
    for shard_id in (0, 1):
        copies = [points for (sid, _), points in replicas.items() if sid == shard_id]
        for other in copies[1:]:
            _assert_same_points(copies[0], other, f"shard {shard_id}")
    union = {pid: v for (sid, _), points in replicas.items() for pid, v in points.items()}
    assert set(union) == set(expected)
    for pid, (payload, vectors) in union.items():
        assert payload == expected[pid].payload
        assert set(vectors) == set(expected[pid].vector), pid
        np.testing.assert_allclose(vectors["dense"], expected[pid].vector["dense"], atol=1e-6)
        if "half" in vectors:
            assert vectors["half"].dtype == np.float16
            np.testing.assert_allclose(vectors["half"], expected[pid].vector["half"], atol=2e-3)

    rng = np.random.default_rng(8)
    for node in cluster.nodes:
        with cluster.client(node) as client:
            for trial in range(5):
                using = "colbert" if trial % 2 else "half"
                query = rng.normal(size=(2, VECTORS[using].size)).round(3).tolist()
                kwargs = dict(query=query, using=using, limit=10)
                ours = client.query_points(name, **kwargs).points
                theirs = reference.query_points(name, **kwargs).points
                if using == "half":  # stored as float16: scores within its rounding
                    assert [p.id for p in ours][:5] == [p.id for p in theirs][:5]
                    continue
                _same(ours, theirs, f"{node.name} {trial}")


QUANTIZED = {
    "scalar": models.VectorParams(
        size=16, distance=models.Distance.COSINE, multivector_config=MAX_SIM,
        quantization_config=models.ScalarQuantization(scalar=models.ScalarQuantizationConfig(
            type=models.ScalarType.INT8, always_ram=True))),
    "bits": models.VectorParams(
        size=16, distance=models.Distance.DOT, multivector_config=MAX_SIM,
        quantization_config=models.BinaryQuantization(binary=models.BinaryQuantizationConfig(
            encoding=models.BinaryQuantizationEncoding.TWO_BITS))),
}
RESCORED = models.SearchParams(hnsw_ef=128, quantization=models.QuantizationSearchParams(
    rescore=True, oversampling=20.0))  # binary codes of 16 random dims rank roughly
RAW = models.SearchParams(hnsw_ef=128, quantization=models.QuantizationSearchParams(
    rescore=False))


def _quantized_point(rng: np.random.Generator, pid: int) -> models.PointStruct:
    return models.PointStruct(id=pid, vector={
        name: rng.normal(size=(int(rng.integers(2, 5)), 16)).round(3).tolist()
        for name in QUANTIZED})


def _codes_answer(client: QdrantClient, name: str, using: str, query, flt) -> bool:
    """Whether a search without rescoring reports approximate scores (codes were used)."""
    raw = client.query_points(name, query=query, using=using, limit=10, query_filter=flt,
                              search_params=RAW).points
    exact = {p.id: p.score for p in client.query_points(
        name, query=query, using=using, limit=50, query_filter=flt,
        search_params=models.SearchParams(exact=True)).points}
    return any(abs(p.score - exact.get(p.id, np.inf)) > 1e-3 for p in raw)


def test_quantized_multivectors_replicate_and_transfer(cluster: Cluster):
    """rf 2 over 3 nodes, a replica added by a transfer, updates and deletes after it: every
    replica builds codes of its own (the transferred one too) and every node's rescored
    answers are local mode's."""
    name = "multivector_quantized_replicas"
    first = cluster.nodes[0]
    rng = np.random.default_rng(9)
    reference = QdrantClient(":memory:")
    reference.create_collection(name, vectors_config=QUANTIZED)
    points = [_quantized_point(rng, pid) for pid in range(400)]
    reference.upsert(name, points)
    with cluster.client(first) as client:
        client.create_collection(
            name, vectors_config=QUANTIZED, shard_number=2, replication_factor=2,
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=1),
            hnsw_config=models.HnswConfigDiff(full_scan_threshold=10))
        cluster.wait_all_active(name, RECOVERY_TIMEOUT)
        client.upsert(name, points, wait=True)

    placement = cluster.placement(first, name)
    holders = {peer for peer, _ in placement[0]}
    spare_peer = next(cluster.peer_id(n) for n in cluster.nodes
                      if cluster.peer_id(n) not in holders)
    response = cluster.http(first).post(f"/collections/{name}/cluster", json={
        "replicate_shard": {"shard_id": 0, "from_peer_id": min(holders),
                            "to_peer_id": spare_peer}})
    assert response.status_code == 200, response.text
    cluster.wait_all_active(name, RECOVERY_TIMEOUT)

    with cluster.client(cluster.nodes[1]) as client:
        changed = [_quantized_point(rng, pid) for pid in range(0, 60, 4)]
        client.upsert(name, changed, wait=True)
        reference.upsert(name, changed)
        client.delete(name, points_selector=list(range(300, 330)), wait=True)
        reference.delete(name, points_selector=list(range(300, 330)))

    # The spare reads shard 0 from its own (transferred) replica: restricted to that shard's
    # points, its answers come from the codes it built.
    spare = cluster.node_of(spare_peer)
    shard_zero = sorted(pid for (sid, peer), replica in _replica_points(cluster, name).items()
                        if sid == 0 and peer == spare_peer for pid in replica)
    assert shard_zero
    only_shard_zero = models.Filter(must=[models.HasIdCondition(has_id=shard_zero)])
    query = rng.normal(size=(2, 16)).round(3).tolist()
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    with cluster.client(spare) as client:
        while not _codes_answer(client, name, "scalar", query, only_shard_zero):
            assert time.monotonic() < deadline, "the transferred replica built no codes"
            time.sleep(0.5)

    for node in cluster.nodes:
        with cluster.client(node) as client:
            for trial in range(6):
                using = "scalar" if trial % 2 else "bits"
                query = rng.normal(size=(int(rng.integers(1, 4)), 16)).round(3).tolist()
                kwargs = dict(query=query, using=using, limit=10)
                ours = client.query_points(name, **kwargs, search_params=RESCORED).points
                _same(ours, reference.query_points(name, **kwargs).points,
                      f"{node.name} {trial}")
