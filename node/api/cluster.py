"""Routes of the cluster API: status, peer removal, per-collection placement, shard ops and
shard keys."""

from __future__ import annotations

from aiohttp import web

from cluster.metadata.cluster_info import (
    cluster_status,
    collection_cluster_info,
    shard_keys_listing,
    shard_operation,
)
from node.api.envelope import ok, query_flag, read_body
from node.ascii_digits import parse_ascii_uint
from node.errors import BadRequest
from node.model.cluster_ops import ClusterOperation
from node.model.shard_keys import CreateShardingKey, DropShardingKey
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    async def status(request: web.Request) -> web.Response:
        if not node.settings.cluster.enabled:
            return ok(request, {"status": "disabled"})
        raft = node.consensus.raft_info()
        return ok(request, cluster_status(node.consensus.state, node.peer_id, raft))

    async def remove_peer(request: web.Request) -> web.Response:
        raw = request.match_info["peer_id"]
        peer_id = parse_ascii_uint(raw)
        if peer_id is None:
            raise BadRequest(f"peer id must be a number, got {raw!r}")
        await node.remove_peer(peer_id, force=query_flag(request, "force"))
        return ok(request, True)

    async def collection_cluster(request: web.Request) -> web.Response:
        meta = node.catalog.resolve(request.match_info["collection_name"])
        local = {sid: shard.count() for sid, shard in node.shards.of_collection(meta).items()}
        return ok(request, collection_cluster_info(meta, node.peer_id, local))

    async def update_collection_cluster(request: web.Request) -> web.Response:
        meta = node.catalog.resolve(request.match_info["collection_name"])
        op = shard_operation(meta, await read_body(request, ClusterOperation))
        await node.catalog.propose(op)
        return ok(request, True)

    async def create_shard_key(request: web.Request) -> web.Response:
        meta = node.catalog.resolve(request.match_info["collection_name"])
        body = await read_body(request, CreateShardingKey)
        await node.catalog.propose(body.op(meta.name))
        return ok(request, True)

    async def delete_shard_key(request: web.Request) -> web.Response:
        meta = node.catalog.resolve(request.match_info["collection_name"])
        body = await read_body(request, DropShardingKey)
        await node.catalog.propose(body.op(meta.name))
        return ok(request, True)

    async def list_shard_keys(request: web.Request) -> web.Response:
        meta = node.catalog.resolve(request.match_info["collection_name"])
        return ok(request, shard_keys_listing(meta))

    return [
        web.put("/collections/{collection_name}/shards", create_shard_key),
        web.post("/collections/{collection_name}/shards/delete", delete_shard_key),
        web.get("/collections/{collection_name}/shards", list_shard_keys),
        web.get("/cluster", status),
        web.delete("/cluster/peer/{peer_id}", remove_peer),
        web.get("/collections/{collection_name}/cluster", collection_cluster),
        web.post("/collections/{collection_name}/cluster", update_collection_cluster),
    ]
