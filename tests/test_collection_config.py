"""Canonical collection config: create bodies, update bodies, name rules, derived views."""

from __future__ import annotations

import copy
import json

import pytest
from qdrant_client.http import models
from qdrant_client.http.api.collections_api import jsonable_encoder

from cluster.metadata import collection_config
from cluster.metadata.collection_config import dense_vector_params, has_named_vectors
from node.engine.shard_config import ShardConfig
from node.errors import BadRequest
from node.model import decode
from node.model.collections import CreateCollection, UpdateCollection
from node.model.names import validate_collection_name


def build_collection_config(body: object, **kwargs: object) -> tuple[dict, str | None]:
    """A create body decoded as the edge decodes it, then built into the stored config."""
    return collection_config.build_collection_config(decode(CreateCollection, body), **kwargs)


def apply_collection_update(config: dict, patch: object) -> dict:
    return collection_config.apply_collection_update(config, decode(UpdateCollection, patch))


def effective(config: dict, vector_name: str):
    """The settings the engine applies to one vector (its overrides over the collection's)."""
    return ShardConfig.from_collection_config(config).dense[vector_name]


def rebuilt_vectors(old: dict, new: dict) -> set[str]:
    """Vectors whose segments the engine rebuilds after a config change: the index layout
    (HNSW params, quantization, on-disk placement) differs."""
    before, after = ShardConfig.from_collection_config(old), ShardConfig.from_collection_config(new)
    return {
        name for name in after.dense
        if name not in before.dense or before.index_layout(name) != after.index_layout(name)
    }

def wire(model: object) -> dict:
    """The JSON body qdrant-client's REST transport would send for this model."""
    return json.loads(jsonable_encoder(model))


def build(body: dict, **kwargs: object) -> dict:
    config, _ = build_collection_config(body, **kwargs)
    # Whatever we produce must survive Raft replication (JSON) and parse in the client.
    assert json.loads(json.dumps(config)) == config
    models.CollectionConfig.model_validate(config)
    return config


def update(config: dict, patch: dict) -> dict:
    new = apply_collection_update(config, patch)
    assert json.loads(json.dumps(new)) == new
    models.CollectionConfig.model_validate(new)
    return new


def rejects(call: object, *args: object, match: str) -> None:
    with pytest.raises(BadRequest, match=match):
        call(*args)  # type: ignore[operator]


SINGLE = {"vectors": {"size": 4, "distance": "Cosine"}}
NAMED = {
    "vectors": {
        "image": {"size": 4, "distance": "Dot"},
        "text": {"size": 8, "distance": "Cosine"},
    }
}


# --- collection names ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["docs", "my-collection_1", "a.b", "日本語", "x" * 255, "with space"]
)
def test_valid_collection_names(name: str) -> None:
    validate_collection_name(name)


@pytest.mark.parametrize(
    ("name", "match"),
    [
        ("", "non-empty"),
        ("x" * 256, "at most 255 bytes"),
        ("é" * 128, "at most 255 bytes"),  # 128 characters but 256 bytes
        ("a/b", "contains '/'"),
        ("a\\b", "contains"),
        ("a\x00b", "control character U\\+0000"),
        ("a\nb", "control character U\\+000A"),
        ("a\x7fb", "control character"),
        ("a<b", "contains"),
        ("a>b", "contains"),
        ("a:b", "contains"),
        ('a"b', "contains"),
        ("a|b", "contains"),
        ("a?b", "contains"),
        ("a*b", "contains"),
        (".", "must not be"),
        ("..", "must not be"),
        ("a..b", "contain '..'"),
    ],
)
def test_invalid_collection_names(name: str, match: str) -> None:
    rejects(validate_collection_name, name, match=match)


def test_collection_name_must_be_a_string() -> None:
    rejects(validate_collection_name, 5, match="non-empty string")


# --- create: shapes and defaults ----------------------------------------------------------------


