"""Collections API end to end: a real node driven by the official qdrant-client.

Every create option must come back from `get_collection` exactly as given, defaults must be the
documented ones, updates must change only what they name, and the points a test writes (the few
point operations the collection features need) must read back unchanged.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from client_errors import API_ERRORS, status_of
from nodeproc import HttpSession, wait_for
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.timeout(90)

INDEX_BUILD_TIMEOUT = 60.0


# --- helpers ---------------------------------------------------------------------------------


def without_nulls(value: Any) -> Any:
    """The JSON value with null members dropped: an omitted option and a null one are equal."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


def raw_info(http: HttpSession, name: str) -> dict[str, Any]:
    response = http.get(f"/collections/{name}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["time"], (int, float))
    return body["result"]


def raw_config(http: HttpSession, name: str) -> dict[str, Any]:
    return without_nulls(raw_info(http, name)["config"])


def assert_close(actual: Sequence[float] | None, expected: Sequence[float], tol: float) -> None:
    assert actual is not None, "vector missing"
    assert len(actual) == len(expected), (actual, expected)
    for got, want in zip(actual, expected, strict=True):
        assert math.isclose(got, want, rel_tol=tol, abs_tol=tol), (actual, expected)


def assert_sparse_equal(actual: Any, expected: models.SparseVector) -> None:
    assert isinstance(actual, models.SparseVector), actual
    got = sorted(zip(actual.indices, actual.values, strict=True))
    want = sorted(zip(expected.indices, expected.values, strict=True))
    assert [i for i, _ in got] == [i for i, _ in want]
    assert_close([v for _, v in got], [v for _, v in want], 1e-6)


def dense_points(count: int, dim: int, start: int = 0) -> list[models.PointStruct]:
    """Deterministic points with distinct vectors (exactly representable in float32)."""
    return [
        models.PointStruct(
            id=start + i,
            vector=[((start + i) * 7 + j * 3) % 17 / 8 - 1 for j in range(dim)],
            payload={"n": start + i, "parity": "even" if (start + i) % 2 == 0 else "odd"},
        )
        for i in range(count)
    ]


def wait_green(client: QdrantClient, name: str, timeout: float = 30.0) -> models.CollectionInfo:
    def green() -> models.CollectionInfo | None:
        info = client.get_collection(name)
        return info if info.status == models.CollectionStatus.GREEN else None

    return wait_for(green, timeout, f"collection {name} to turn green")


def by_id(records: Sequence[models.Record]) -> dict[Any, models.Record]:
    return {record.id: record for record in records}


# --- create: vector shapes -------------------------------------------------------------------


@pytest.mark.parametrize("distance", list(models.Distance))
def test_single_unnamed_vector_each_distance(
    client: QdrantClient, http: HttpSession, unique_name: str, distance: models.Distance
) -> None:
    assert client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=5, distance=distance)
    )
    vectors = client.get_collection(unique_name).config.params.vectors
    assert isinstance(vectors, models.VectorParams)
    assert vectors.size == 5
    assert vectors.distance == distance
    assert raw_config(http, unique_name)["params"]["vectors"] == {
        "size": 5,
        "distance": distance.value,
    }


def test_defaults_match_the_documented_collection_info(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=384, distance=models.Distance.COSINE)
    )
    info = client.get_collection(unique_name)
    assert info.status == models.CollectionStatus.GREEN
    assert info.optimizer_status == models.OptimizersStatusOneOf.OK
    assert info.points_count == 0
    assert info.indexed_vectors_count == 0
    assert info.segments_count is not None and info.segments_count >= 0
    assert info.payload_schema == {}

    params = info.config.params
    assert params.shard_number == 1
    assert params.replication_factor == 1
    assert params.write_consistency_factor == 1
    assert params.on_disk_payload is False
    assert params.sparse_vectors is None

    hnsw = info.config.hnsw_config
    assert (hnsw.m, hnsw.ef_construct, hnsw.full_scan_threshold) == (16, 100, 10000)
    assert hnsw.max_indexing_threads == 0

    optimizer = info.config.optimizer_config
    assert optimizer.deleted_threshold == 0.2
    assert optimizer.vacuum_min_vector_number == 1000
    assert optimizer.default_segment_number == 0
    assert optimizer.max_segment_size is None
    assert optimizer.memmap_threshold is None
    assert optimizer.indexing_threshold == 20000
    assert optimizer.flush_interval_sec == 5

    assert info.config.wal_config is not None
    assert info.config.wal_config.wal_capacity_mb == 32
    assert info.config.wal_config.wal_segments_ahead == 0
    assert info.config.quantization_config is None

    raw = raw_info(http, unique_name)
    assert raw["status"] == "green"
    assert raw["optimizer_status"] == "ok"
    assert raw["payload_schema"] == {}
    for key in ("points_count", "vectors_count", "indexed_vectors_count", "segments_count"):
        assert key in raw, f"collection info lacks {key}"
    assert raw["config"]["optimizer_config"]["max_segment_size"] is None


