"""Routes of the search side of the points API: query, search and recommend (and batches)."""

from __future__ import annotations

from aiohttp import web

from node.api.envelope import ok, read_body
from node.api.slow_reads import timed_read
from node.model import queries as q
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    queries = node.queries

    def endpoint(method, kind: type):
        async def handle(request: web.Request) -> web.Response:
            body = await read_body(request, kind)
            name = request.match_info["collection_name"]
            return ok(request, await timed_read(node, name, body, method(name, body)))

        return handle

    base = "/collections/{collection_name}/points"
    return [
        web.post(f"{base}/query", endpoint(queries.query, q.QueryRequest)),
        web.post(f"{base}/query/batch", endpoint(queries.query_batch, q.QueryBatchRequest)),
        web.post(f"{base}/query/groups", endpoint(queries.query_groups, q.QueryGroupsRequest)),
        web.post(f"{base}/search", endpoint(queries.search, q.SearchRequest)),
        web.post(f"{base}/search/batch", endpoint(queries.search_batch, q.SearchBatchRequest)),
        web.post(f"{base}/recommend", endpoint(queries.recommend, q.RecommendRequest)),
        web.post(f"{base}/recommend/batch",
                 endpoint(queries.recommend_batch, q.RecommendBatchRequest)),
    ]
