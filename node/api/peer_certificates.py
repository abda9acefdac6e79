"""With TLS between nodes (`cluster.p2p.enable_tls`), the internal API answers only clients that
presented a certificate `tls.ca_cert` signed.

The REST port asks every client for a certificate but lets public clients send none
(node/tls.py); the handshake already refused any certificate the CA did not sign, so what is
left to check here is that one was presented at all.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from node.api.auth import INTERNAL_PREFIX
from node.api.envelope import Handler, error_response


def peer_certificate_middleware() -> Callable[..., Awaitable[web.StreamResponse]]:
    """403 for a request to the internal API over a connection without a client certificate."""

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith(INTERNAL_PREFIX) and not _presented_certificate(request):
            return error_response(request, 403, "internal API: peers must present a "
                                  "certificate signed by tls.ca_cert")
        return await handler(request)

    return check


def _presented_certificate(request: web.Request) -> bool:
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return ssl_object is not None and bool(ssl_object.getpeercert())