def test_single_vector_gets_the_documented_defaults() -> None:
    config, init_from = build_collection_config({"vectors": {"size": 384, "distance": "Cosine"}})
    assert init_from is None
    assert config == {
        "params": {
            "vectors": {"size": 384, "distance": "Cosine"},
            "shard_number": 1,
            "replication_factor": 1,
            "write_consistency_factor": 1,
            "on_disk_payload": False,
        },
        "hnsw_config": {
            "m": 16,
            "ef_construct": 100,
            "full_scan_threshold": 10000,
            "max_indexing_threads": 0,
            "on_disk": False,
        },
        "optimizer_config": {
            "deleted_threshold": 0.2,
            "vacuum_min_vector_number": 1000,
            "default_segment_number": 0,
            "max_segment_size": None,
            "memmap_threshold": None,
            "indexing_threshold": 20000,
            "flush_interval_sec": 5,
            "max_optimization_threads": 1,
        },
        "wal_config": {"wal_capacity_mb": 32, "wal_segments_ahead": 0},
        "quantization_config": None,
        "strict_mode_config": {"enabled": False},
    }
    models.CollectionConfig.model_validate(config)


def test_default_shard_number_is_used_unless_given() -> None:
    assert build(SINGLE, default_shard_number=3)["params"]["shard_number"] == 3
    body = {**SINGLE, "shard_number": 2}
    assert build(body, default_shard_number=3)["params"]["shard_number"] == 2


def test_client_single_vector() -> None:
    body = wire(
        models.CreateCollection(
            vectors=models.VectorParams(size=100, distance=models.Distance.COSINE)
        )
    )
    config = build(body)
    assert config["params"]["vectors"] == {"size": 100, "distance": "Cosine"}
    assert not has_named_vectors(config)
    assert dense_vector_params(config) == {"": {"size": 100, "distance": "Cosine"}}


def test_client_named_vectors() -> None:
    body = wire(
        models.CreateCollection(
            vectors={
                "image": models.VectorParams(size=4, distance=models.Distance.DOT),
                "text": models.VectorParams(size=8, distance=models.Distance.COSINE),
            }
        )
    )
    config = build(body)
    assert has_named_vectors(config)
    assert dense_vector_params(config) == {
        "image": {"size": 4, "distance": "Dot"},
        "text": {"size": 8, "distance": "Cosine"},
    }


def test_client_sparse_only() -> None:
    body = wire(
        models.CreateCollection(
            sparse_vectors={
                "text": models.SparseVectorParams(
                    index=models.SparseIndexParams(on_disk=True, full_scan_threshold=500),
                    modifier=models.Modifier.IDF,
                ),
                "plain": models.SparseVectorParams(),
            }
        )
    )
    config = build(body)
    assert config["params"]["vectors"] == {}
    assert dense_vector_params(config) == {}
    assert config["params"]["sparse_vectors"] == {
        "text": {"index": {"full_scan_threshold": 500, "on_disk": True}, "modifier": "idf"},
        "plain": {},
    }


def test_no_vectors_at_all() -> None:
    for body in ({}, {"vectors": {}}, {"vectors": None}):
        config = build(body)
        assert config["params"]["vectors"] == {}
        assert "sparse_vectors" not in config["params"]


def test_client_vector_options_are_mirrored() -> None:
    body = wire(
        models.CreateCollection(
            vectors=models.VectorParams(
                size=1024,
                distance=models.Distance.MANHATTAN,
                datatype=models.Datatype.UINT8,
                on_disk=True,
                hnsw_config=models.HnswConfigDiff(m=32, on_disk=True),
                quantization_config=models.ScalarQuantization(
                    scalar=models.ScalarQuantizationConfig(type=models.ScalarType.INT8)
                ),
            ),
            on_disk_payload=True,
            replication_factor=2,
            write_consistency_factor=2,
            hnsw_config=models.HnswConfigDiff(ef_construct=200, payload_m=8),
            optimizers_config=models.OptimizersConfigDiff(
                indexing_threshold=0, max_optimization_threads="auto", deleted_threshold=0.5
            ),
            wal_config=models.WalConfigDiff(wal_capacity_mb=64),
        )
    )
    config = build(body)
    assert config["params"]["vectors"] == {
        "size": 1024,
        "distance": "Manhattan",
        "hnsw_config": {"m": 32, "on_disk": True},
        "quantization_config": {"scalar": {"type": "int8"}},
        "on_disk": True,
        "datatype": "uint8",
    }
    assert config["params"]["on_disk_payload"] is True
    assert config["params"]["replication_factor"] == 2
    assert config["params"]["write_consistency_factor"] == 2
    assert config["hnsw_config"]["ef_construct"] == 200
    assert config["hnsw_config"]["payload_m"] == 8
    assert config["optimizer_config"]["indexing_threshold"] == 0
    assert config["optimizer_config"]["max_optimization_threads"] is None  # "auto"
    assert config["optimizer_config"]["deleted_threshold"] == 0.5
    assert config["wal_config"] == {"wal_capacity_mb": 64, "wal_segments_ahead": 0}


