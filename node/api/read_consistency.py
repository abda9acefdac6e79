"""The `consistency` query parameter of reads: how many replicas of each shard must answer."""

from __future__ import annotations

from aiohttp import web

from cluster.replica_set import READ_CONSISTENCY, parse_read_consistency
from node.api.envelope import Handler


@web.middleware
async def read_consistency_middleware(request: web.Request, handler: Handler):
    raw = request.query.get("consistency")
    if raw is None:
        return await handler(request)
    token = READ_CONSISTENCY.set(parse_read_consistency(raw))
    try:
        return await handler(request)
    finally:
        READ_CONSISTENCY.reset(token)
