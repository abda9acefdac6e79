"""Service endpoints: version, health probes and Prometheus metrics."""

from __future__ import annotations

from aiohttp import web

from node import QDRANT_API_VERSION, __version__
from node.runtime import Node


def routes(node: Node) -> list[web.RouteDef]:
    async def root(request: web.Request) -> web.Response:
        # Not wrapped in the envelope: Qdrant answers `GET /` with the bare version info.
        return web.json_response(
            {"title": "flotilla - vector search engine", "version": QDRANT_API_VERSION,
             "flotilla_version": __version__}
        )

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="healthz check passed")

    async def livez(request: web.Request) -> web.Response:
        return web.Response(text="livez check passed")

    async def readyz(request: web.Request) -> web.Response:
        if not node.ready:
            return web.Response(status=503, text="not ready")
        return web.Response(text="all shards are ready")

    return [
        web.get("/", root),
        web.get("/healthz", healthz),
        web.get("/livez", livez),
        web.get("/readyz", readyz),
        web.get("/metrics", node.metrics.handle_metrics),
    ]
