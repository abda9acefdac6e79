"""Collection bodies: create (`PUT /collections/{name}`), update (`PATCH`), and a new named
vector (`PUT /collections/{name}/vectors/{vector}`), with the config diffs inside them.

Every part refuses fields it does not name (a misspelt setting would otherwise be dropped
silently) and a null means "not given". What depends on the collection as it is (which vectors
exist) is checked by cluster/metadata/collection_config.py, which builds the stored config.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

import msgspec
from msgspec import Meta

from node.model.decode import convert_at, invalid

NonNegative = Annotated[int, Meta(ge=0)]
Positive = Annotated[int, Meta(ge=1)]
PositiveUInt32 = Annotated[int, Meta(ge=1, le=2**32 - 1)]
# Placement of every shard runs inside the Raft apply on every node: an unbounded count would
# let one request stall the cluster. Qdrant states no limit; no deployment needs more.
MAX_SHARDS = 1024
ShardCount = Annotated[int, Meta(ge=1, le=MAX_SHARDS)]
UInt32 = Annotated[int, Meta(ge=0, le=2**32 - 1)]
Distance = Literal["Cosine", "Dot", "Euclid", "Manhattan"]
Datatype = Literal["float32", "float16", "uint8"]
Modifier = Literal["none", "idf"]
QUANTIZATION_DISABLED = "Disabled"

_STRICT = {"forbid_unknown_fields": True, "omit_defaults": True}
T = TypeVar("T")

# A map from names (of vectors) to settings. It is decoded name by name in __post_init__ (see
# `by_name`), so that an error names the vector: msgspec's own paths show a key as `[...]`.
ByName = dict[str, Any]


def by_name(parts: ByName | None, kind: type[T], path: str) -> dict[str, T] | None:
    if parts is None:
        return None
    # The unnamed vector ("") is shown as "" rather than as a trailing dot.
    return {name: convert_at(part, kind, f"{path}.{name}" if name else f'{path}.""')
            for name, part in parts.items()}


class HnswConfigDiff(msgspec.Struct, **_STRICT):
    m: NonNegative | None = None
    ef_construct: Annotated[int, Meta(ge=4)] | None = None
    full_scan_threshold: Annotated[int, Meta(ge=10)] | None = None
    max_indexing_threads: NonNegative | None = None
    on_disk: bool | None = None
    payload_m: NonNegative | None = None


class OptimizersConfigDiff(msgspec.Struct, **_STRICT):
    deleted_threshold: Annotated[float, Meta(ge=0, le=1)] | None = None
    vacuum_min_vector_number: Annotated[int, Meta(ge=100)] | None = None
    default_segment_number: NonNegative | None = None
    max_segment_size: Positive | None = None
    memmap_threshold: NonNegative | None = None
    indexing_threshold: NonNegative | None = None
    flush_interval_sec: NonNegative | None = None
    max_optimization_threads: NonNegative | Literal["auto"] | None = None


class WalConfigDiff(msgspec.Struct, **_STRICT):
    wal_capacity_mb: Positive | None = None
    wal_segments_ahead: NonNegative | None = None


class ScalarQuantizationConfig(msgspec.Struct, **_STRICT):
    type: Literal["int8"]
    quantile: Annotated[float, Meta(ge=0.5, le=1)] | None = None
    always_ram: bool | None = None


class ProductQuantizationConfig(msgspec.Struct, **_STRICT):
    compression: Literal["x4", "x8", "x16", "x32", "x64"]
    always_ram: bool | None = None


class BinaryQuantizationConfig(msgspec.Struct, **_STRICT):
    always_ram: bool | None = None
    encoding: Literal["one_bit", "two_bits", "one_and_half_bits"] | None = None
    query_encoding: Literal["default", "binary", "scalar4bits", "scalar8bits"] | None = None


class QuantizationConfig(msgspec.Struct, **_STRICT):
    scalar: ScalarQuantizationConfig | None = None
    product: ProductQuantizationConfig | None = None
    binary: BinaryQuantizationConfig | None = None

    def __post_init__(self) -> None:
        given = (self.scalar, self.product, self.binary)
        if sum(kind is not None for kind in given) != 1:
            raise ValueError("must hold exactly one of scalar, product, binary")


# An update may also switch quantization off.
QuantizationDiff = QuantizationConfig | Literal["Disabled"]


class MultivectorConfig(msgspec.Struct, **_STRICT):
    comparator: Literal["max_sim"]


class VectorParams(msgspec.Struct, **_STRICT):
    size: Positive
    distance: Distance
    hnsw_config: HnswConfigDiff | None = None
    quantization_config: QuantizationConfig | None = None
    on_disk: bool | None = None
    datatype: Datatype | None = None
    multivector_config: MultivectorConfig | None = None


class VectorParamsDiff(msgspec.Struct, **_STRICT):
    hnsw_config: HnswConfigDiff | None = None
    quantization_config: QuantizationDiff | None = None
    on_disk: bool | None = None


class SparseIndexParams(msgspec.Struct, **_STRICT):
    full_scan_threshold: NonNegative | None = None
    on_disk: bool | None = None
    datatype: Datatype | None = None


class SparseVectorParams(msgspec.Struct, **_STRICT):
    index: SparseIndexParams | None = None
    modifier: Modifier | None = None


class StrictModeMultivector(msgspec.Struct, **_STRICT):
    max_vectors: Positive | None = None


class StrictModeSparse(msgspec.Struct, **_STRICT):
    max_length: Positive | None = None


class StrictModeConfig(msgspec.Struct, **_STRICT):
    enabled: bool | None = None
    max_query_limit: Positive | None = None
    max_timeout: Positive | None = None
    unindexed_filtering_retrieve: bool | None = None
    unindexed_filtering_update: bool | None = None
    search_max_hnsw_ef: NonNegative | None = None
    search_allow_exact: bool | None = None
    search_max_oversampling: float | None = None
    upsert_max_batchsize: NonNegative | None = None
    max_collection_vector_size_bytes: NonNegative | None = None
    read_rate_limit: Positive | None = None
    write_rate_limit: Positive | None = None
    max_collection_payload_size_bytes: NonNegative | None = None
    max_points_count: Positive | None = None
    filter_max_conditions: NonNegative | None = None
    condition_max_size: NonNegative | None = None
    multivector_config: ByName | None = None  # name -> StrictModeMultivector
    sparse_config: ByName | None = None  # name -> StrictModeSparse

    def __post_init__(self) -> None:
        self.multivector_config = by_name(self.multivector_config, StrictModeMultivector,
                                          "multivector_config")
        self.sparse_config = by_name(self.sparse_config, StrictModeSparse, "sparse_config")
        # JSON has no NaN, but a body built from a protobuf message may carry one.
        oversampling = self.search_max_oversampling
        if oversampling is not None and not math.isfinite(oversampling):
            raise invalid("search_max_oversampling", "must be a finite number")


class InitFrom(msgspec.Struct, **_STRICT):
    collection: Annotated[str, Meta(min_length=1)]


class CreateCollection(msgspec.Struct, dict=True, **_STRICT):
    """`dense` (set while decoding, never decoded from a request) holds the dense vectors:
    the unnamed vector's VectorParams, or name -> VectorParams."""

    # Either form is a JSON object, which one union cannot tell apart: read in __post_init__.
    vectors: dict[str, Any] | None = None
    shard_number: ShardCount | None = None
    sharding_method: Literal["auto", "custom"] | None = None
    replication_factor: PositiveUInt32 | None = None
    write_consistency_factor: PositiveUInt32 | None = None
    on_disk_payload: bool | None = None
    hnsw_config: HnswConfigDiff | None = None
    wal_config: WalConfigDiff | None = None
    optimizers_config: OptimizersConfigDiff | None = None
    init_from: InitFrom | None = None
    quantization_config: QuantizationConfig | None = None
    sparse_vectors: ByName | None = None  # name -> SparseVectorParams
    strict_mode_config: StrictModeConfig | None = None
    metadata: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.sparse_vectors = by_name(self.sparse_vectors, SparseVectorParams, "sparse_vectors")
        if self.sharding_method == "custom" and self.init_from is not None:
            # The copied points would need a shard key each, and there is none to give them.
            raise invalid("init_from", "cannot fill a collection with custom sharding")
        self.dense = _dense_vectors(self.vectors)
        dense_names = () if isinstance(self.dense, VectorParams) else self.dense
        for name in self.sparse_vectors or ():
            if name == "":
                raise invalid("sparse_vectors", "a sparse vector needs a non-empty name")
            if name in dense_names:
                raise invalid(f"sparse_vectors.{name}",
                              f"name {name!r} is already used by a dense vector")


