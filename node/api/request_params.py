"""Query parameters that shape how a request is served: `consistency` of reads (how many
replicas of each shard answer), `ordering` of writes (whether one replica's node orders a
shard's writes), and `timeout` (checked against strict mode's max_timeout)."""

from __future__ import annotations

from aiohttp import web

from cluster.replication.replica_set import READ_CONSISTENCY, WRITE_ORDERING
from cluster.routing.strict_mode import REQUEST_TIMEOUT
from node.api.envelope import Handler
from node.model.params import parse_ordering, parse_read_consistency, parse_timeout


@web.middleware
async def request_params_middleware(request: web.Request, handler: Handler):
    if not request.query_string:  # most requests: no need to parse a query string
        return await handler(request)
    query = request.query
    if "consistency" not in query and "ordering" not in query and "timeout" not in query:
        return await handler(request)
    settings = [
        (READ_CONSISTENCY, parse_read_consistency(query.get("consistency"))),
        (WRITE_ORDERING, parse_ordering(query.get("ordering"))),
        (REQUEST_TIMEOUT, parse_timeout(query.get("timeout"))),
    ]
    tokens = [(var, var.set(value)) for var, value in settings]
    try:
        return await handler(request)
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
