"""API key authentication, as Qdrant does it: with `service.api_key` set, every request carries
the key in an `api-key` header or as `Authorization: Bearer <key>`. Health probes stay open
for orchestrators, and the internal node-to-node API has its own secret."""

from __future__ import annotations

import hmac

from aiohttp import web

from node.api.envelope import Handler, error_response

OPEN_PATHS = frozenset({"/", "/healthz", "/livez", "/readyz"})
INTERNAL_PREFIX = "/internal/"


def api_key_middleware(api_key: str):
    expected = api_key.encode()

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or request.path.startswith(INTERNAL_PREFIX):
            return await handler(request)
        given = request.headers.get("api-key")
        if given is None:
            bearer = request.headers.get("Authorization", "")
            given = bearer[7:] if bearer.startswith("Bearer ") else ""
        if not hmac.compare_digest(given.encode(), expected):
            return error_response(request, 401, "Must provide an API key or an Authorization "
                                  "bearer token")
        return await handler(request)

    return check
