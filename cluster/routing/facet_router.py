"""`POST /collections/{name}/facet`: counts of a payload key's values over the points a filter
lets through, gathered from every shard.

Each shard sends its count of every value it holds, and the counts are summed before the top
`limit` are picked, so every count returned is exact, with `exact` or without (Qdrant allows an
approximate count only when `exact` is false).
"""

from __future__ import annotations

import asyncio

from cluster.routing.collection_view import CollectionViews
from cluster.routing.read_checks import check_read
from cluster.routing.strict_mode import RateLimiter
from node.engine.facets import FACET_INDEX_TYPES, top_facet_hits
from node.engine.filters import compile_filter
from node.engine.payload_index import schema_type
from node.errors import BadRequest
from node.model.aggregates import DEFAULT_FACET_LIMIT, FacetRequest


class FacetRouter:
    def __init__(self, views: CollectionViews, limiter: RateLimiter) -> None:
        self._views = views
        self._limiter = limiter

    async def facet(self, name: str, request: FacetRequest) -> dict:
        view = self._views.named(name, request.shard_key)
        kind = facet_index_kind(view.meta.payload_indexes, request.key)
        point_filter = compile_filter(request.filter)
        check_read(self._limiter, view.meta, point_filter)
        parts = await asyncio.gather(
            *(s.facet_counts(request.key, kind, point_filter) for s in view.shards)
        )
        limit = DEFAULT_FACET_LIMIT if request.limit is None else request.limit
        return {"hits": top_facet_hits(list(parts), limit)}


def facet_index_kind(payload_indexes: dict[str, dict], key: str) -> str:
    """The type of the key's payload index; Qdrant facets only a key with an index that
    answers exact matches."""
    schema = payload_indexes.get(key)
    kind = schema_type(schema) if schema is not None else None
    if kind not in FACET_INDEX_TYPES:
        raise BadRequest(
            f'Bad request: Index required but not found for "{key}" of one of the following '
            f"types: [{', '.join(FACET_INDEX_TYPES)}]. Help: Create an index for this key or "
            "use a different filter."
        )
    return kind