def test_empty_vector_hnsw_diff_is_dropped() -> None:
    config = build({"vectors": {"size": 2, "distance": "Dot", "hnsw_config": {}}})
    assert "hnsw_config" not in config["params"]["vectors"]


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
                    compression=models.CompressionRatio.X16, always_ram=False
                )
            ),
            {"product": {"compression": "x16", "always_ram": False}},
        ),
        (
            models.BinaryQuantization(
                binary=models.BinaryQuantizationConfig(
                    always_ram=True,
                    encoding=models.BinaryQuantizationEncoding.TWO_BITS,
                    query_encoding=models.BinaryQuantizationQueryEncoding.SCALAR8BITS,
                )
            ),
            {
                "binary": {
                    "always_ram": True,
                    "encoding": "two_bits",
                    "query_encoding": "scalar8bits",
                }
            },
        ),
        (models.BinaryQuantization(binary=models.BinaryQuantizationConfig()), {"binary": {}}),
    ],
)
def test_client_quantization_kinds(quantization: object, expected: dict) -> None:
    body = wire(
        models.CreateCollection(
            vectors=models.VectorParams(size=8, distance=models.Distance.DOT),
            quantization_config=quantization,
        )
    )
    config = build(body)
    assert config["quantization_config"] == expected
    assert effective(config, "").quantization == expected


def test_client_strict_mode() -> None:
    body = wire(
        models.CreateCollection(
            vectors=models.VectorParams(size=8, distance=models.Distance.DOT),
            strict_mode_config=models.StrictModeConfig(
                enabled=True,
                max_query_limit=100,
                search_max_oversampling=2.5,
                unindexed_filtering_retrieve=False,
                read_rate_limit=10,
                sparse_config={"text": models.StrictModeSparse(max_length=64)},
                multivector_config={"img": models.StrictModeMultivector(max_vectors=4)},
            ),
        )
    )
    config = build(body)
    assert config["strict_mode_config"] == {
        "enabled": True,
        "max_query_limit": 100,
        "unindexed_filtering_retrieve": False,
        "search_max_oversampling": 2.5,
        "read_rate_limit": 10,
        "multivector_config": {"img": {"max_vectors": 4}},
        "sparse_config": {"text": {"max_length": 64}},
    }


def test_client_init_from_is_returned_separately() -> None:
    # As a 1.15 client sent it: clients from 1.16 on have no InitFrom.
    body = {
        **wire(models.CreateCollection(
            vectors=models.VectorParams(size=100, distance=models.Distance.COSINE))),
        "init_from": {"collection": "source"},
    }
    config, init_from = build_collection_config(body)
    assert init_from == "source"
    assert "init_from" not in json.dumps(config)


def test_sharding_method_auto_is_kept() -> None:
    config = build({**SINGLE, "sharding_method": "auto"})
    assert config["params"]["sharding_method"] == "auto"


def test_custom_sharding_defaults_to_one_shard_per_key() -> None:
    config, _ = build_collection_config({**SINGLE, "sharding_method": "custom"},
                                        default_shard_number=3)
    assert config["params"]["sharding_method"] == "custom"
    assert config["params"]["shard_number"] == 1


def test_null_values_mean_not_given() -> None:
    body = {
        "vectors": {"size": 4, "distance": "Dot", "on_disk": None, "hnsw_config": None},
        "shard_number": None,
        "hnsw_config": {"m": None},
        "quantization_config": None,
        "strict_mode_config": {"enabled": None},
        "init_from": None,
    }
    assert build(body) == build({"vectors": {"size": 4, "distance": "Dot"}})


def test_vector_called_size_is_a_named_vector() -> None:
    config = build({"vectors": {"size": {"size": 3, "distance": "Dot"}}})
    assert dense_vector_params(config) == {"size": {"size": 3, "distance": "Dot"}}


