"""Building what an optimized segment searches with, for one dense vector: the HNSW graph and,
when the vector's config asks for it, quantized codes. Runs on the optimizer's thread, outside
the shard lock; the files it writes join the segment only when a manifest lists them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from node.engine.dense_storage import DenseStorage
from node.engine.hnsw_index import HnswIndex
from node.engine.quantization import QuantizedVectors
from node.engine.shard_config import DenseVectorSpec


@dataclass
class BuiltIndex:
    graph: HnswIndex
    inserted: int  # points this build inserted into the graph
    graph_file: str
    quantized: QuantizedVectors | None
    quantized_dir: str | None


@dataclass(frozen=True)
class GraphBase:
    """A saved graph whose labels are the first `rows` offsets of the segment being built:
    the build inserts only the offsets past them."""

    path: Path
    rows: int


def build_vector_index(
    storage: DenseStorage, directory: Path, spec: DenseVectorSpec, live: np.ndarray,
    base: GraphBase | None = None,
) -> BuiltIndex:
    """Graph over the `live` offsets of a segment's `storage` holding the vector (extending
    `base` when given), its files written into the segment's `directory`; quantized codes over
    every row (so a code's position is its segment offset)."""
    offsets = live[storage.present[live]]
    rows = storage.vectors()
    if base is not None:
        added = offsets[offsets >= base.rows]
        # Every row past the base: passed as a view, not a copy.
        contiguous = added.size == len(rows) - base.rows
        graph = HnswIndex.extend(spec, base.path, len(rows),
                                 rows[base.rows:] if contiguous else rows[added], added)
        inserted = len(added)
    else:
        # Sorted, distinct and as many as the rows: every row, passed as a view, not a copy.
        dense = offsets.size == len(rows)
        graph = HnswIndex.build(
            spec, np.asarray(rows if dense else rows[offsets], dtype=np.float32), offsets
        )
        inserted = len(offsets)
    stamp = f"{spec.name.encode().hex() or 'default'}-{time.time_ns()}"
    graph_file = f"hnsw-{stamp}.bin"
    graph.save(directory / graph_file)
    quantized = quantized_dir = None
    if spec.quantization:
        quantized = QuantizedVectors.build(
            spec.quantization, spec.distance, np.asarray(rows, dtype=np.float32)
        )
        quantized_dir = f"quant-{stamp}"
        quantized.save(directory / quantized_dir)
        quantized = QuantizedVectors.load(
            directory / quantized_dir, in_ram=quantized_in_ram(spec)
        )
    return BuiltIndex(graph, inserted, graph_file, quantized, quantized_dir)


def quantized_in_ram(spec: DenseVectorSpec) -> bool:
    """Codes stay in RAM with always_ram, or when the vectors themselves live in RAM."""
    # No quantization in the config (switched off, the segment not rebuilt yet): as the vectors.
    options = next(iter((spec.quantization or {}).values()), None) or {}
    return bool(options.get("always_ram")) or not spec.on_disk
