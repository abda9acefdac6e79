"""What a local shard needs to know of its collection's config, read from the canonical dict.

The canonical collection config is the dict Qdrant returns as `result.config` of collection info;
it is replicated through Raft as is. This module is the one place that derives the effective
per-vector settings (a vector's own hnsw/quantization overrides over the collection's).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

DTYPES = {"float32": np.float32, "float16": np.float16, "uint8": np.uint8}
# `max_segment_size` when the config leaves it unset: large enough that a shard's data sits
# in few graphs (fewer graphs per query), small enough that one rebuild stays bounded.
AUTO_MAX_SEGMENT_KB = 200_000


@dataclass(frozen=True)
class HnswParams:
    m: int = 16
    ef_construct: int = 100
    full_scan_threshold_kb: int = 10000
    max_indexing_threads: int = 0

    @property
    def threads(self) -> int:
        return self.max_indexing_threads or max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class DenseVectorSpec:
    name: str  # "" for the single unnamed vector
    size: int
    distance: str  # Cosine, Dot, Euclid, Manhattan
    datatype: str = "float32"
    on_disk: bool = False
    hnsw: HnswParams = field(default_factory=HnswParams)
    quantization: dict | None = None

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(DTYPES[self.datatype])

    @property
    def row_bytes(self) -> int:
        return self.size * self.dtype.itemsize


@dataclass(frozen=True)
class SparseVectorSpec:
    name: str
    modifier: str = "none"
    full_scan_threshold: int | None = None
    on_disk: bool = False


@dataclass(frozen=True)
class OptimizerParams:
    indexing_threshold_kb: int = 20000
    deleted_threshold: float = 0.2
    vacuum_min_vector_number: int = 1000
    flush_interval_sec: int = 5
    max_segment_size_kb: int | None = None
    max_optimization_threads: int | None = 1
    default_segment_number: int = 0  # 0: automatic, see segment_target

    def segment_target(self) -> int:
        """How many sealed segments the merge optimizer settles a shard to. Automatic means
        one (split only by `max_segment_size`): a query searches a shard's segments one after
        another, and a batch runs its threads inside one graph, so each extra segment is one
        more graph walk per query and buys no parallelism."""
        return self.default_segment_number or 1

    def max_segment_kb(self) -> int:
        """The largest segment (kB of vectors) a merge may produce."""
        return self.max_segment_size_kb or AUTO_MAX_SEGMENT_KB


@dataclass(frozen=True)
class ShardConfig:
    dense: dict[str, DenseVectorSpec]
    sparse: dict[str, SparseVectorSpec]
    optimizer: OptimizerParams
    # Multivectors (`multivector_config` with max_sim): a variable number of sub-vectors per
    # point, each shaped as the spec says; kept apart from `dense`, whose rows are one per point.
    multi: dict[str, DenseVectorSpec] = field(default_factory=dict)
    on_disk_payload: bool = False
    wal_capacity_mb: int = 32
    wal_segments_ahead: int = 0

    @staticmethod
    def from_collection_config(config: dict) -> ShardConfig:
        params = config.get("params", {})
        collection_hnsw = config.get("hnsw_config") or {}
        collection_quant = config.get("quantization_config")
        vectors = params.get("vectors") or {}
        named = {"": vectors} if "size" in vectors else vectors
        dense: dict[str, DenseVectorSpec] = {}
        multi: dict[str, DenseVectorSpec] = {}
        for name, vp in named.items():
            hnsw = {**collection_hnsw, **(vp.get("hnsw_config") or {})}
            target = multi if vp.get("multivector_config") else dense
            target[name] = DenseVectorSpec(
                name=name,
                size=int(vp["size"]),
                distance=vp["distance"],
                datatype=vp.get("datatype") or "float32",
                on_disk=bool(vp.get("on_disk") or False),
                hnsw=HnswParams(
                    m=int(hnsw.get("m", 16)),
                    ef_construct=int(hnsw.get("ef_construct", 100)),
                    full_scan_threshold_kb=int(hnsw.get("full_scan_threshold", 10000)),
                    max_indexing_threads=int(hnsw.get("max_indexing_threads") or 0),
                ),
                quantization=vp.get("quantization_config") or collection_quant,
            )
        sparse = {}
        for name, sp in (params.get("sparse_vectors") or {}).items():
            index = (sp or {}).get("index") or {}
            sparse[name] = SparseVectorSpec(
                name=name,
                modifier=(sp or {}).get("modifier") or "none",
                full_scan_threshold=index.get("full_scan_threshold"),
                on_disk=bool(index.get("on_disk") or False),
            )
        opt = config.get("optimizer_config") or {}
        wal = config.get("wal_config") or {}
        indexing = opt.get("indexing_threshold")
        return ShardConfig(
            dense=dense,
            sparse=sparse,
            multi=multi,
            optimizer=OptimizerParams(
                indexing_threshold_kb=20000 if indexing is None else int(indexing),
                deleted_threshold=float(opt.get("deleted_threshold", 0.2)),
                vacuum_min_vector_number=int(opt.get("vacuum_min_vector_number", 1000)),
                flush_interval_sec=int(opt.get("flush_interval_sec", 5)),
                max_segment_size_kb=opt.get("max_segment_size"),
                max_optimization_threads=opt.get("max_optimization_threads", 1),
                default_segment_number=int(opt.get("default_segment_number") or 0),
            ),
            on_disk_payload=bool(params.get("on_disk_payload", False)),
            wal_capacity_mb=int(wal.get("wal_capacity_mb", 32)),
            wal_segments_ahead=int(wal.get("wal_segments_ahead", 0)),
        )

    def vector_names(self) -> list[str]:
        """Every vector of the collection: dense, multivector and sparse."""
        return sorted([*self.dense, *self.multi, *self.sparse])

    def vector_row_bytes(self) -> int:
        """Bytes of dense vector data per point; what indexing_threshold (kB) is measured in."""
        return sum(spec.size * 4 for spec in self.dense.values())

    def index_layout(self, name: str) -> tuple:
        """What a built index of this vector depends on: a change means a rebuild."""
        spec = self.dense[name]
        return (spec.size, spec.distance, spec.hnsw.m, spec.hnsw.ef_construct, spec.on_disk,
                repr(spec.quantization))

    def multi_codes_layout(self, name: str) -> str:
        """What a sealed segment's codes of multivector `name` depend on: a change means a
        rebuild (the segment records it even when there are no codes)."""
        return repr(self.multi[name].quantization)
