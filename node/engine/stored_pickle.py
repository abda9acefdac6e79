"""Decoding of what the engine stores with pickle (WAL records, segment state files).

These files are written by this node, but they also arrive from elsewhere: a snapshot archive
uploaded or fetched over the network holds them. A pickle can name any importable callable for
the decoder to call, so this decoder admits only the globals the engine's own records contain:
numpy arrays and dtypes and the point-batch dataclasses (rebuilt by setting their fields, which
runs no code of theirs). Anything else is refused as a damaged file.
"""

from __future__ import annotations

import io
import pickle

import numpy as np

from node.engine.point_batch import DenseColumn, PointBatch, SparseVector


class RefusedStoredPickle(pickle.UnpicklingError):
    """A stored record named a global outside the allowlist; nothing of it was run."""


# numpy 2 writes arrays through `_frombuffer` (protocol 5) or `_reconstruct` (older protocols);
# files written under numpy 1 name the same functions under `numpy.core`.
_frombuffer = np._core.numeric._frombuffer
_reconstruct = np._core.multiarray._reconstruct
_NUMPY_REBUILDERS = {
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
}

ALLOWED_GLOBALS: dict[tuple[str, str], object] = {
    **_NUMPY_REBUILDERS,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
    ("node.engine.point_batch", "PointBatch"): PointBatch,
    ("node.engine.point_batch", "DenseColumn"): DenseColumn,
    ("node.engine.point_batch", "SparseVector"): SparseVector,
}


class _StoredUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            raise RefusedStoredPickle(f"a stored record names {module}.{name}, which is not "
                                      "part of the engine's format")
        return allowed


def loads(data: bytes) -> object:
    """pickle.loads for the engine's own records, restricted to the allowlist."""
    return _StoredUnpickler(io.BytesIO(data)).load()


def load(file: io.BufferedIOBase) -> object:
    """pickle.load for the engine's own files, restricted to the allowlist."""
    return _StoredUnpickler(file).load()