def is_single_vector_form(vectors: dict) -> bool:
    """A VectorParams has a scalar `size` or `distance`; a map of named vectors only objects
    (so a vector may well be called "size")."""
    return any(key in vectors and not isinstance(vectors[key], dict)
               for key in ("size", "distance"))


def _dense_vectors(vectors: dict[str, Any] | None) -> VectorParams | dict[str, VectorParams]:
    if not vectors:
        return {}
    if is_single_vector_form(vectors):
        return convert_at(vectors, VectorParams, "vectors")
    if "" in vectors:
        raise invalid("vectors", 'a named vector needs a non-empty name ("" is the unnamed '
                      "vector)")
    return by_name(vectors, VectorParams, "vectors")


class CollectionParamsDiff(msgspec.Struct, **_STRICT):
    replication_factor: PositiveUInt32 | None = None
    write_consistency_factor: PositiveUInt32 | None = None
    read_fan_out_factor: UInt32 | None = None
    read_fan_out_delay_ms: NonNegative | None = None
    on_disk_payload: bool | None = None
    # Named only to be refused with a reason: the placement of every point depends on it.
    shard_number: Any = None

    def __post_init__(self) -> None:
        if self.shard_number is not None:
            raise invalid("shard_number", "cannot be changed after the collection is created; "
                          "create a new collection instead")


class UpdateCollection(msgspec.Struct, **_STRICT):
    vectors: ByName | None = None  # name -> VectorParamsDiff
    optimizers_config: OptimizersConfigDiff | None = None
    params: CollectionParamsDiff | None = None
    hnsw_config: HnswConfigDiff | None = None
    quantization_config: QuantizationDiff | None = None
    sparse_vectors: ByName | None = None  # name -> SparseVectorParams
    strict_mode_config: StrictModeConfig | None = None
    metadata: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.vectors = by_name(self.vectors, VectorParamsDiff, "vectors")
        self.sparse_vectors = by_name(self.sparse_vectors, SparseVectorParams, "sparse_vectors")


class NewDenseVector(msgspec.Struct, **_STRICT):
    size: Positive
    distance: Distance
    datatype: Datatype | None = None
    multivector_config: MultivectorConfig | None = None


class NewSparseVector(msgspec.Struct, **_STRICT):
    modifier: Modifier | None = None
    datatype: Datatype | None = None


class VectorNameConfig(msgspec.Struct, **_STRICT):
    """A vector added to a collection: {"dense": ...} or {"sparse": ...}."""

    dense: NewDenseVector | None = None
    sparse: NewSparseVector | None = None

    def __post_init__(self) -> None:
        if (self.dense is None) == (self.sparse is None):
            raise ValueError('expected exactly one of "dense" or "sparse"')
