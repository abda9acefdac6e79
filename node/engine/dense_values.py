"""Dense vectors as requests give them, turned into the rows a segment stores: checked for
size and range, normalised for Cosine, cast to the vector's datatype."""

from __future__ import annotations

import numpy as np

from node.engine.shard_config import DenseVectorSpec
from node.errors import BadRequest


def convert_dense(spec: DenseVectorSpec, rows: object, where: str) -> np.ndarray:
    """Validate a list of dense vectors for `spec` and return them as an (n, size) array of its
    storage dtype; Cosine vectors are normalised, as Qdrant stores them."""
    try:
        arr = np.asarray(rows, dtype=np.float64)
    except (TypeError, ValueError):
        arr = None
    if arr is None or arr.ndim != 2 or arr.shape[1] != spec.size:
        for i, row in enumerate(rows):  # find the offending vector for a precise message
            if len(row) != spec.size:
                raise BadRequest(
                    f"{where}[{i}]: wrong vector dimension: expected {spec.size}, got {len(row)}"
                )
        raise BadRequest(f"{where}: expected vectors of {spec.size} numbers")
    if arr.size and not np.isfinite(arr).all():
        bad = int(np.argwhere(~np.isfinite(arr))[0][0])
        raise BadRequest(f"{where}[{bad}]: vector values must be finite (no NaN or infinity)")
    if spec.datatype == "uint8":
        ok = (arr >= 0) & (arr <= 255) & (arr == np.floor(arr))
        if not ok.all():
            bad = int(np.argwhere(~ok)[0][0])
            raise BadRequest(
                f"{where}[{bad}]: uint8 vectors take integers from 0 to 255 only"
            )
        return arr.astype(np.uint8)
    if spec.distance == "Cosine":
        norms = np.linalg.norm(arr, axis=1, keepdims=True)
        arr = np.divide(arr, norms, out=np.zeros_like(arr), where=norms > 0)
    if spec.datatype == "float16" and arr.size and np.abs(arr).max() > 65504:
        raise BadRequest(f"{where}: values exceed the float16 range")
    return arr.astype(spec.dtype)
