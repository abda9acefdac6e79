"""Quantized multivectors: codes for every sub-vector of a sealed segment, and max_sim over them.

A multivector's rows (one per sub-vector) are quantized like a dense vector's rows (one
`QuantizedVectors` over the segment's rows file, so a code's position is its row), and a query
is scored on the codes with the same max_sim: per query sub-vector the best approximate
similarity over the point's sub-vectors, summed. The best `limit * oversampling` points by this
score are then rescored on the original sub-vectors, unless the search says `rescore: false`.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from node.engine.max_sim import best_sums, reported
from node.engine.multi_storage import MultiStorage, _ranges
from node.engine.quantization import QuantizedVectors, oversampled_limit
from node.engine.shard_config import DenseVectorSpec
from node.engine.vector_index_builder import quantized_in_ram


def build_multi_codes(storage: MultiStorage, directory: Path,
                      spec: DenseVectorSpec) -> tuple[QuantizedVectors, str]:
    """Codes of every row of a sealed segment's multivector `storage`, written into the
    segment's `directory` (under the returned name) and loaded as searches will use them."""
    rows = np.asarray(storage.rows.vectors(), dtype=np.float32)
    built = QuantizedVectors.build(spec.quantization, spec.distance, rows)
    stamp = f"{spec.name.encode().hex() or 'default'}-{time.time_ns()}"
    dirname = f"quant-multi-{stamp}"
    built.save(directory / dirname)
    return QuantizedVectors.load(directory / dirname, in_ram=quantized_in_ram(spec)), dirname


def quantized_max_sim(quantized: QuantizedVectors, storage: MultiStorage, query: np.ndarray,
                      offsets: np.ndarray) -> np.ndarray:
    """Approximate max_sim cores (larger is better) of the points at `offsets`, from codes."""
    lengths = storage.counts[offsets].astype(np.int64)
    rows = np.repeat(storage.starts[offsets], lengths) + _ranges(lengths)
    return best_sums(quantized.similarities(query, rows), lengths)


def preselect(spec: DenseVectorSpec, quantized: QuantizedVectors, storage: MultiStorage,
              query: np.ndarray, offsets: np.ndarray, k: int,
              options: dict) -> tuple[np.ndarray | None, np.ndarray]:
    """The candidates worth an exact score: (None, the best `k * oversampling` offsets by
    their quantized max_sim), or (their quantized scores as reported, offsets) when the
    search says `rescore: false`."""
    wanted = oversampled_limit(k, options.get("oversampling"))
    rescore = options.get("rescore") is not False
    if rescore and len(offsets) <= wanted:
        return None, offsets  # every candidate is rescored anyway: the codes would add nothing
    core = quantized_max_sim(quantized, storage, query, offsets)
    if len(core) > wanted:
        picked = np.argpartition(-core, wanted - 1)[:wanted]
        core, offsets = core[picked], offsets[picked]
    if rescore:
        return None, offsets
    return reported(spec, core), offsets
