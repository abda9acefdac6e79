"""The internal stream: `GET /internal/v1/stream`, a WebSocket a peer keeps open to this node
for its hot shard reads (cluster/replication/stream_frames.py has the messages,
cluster/replication/peer_stream.py the peer's end).

The upgrade passes every check an internal route does (node credential, TLS and client
certificates, the middlewares); after it, each binary message is one call, run as its own task
so a slow one holds up no other, and answered whenever it finishes. A message that is not a
well-formed call of a streamed method closes the connection: a peer that speaks the protocol
never sends one, so whoever did is not to be trusted with the rest. A call that is well formed
but refused (no such shard here, bad arguments) gets its error answered, as over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Awaitable, Callable

from aiohttp import WSCloseCode, WSMsgType, web

from cluster.replication.late_writes import ArrivalDelays
from cluster.replication.stream_frames import (
    StreamCall,
    call_id_of,
    pack_answer,
    pack_error,
    unpack_call,
)
from cluster.replication.wire import WireError
from node.errors import BadRequest, FlotillaError

log = logging.getLogger(__name__)

ReadShard = Callable[[StreamCall], Awaitable[bytes]]
# Calls one stream may have running at once; past it the stream is not read until one ends,
# which holds the sender back through TCP instead of piling up tasks here.
MAX_CALLS_IN_FLIGHT = 256
_OPEN_STREAMS = web.AppKey("open_internal_streams", weakref.WeakSet)


def attach(app: web.Application) -> None:
    """Have `app` close the streams open to it when it shuts down: each is a request still
    being served, which would otherwise hold the shutdown up for aiohttp's whole grace."""
    app[_OPEN_STREAMS] = weakref.WeakSet()
    app.on_shutdown.append(_close_streams)


async def _close_streams(app: web.Application) -> None:
    for ws in list(app[_OPEN_STREAMS]):
        with contextlib.suppress(Exception):
            await ws.close(code=WSCloseCode.GOING_AWAY, message=b"node shutting down")


class StreamServer:
    def __init__(self, read: ReadShard, arrivals: ArrivalDelays, max_call_bytes: int) -> None:
        self._read = read
        self._max_call_bytes = max_call_bytes  # as an HTTP body may be
        # Shared with the HTTP route: reads are the references late writes are measured by.
        self._arrivals = arrivals

    async def serve(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=self._max_call_bytes)
        if not ws.can_prepare(request).ok:
            raise BadRequest("internal API: the stream is a WebSocket; send an upgrade")
        await ws.prepare(request)
        streams = request.app.get(_OPEN_STREAMS)
        if streams is not None:
            streams.add(ws)
        sender = request.remote or ""
        slots = asyncio.Semaphore(MAX_CALLS_IN_FLIGHT)
        calls: set[asyncio.Task] = set()
        try:
            while True:
                message = await ws.receive()
                if message.type != WSMsgType.BINARY:
                    if message.type == WSMsgType.TEXT:
                        await ws.close(code=WSCloseCode.UNSUPPORTED_DATA,
                                       message=b"binary calls only")
                    break
                try:
                    call_id = call_id_of(message.data)
                    call = unpack_call(message.data)
                except WireError as exc:
                    await _refuse(ws, exc)
                    break
                except FlotillaError as exc:  # a filter its own API would refuse
                    await _send(ws, pack_error(call_id, exc.status, str(exc)))
                    continue
                await slots.acquire()
                task = asyncio.ensure_future(self._answer(ws, sender, call_id, call))
                calls.add(task)
                task.add_done_callback(calls.discard)
                task.add_done_callback(lambda _: slots.release())
        finally:
            if streams is not None:
                streams.discard(ws)
            for task in list(calls):
                task.cancel()
            if not ws.closed:
                await ws.close()
        return ws

    async def _answer(self, ws: web.WebSocketResponse, sender: str, call_id: int,
                      call: StreamCall) -> None:
        try:
            self._arrivals.check(sender, call.sent_at, write=False)
            answer = pack_answer(call_id, 200, await self._read(call))
        except FlotillaError as exc:
            answer = pack_error(call_id, exc.status, str(exc))
        except Exception:
            log.exception("unhandled error serving %s on the internal stream", call.method)
            answer = pack_error(call_id, 500, "internal error; see the node's log")
        await _send(ws, answer)


async def _send(ws: web.WebSocketResponse, data: bytes) -> None:
    if ws.closed:
        return
    with contextlib.suppress(ConnectionError, RuntimeError):  # the peer went away meanwhile
        await ws.send_bytes(data)


async def _refuse(ws: web.WebSocketResponse, exc: Exception) -> None:
    log.warning("closing an internal stream from a peer that sent a malformed call: %s", exc)
    await ws.close(code=WSCloseCode.PROTOCOL_ERROR, message=b"malformed call")
