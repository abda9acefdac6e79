"""Replication parameters of a request: `consistency` of reads (how many replicas of each
shard answer) and `ordering` of writes (whether one replica's node orders a shard's writes)."""

from __future__ import annotations

from aiohttp import web

from cluster.replica_set import (
    READ_CONSISTENCY,
    WRITE_ORDERING,
    parse_ordering,
    parse_read_consistency,
)
from node.api.envelope import Handler


@web.middleware
async def read_consistency_middleware(request: web.Request, handler: Handler):
    consistency = request.query.get("consistency")
    ordering = request.query.get("ordering")
    if consistency is None and ordering is None:
        return await handler(request)
    tokens = [
        READ_CONSISTENCY.set(parse_read_consistency(consistency)),
        WRITE_ORDERING.set(parse_ordering(ordering)),
    ]
    try:
        return await handler(request)
    finally:
        WRITE_ORDERING.reset(tokens[1])
        READ_CONSISTENCY.reset(tokens[0])
