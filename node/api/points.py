"""Routes of the points API: upsert, retrieve, get one point, count, search and query."""

from __future__ import annotations

from aiohttp import web

from node.api.envelope import ok, query_flag, read_json
from node.errors import BadRequest
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    router = node.points

    async def upsert(request: web.Request) -> web.Response:
        wait = query_flag(request, "wait")
        body = await read_json(request)
        seq = await router.upsert(request.match_info["collection_name"], body, wait=wait)
        status = "completed" if wait else "acknowledged"
        return ok(request, {"operation_id": seq, "status": status})

    async def retrieve(request: web.Request) -> web.Response:
        body = await read_json(request)
        if not isinstance(body, dict) or "ids" not in body:
            raise BadRequest("expected an object with `ids`")
        records = await router.retrieve(
            request.match_info["collection_name"],
            body["ids"],
            with_payload=body.get("with_payload", True),
            with_vector=body.get("with_vector", False),
        )
        return ok(request, records)

    async def get_point(request: web.Request) -> web.Response:
        record = await router.get_point(
            request.match_info["collection_name"], request.match_info["id"]
        )
        return ok(request, record)

    async def count(request: web.Request) -> web.Response:
        body = await read_json(request, required=False)
        total = await router.count(request.match_info["collection_name"], body)
        return ok(request, {"count": total})

    async def search(request: web.Request) -> web.Response:
        body = await read_json(request)
        hits = await router.search(request.match_info["collection_name"], body, legacy=True)
        return ok(request, hits)

    async def query(request: web.Request) -> web.Response:
        body = await read_json(request)
        hits = await router.search(request.match_info["collection_name"], body, legacy=False)
        return ok(request, {"points": hits})

    return [
        web.post("/collections/{collection_name}/points/search", search),
        web.post("/collections/{collection_name}/points/query", query),
        web.put("/collections/{collection_name}/points", upsert),
        web.post("/collections/{collection_name}/points", retrieve),
        web.get("/collections/{collection_name}/points/{id}", get_point),
        web.post("/collections/{collection_name}/points/count", count),
    ]
