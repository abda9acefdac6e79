"""Routes of the points API: writes (upsert, delete, payload, vectors, batch), reads (retrieve,
scroll, count) and search."""

from __future__ import annotations

from aiohttp import web

from node.api.envelope import ok, query_flag, read_body
from node.api.slow_reads import timed_read
from node.model.points import REQUEST_OF, BatchRequest, UpsertRequest
from node.model.queries import CountRequest, RetrieveRequest, ScrollRequest
from node.model.selectors import payload_selector
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    router = node.points

    async def upsert(request: web.Request) -> web.Response:
        wait = query_flag(request, "wait")
        body = await read_body(request, UpsertRequest)
        seq = await router.upsert(request.match_info["collection_name"], body, wait=wait)
        return ok(request, _update_result(seq, wait))

    def update_route(kind: str):
        async def handler(request: web.Request) -> web.Response:
            wait = query_flag(request, "wait")
            body = await read_body(request, REQUEST_OF[kind])
            seq = await router.update(
                request.match_info["collection_name"], kind, body, wait=wait
            )
            return ok(request, _update_result(seq, wait))

        return handler

    async def batch(request: web.Request) -> web.Response:
        wait = query_flag(request, "wait")
        body = await read_body(request, BatchRequest)
        seqs = await router.batch(request.match_info["collection_name"], body, wait=wait)
        return ok(request, [_update_result(seq, wait) for seq in seqs])

    async def scroll(request: web.Request) -> web.Response:
        body = await read_body(request, ScrollRequest, required=False)
        name = request.match_info["collection_name"]
        return ok(request, await timed_read(node, name, body, router.scroll(name, body)))

    async def retrieve(request: web.Request) -> web.Response:
        body = await read_body(request, RetrieveRequest)
        records = await router.retrieve(
            request.match_info["collection_name"],
            body.ids,
            with_payload=payload_selector(True if body.with_payload is None
                                          else body.with_payload),
            with_vector=body.with_vector or False,
            shard_key=body.shard_key,
        )
        return ok(request, records)

    async def get_point(request: web.Request) -> web.Response:
        record = await router.get_point(
            request.match_info["collection_name"], request.match_info["id"]
        )
        return ok(request, record)

    async def count(request: web.Request) -> web.Response:
        body = await read_body(request, CountRequest, required=False)
        name = request.match_info["collection_name"]
        total = await timed_read(node, name, body, router.count(name, body))
        return ok(request, {"count": total})

    return [
        web.put("/collections/{collection_name}/points", upsert),
        web.post("/collections/{collection_name}/points", retrieve),
        web.get("/collections/{collection_name}/points/{id}", get_point),
        web.post("/collections/{collection_name}/points/count", count),
        web.post("/collections/{collection_name}/points/scroll", scroll),
        web.post("/collections/{collection_name}/points/batch", batch),
        web.post("/collections/{collection_name}/points/delete", update_route("delete")),
        web.post("/collections/{collection_name}/points/payload", update_route("set_payload")),
        web.put("/collections/{collection_name}/points/payload",
                update_route("overwrite_payload")),
        web.post("/collections/{collection_name}/points/payload/delete",
                 update_route("delete_payload")),
        web.post("/collections/{collection_name}/points/payload/clear",
                 update_route("clear_payload")),
        web.put("/collections/{collection_name}/points/vectors", update_route("update_vectors")),
        web.post("/collections/{collection_name}/points/vectors/delete",
                 update_route("delete_vectors")),
    ]


def _update_result(seq: int, wait: bool) -> dict:
    return {"operation_id": seq, "status": "completed" if wait else "acknowledged"}
