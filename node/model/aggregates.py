"""The two aggregate reads: facet counts of a payload key (`POST /collections/{name}/facet`)
and the distance matrix of a sample of points (`/points/search/matrix/{pairs,offsets}`).

Their errors read as Qdrant's do: a value of the wrong type is a format error (400), a number
under the least the API takes a validation error (422), e.g. a `limit` of 0.
"""

from __future__ import annotations

from typing import Annotated, ClassVar

import msgspec
from msgspec import Meta

from node.model.decode import below_minimum
from node.model.filters import Filter
from node.model.shard_keys import ShardKeySelector

NonNegative = Annotated[int, Meta(ge=0)]
DEFAULT_FACET_LIMIT = 10
DEFAULT_MATRIX_SAMPLE = 10
DEFAULT_MATRIX_LIMIT = 3
_FORMAT_ERROR = "Format error in JSON body: "


def _check_minimum(request: msgspec.Struct, field: str, minimum: int) -> None:
    value = getattr(request, field)
    if value is not None and value < minimum:
        raise below_minimum(field, value, minimum)


class FacetRequest(msgspec.Struct):
    format_error_prefix: ClassVar[str] = _FORMAT_ERROR

    key: str
    limit: NonNegative | None = None  # None: DEFAULT_FACET_LIMIT
    filter: Filter | None = None
    exact: bool | None = None
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        _check_minimum(self, "limit", 1)


class MatrixRequest(msgspec.Struct):
    format_error_prefix: ClassVar[str] = _FORMAT_ERROR

    using: str | None = None  # None: the unnamed (default) vector
    sample: NonNegative | None = None  # None: DEFAULT_MATRIX_SAMPLE
    limit: NonNegative | None = None  # None: DEFAULT_MATRIX_LIMIT
    filter: Filter | None = None
    shard_key: ShardKeySelector | None = None

    def __post_init__(self) -> None:
        _check_minimum(self, "sample", 2)
        _check_minimum(self, "limit", 1)
