"""Routes of the two aggregate reads: facet counts of a payload key and the distance matrix of
a sample of points. Both are reads: `consistency` and `timeout` apply as to the other reads
(node/api/request_params.py), and read-only credentials may use them (node/api/access.py)."""

from __future__ import annotations

from aiohttp import web

from cluster.routing.facet_router import FacetRouter
from cluster.routing.matrix_router import MatrixRouter
from node.api.envelope import ok, read_body
from node.model.aggregates import FacetRequest, MatrixRequest
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    facets = FacetRouter(node.views, node.rate_limiter)
    matrix = MatrixRouter(node.views, node.rate_limiter)

    def endpoint(method, kind: type, *, body_required: bool = True):
        async def handle(request: web.Request) -> web.Response:
            body = await read_body(request, kind, required=body_required)
            return ok(request, await method(request.match_info["collection_name"], body))

        return handle

    collection = "/collections/{collection_name}"
    return [
        web.post(f"{collection}/facet", endpoint(facets.facet, FacetRequest)),
        web.post(f"{collection}/points/search/matrix/pairs",
                 endpoint(matrix.pairs, MatrixRequest, body_required=False)),
        web.post(f"{collection}/points/search/matrix/offsets",
                 endpoint(matrix.offsets, MatrixRequest, body_required=False)),
    ]
