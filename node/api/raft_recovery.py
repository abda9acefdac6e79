"""`POST /cluster/recover` (cluster/consensus/recovery.py): this peer's Raft state replaced by
a snapshot of the leader's. Needs manage access (node/api/access.py)."""

from __future__ import annotations

from aiohttp import web

from cluster.consensus.recovery import recover_from_leader
from node.api.envelope import ok
from node.errors import BadRequest
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    async def recover(request: web.Request) -> web.Response:
        if not node.settings.cluster.enabled or node.consensus is None:
            raise BadRequest("recovering the Raft state needs distributed mode "
                             "(cluster.enabled): this node is standalone")
        await recover_from_leader(node.consensus, dict(node.catalog.state.peers),
                                  node.peer_client)
        return ok(request, True)

    return [web.post("/cluster/recover", recover)]
