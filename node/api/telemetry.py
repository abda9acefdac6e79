"""Routes of `GET /telemetry` (this node) and `GET /cluster/telemetry` (every peer, merged)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from cluster.replication.distributed_telemetry import distributed_telemetry
from cluster.replication.peer_client import PeerUnavailable
from cluster.routing.strict_mode import REQUEST_TIMEOUT
from node.api.access import FULL_ACCESS
from node.api.auth import request_access
from node.api.envelope import ok, query_flag
from node.ascii_digits import parse_ascii_uint
from node.errors import BadRequest, FlotillaError
from node.runtime import Node
from node.telemetry import TelemetryDetail, node_telemetry

# Qdrant waits 60 s for the peers by default; a frozen peer would hold an operator's request
# that long, so without an explicit `timeout` peers get this many seconds.
PEER_TIMEOUT_SECONDS = 10.0
# The level that carries shard placement and replica figures, asked of every peer.
SHARD_LEVEL = 3
# Served by node/api/internal.py, under the internal API's credential check.
INTERNAL_TELEMETRY = "/internal/v1/telemetry"


def details_level(request: web.Request) -> int:
    raw = request.query.get("details_level")
    if raw is None or raw == "":
        return 0
    level = parse_ascii_uint(raw)
    if level is None:
        raise BadRequest(f"details_level: expected a non-negative integer, got {raw!r}")
    return level


def routes(node: Node) -> list[web.RouteDef]:
    async def telemetry(request: web.Request) -> web.Response:
        detail = TelemetryDetail(level=details_level(request),
                                 anonymize=query_flag(request, "anonymize"),
                                 per_collection=query_flag(request, "per_collection"))
        access = request_access(request)
        return ok(request, await asyncio.to_thread(node_telemetry, node, detail, access))

    async def cluster_telemetry(request: web.Request) -> web.Response:
        if not node.settings.cluster.enabled:
            raise BadRequest("cluster telemetry needs distributed mode (cluster.enabled)")
        level = details_level(request)
        timeout = float(REQUEST_TIMEOUT.get() or PEER_TIMEOUT_SECONDS)
        peers = dict(node.catalog.state.peers)
        detail = TelemetryDetail(level=SHARD_LEVEL)

        async def of_peer(peer_id: int) -> dict | None:
            if peer_id == node.peer_id:
                return await asyncio.to_thread(node_telemetry, node, detail, FULL_ACCESS)
            api = peers[peer_id].get("api")
            if api is None or node.peer_client is None:
                return None
            try:
                found = await node.peer_client.get_json(
                    api, f"{INTERNAL_TELEMETRY}?details_level={SHARD_LEVEL}", timeout=timeout)
            except (PeerUnavailable, FlotillaError):
                return None
            return found if isinstance(found, dict) else None

        ids = sorted(set(peers) | {node.peer_id})
        answers = await asyncio.gather(*(of_peer(pid) for pid in ids))
        telemetries = dict(zip(ids, answers, strict=True))
        return ok(request, distributed_telemetry(peers, telemetries, level))

    return [
        web.get("/telemetry", telemetry),
        web.get("/cluster/telemetry", cluster_telemetry),
    ]

