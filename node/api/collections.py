"""Routes of the Collections API: collections, their info and their aliases."""

from __future__ import annotations

import asyncio

from aiohttp import web

from node.api.auth import request_access
from node.api.envelope import ok, read_body
from node.ascii_digits import parse_ascii_uint
from node.engine.optimization_log import optimizations_report
from node.errors import BadRequest, NotFound
from node.model.aliases import ChangeAliasesRequest
from node.model.collections import CreateCollection, UpdateCollection, VectorNameConfig
from node.model.payload_index import CreateIndexRequest
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    catalog = node.catalog

    async def list_collections(request: web.Request) -> web.Response:
        access = request_access(request)
        names = [n for n in catalog.list_names() if access.can_read(n)]
        return ok(request, {"collections": [{"name": n} for n in names]})

    async def get_collection(request: web.Request) -> web.Response:
        return ok(request, await node.collection_info(request.match_info["collection_name"]))

    async def exists(request: web.Request) -> web.Response:
        name = request.match_info["collection_name"]
        try:
            catalog.resolve(name)
        except NotFound:
            return ok(request, {"exists": False})
        return ok(request, {"exists": True})

    async def create(request: web.Request) -> web.Response:
        name = request.match_info["collection_name"]
        await node.create_collection(
            name, await read_body(request, CreateCollection, required=False))
        return ok(request, True)

    async def update(request: web.Request) -> web.Response:
        body = await read_body(request, UpdateCollection, required=False)
        await catalog.update(request.match_info["collection_name"], body)
        return ok(request, True)

    async def delete(request: web.Request) -> web.Response:
        return ok(request, await catalog.delete(request.match_info["collection_name"]))

    async def change_aliases(request: web.Request) -> web.Response:
        await catalog.change_aliases(await read_body(request, ChangeAliasesRequest))
        return ok(request, True)

    async def collection_aliases(request: web.Request) -> web.Response:
        aliases = catalog.aliases(request.match_info["collection_name"])
        return ok(request, {"aliases": aliases})

    async def all_aliases(request: web.Request) -> web.Response:
        access = request_access(request)
        aliases = [a for a in catalog.aliases() if access.can_read(a["collection_name"])]
        return ok(request, {"aliases": aliases})

    async def create_index(request: web.Request) -> web.Response:
        body = await read_body(request, CreateIndexRequest)
        await catalog.create_payload_index(request.match_info["collection_name"], body)
        return ok(request, {"operation_id": catalog.state.version, "status": "completed"})

    async def drop_index(request: web.Request) -> web.Response:
        await catalog.drop_payload_index(
            request.match_info["collection_name"], request.match_info["field_name"]
        )
        return ok(request, {"operation_id": catalog.state.version, "status": "completed"})

    async def create_vector(request: web.Request) -> web.Response:
        body = await read_body(request, VectorNameConfig)
        version = await catalog.add_vector(
            request.match_info["collection_name"], request.match_info["vector_name"], body
        )
        return ok(request, {"operation_id": version, "status": "completed"})

    async def delete_vector(request: web.Request) -> web.Response:
        version = await catalog.remove_vector(
            request.match_info["collection_name"], request.match_info["vector_name"]
        )
        return ok(request, {"operation_id": version, "status": "completed"})

    async def optimizations(request: web.Request) -> web.Response:
        meta = catalog.resolve(request.match_info["collection_name"])
        want = optimization_parts(request.query.get("with"))
        limit = completed_limit(request.query.get("completed_limit"))
        shards = list(node.shards.of_collection(meta).values())
        # Reading the shards' state takes their locks, which an optimizer may hold a moment.
        return ok(request, await asyncio.to_thread(optimizations_report, shards, want, limit))

    return [
        web.get("/collections/{collection_name}/optimizations", optimizations),
        web.put("/collections/{collection_name}/index", create_index),
        web.delete("/collections/{collection_name}/index/{field_name}", drop_index),
        web.put("/collections/{collection_name}/vectors/{vector_name}", create_vector),
        web.delete("/collections/{collection_name}/vectors/{vector_name}", delete_vector),
        web.get("/collections", list_collections),
        web.post("/collections/aliases", change_aliases),
        web.get("/collections/{collection_name}", get_collection),
        web.put("/collections/{collection_name}", create),
        web.patch("/collections/{collection_name}", update),
        web.delete("/collections/{collection_name}", delete),
        web.get("/collections/{collection_name}/exists", exists),
        web.get("/collections/{collection_name}/aliases", collection_aliases),
        web.get("/aliases", all_aliases),
    ]


OPTIONAL_PARTS = frozenset({"queued", "completed", "idle_segments"})
DEFAULT_COMPLETED_LIMIT = 16


def optimization_parts(raw: str | None) -> set[str]:
    """The `with` parameter of the optimizations route: a comma-separated list."""
    if not raw:
        return set()
    parts = {p.strip() for p in raw.split(",") if p.strip()}
    unknown = parts - OPTIONAL_PARTS
    if unknown:
        raise BadRequest(f"with: unknown part {sorted(unknown)[0]!r}; expected any of "
                         + ", ".join(sorted(OPTIONAL_PARTS)))
    return parts


def completed_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_COMPLETED_LIMIT
    limit = parse_ascii_uint(raw)
    if limit is None:
        raise BadRequest(f"completed_limit: expected a non-negative integer, got {raw!r}")
    return limit
