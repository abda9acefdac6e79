"""This node's end of the internal stream: one WebSocket per peer carrying its hot shard reads
(cluster/replication/stream_frames.py, node/api/internal_stream.py).

A shard read over the HTTP route costs the peer a request parse, its routing and every
middleware, and this node a client request with its own bookkeeping, for what is often a few
gathered queries. On the stream the connection's checks (credential, TLS) are made once, at
the upgrade, and each call is one binary message.

Calls never wait for a stream to open: while there is none, they go over HTTP and a
connection is opened in the background. A peer that refuses the upgrade (an older node
without the route, say) is asked again only after NOT_OFFERED_RETRY seconds; one that could
not be reached, after RECONNECT_AFTER. A stream that fails loses only the calls in flight on
it (PeerUnavailable, so the replica set asks another replica); the next call opens a new one.

A frozen peer keeps the connection open, so the stream watches itself as peer_liveness does a
single HTTP call: while a call has been waiting PROBE_AFTER seconds, the peer's `/livez` is
asked whenever nothing came back for PROBE_EVERY, and once nothing at all (answer or probe)
came back for GIVE_UP_AFTER the stream is dropped. One watch per connection instead of one per
call keeps a task and a timer off every call.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from cluster.replication.peer_liveness import GIVE_UP_AFTER, PROBE_AFTER, PROBE_EVERY
from cluster.replication.stream_frames import (
    MAX_CALL_ID,
    StreamCall,
    pack_call,
    unpack_answer,
)
from cluster.replication.wire import WireError
from node.errors import Unavailable

log = logging.getLogger(__name__)

NOT_OFFERED_RETRY = 30.0
RECONNECT_AFTER = 1.0
# No bound on an answer's size (0), as on the HTTP route: a query with a huge limit must not
# fail here when it would pass there.
MAX_ANSWER_BYTES = 0

_CLOSING: set[asyncio.Future] = set()

Dial = Callable[[str], Awaitable[aiohttp.ClientWebSocketResponse]]
Probe = Callable[[str, float], Awaitable[bool]]


class StreamLost(Exception):
    """The stream failed with the call in flight: the peer may or may not have run it."""


class NotSent(Exception):
    """The stream closed before the call went out: it may be sent another way."""


@dataclass(slots=True)
class _Pending:
    future: asyncio.Future
    started: float
    deadline: float
    method: str


class PeerStream:
    """One open WebSocket to one peer, and the calls waiting for their answers on it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse, api_url: str, probe: Probe) -> None:
        self._ws = ws
        self._api_url = api_url
        self._probe = probe
        self._loop = asyncio.get_running_loop()
        self._pending: dict[int, _Pending] = {}
        self._last_id = 0
        self._heard_at = self._loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._probing: asyncio.Future | None = None
        self.closed = False
        self._reader = asyncio.ensure_future(self._read())

    async def call(self, call: StreamCall, timeout: float) -> tuple[int, bytes]:
        """(status, body) of the peer's answer. NotSent when the stream closed before the call
        went out; StreamLost or PeerUnavailable-like errors after."""
        if self.closed:
            raise NotSent
        self._last_id = call_id = self._last_id % MAX_CALL_ID + 1
        future = self._loop.create_future()
        now = self._loop.time()
        self._pending[call_id] = _Pending(future, now, now + timeout, call.method)
        try:
            try:
                await self._ws.send_bytes(pack_call(call_id, call))
            except (ConnectionError, RuntimeError, aiohttp.ClientError):
                del self._pending[call_id]  # not lost with the others: it goes another way
                self._lose("closed the stream")
                raise NotSent from None
            if self._timer is None:
                self._timer = self._loop.call_later(PROBE_EVERY, self._watch)
            return await future
        finally:
            self._pending.pop(call_id, None)

    async def close(self) -> None:
        self._lose("stream closed by this node")
        with contextlib.suppress(Exception):
            await self._ws.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader

    async def _read(self) -> None:
        reason = "closed the stream"
        try:
            while True:
                message = await self._ws.receive()
                if message.type != aiohttp.WSMsgType.BINARY:
                    if message.type == aiohttp.WSMsgType.ERROR:
                        reason = f"broke the stream: {message.data}"
                    break
                try:
                    call_id, status, body = unpack_answer(message.data)
                except WireError as exc:
                    reason = f"sent garbage on the stream: {exc}"
                    break
                self._heard_at = self._loop.time()
                pending = self._pending.get(call_id)
                if pending is not None and not pending.future.done():
                    pending.future.set_result((status, body))
        except Exception as exc:  # noqa: BLE001 - any failure ends the stream alike
            reason = f"broke the stream: {exc or type(exc).__name__}"
        finally:
            self._lose(reason)

    def _watch(self) -> None:
        """Every PROBE_EVERY while calls wait: time out the overdue ones, and drop the stream
        when the peer stopped answering anything."""
        self._timer = None
        if self.closed or not self._pending:
            return
        now = self._loop.time()
        for pending in self._pending.values():
            if now >= pending.deadline and not pending.future.done():
                pending.future.set_exception(StreamLost(
                    f"peer {self._api_url} did not answer {pending.method} in time"))
        oldest = min(p.started for p in self._pending.values())
        if now - oldest >= PROBE_AFTER:
            if now - max(self._heard_at, oldest + PROBE_AFTER) >= GIVE_UP_AFTER:
                self._lose(f"is not answering: no answer to a liveness probe for "
                           f"{GIVE_UP_AFTER:g}s")
                return
            if now - self._heard_at >= PROBE_EVERY and (
                    self._probing is None or self._probing.done()):
                self._probing = asyncio.ensure_future(self._ask_alive())
        self._timer = self._loop.call_later(PROBE_EVERY, self._watch)

    async def _ask_alive(self) -> None:
        if await self._probe(self._api_url, GIVE_UP_AFTER):
            self._heard_at = self._loop.time()

    def _lose(self, reason: str) -> None:
        """Close the stream for good: every call waiting on it fails."""
        if self.closed:
            return
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
        if self._probing is not None:
            self._probing.cancel()
        error = StreamLost(f"peer {self._api_url} {reason}")
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.set_exception(error)
        if not self._reader.done() and self._reader is not asyncio.current_task():
            self._reader.cancel()
        if not self._ws.closed:
            closing = asyncio.ensure_future(self._ws.close())
            _CLOSING.add(closing)  # the loop holds tasks weakly: kept until done
            closing.add_done_callback(_CLOSING.discard)