# --- create: errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ([], "^Expected `object`, got `array`$"),
        ({"vectorz": {}}, "^Object contains unknown field `vectorz`$"),
        ({"vectors": 5}, "^vectors: Expected `object | null`, got `int`$"),
        (
            {"vectors": {"size": 0, "distance": "Cosine"}},
            "^vectors.size: Expected `int` >= 1$",
        ),
        (
            {"vectors": {"size": True, "distance": "Cosine"}},
            "^vectors.size: Expected `int`, got `bool`$",
        ),
        (
            {"vectors": {"size": 4.0, "distance": "Cosine"}},
            "^vectors.size: Expected `int`, got `float`",
        ),
        (
            {"vectors": {"size": "4", "distance": "Cosine"}},
            "^vectors.size: Expected `int`, got `str`",
        ),
        ({"vectors": {"size": 4}}, "^vectors: Object missing required field `distance`$"),
        ({"vectors": {"distance": "Dot"}}, "^vectors: Object missing required field `size`$"),
        (
            {"vectors": {"image": {"size": 4, "distance": "Cosin"}}},
            "^vectors.image.distance: Invalid enum value 'Cosin'$",
        ),
        (
            {"vectors": {"size": 4, "distance": "cosine"}},
            "^vectors.distance: Invalid enum value 'cosine'$",
        ),
        ({"vectors": {"size": 4, "distance": 1}}, "^vectors.distance: Expected `str`, got `int`$"),
        (
            {"vectors": {"size": 4, "distance": "Dot", "datatype": "int8"}},
            "^vectors.datatype: Invalid enum value 'int8'$",
        ),
        (
            {"vectors": {"size": 4, "distance": "Dot", "on_disk": "yes"}},
            "^vectors.on_disk: Expected `bool | null`, got `str`$",
        ),
        (
            {"vectors": {"size": 4, "distance": "Dot", "extra": 1}},
            "^vectors: Object contains unknown field `extra`$",
        ),
        (
            {
                "vectors": {
                    "size": 4,
                    "distance": "Dot",
                    "multivector_config": {"comparator": "sum"},
                }
            },
            "^vectors.multivector_config.comparator: Invalid enum value 'sum'$",
        ),
        (
            {"vectors": {"a": {"size": 4, "distance": "Dot"}, "b": 3}},
            "^vectors.b: Expected `object`, got `int`$",
        ),
        ({"vectors": {"": {"size": 4, "distance": "Dot"}}}, "non-empty name"),
        (
            {"vectors": {"a": {"size": 4, "distance": "Dot", "hnsw_config": {"m": -1}}}},
            "^vectors.a.hnsw_config.m: Expected `int` >= 0$",
        ),
        (
            {"hnsw_config": {"ef_construct": 3}},
            "^hnsw_config.ef_construct: Expected `int` >= 4$",
        ),
        ({"hnsw_config": {"full_scan_threshold": 9}}, "^hnsw_config.full_scan_threshold: .*>= 10"),
        (
            {"hnsw_config": {"on_disk": 1}},
            "^hnsw_config.on_disk: Expected `bool | null`, got `int`$",
        ),
        ({"hnsw_config": {"ef": 10}}, "^hnsw_config: Object contains unknown field `ef`$"),
        (
            {"optimizers_config": {"deleted_threshold": 1.5}},
            "^optimizers_config.deleted_threshold: Expected `float` <= 1.0$",
        ),
        ({"optimizers_config": {"deleted_threshold": -0.1}}, "deleted_threshold"),
        (
            {"optimizers_config": {"vacuum_min_vector_number": 99}},
            "vacuum_min_vector_number: .*>= 100",
        ),
        ({"optimizers_config": {"max_segment_size": 0}}, "max_segment_size: .*>= 1"),
        (
            {"optimizers_config": {"max_optimization_threads": "many"}},
            "^optimizers_config.max_optimization_threads: Invalid enum value 'many'$",
        ),
        ({"optimizers_config": {"max_optimization_threads": -1}}, "max_optimization_threads"),
        (
            {"optimizers_config": {"flush_interval_sec": 1.5}},
            "^optimizers_config.flush_interval_sec: Expected `int | null`, got `float`$",
        ),
        (
            {"wal_config": {"wal_capacity_mb": 0}},
            "^wal_config.wal_capacity_mb: Expected `int` >= 1$",
        ),
        ({"wal_config": {"wal_segments_ahead": -1}}, "wal_segments_ahead"),
        ({"shard_number": 0}, "^shard_number: Expected `int` >= 1$"),
        ({"replication_factor": 0}, "^replication_factor: Expected `int` >= 1$"),
        ({"write_consistency_factor": 0}, "^write_consistency_factor: Expected `int` >= 1$"),
        ({"on_disk_payload": "true"}, "^on_disk_payload: Expected `bool | null`, got `str`$"),
        ({"sharding_method": "custom", "init_from": {"collection": "a"}},
         "^init_from: cannot fill a collection with custom sharding"),
        ({"shard_number": 1025}, "^shard_number: Expected `int` <= 1024$"),
        ({"sharding_method": "random"}, "^sharding_method: Invalid enum value 'random'$"),
        ({"init_from": "other"}, "^init_from: Expected `object | null`, got `str`$"),
        ({"init_from": {}}, "^init_from: Object missing required field `collection`$"),
        ({"init_from": {"collection": 5}}, "^init_from.collection: Expected `str`, got `int`$"),
        (
            {"init_from": {"collection": "a", "x": 1}},
            "^init_from: Object contains unknown field `x`$",
        ),
        ({"quantization_config": {}}, "^quantization_config: must hold exactly one of"),
        (
            {"quantization_config": {"scalar": {"type": "int8"}, "binary": {}}},
            "^quantization_config: must hold exactly one of",
        ),
        (
            {"quantization_config": "Disabled"},
            "^quantization_config: Expected `object | null`, got `str`$",
        ),
        (
            {"quantization_config": {"turbo": {}}},
            "^quantization_config: Object contains unknown field `turbo`$",
        ),
        (
            {"quantization_config": {"scalar": {}}},
            "^quantization_config.scalar: Object missing required field `type`$",
        ),
        (
            {"quantization_config": {"scalar": {"type": "int4"}}},
            "^quantization_config.scalar.type: Invalid enum value 'int4'$",
        ),
        (
            {"quantization_config": {"scalar": {"type": "int8", "quantile": 0.4}}},
            "^quantization_config.scalar.quantile: Expected `float` >= 0.5$",
        ),
        ({"quantization_config": {"scalar": {"type": "int8", "quantile": 1.01}}}, "quantile"),
        ({"quantization_config": {"scalar": {"type": "int8", "always_ram": "no"}}}, "always_ram"),
        (
            {"quantization_config": {"product": {}}},
            "^quantization_config.product: Object missing required field `compression`$",
        ),
        (
            {"quantization_config": {"product": {"compression": "x2"}}},
            "^quantization_config.product.compression: Invalid enum value 'x2'$",
        ),
        (
            {"quantization_config": {"binary": {"encoding": "three_bits"}}},
            "^quantization_config.binary.encoding: Invalid enum value 'three_bits'$",
        ),
        (
            {"quantization_config": {"binary": {"query_encoding": "int4"}}},
            "^quantization_config.binary.query_encoding: Invalid enum value 'int4'$",
        ),
        ({"sparse_vectors": []}, "^sparse_vectors: Expected `object | null`, got `array`$"),
        ({"sparse_vectors": {"t": 5}}, "^sparse_vectors.t: Expected `object`, got `int`$"),
        (
            {"sparse_vectors": {"t": {"modifier": "bm25"}}},
            "^sparse_vectors.t.modifier: Invalid enum value 'bm25'$",
        ),
        (
            {"sparse_vectors": {"t": {"index": {"full_scan_threshold": -1}}}},
            "sparse_vectors.t.index.full_scan_threshold",
        ),
        (
            {"sparse_vectors": {"t": {"index": {"datatype": "int8"}}}},
            "sparse_vectors.t.index.datatype",
        ),
        (
            {"sparse_vectors": {"t": {"index": {"m": 3}}}},
            "^sparse_vectors.t.index: Object contains unknown field `m`$",
        ),
        ({"sparse_vectors": {"": {}}}, "sparse vector needs a non-empty name"),
        (
            {"vectors": {"text": {"size": 4, "distance": "Dot"}}, "sparse_vectors": {"text": {}}},
            "^sparse_vectors.text: name 'text' is already used by a dense vector",
        ),
        (
            {"strict_mode_config": {"enabled": "yes"}},
            "^strict_mode_config.enabled: Expected `bool | null`, got `str`$",
        ),
        (
            {"strict_mode_config": {"max_query_limit": 0}},
            "^strict_mode_config.max_query_limit: .*>= 1",
        ),
        ({"strict_mode_config": {"max_timeout": 0}}, "max_timeout"),
        ({"strict_mode_config": {"read_rate_limit": 0}}, "read_rate_limit"),
        ({"strict_mode_config": {"max_points_count": 0}}, "max_points_count"),
        ({"strict_mode_config": {"upsert_max_batchsize": -1}}, "upsert_max_batchsize"),
        (
            {"strict_mode_config": {"search_max_oversampling": "2"}},
            "^strict_mode_config.search_max_oversampling: Expected `float | null`, got `str`$",
        ),
        (
            {"strict_mode_config": {"sparse_config": {"t": {"max_length": 0}}}},
            "strict_mode_config.sparse_config.t.max_length",
        ),
        (
            {"strict_mode_config": {"multivector_config": {"v": {"max": 1}}}},
            "^strict_mode_config.multivector_config.v: Object contains unknown field `max`$",
        ),
        (
            {"strict_mode_config": {"turbo": True}},
            "^strict_mode_config: Object contains unknown field `turbo`$",
        ),
    ],
)
def test_create_errors_name_the_field(body: object, match: str) -> None:
    rejects(build_collection_config, body, match=match)