def test_named_vectors(client: QdrantClient, http: HttpSession, unique_name: str) -> None:
    client.create_collection(
        unique_name,
        vectors_config={
            "image": models.VectorParams(size=4, distance=models.Distance.DOT),
            "text": models.VectorParams(size=8, distance=models.Distance.COSINE),
        },
    )
    vectors = client.get_collection(unique_name).config.params.vectors
    assert isinstance(vectors, dict)
    assert set(vectors) == {"image", "text"}
    assert raw_config(http, unique_name)["params"]["vectors"] == {
        "image": {"size": 4, "distance": "Dot"},
        "text": {"size": 8, "distance": "Cosine"},
    }


def test_on_disk_vectors(client: QdrantClient, http: HttpSession, unique_name: str) -> None:
    client.create_collection(
        unique_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.EUCLID, on_disk=True),
    )
    vectors = client.get_collection(unique_name).config.params.vectors
    assert isinstance(vectors, models.VectorParams)
    assert vectors.on_disk is True
    assert raw_config(http, unique_name)["params"]["vectors"] == {
        "size": 4,
        "distance": "Euclid",
        "on_disk": True,
    }
    points = dense_points(20, 4)
    client.upsert(unique_name, points, wait=True)
    records = by_id(client.retrieve(unique_name, [p.id for p in points], with_vectors=True))
    for point in points:
        assert_close(records[point.id].vector, point.vector, 1e-6)


@pytest.mark.parametrize(
    ("datatype", "values", "tolerance"),
    [
        (models.Datatype.FLOAT32, [0.1, -2.5, 3.14159, 1e-3], 1e-6),
        (models.Datatype.FLOAT16, [0.1, -2.5, 3.14159, 1e-3], 2e-3),
        (models.Datatype.UINT8, [0, 1, 128, 255], 0.0),
    ],
)
def test_vector_datatypes(
    client: QdrantClient,
    http: HttpSession,
    unique_name: str,
    datatype: models.Datatype,
    values: list[float],
    tolerance: float,
) -> None:
    client.create_collection(
        unique_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT, datatype=datatype),
    )
    vectors = client.get_collection(unique_name).config.params.vectors
    assert isinstance(vectors, models.VectorParams)
    assert vectors.datatype == datatype
    assert raw_config(http, unique_name)["params"]["vectors"]["datatype"] == datatype.value

    client.upsert(unique_name, [models.PointStruct(id=1, vector=values)], wait=True)
    (record,) = client.retrieve(unique_name, [1], with_vectors=True)
    assert_close(record.vector, values, tolerance)


