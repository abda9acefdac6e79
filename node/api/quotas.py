"""Routes of `/quotas` (node/quota): the cluster-wide quota config, and how close each peer
is to it. Reading needs global read access, changing it manage access (a read-only key gets
403, node/api/access.py)."""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from cluster.metadata.quota_op import set_quota_op
from node.api.envelope import ok, query_flag, read_json
from node.quota.config import parse_config
from node.quota.status import quota_status
from node.runtime import Node

log = logging.getLogger(__name__)


def routes(node: Node) -> list[web.RouteDef]:
    proposing: set[asyncio.Future] = set()  # referenced until done, so none is collected

    def settled(proposal: asyncio.Future) -> None:
        proposing.discard(proposal)
        if not proposal.cancelled() and proposal.exception() is not None:
            log.warning("setting the quota config failed: %s", proposal.exception())

    async def get_quotas(request: web.Request) -> web.Response:
        return ok(request, await quota_status(node))

    async def put_quotas(request: web.Request) -> web.Response:
        # Checked here too, so a bad body is a 4xx and never reaches the Raft log.
        config = parse_config(await read_json(request))
        proposal = asyncio.ensure_future(node.catalog.propose(set_quota_op(config.to_json())))
        if query_flag(request, "wait"):
            await proposal
        else:  # Qdrant's default: answered once proposed
            proposing.add(proposal)
            proposal.add_done_callback(settled)
        return ok(request, True)

    return [
        web.get("/quotas", get_quotas),
        web.put("/quotas", put_quotas),
    ]
