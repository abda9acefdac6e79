"""The body of `POST /collections/{name}/points/search/matrix/{pairs,offsets}` (Qdrant's
SearchMatrixRequest), checked and parsed."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.routing.request_fields import read_positive_int, read_shard_key, require_object
from node.engine.filters import CompiledFilter, compile_filter
from node.errors import BadRequest
from node.model import decode
from node.model.filters import Filter
from node.model.shard_keys import ShardKeySelector

DEFAULT_SAMPLE = 10
DEFAULT_LIMIT = 3


@dataclass(frozen=True)
class MatrixRequest:
    using: str = ""  # "" is the unnamed (default) vector
    sample: int = DEFAULT_SAMPLE
    limit: int = DEFAULT_LIMIT
    filter: CompiledFilter | None = None
    shard_key: ShardKeySelector | None = None


def parse_matrix(body: object) -> MatrixRequest:
    obj = require_object(body, allow_missing=True)
    using = obj.get("using")
    if using is not None and not isinstance(using, str):
        raise BadRequest(f"Format error in JSON body: using: expected a string, got {using!r}")
    return MatrixRequest(
        using=using or "",
        sample=read_positive_int(obj, "sample", DEFAULT_SAMPLE, minimum=2),
        limit=read_positive_int(obj, "limit", DEFAULT_LIMIT),
        filter=compile_filter(decode(Filter | None, obj.get("filter"), path="filter")),
        shard_key=read_shard_key(obj),
    )
