"""Vectors as requests give them: dense lists, multivectors, sparse {indices, values}, or a
point id."""

from __future__ import annotations

import math
from typing import Annotated

import msgspec
from msgspec import Meta

from node.model.decode import invalid

UInt32 = Annotated[int, Meta(ge=0, le=2**32 - 1)]
# unsigned 64-bit or a UUID; the upper bound and the UUID form are checked by normalize_point_id
PointIdIn = Annotated[int, Meta(ge=0)] | str


class SparseVectorIn(msgspec.Struct, forbid_unknown_fields=True):
    indices: list[UInt32]
    values: list[float]

    def __post_init__(self) -> None:
        if len(self.indices) != len(self.values):
            raise ValueError(f"`indices` and `values` differ in length ({len(self.indices)} != "
                             f"{len(self.values)})")
        if len(set(self.indices)) != len(self.indices):
            raise invalid("indices", "sparse indices must be unique")
        check_finite(self.values, "values")


def check_finite(values: list[float], where: str) -> None:
    """JSON has no NaN, but a dict from another face may carry one."""
    if not all(map(math.isfinite, values)):
        raise invalid(where, "vector values must be finite (no NaN or infinity)")


# A dense vector, a multivector (an array of vectors, checked where it is read), a sparse
# vector, or the id of a point whose vector is meant. One array type: msgspec takes a union
# with a single array-like member.
VectorInput = list[float | list[float]] | SparseVectorIn | PointIdIn
