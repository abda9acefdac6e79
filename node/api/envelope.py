"""Qdrant's response envelope, and the one place where errors become HTTP responses."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from aiohttp import web

from node.api.connection_limits import BODY_TIMEOUT
from node.errors import BadRequest, FlotillaError, RequestTimeout
from node.model import decode

log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _dumps(body: dict) -> bytes:
    return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)


def ok(request: web.Request, result: object, status: str = "ok") -> web.Response:
    elapsed = time.perf_counter() - request.get("started", time.perf_counter())
    body = {"result": result, "status": status, "time": elapsed}
    return web.Response(body=_dumps(body), content_type="application/json")


def error_response(request: web.Request, status: int, message: str) -> web.Response:
    elapsed = time.perf_counter() - request.get("started", time.perf_counter())
    body = {"status": {"error": message}, "time": elapsed}
    return web.Response(status=status, body=_dumps(body), content_type="application/json")


async def read_body(request: web.Request, kind: type[T], *, required: bool = True) -> T:
    """The request body decoded and checked as a `kind` of node/model, in one pass; a 400
    naming the bad field when it is not one, an empty body as `{}` when not `required`."""
    raw = await _read_bytes(request)
    if not raw.strip():
        if required:
            raise BadRequest("the request body is empty; expected a JSON object")
        raw = b"{}"
    return decode(kind, raw)


async def _read_bytes(request: web.Request) -> bytes:
    try:
        # Most bodies have fully arrived with their headers: no timer for those.
        timeout = request.app.get(BODY_TIMEOUT)
        raw = await (request.read() if timeout is None or request.content.is_eof()
                     else asyncio.wait_for(request.read(), timeout))
    except asyncio.TimeoutError:
        raise RequestTimeout(f"the request body did not arrive within {timeout:g}s") from None
    return raw


async def read_json(request: web.Request, *, required: bool = True) -> object:
    """The request body as JSON; a 400 in Qdrant's envelope when it is not, a 408 when it
    does not arrive in time (`service.client_timeout_sec`)."""
    raw = await _read_bytes(request)
    if not raw.strip():
        if required:
            raise BadRequest("the request body is empty; expected a JSON object")
        return None
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"malformed JSON in the request body: {exc}") from None
    if body is None:  # not an absent body: `null` is no request Qdrant's API takes
        raise BadRequest("the request body is null; expected a JSON object")
    return body


@web.middleware
async def envelope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request["started"] = time.perf_counter()
    try:
        return await handler(request)
    except FlotillaError as exc:
        return error_response(request, exc.status, str(exc))
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        reason = exc.text if exc.text and not exc.text.startswith(f"{exc.status}:") else exc.reason
        return error_response(request, exc.status, reason)
    except Exception:
        log.exception("unhandled error serving %s %s", request.method, request.path)
        return error_response(request, 500, "internal error; see the node's log")


def query_flag(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise BadRequest(f"query parameter `{name}` must be true or false, got {raw!r}")
