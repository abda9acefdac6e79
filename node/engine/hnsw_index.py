"""An HNSW graph over the vectors of one sealed segment, built with hnswlib.

Labels are segment offsets. Cosine vectors are stored normalised, so inner product ranks them;
Manhattan has no hnswlib space, so its graph is built in L2 and serves as a candidate generator
whose results are rescored exactly.
"""

from __future__ import annotations

import contextlib
import errno
from pathlib import Path

import hnswlib
import numpy as np

from node.engine.shard_config import DenseVectorSpec

_SPACES = {"Cosine": "ip", "Dot": "ip", "Euclid": "l2", "Manhattan": "l2"}


class HnswIndex:
    def __init__(self, spec: DenseVectorSpec, index: hnswlib.Index, count: int) -> None:
        self.spec = spec
        self._index = index
        self.count = count  # labels added, deleted ones included

    @staticmethod
    def build(spec: DenseVectorSpec, vectors: np.ndarray, labels: np.ndarray) -> HnswIndex:
        index = hnswlib.Index(space=_SPACES[spec.distance], dim=spec.size)
        index.init_index(
            max_elements=max(len(labels), 1),
            M=max(spec.hnsw.m, 2),
            ef_construction=spec.hnsw.ef_construct,
            random_seed=100,
        )
        _add_rows(index, spec, vectors, labels)
        return HnswIndex(spec, index, len(labels))

    @staticmethod
    def extend(
        spec: DenseVectorSpec, path: Path, capacity: int, vectors: np.ndarray, labels: np.ndarray
    ) -> HnswIndex:
        """The graph saved at `path` with more rows inserted: a merge keeps the graph of its
        largest source and pays only for the points it adds."""
        index = hnswlib.Index(space=_SPACES[spec.distance], dim=spec.size)
        index.load_index(str(path), max_elements=max(capacity, 1))
        _add_rows(index, spec, vectors, labels)
        return HnswIndex(spec, index, capacity)

    def save(self, path: Path) -> None:
        # hnswlib writes through a C++ stream that does not report a failed write (a full
        # disk): a short file is caught here instead of at the next load.
        expected = self._index.index_file_size()
        self._index.save_index(str(path))
        written = path.stat().st_size
        if written != expected:
            path.unlink(missing_ok=True)
            raise OSError(errno.EIO, f"HNSW graph file {path.name} is truncated ({written} of "
                                     f"{expected} bytes written; is the disk full?)")

    @staticmethod
    def load(spec: DenseVectorSpec, path: Path, count: int) -> HnswIndex:
        index = hnswlib.Index(space=_SPACES[spec.distance], dim=spec.size)
        index.load_index(str(path), max_elements=max(count, 1))
        return HnswIndex(spec, index, count)

    def mark_deleted(self, label: int) -> None:
        # Already marked, or never added (deleted before the build): nothing to do.
        with contextlib.suppress(RuntimeError):
            self._index.mark_deleted(int(label))

    def search(
        self, queries: np.ndarray, k: int, ef: int, filter_fn=None, threads: int = 1
    ) -> tuple[np.ndarray, np.ndarray]:
        """Labels and hnswlib distances of the k nearest, one row per query; a batch of
        queries runs on `threads` threads inside hnswlib, without the GIL."""
        self._index.set_ef(max(ef, k))
        return self._index.knn_query(
            np.ascontiguousarray(queries, dtype=np.float32), k=k, num_threads=threads,
            filter=filter_fn,
        )


def _add_rows(index: hnswlib.Index, spec: DenseVectorSpec, vectors: np.ndarray,
              labels: np.ndarray) -> None:
    if not len(labels):
        return
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    # float32 Cosine rows are stored normalised already; uint8 ones are stored as
    # given, and float16 ones only nearly unit length after rounding.
    if spec.distance == "Cosine" and spec.datatype != "float32":
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
    index.add_items(vectors, labels, num_threads=spec.hnsw.threads)
