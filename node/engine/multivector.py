"""Reading a multivector (a list of sub-vectors, each of the vector's size) from JSON.

One function for points, updates and queries alike, so a typed request model can call it as is.
"""

from __future__ import annotations

import numpy as np

from node.engine.dense_values import convert_dense
from node.engine.shard_config import DenseVectorSpec
from node.errors import BadRequest


def parse_multivector(spec: DenseVectorSpec, raw: object, where: str) -> np.ndarray:
    """An (n, size) array of the vector's storage dtype, n >= 1; Cosine sub-vectors are
    normalised one by one, as max_sim compares them one by one."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest(f"{where}: a multivector is a non-empty array of vectors")
    if not all(isinstance(row, list) for row in raw):
        raise BadRequest(
            f"{where}: Wrong input: Conversion between multi and regular vectors failed "
            f"(`{spec.name or 'the unnamed vector'}` is a multivector: send an array of vectors)"
        )
    return convert_dense(spec, raw, where)


def parse_query_multivector(raw: object, where: str) -> np.ndarray:
    """A query's list of sub-vectors as float64, before the vector it searches is known."""
    if not isinstance(raw, list) or not raw or not all(isinstance(r, list) for r in raw):
        raise BadRequest(f"{where}: a multivector is a non-empty array of vectors")
    sizes = {len(row) for row in raw}
    if len(sizes) != 1 or 0 in sizes:
        raise BadRequest(f"{where}: every sub-vector of a multivector must have the same, "
                         "non-zero, dimension")
    if not all(type(x) in (int, float) for row in raw for x in row):
        raise BadRequest(f"{where}: expected vectors of numbers")
    matrix = np.asarray(raw, dtype=np.float64)
    if not np.isfinite(matrix).all():
        raise BadRequest(f"{where}: vector values must be finite (no NaN or infinity)")
    return matrix


def check_query_multivector(spec: DenseVectorSpec, value: object, where: str) -> np.ndarray:
    """A query input (given, or looked up from a point) for multivector `spec`."""
    matrix = np.asarray(value, dtype=np.float32)
    label = spec.name or "the unnamed vector"
    if matrix.ndim != 2:
        raise BadRequest(f"{where}: `{label}` is a multivector; a single vector cannot query "
                         "it, send an array of vectors")
    if matrix.shape[1] != spec.size or not len(matrix):
        raise BadRequest(f"{where}: wrong vector dimension: expected {spec.size}, "
                         f"got {matrix.shape[1]}")
    return matrix
