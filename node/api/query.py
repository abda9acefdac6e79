"""Routes of the search side of the points API: query, search and recommend (and batches)."""

from __future__ import annotations

from aiohttp import web

from node.api.envelope import ok, read_json
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    queries = node.queries

    def endpoint(method):
        async def handle(request: web.Request) -> web.Response:
            body = await read_json(request)
            return ok(request, await method(request.match_info["collection_name"], body))

        return handle

    base = "/collections/{collection_name}/points"
    return [
        web.post(f"{base}/query", endpoint(queries.query)),
        web.post(f"{base}/query/batch", endpoint(queries.query_batch)),
        web.post(f"{base}/query/groups", endpoint(queries.query_groups)),
        web.post(f"{base}/search", endpoint(queries.search)),
        web.post(f"{base}/search/batch", endpoint(queries.search_batch)),
        web.post(f"{base}/recommend", endpoint(queries.recommend)),
        web.post(f"{base}/recommend/batch", endpoint(queries.recommend_batch)),
    ]