def test_per_vector_hnsw_and_quantization_overrides(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    client.create_collection(
        unique_name,
        vectors_config={
            "tuned": models.VectorParams(
                size=8,
                distance=models.Distance.COSINE,
                hnsw_config=models.HnswConfigDiff(m=32, ef_construct=64),
                quantization_config=models.ScalarQuantization(
                    scalar=models.ScalarQuantizationConfig(
                        type=models.ScalarType.INT8, quantile=0.95, always_ram=True
                    )
                ),
            ),
            "compressed": models.VectorParams(
                size=16,
                distance=models.Distance.DOT,
                quantization_config=models.ProductQuantization(
                    product=models.ProductQuantizationConfig(
                        compression=models.CompressionRatio.X16, always_ram=False
                    )
                ),
            ),
            "plain": models.VectorParams(size=2, distance=models.Distance.EUCLID),
        },
    )
    config = raw_config(http, unique_name)
    assert config["params"]["vectors"] == {
        "tuned": {
            "size": 8,
            "distance": "Cosine",
            "hnsw_config": {"m": 32, "ef_construct": 64},
            "quantization_config": {
                "scalar": {"type": "int8", "quantile": 0.95, "always_ram": True}
            },
        },
        "compressed": {
            "size": 16,
            "distance": "Dot",
            "quantization_config": {"product": {"compression": "x16", "always_ram": False}},
        },
        "plain": {"size": 2, "distance": "Euclid"},
    }
    # The overrides stay per vector: the collection-level settings keep their defaults.
    assert config["hnsw_config"]["m"] == 16
    assert "quantization_config" not in config

    vectors = client.get_collection(unique_name).config.params.vectors
    assert isinstance(vectors, dict)
    tuned = vectors["tuned"]
    assert tuned.hnsw_config is not None and tuned.hnsw_config.m == 32
    assert isinstance(tuned.quantization_config, models.ScalarQuantization)


def test_sparse_vectors_only(client: QdrantClient, http: HttpSession, unique_name: str) -> None:
    client.create_collection(
        unique_name,
        vectors_config={},
        sparse_vectors_config={"text": models.SparseVectorParams()},
    )
    params = raw_config(http, unique_name)["params"]
    assert params["vectors"] == {}
    assert params["sparse_vectors"] == {"text": {}}

    sparse = {
        1: models.SparseVector(indices=[0, 7, 1000], values=[0.5, -1.25, 3.0]),
        2: models.SparseVector(indices=[42], values=[1.0]),
        3: models.SparseVector(indices=[], values=[]),
    }
    client.upsert(
        unique_name,
        [
            models.PointStruct(id=i, vector={"text": vec}, payload={"i": i})
            for i, vec in sparse.items()
        ],
        wait=True,
    )
    assert client.count(unique_name, exact=True).count == 3
    records = by_id(client.retrieve(unique_name, list(sparse), with_vectors=True))
    for point_id in (1, 2):
        vector = records[point_id].vector
        assert isinstance(vector, dict)
        assert_sparse_equal(vector["text"], sparse[point_id])
    assert records[3].payload == {"i": 3}


def test_sparse_index_params_and_modifier(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    client.create_collection(
        unique_name,
        vectors_config={},
        sparse_vectors_config={
            "bm25": models.SparseVectorParams(
                index=models.SparseIndexParams(full_scan_threshold=500, on_disk=True),
                modifier=models.Modifier.IDF,
            ),
        },
    )
    assert raw_config(http, unique_name)["params"]["sparse_vectors"] == {
        "bm25": {"index": {"full_scan_threshold": 500, "on_disk": True}, "modifier": "idf"}
    }
    sparse = client.get_collection(unique_name).config.params.sparse_vectors
    assert sparse is not None and sparse["bm25"].modifier == models.Modifier.IDF


def test_sparse_and_dense_vectors(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    client.create_collection(
        unique_name,
        vectors_config={"dense": models.VectorParams(size=3, distance=models.Distance.DOT)},
        sparse_vectors_config={"sparse": models.SparseVectorParams()},
    )
    params = raw_config(http, unique_name)["params"]
    assert params["vectors"] == {"dense": {"size": 3, "distance": "Dot"}}
    assert params["sparse_vectors"] == {"sparse": {}}

    both = models.SparseVector(indices=[3, 9], values=[0.25, 0.75])
    client.upsert(
        unique_name,
        [
            models.PointStruct(id=1, vector={"dense": [1.0, 2.0, 3.0], "sparse": both}),
            models.PointStruct(id=2, vector={"dense": [-1.0, 0.0, 0.5]}),
            models.PointStruct(
                id=3, vector={"sparse": models.SparseVector(indices=[1], values=[2.0])}
            ),
        ],
        wait=True,
    )
    records = by_id(client.retrieve(unique_name, [1, 2, 3], with_vectors=True))
    first = records[1].vector
    assert isinstance(first, dict)
    assert_close(first["dense"], [1.0, 2.0, 3.0], 1e-6)
    assert_sparse_equal(first["sparse"], both)
    second = records[2].vector
    assert isinstance(second, dict) and set(second) == {"dense"}
    third = records[3].vector
    assert isinstance(third, dict) and set(third) == {"sparse"}


def test_collection_without_vectors(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    assert client.create_collection(unique_name)
    params = raw_config(http, unique_name)["params"]
    assert params.get("vectors", {}) == {}
    assert not params.get("sparse_vectors")

    client.upsert(
        unique_name, [models.PointStruct(id=5, vector={}, payload={"only": "payload"})], wait=True
    )
    assert client.count(unique_name, exact=True).count == 1
    (record,) = client.retrieve(unique_name, [5], with_vectors=True)
    assert record.payload == {"only": "payload"}
    assert not record.vector


# --- create: collection-level options -----------------------------------------------------------


def test_collection_level_options(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    client.create_collection(
        unique_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        hnsw_config=models.HnswConfigDiff(
            m=8, ef_construct=64, full_scan_threshold=5000, max_indexing_threads=2, on_disk=True
        ),
        wal_config=models.WalConfigDiff(wal_capacity_mb=16, wal_segments_ahead=2),
        optimizers_config=models.OptimizersConfigDiff(
            deleted_threshold=0.3,
            vacuum_min_vector_number=500,
            default_segment_number=2,
            max_segment_size=50000,
            indexing_threshold=5000,
            flush_interval_sec=3,
            max_optimization_threads=2,
        ),
        shard_number=3,
        replication_factor=2,
        write_consistency_factor=2,
        on_disk_payload=True,
    )
    config = client.get_collection(unique_name).config
    assert config.params.shard_number == 3
    assert config.params.replication_factor == 2
    assert config.params.write_consistency_factor == 2
    assert config.params.on_disk_payload is True

    raw = raw_config(http, unique_name)
    assert raw["hnsw_config"] == {
        "m": 8,
        "ef_construct": 64,
        "full_scan_threshold": 5000,
        "max_indexing_threads": 2,
        "on_disk": True,
    }
    assert raw["wal_config"] == {"wal_capacity_mb": 16, "wal_segments_ahead": 2}
    optimizer = raw["optimizer_config"]
    assert optimizer["deleted_threshold"] == 0.3
    assert optimizer["vacuum_min_vector_number"] == 500
    assert optimizer["default_segment_number"] == 2
    assert optimizer["max_segment_size"] == 50000
    assert optimizer["indexing_threshold"] == 5000
    assert optimizer["flush_interval_sec"] == 3
    assert optimizer["max_optimization_threads"] == 2


def test_several_shards_hold_every_point(client: QdrantClient, unique_name: str) -> None:
    client.create_collection(
        unique_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        shard_number=4,
    )
    points = dense_points(60, 4)
    points += [
        models.PointStruct(id=str(uuid.uuid4()), vector=[1.0, 0.0, 0.0, float(i)])
        for i in range(20)
    ]
    client.upsert(unique_name, points, wait=True)
    assert client.count(unique_name, exact=True).count == 80
    assert client.get_collection(unique_name).points_count == 80
    records = by_id(client.retrieve(unique_name, [p.id for p in points], with_vectors=True))
    assert set(records) == {p.id for p in points}


@pytest.mark.parametrize(
    ("quantization", "expected"),
    [
        (
            models.ScalarQuantization(
                scalar=models.ScalarQuantizationConfig(
                    type=models.ScalarType.INT8, quantile=0.99, always_ram=True
                )
            ),
            {"scalar": {"type": "int8", "quantile": 0.99, "always_ram": True}},
        ),
        (
            models.ProductQuantization(
                product=models.ProductQuantizationConfig(
                    compression=models.CompressionRatio.X4, always_ram=True
                )
            ),
            {"product": {"compression": "x4", "always_ram": True}},
        ),
        (
            models.BinaryQuantization(binary=models.BinaryQuantizationConfig(always_ram=False)),
            {"binary": {"always_ram": False}},
        ),
    ],
    ids=["scalar", "product", "binary"],
)
def test_collection_quantization(
    client: QdrantClient,
    http: HttpSession,
    unique_name: str,
    quantization: models.QuantizationConfig,
    expected: dict[str, Any],
) -> None:
    client.create_collection(
        unique_name,
        vectors_config=models.VectorParams(size=8, distance=models.Distance.COSINE),
        quantization_config=quantization,
    )
    assert raw_config(http, unique_name)["quantization_config"] == expected
    assert type(client.get_collection(unique_name).config.quantization_config) is type(quantization)


def test_strict_mode_config(client: QdrantClient, http: HttpSession, unique_name: str) -> None:
    client.create_collection(
        unique_name,
        vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT),
        strict_mode_config=models.StrictModeConfig(
            enabled=True, max_query_limit=100, max_timeout=30, upsert_max_batchsize=500
        ),
    )
    strict = raw_config(http, unique_name)["strict_mode_config"]
    assert strict == {
        "enabled": True,
        "max_query_limit": 100,
        "max_timeout": 30,
        "upsert_max_batchsize": 500,
    }
    parsed = client.get_collection(unique_name).config.strict_mode_config
    assert parsed is not None and parsed.enabled is True and parsed.max_query_limit == 100


def test_init_from_copies_every_point(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    source = f"{unique_name}_src"
    vectors = models.VectorParams(size=4, distance=models.Distance.DOT)
    client.create_collection(source, vectors_config=vectors)
    points = dense_points(40, 4)
    points += [
        models.PointStruct(id=str(uuid.uuid4()), vector=[0.5, 0.25, 0.0, -1.0], payload={"u": i})
        for i in range(10)
    ]
    client.upsert(source, points, wait=True)

    # Clients from 1.16 on have no init_from (nor has the gRPC API): sent as a 1.15 client
    # sends it, over REST, and still taken.
    created = http.put(f"/collections/{unique_name}", json={
        "vectors": {"size": 4, "distance": "Dot"}, "init_from": {"collection": source}})
    assert created.status_code == 200, created.text
    # Qdrant copies in the background: the collection exists at once, the points follow.
    wait_for(
        lambda: client.count(unique_name, exact=True).count == len(points),
        30,
        "init_from to copy every point",
    )
    copied = by_id(client.retrieve(unique_name, [p.id for p in points], with_vectors=True))
    for point in points:
        assert copied[point.id].payload == point.payload
        assert_close(copied[point.id].vector, point.vector, 1e-6)
    assert raw_config(http, unique_name)["params"]["vectors"] == {"size": 4, "distance": "Dot"}
    # The source is untouched and independent of the copy.
    client.upsert(source, dense_points(1, 4, start=1000), wait=True)
    assert client.count(source, exact=True).count == len(points) + 1
    assert client.count(unique_name, exact=True).count == len(points)


# --- existence, listing, deletion -----------------------------------------------------------------


def test_collection_exists_and_listing(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    assert client.collection_exists(unique_name) is False
    assert http.get(f"/collections/{unique_name}/exists").json()["result"] == {"exists": False}
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    assert client.collection_exists(unique_name) is True
    assert http.get(f"/collections/{unique_name}/exists").json()["result"] == {"exists": True}
    names = [c.name for c in client.get_collections().collections]
    assert unique_name in names
    assert len(names) == len(set(names))
    raw = http.get("/collections").json()
    assert {"name": unique_name} in raw["result"]["collections"]


def test_delete_collection(client: QdrantClient, unique_name: str) -> None:
    vectors = models.VectorParams(size=4, distance=models.Distance.DOT)
    client.create_collection(unique_name, vectors_config=vectors)
    client.upsert(unique_name, dense_points(5, 4), wait=True)
    assert client.delete_collection(unique_name) is True
    assert client.collection_exists(unique_name) is False
    assert unique_name not in [c.name for c in client.get_collections().collections]
    with pytest.raises(API_ERRORS) as excinfo:
        client.get_collection(unique_name)
    assert status_of(excinfo.value) == 404
    # The name is free again, and nothing of the old collection leaks into the new one.
    client.create_collection(unique_name, vectors_config=vectors)
    assert client.count(unique_name, exact=True).count == 0


# --- update -------------------------------------------------------------------------------


def _create_simple(client: QdrantClient, name: str, **kwargs: Any) -> None:
    client.create_collection(
        name, vectors_config=models.VectorParams(size=4, distance=models.Distance.DOT), **kwargs
    )


def test_update_optimizers_indexing_threshold(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    before = raw_config(http, unique_name)
    assert client.update_collection(
        unique_name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10000)
    )
    after = raw_config(http, unique_name)
    assert after["optimizer_config"]["indexing_threshold"] == 10000
    before["optimizer_config"]["indexing_threshold"] = 10000
    assert after == before


def test_update_hnsw_config(client: QdrantClient, http: HttpSession, unique_name: str) -> None:
    _create_simple(client, unique_name)
    assert client.update_collection(
        unique_name, hnsw_config=models.HnswConfigDiff(ef_construct=123)
    )
    hnsw = client.get_collection(unique_name).config.hnsw_config
    assert hnsw.ef_construct == 123
    assert hnsw.m == 16
    assert hnsw.full_scan_threshold == 10000


def test_update_quantization_config(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    client.update_collection(
        unique_name,
        quantization_config=models.BinaryQuantization(
            binary=models.BinaryQuantizationConfig(always_ram=True)
        ),
    )
    assert raw_config(http, unique_name)["quantization_config"] == {"binary": {"always_ram": True}}
    client.update_collection(unique_name, quantization_config=models.Disabled.DISABLED)
    assert client.get_collection(unique_name).config.quantization_config is None


def test_update_unnamed_vector_on_disk(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    points = dense_points(10, 4)
    client.upsert(unique_name, points, wait=True)
    assert client.update_collection(
        unique_name, vectors_config={"": models.VectorParamsDiff(on_disk=True)}
    )
    assert raw_config(http, unique_name)["params"]["vectors"] == {
        "size": 4,
        "distance": "Dot",
        "on_disk": True,
    }
    wait_green(client, unique_name)
    records = by_id(client.retrieve(unique_name, [p.id for p in points], with_vectors=True))
    for point in points:
        assert_close(records[point.id].vector, point.vector, 1e-6)


def test_update_named_vector_on_disk(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    client.create_collection(
        unique_name,
        vectors_config={
            "my_vector": models.VectorParams(size=4, distance=models.Distance.DOT),
            "other": models.VectorParams(size=2, distance=models.Distance.EUCLID),
        },
    )
    client.update_collection(
        unique_name, vectors_config={"my_vector": models.VectorParamsDiff(on_disk=True)}
    )
    assert raw_config(http, unique_name)["params"]["vectors"] == {
        "my_vector": {"size": 4, "distance": "Dot", "on_disk": True},
        "other": {"size": 2, "distance": "Euclid"},
    }


def test_update_vector_and_collection_index_settings_like_the_docs(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    client.create_collection(
        unique_name,
        vectors_config={
            "my_vector": models.VectorParams(size=4, distance=models.Distance.DOT),
            "other": models.VectorParams(size=2, distance=models.Distance.EUCLID),
        },
    )
    points = [
        models.PointStruct(id=i, vector={"my_vector": [i, 1.0, 2.0, 3.0], "other": [0.5, i]})
        for i in range(5)
    ]
    client.upsert(unique_name, points, wait=True)
    assert client.update_collection(
        unique_name,
        vectors_config={
            "my_vector": models.VectorParamsDiff(
                hnsw_config=models.HnswConfigDiff(m=32, ef_construct=123),
                quantization_config=models.ProductQuantization(
                    product=models.ProductQuantizationConfig(
                        compression=models.CompressionRatio.X32, always_ram=True
                    )
                ),
                on_disk=True,
            )
        },
        hnsw_config=models.HnswConfigDiff(ef_construct=123),
        quantization_config=models.ScalarQuantization(
            scalar=models.ScalarQuantizationConfig(
                type=models.ScalarType.INT8, quantile=0.8, always_ram=False
            )
        ),
    )
    config = raw_config(http, unique_name)
    assert config["params"]["vectors"] == {
        "my_vector": {
            "size": 4,
            "distance": "Dot",
            "hnsw_config": {"m": 32, "ef_construct": 123},
            "quantization_config": {"product": {"compression": "x32", "always_ram": True}},
            "on_disk": True,
        },
        "other": {"size": 2, "distance": "Euclid"},
    }
    assert config["hnsw_config"]["ef_construct"] == 123
    assert config["hnsw_config"]["m"] == 16
    assert config["quantization_config"] == {
        "scalar": {"type": "int8", "quantile": 0.8, "always_ram": False}
    }
    wait_green(client, unique_name)
    assert client.count(unique_name, exact=True).count == len(points)


def test_update_collection_params(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    client.upsert(unique_name, dense_points(3, 4), wait=True)
    assert client.update_collection(
        unique_name,
        collection_params=models.CollectionParamsDiff(
            write_consistency_factor=2, replication_factor=2, on_disk_payload=True
        ),
    )
    params = client.get_collection(unique_name).config.params
    assert params.write_consistency_factor == 2
    assert params.replication_factor == 2
    assert params.on_disk_payload is True
    assert params.shard_number == 1
    (record,) = client.retrieve(unique_name, [2])
    assert record.payload == {"n": 2, "parity": "even"}


def test_update_strict_mode_config(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    client.update_collection(
        unique_name,
        strict_mode_config=models.StrictModeConfig(enabled=True, max_query_limit=50),
    )
    strict = raw_config(http, unique_name)["strict_mode_config"]
    assert strict["enabled"] is True
    assert strict["max_query_limit"] == 50


def test_empty_optimizers_diff_changes_nothing(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    client.upsert(unique_name, dense_points(3, 4), wait=True)
    before = raw_config(http, unique_name)
    assert client.update_collection(unique_name, optimizers_config=models.OptimizersConfigDiff())
    response = http.patch(f"/collections/{unique_name}", json={"optimizers_config": {}})
    assert response.status_code == 200, response.text
    assert response.json()["result"] is True
    assert raw_config(http, unique_name) == before
    wait_green(client, unique_name)
    assert client.count(unique_name, exact=True).count == 3


# --- collection info ------------------------------------------------------------------------


def test_info_counts_after_upserts(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    client.upsert(unique_name, dense_points(100, 4), wait=True)
    batch = dense_points(50, 4, start=100)
    client.upsert(
        unique_name,
        models.Batch(
            ids=[p.id for p in batch],
            vectors=[p.vector for p in batch],
            payloads=[p.payload for p in batch],
        ),
        wait=True,
    )
    info = wait_green(client, unique_name)
    assert info.optimizer_status == models.OptimizersStatusOneOf.OK
    assert info.points_count == 150
    raw = raw_info(http, unique_name)
    assert raw["points_count"] == 150
    assert raw["vectors_count"] == 150
    assert 0 <= raw["indexed_vectors_count"] <= raw["vectors_count"]
    assert raw["segments_count"] >= 1
    assert raw["payload_schema"] == {}


def test_vectors_count_counts_every_named_vector(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    client.create_collection(
        unique_name,
        vectors_config={
            "a": models.VectorParams(size=2, distance=models.Distance.DOT),
            "b": models.VectorParams(size=3, distance=models.Distance.DOT),
        },
    )
    client.upsert(
        unique_name,
        [models.PointStruct(id=i, vector={"a": [1.0, i], "b": [i, 0.0, 1.0]}) for i in range(10)],
        wait=True,
    )
    raw = raw_info(http, unique_name)
    assert raw["points_count"] == 10
    assert raw["vectors_count"] == 20


def test_index_builds_after_lowering_indexing_threshold(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    dim = 32
    client.create_collection(
        unique_name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.EUCLID)
    )
    points = dense_points(800, dim)  # 800 x 32 x 4 bytes = 100 kB, far below the 20000 kB default
    for start in range(0, len(points), 200):
        client.upsert(unique_name, points[start : start + 200], wait=True)
    info = wait_green(client, unique_name)
    assert info.indexed_vectors_count == 0, "a small collection must stay unindexed by default"

    client.update_collection(
        unique_name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10)
    )

    def indexed() -> models.CollectionInfo | None:
        info = client.get_collection(unique_name)
        done = info.status == models.CollectionStatus.GREEN and (info.indexed_vectors_count or 0)
        return info if done else None

    info = wait_for(indexed, INDEX_BUILD_TIMEOUT, "an HNSW index to be built")
    assert info.optimizer_status == models.OptimizersStatusOneOf.OK
    assert info.points_count == len(points)
    assert 0 < (info.indexed_vectors_count or 0) <= len(points)
    assert client.count(unique_name, exact=True).count == len(points)
    sample = [p for p in points if p.id % 37 == 0]
    records = by_id(client.retrieve(unique_name, [p.id for p in sample], with_vectors=True))
    for point in sample:
        assert_close(records[point.id].vector, point.vector, 1e-6)


# --- points: the operations the collection features rely on ------------------------------------


def test_upsert_point_structs_and_retrieve(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    payload = {
        "title": "Grüße 🚀",
        "count": 3,
        "ratio": 0.25,
        "flag": False,
        "nothing": None,
        "tags": ["a", "b"],
        "nested": {"deep": {"x": [1, {"y": 2}]}},
    }
    big_ids = [0, 2**53 + 1, 2**64 - 1]
    points = [
        models.PointStruct(id=point_id, vector=[1.0, 2.0, 3.0, float(i)], payload=payload)
        for i, point_id in enumerate(big_ids)
    ]
    result = client.upsert(unique_name, points, wait=True)
    assert result.status == models.UpdateStatus.COMPLETED

    assert client.count(unique_name, exact=True).count == 3
    records = by_id(
        client.retrieve(unique_name, [*big_ids, 12345], with_payload=True, with_vectors=True)
    )
    assert set(records) == set(big_ids), "a missing id is left out, the others come back"
    for i, point_id in enumerate(big_ids):
        assert records[point_id].payload == payload
        assert_close(records[point_id].vector, [1.0, 2.0, 3.0, float(i)], 1e-6)

    bare = client.retrieve(unique_name, [0], with_payload=False, with_vectors=False)
    # No payload is null over REST and an empty map over gRPC (as with Qdrant).
    assert bare[0].id == 0 and not bare[0].payload and bare[0].vector is None


def test_upsert_overwrites_the_whole_point(client: QdrantClient, unique_name: str) -> None:
    _create_simple(client, unique_name)
    client.upsert(
        unique_name,
        [models.PointStruct(id=7, vector=[1.0, 1.0, 1.0, 1.0], payload={"a": 1, "b": 2})],
        wait=True,
    )
    client.upsert(
        unique_name,
        [models.PointStruct(id=7, vector=[2.0, 0.0, 0.0, 0.0], payload={"c": 3})],
        wait=True,
    )
    assert client.count(unique_name, exact=True).count == 1
    (record,) = client.retrieve(unique_name, [7], with_vectors=True)
    assert record.payload == {"c": 3}
    assert_close(record.vector, [2.0, 0.0, 0.0, 0.0], 1e-6)


def test_upsert_batch_form(client: QdrantClient, unique_name: str) -> None:
    _create_simple(client, unique_name)
    ids: list[int | str] = [10, 11, str(uuid.uuid4())]
    vectors = [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [-1.0, -2.0, -3.0, -4.0]]
    payloads = [{"k": "first"}, {"k": "second"}, {"k": "third"}]
    result = client.upsert(
        unique_name, models.Batch(ids=ids, vectors=vectors, payloads=payloads), wait=True
    )
    assert result.status == models.UpdateStatus.COMPLETED
    assert client.count(unique_name, exact=True).count == 3
    records = by_id(client.retrieve(unique_name, ids, with_vectors=True))
    for point_id, vector, payload in zip(ids, vectors, payloads, strict=True):
        assert records[point_id].payload == payload
        assert_close(records[point_id].vector, vector, 1e-6)


def test_upsert_batch_form_with_named_vectors(client: QdrantClient, unique_name: str) -> None:
    client.create_collection(
        unique_name,
        vectors_config={
            "image": models.VectorParams(size=2, distance=models.Distance.DOT),
            "text": models.VectorParams(size=3, distance=models.Distance.EUCLID),
        },
    )
    client.upsert(
        unique_name,
        models.Batch(
            ids=[1, 2],
            vectors={"image": [[1.0, 0.0], [0.0, 1.0]], "text": [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]},
        ),
        wait=True,
    )
    records = by_id(client.retrieve(unique_name, [1, 2], with_vectors=True))
    second = records[2].vector
    assert isinstance(second, dict)
    assert_close(second["image"], [0.0, 1.0], 1e-6)
    assert_close(second["text"], [4.0, 5.0, 6.0], 1e-6)
    assert records[1].payload in (None, {})


def test_named_vector_upserts(client: QdrantClient, unique_name: str) -> None:
    client.create_collection(
        unique_name,
        vectors_config={
            "image": models.VectorParams(size=4, distance=models.Distance.DOT),
            "text": models.VectorParams(size=2, distance=models.Distance.MANHATTAN),
        },
    )
    client.upsert(
        unique_name,
        [
            models.PointStruct(id=1, vector={"image": [1.0, 2.0, 3.0, 4.0], "text": [5.0, 6.0]}),
            models.PointStruct(id=2, vector={"text": [7.0, 8.0]}),  # a point may lack a vector
        ],
        wait=True,
    )
    records = by_id(client.retrieve(unique_name, [1, 2], with_vectors=True))
    first = records[1].vector
    assert isinstance(first, dict) and set(first) == {"image", "text"}
    assert_close(first["image"], [1.0, 2.0, 3.0, 4.0], 1e-6)
    second = records[2].vector
    assert isinstance(second, dict) and set(second) == {"text"}
    only_text = client.retrieve(unique_name, [1], with_vectors=["text"])
    assert set(only_text[0].vector) == {"text"}


def test_uuid_ids_come_back_in_canonical_form(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    canonical = uuid.uuid4()
    hex_form = uuid.uuid4()
    client.upsert(
        unique_name,
        [
            models.PointStruct(id=str(canonical), vector=[1.0, 0.0, 0.0, 0.0]),
            models.PointStruct(id=hex_form.hex, vector=[0.0, 1.0, 0.0, 0.0]),
        ],
        wait=True,
    )
    assert client.count(unique_name, exact=True).count == 2
    records = by_id(client.retrieve(unique_name, [str(canonical), str(hex_form)]))
    assert set(records) == {str(canonical), str(hex_form)}
    # The same point, whichever spelling of its uuid is used.
    assert client.retrieve(unique_name, [hex_form.hex])[0].id == str(hex_form)
    client.upsert(
        unique_name, [models.PointStruct(id=str(hex_form).upper(), vector=[0.0, 0.0, 1.0, 0.0])]
    )
    assert client.count(unique_name, exact=True).count == 2


def test_get_single_point_over_http(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    _create_simple(client, unique_name)
    point_uuid = str(uuid.uuid4())
    client.upsert(
        unique_name,
        [
            models.PointStruct(id=42, vector=[0.5, 1.5, 2.5, 3.5], payload={"answer": True}),
            models.PointStruct(id=point_uuid, vector=[1.0, 1.0, 1.0, 1.0], payload={"u": 1}),
        ],
        wait=True,
    )
    response = http.get(f"/collections/{unique_name}/points/42")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "ok"
    assert isinstance(body["time"], (int, float))
    point = body["result"]
    assert point["id"] == 42
    assert point["payload"] == {"answer": True}
    assert_close(point["vector"], [0.5, 1.5, 2.5, 3.5], 1e-6)

    response = http.get(f"/collections/{unique_name}/points/{point_uuid}")
    assert response.status_code == 200, response.text
    assert response.json()["result"]["id"] == point_uuid

    missing = http.get(f"/collections/{unique_name}/points/43")
    assert missing.status_code == 404
    assert "error" in missing.json()["status"]


def test_count_is_exact(client: QdrantClient, unique_name: str) -> None:
    _create_simple(client, unique_name)
    for start in range(0, 300, 100):
        client.upsert(unique_name, dense_points(100, 4, start=start), wait=True)
    client.upsert(unique_name, dense_points(50, 4, start=250), wait=True)  # 50 overwrites
    assert client.count(unique_name, exact=True).count == 300


def test_metadata_set_merged_and_removed(http: HttpSession, unique_name: str) -> None:
    response = http.put(f"/collections/{unique_name}", json={
        "vectors": {"size": 4, "distance": "Dot"},
        "metadata": {"model": "minilm", "owner": {"team": "search"}, "dims": 4},
    })
    assert response.status_code == 200, response.text
    config = raw_info(http, unique_name)["config"]
    assert config["metadata"] == {"model": "minilm", "owner": {"team": "search"}, "dims": 4}

    # A patch merges by key; a key set to null is removed; other keys stay.
    response = http.patch(
        f"/collections/{unique_name}", json={"metadata": {"model": "e5", "dims": None}}
    )
    assert response.status_code == 200, response.text
    assert raw_info(http, unique_name)["config"]["metadata"] == {
        "model": "e5", "owner": {"team": "search"}
    }

    response = http.patch(f"/collections/{unique_name}", json={"metadata": ["not", "an object"]})
    assert response.status_code == 400, response.text
    assert "metadata" in response.json()["status"]["error"]
    assert raw_info(http, unique_name)["config"]["metadata"]["model"] == "e5"


def test_read_fan_out_params_stored(http: HttpSession, unique_name: str) -> None:
    response = http.put(
        f"/collections/{unique_name}", json={"vectors": {"size": 4, "distance": "Dot"}}
    )
    assert response.status_code == 200, response.text
    response = http.patch(f"/collections/{unique_name}", json={
        "params": {"read_fan_out_factor": 1, "read_fan_out_delay_ms": 20}
    })
    assert response.status_code == 200, response.text
    params = raw_info(http, unique_name)["config"]["params"]
    assert params["read_fan_out_factor"] == 1
    assert params["read_fan_out_delay_ms"] == 20
    response = http.patch(
        f"/collections/{unique_name}", json={"params": {"read_fan_out_delay_ms": -1}}
    )
    assert response.status_code == 400, response.text