# --- update -------------------------------------------------------------------------------------


@pytest.fixture
def single() -> dict:
    return build(SINGLE)


@pytest.fixture
def named() -> dict:
    body = {
        "vectors": {
            "my_vector": {"size": 4, "distance": "Dot", "hnsw_config": {"m": 8}},
            "other": {"size": 8, "distance": "Cosine"},
        },
        "sparse_vectors": {"text": {"index": {"on_disk": False}}},
    }
    return build(body)


def test_update_optimizer_threshold_doc_example(single: dict) -> None:
    patch = wire(
        models.UpdateCollection(
            optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10000)
        )
    )
    assert patch == {"optimizers_config": {"indexing_threshold": 10000}}
    new = update(single, patch)
    assert new["optimizer_config"]["indexing_threshold"] == 10000
    assert new["optimizer_config"]["flush_interval_sec"] == 5


def test_update_empty_optimizers_config_changes_nothing(single: dict) -> None:
    patch = wire(models.UpdateCollection(optimizers_config=models.OptimizersConfigDiff()))
    assert patch == {"optimizers_config": {}}
    assert update(single, patch) == single


def test_update_unnamed_vector_on_disk_doc_example(single: dict) -> None:
    patch = wire(models.UpdateCollection(vectors={"": models.VectorParamsDiff(on_disk=True)}))
    assert patch == {"vectors": {"": {"on_disk": True}}}
    new = update(single, patch)
    assert new["params"]["vectors"]["on_disk"] is True
    assert rebuilt_vectors(single, new) == {""}


