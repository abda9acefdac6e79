"""Limits on what one client can hold of a node: open connections, and time to send a request.

aiohttp already bounds a request line and each header (8,190 bytes: longer ones get a 400)
and the number of headers (128), and `service.max_request_size_mb` bounds a body (413). What it
leaves open is the number of connections, so this module's protocol factory answers 503 and
closes any connection past `max_connections`, and time: a connection idle or still sending its
headers is closed after `service.client_timeout_sec` (aiohttp's keep-alive timer, which also
covers the time before the first request), and a body that has not fully arrived after as long
is answered 408 (node/api/envelope.py).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from aiohttp import web

log = logging.getLogger(__name__)

# How long the body of a request may take to arrive (seconds), kept in the app.
BODY_TIMEOUT = web.AppKey("body_timeout", float)
_REFUSAL = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            b"Connection: close\r\nContent-Length: %d\r\n\r\n%s")
_LOG_EVERY_SECONDS = 10.0


class _Refuse(asyncio.Protocol):
    """Answers a connection over the limit with a 503 in Qdrant's envelope, then closes it."""

    def __init__(self, limit: int) -> None:
        self._limit = limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        body = (b'{"status":{"error":"Service Unavailable: too many open connections (%d)"},'
                b'"time":0}' % self._limit)
        transport.write(_REFUSAL % (len(body), body))  # type: ignore[attr-defined]
        transport.close()


def capped_factory(server: web.Server, max_connections: int) -> Callable[[], asyncio.Protocol]:
    """A protocol factory for `loop.create_server` that serves at most `max_connections`."""
    last_logged = 0.0

    def factory() -> asyncio.Protocol:
        nonlocal last_logged
        if len(server.connections) >= max_connections:
            now = time.monotonic()
            if now - last_logged > _LOG_EVERY_SECONDS:
                last_logged = now
                log.warning("refusing connections: %d open, the limit", max_connections)
            return _Refuse(max_connections)
        return server()

    return factory