class PeerStreams:
    """The open stream to each peer (by API address), opened in the background on demand."""

    def __init__(self, dial: Dial, probe: Probe) -> None:
        self._dial = dial
        self._probe = probe
        self._open: dict[str, PeerStream] = {}
        self._dialing: dict[str, asyncio.Task] = {}
        self._retry_at: dict[str, float] = {}
        self._closed = False

    def ready(self, api_url: str) -> PeerStream | None:
        """The open stream to the peer; None (and one is opened if it may be) when there is
        none yet."""
        stream = self._open.get(api_url)
        if stream is not None and not stream.closed:
            return stream
        if self._closed or api_url in self._dialing:
            return None
        loop = asyncio.get_running_loop()
        if loop.time() >= self._retry_at.get(api_url, 0.0):
            self._dialing[api_url] = asyncio.ensure_future(self._open_stream(api_url))
        return None

    async def _open_stream(self, api_url: str) -> None:
        loop = asyncio.get_running_loop()
        try:
            ws = await self._dial(api_url)
        except aiohttp.WSServerHandshakeError as exc:
            # Refused the upgrade: a peer without the stream (404), or one that refuses this
            # node's credential (the HTTP route then says so in the caller's error).
            log.info("peer %s offers no internal stream (HTTP %s): calls go over HTTP",
                     api_url, exc.status)
            self._retry_at[api_url] = loop.time() + NOT_OFFERED_RETRY
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, Unavailable) as exc:
            log.debug("no internal stream to %s: %s", api_url, exc)
            self._retry_at[api_url] = loop.time() + RECONNECT_AFTER
        else:
            if self._closed:
                await ws.close()
            else:
                self._open[api_url] = PeerStream(ws, api_url, self._probe)
        finally:
            self._dialing.pop(api_url, None)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._dialing.values()):
            task.cancel()
        for task in list(self._dialing.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for stream in list(self._open.values()):
            await stream.close()
        self._open.clear()