def test_update_named_vector_on_disk_doc_example(named: dict) -> None:
    new = update(named, {"vectors": {"my_vector": {"on_disk": True}}})
    assert new["params"]["vectors"]["my_vector"]["on_disk"] is True
    assert "on_disk" not in new["params"]["vectors"]["other"]
    assert rebuilt_vectors(named, new) == {"my_vector"}


def test_update_hnsw_and_quantization_doc_example(named: dict) -> None:
    patch = wire(
        models.UpdateCollection(
            vectors={
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
    )
    new = update(named, patch)
    vector = new["params"]["vectors"]["my_vector"]
    assert vector["hnsw_config"] == {"m": 32, "ef_construct": 123}
    assert vector["quantization_config"] == {"product": {"compression": "x32", "always_ram": True}}
    assert vector["on_disk"] is True
    assert new["hnsw_config"]["ef_construct"] == 123
    assert new["hnsw_config"]["m"] == 16
    scalar = {"scalar": {"type": "int8", "quantile": 0.8, "always_ram": False}}
    assert new["quantization_config"] == scalar
    assert effective(new, "other").quantization == scalar
    assert effective(new, "my_vector").quantization == vector["quantization_config"]
    assert effective(new, "other").hnsw.ef_construct == 123
    assert effective(new, "my_vector").hnsw.ef_construct == 123
    assert effective(new, "my_vector").hnsw.m == 32
    # Both vectors inherit the collection HNSW/quantization change.
    assert rebuilt_vectors(named, new) == {"my_vector", "other"}


def test_update_vector_hnsw_diff_merges_and_empty_resets(named: dict) -> None:
    new = update(named, {"vectors": {"my_vector": {"hnsw_config": {"ef_construct": 64}}}})
    assert new["params"]["vectors"]["my_vector"]["hnsw_config"] == {"m": 8, "ef_construct": 64}
    reset = update(new, {"vectors": {"my_vector": {"hnsw_config": {}}}})
    assert "hnsw_config" not in reset["params"]["vectors"]["my_vector"]
    hnsw = effective(reset, "my_vector").hnsw
    assert (hnsw.m, hnsw.ef_construct) == (
        reset["hnsw_config"]["m"], reset["hnsw_config"]["ef_construct"]
    )


def test_update_quantization_disabled(single: dict) -> None:
    quantized = update(single, {"quantization_config": {"binary": {"always_ram": True}}})
    assert quantized["quantization_config"] == {"binary": {"always_ram": True}}
    patch = wire(models.UpdateCollection(quantization_config=models.Disabled.DISABLED))
    assert patch == {"quantization_config": "Disabled"}
    assert update(quantized, patch)["quantization_config"] is None


def test_update_vector_quantization_disabled_falls_back_to_collection(named: dict) -> None:
    collection_q = {"scalar": {"type": "int8"}}
    own_q = {"product": {"compression": "x4"}}
    config = update(
        named,
        {"quantization_config": collection_q, "vectors": {"other": {"quantization_config": own_q}}},
    )
    assert effective(config, "other").quantization == own_q
    patch = wire(
        models.UpdateCollection(
            vectors={"other": models.VectorParamsDiff(quantization_config=models.Disabled.DISABLED)}
        )
    )
    new = update(config, patch)
    assert "quantization_config" not in new["params"]["vectors"]["other"]
    assert effective(new, "other").quantization == collection_q
    assert rebuilt_vectors(config, new) == {"other"}


def test_update_params(single: dict) -> None:
    patch = wire(
        models.UpdateCollection(
            params=models.CollectionParamsDiff(
                replication_factor=3,
                write_consistency_factor=2,
                read_fan_out_factor=1,
                on_disk_payload=True,
            )
        )
    )
    params = update(single, patch)["params"]
    assert params["replication_factor"] == 3
    assert params["write_consistency_factor"] == 2
    assert params["read_fan_out_factor"] == 1
    assert params["on_disk_payload"] is True
    assert params["shard_number"] == 1


def test_update_optimizer_threads_auto(single: dict) -> None:
    new = update(single, {"optimizers_config": {"max_optimization_threads": "auto"}})
    assert new["optimizer_config"]["max_optimization_threads"] is None
    back = update(new, {"optimizers_config": {"max_optimization_threads": 4}})
    assert back["optimizer_config"]["max_optimization_threads"] == 4


def test_update_sparse_vectors(named: dict) -> None:
    patch = wire(
        models.UpdateCollection(
            sparse_vectors={
                "text": models.SparseVectorParams(
                    index=models.SparseIndexParams(full_scan_threshold=100),
                    modifier=models.Modifier.IDF,
                )
            }
        )
    )
    new = update(named, patch)
    assert new["params"]["sparse_vectors"]["text"] == {
        "index": {"on_disk": False, "full_scan_threshold": 100},
        "modifier": "idf",
    }
    assert rebuilt_vectors(named, new) == set()


def test_update_strict_mode_merges(single: dict) -> None:
    first = update(
        single,
        wire(
            models.UpdateCollection(
                strict_mode_config=models.StrictModeConfig(
                    enabled=True,
                    max_query_limit=50,
                    sparse_config={"a": models.StrictModeSparse(max_length=10)},
                )
            )
        ),
    )
    assert first["strict_mode_config"] == {
        "enabled": True,
        "max_query_limit": 50,
        "sparse_config": {"a": {"max_length": 10}},
    }
    second = update(
        first,
        {"strict_mode_config": {"max_timeout": 5, "sparse_config": {"b": {"max_length": 3}}}},
    )
    assert second["strict_mode_config"] == {
        "enabled": True,
        "max_query_limit": 50,
        "max_timeout": 5,
        "sparse_config": {"a": {"max_length": 10}, "b": {"max_length": 3}},
    }


def test_update_never_mutates_its_input(named: dict) -> None:
    before = copy.deepcopy(named)
    patch = {
        "vectors": {"my_vector": {"hnsw_config": {"m": 4}, "on_disk": True}},
        "sparse_vectors": {"text": {"index": {"on_disk": True}}},
        "hnsw_config": {"m": 4},
        "optimizers_config": {"indexing_threshold": 1},
        "params": {"replication_factor": 2},
        "strict_mode_config": {"enabled": True},
    }
    new = update(named, patch)
    assert named == before
    assert new != before


def test_update_is_all_or_nothing(named: dict) -> None:
    before = copy.deepcopy(named)
    patch = {"hnsw_config": {"m": 4}, "vectors": {"missing": {"on_disk": True}}}
    rejects(apply_collection_update, named, patch, match="missing")
    assert named == before


@pytest.mark.parametrize(
    ("patch", "match"),
    [
        ("nope", "^Expected `object`, got `str`$"),
        ({"shard_number": 2}, "^Object contains unknown field `shard_number`$"),
        ({"params": {"shard_number": 2}}, "^params.shard_number: cannot be changed"),
        ({"params": {"replication_factor": 0}}, "^params.replication_factor: Expected `int` >= 1$"),
        ({"params": {"write_consistency_factor": 0}}, "^params.write_consistency_factor"),
        ({"params": {"read_fan_out_factor": -1}}, "^params.read_fan_out_factor"),
        (
            {"params": {"on_disk_payload": 1}},
            "^params.on_disk_payload: Expected `bool | null`, got `int`$",
        ),
        ({"params": {"vectors": {}}}, "^params: Object contains unknown field `vectors`$"),
        (
            {"vectors": {"nope": {"on_disk": True}}},
            "^vectors.nope: no dense vector named 'nope'.*existing: my_vector, other",
        ),
        ({"vectors": {"": {"on_disk": True}}}, '^vectors."": no dense vector named'),
        (
            {"vectors": {"my_vector": {"size": 8}}},
            "^vectors.my_vector: Object contains unknown field `size`$",
        ),
        (
            {"vectors": {"my_vector": {"on_disk": "yes"}}},
            "^vectors.my_vector.on_disk: Expected `bool | null`, got `str`$",
        ),
        (
            {"vectors": {"my_vector": {"hnsw_config": {"ef_construct": 1}}}},
            "^vectors.my_vector.hnsw_config.ef_construct",
        ),
        (
            {"vectors": {"my_vector": {"quantization_config": "Off"}}},
            "^vectors.my_vector.quantization_config: Invalid enum value 'Off'$",
        ),
        (
            {"quantization_config": "disabled"},
            "^quantization_config: Invalid enum value 'disabled'$",
        ),
        (
            {"quantization_config": {"product": {"compression": "x3"}}},
            "^quantization_config.product.compression: Invalid enum value 'x3'$",
        ),
        ({"hnsw_config": {"full_scan_threshold": 5}}, "^hnsw_config.full_scan_threshold"),
        ({"optimizers_config": {"deleted_threshold": 2}}, "^optimizers_config.deleted_threshold"),
        ({"optimizers_config": {"vacuum_min_vector_number": 10}}, "vacuum_min_vector_number"),
        ({"optimizer_config": {}}, "^Object contains unknown field `optimizer_config`$"),
        ({"wal_config": {"wal_capacity_mb": 64}}, "^Object contains unknown field `wal_config`$"),
        ({"sparse_vectors": {"nope": {}}}, "^sparse_vectors.nope: no sparse vector named 'nope'"),
        (
            {"sparse_vectors": {"text": {"modifier": "tfidf"}}},
            "^sparse_vectors.text.modifier: Invalid enum value 'tfidf'$",
        ),
        ({"strict_mode_config": {"max_query_limit": 0}}, "^strict_mode_config.max_query_limit"),
    ],
)
def test_update_errors_name_the_field(named: dict, patch: object, match: str) -> None:
    rejects(apply_collection_update, named, patch, match=match)


def test_update_unknown_vector_on_single_collection_hints_at_empty_name(single: dict) -> None:
    rejects(
        apply_collection_update,
        single,
        {"vectors": {"default": {"on_disk": True}}},
        match='^vectors.default: .*use "" for the unnamed vector',
    )


# --- derived views ------------------------------------------------------------------------------


def test_storage_unchanged_for_unrelated_updates(named: dict) -> None:
    new = update(
        named,
        {"optimizers_config": {"indexing_threshold": 5}, "params": {"on_disk_payload": True}},
    )
    assert rebuilt_vectors(named, new) == set()


def test_storage_change_for_collection_hnsw_skips_fully_overridden_vector(named: dict) -> None:
    # my_vector pins m itself, so a collection-level m change only reaches "other".
    new = update(named, {"hnsw_config": {"m": 4}})
    assert rebuilt_vectors(named, new) == {"other"}


def test_has_named_vectors_for_collection_without_dense_vectors() -> None:
    config = build({})
    assert has_named_vectors(config)
    assert dense_vector_params(config) == {}
