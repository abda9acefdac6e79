"""The body of `POST /collections/{name}/facet` (Qdrant's FacetRequest), checked and parsed."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.routing.request_fields import (
    read_bool,
    read_positive_int,
    read_shard_key,
    require_object,
)
from node.engine.filters import CompiledFilter, compile_filter
from node.errors import BadRequest
from node.model import decode
from node.model.filters import Filter
from node.model.shard_keys import ShardKeySelector

DEFAULT_LIMIT = 10


@dataclass(frozen=True)
class FacetRequest:
    key: str
    limit: int = DEFAULT_LIMIT
    filter: CompiledFilter | None = None
    shard_key: ShardKeySelector | None = None
    exact: bool = False


def parse_facet(body: object) -> FacetRequest:
    obj = require_object(body)
    key = obj.get("key")
    if key is None:
        raise BadRequest("Format error in JSON body: missing field `key`")
    if not isinstance(key, str):
        raise BadRequest(f"Format error in JSON body: key: expected a string, got {key!r}")
    return FacetRequest(
        key=key,
        limit=read_positive_int(obj, "limit", DEFAULT_LIMIT),
        filter=compile_filter(decode(Filter | None, obj.get("filter"), path="filter")),
        shard_key=read_shard_key(obj),
        exact=read_bool(obj, "exact"),
    )
