"""`flotilla serve`: run one node until SIGTERM or SIGINT, then shut down and flush."""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from node.api import (
    cluster,
    collections,
    facet_matrix,
    internal,
    internal_stream,
    issues,
    points,
    query,
    quotas,
    raft_recovery,
    snapshots,
    telemetry,
)
from node.api import service as service_routes
from node.api.auth import auth_middleware
from node.api.connection_limits import BODY_TIMEOUT, capped_factory
from node.api.envelope import envelope_middleware
from node.api.peer_certificates import peer_certificate_middleware
from node.api.request_params import request_params_middleware
from node.grpc import server as grpc_server
from node.memory import configure_allocator, tune_garbage_collector
from node.runtime import Node
from node.settings import Settings

log = logging.getLogger(__name__)



def build_app(node: Node) -> web.Application:
    service = node.settings.service
    middlewares = [node.metrics.middleware, envelope_middleware, request_params_middleware]
    if service.api_key or service.read_only_api_key:
        # After the envelope, which turns its 401 and 403 into Qdrant's error body.
        middlewares.insert(2, auth_middleware(node))
    app = web.Application(middlewares=middlewares,
                          client_max_size=service.max_request_size_mb * 1024 * 1024)
    app[BODY_TIMEOUT] = float(service.client_timeout_sec)
    # aiohttp tries the routes under one path prefix (every `/collections/...` route) in the
    # order they were added: the hot ones, queries then points, go first (resolving a query
    # took 20 us behind the collection routes). No URL and method pair matches two routes,
    # so the order changes nothing else.
    faces = [service_routes, query, points, collections, facet_matrix, cluster, telemetry,
             issues, snapshots, quotas, raft_recovery]
    if node.settings.cluster.enabled:
        faces.append(internal)  # a node outside a cluster has no peers to serve
    for module in faces:
        app.add_routes(module.routes(node))
    if node.settings.cluster.enabled:
        internal_stream.attach(app)
    return app


async def run(settings: Settings) -> None:
    node = Node(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    grpc = grpc_server.bind(node)  # None when service.grpc_port is null
    await node.start()
    app = build_app(node)
    if node.tls is not None and node.tls.checks_peer_certificates:
        app.middlewares.append(peer_certificate_middleware())
    runner = web.AppRunner(app, access_log=None,
                           keepalive_timeout=settings.service.client_timeout_sec)
    await runner.setup()
    tls = {} if node.tls is None else {
        "ssl": node.tls.server_context,
        # A client stalling its handshake is held no longer than one stalling its request.
        "ssl_handshake_timeout": float(settings.service.client_timeout_sec),
    }
    if grpc is not None:
        # Same loop; started before REST listens, so a node that answers REST answers gRPC.
        await grpc_server.start(grpc, node)
    listener = await loop.create_server(
        capped_factory(runner.server, settings.service.max_connections),
        settings.service.host, settings.service.http_port, reuse_address=True, **tls,
    )
    log.info("serving the Qdrant API on %s", node.api_address)
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        listener.close()
        if grpc is not None:
            await grpc.stop(grace=float(settings.service.client_timeout_sec))
        await runner.cleanup()
        await node.close()
        log.info("stopped; every shard flushed")


def serve(settings: Settings) -> int:
    configure_allocator()  # before any thread starts
    tune_garbage_collector()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # uvloop is not available on every platform
        pass
    asyncio.run(run(settings))
    return 0
