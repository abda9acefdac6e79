"""HTTP calls from this node to its peers' internal API (node/api/internal.py).

One aiohttp session per node keeps connections to every peer alive; the hot shard reads go
over one multiplexed WebSocket per peer instead, where the peer offers it
(cluster/replication/peer_stream.py). Failures are sorted the
way a replica set needs them: a peer that cannot answer (refused, timed out, 5xx, garbage)
raises PeerUnavailable, so the caller tries another replica; a peer that answered 4xx raises
the FlotillaError it reported, because another replica would refuse the request just the same.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

import aiohttp
import orjson

from cluster.replication.late_writes import SENT_AT_HEADER, sent_now
from cluster.replication.peer_liveness import PeerSilent, while_alive
from cluster.replication.peer_stream import (
    MAX_ANSWER_BYTES,
    NotSent,
    PeerStream,
    PeerStreams,
    StreamLost,
)
from cluster.replication.stream_frames import STREAM_METHODS, STREAM_PATH, StreamCall
from cluster.replication.wire import CONTENT_TYPE, WireError, decode, encode
from cluster.replication.write_routing import ROUTED_AT_HEADER, StalePlacement
from node.errors import (
    BadRequest,
    Conflict,
    FlotillaError,
    NotFound,
    QuotaExceeded,
    Unavailable,
)

SECRET_HEADER = "X-Flotilla-Secret"
WRITE_METHODS = frozenset({"upsert", "update"})
# Messages above this size are encoded and decoded off the event loop.
OFF_LOOP_BYTES = 256 * 1024

# A leader writes a fresh dump of the metadata before it answers a snapshot request.
SNAPSHOT_TIMEOUT = 15.0
_CLIENT_ERRORS: dict[int, type[FlotillaError]] = {400: BadRequest, 404: NotFound, 409: Conflict}


class PeerUnavailable(Unavailable):
    """A peer could not be reached or failed to answer; another replica may do."""


class PeerRefused(PeerUnavailable):
    """A peer refused this node's cluster secret: a configuration error, not a bad request."""


class PeerClient:
    def __init__(
        self,
        secret: str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        read_timeout: float = 5.0,
        write_timeout: float = 10.0,
        connections: int = 512,
        connections_per_peer: int = 64,
        on_call: Callable[[str, str], None] | None = None,
        stream: bool = True,
    ) -> None:
        # Told (operation, outcome) of every shard call, for the node's metrics.
        self._on_call = on_call or (lambda operation, outcome: None)
        self.read_timeout = read_timeout
        self.write_timeout = write_timeout
        self._headers = {SECRET_HEADER: secret} if secret else {}
        self._limits = (connections, connections_per_peer)
        # With peer TLS (cluster.p2p.enable_tls) every call goes over https, verified by it.
        self._ssl_context = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._closed = False
        # With `stream` off, every call goes over HTTP (to measure one against the other).
        self._streams = PeerStreams(self._dial_stream, self._answers_livez) if stream else None

    async def start(self) -> None:
        self._get_session()

    async def close(self) -> None:
        self._closed = True
        if self._streams is not None:
            await self._streams.close()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def __aenter__(self) -> PeerClient:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise PeerUnavailable("the peer client is closed (the node is shutting down)")
        if self._session is None:
            total, per_host = self._limits
            connector = aiohttp.TCPConnector(limit=total, limit_per_host=per_host,
                                             keepalive_timeout=60,
                                             ssl=self._ssl_context or True)
            self._session = aiohttp.ClientSession(connector=connector, headers=self._headers,
                                                  request_class=_StampedRequest)
        return self._session

    async def call_shard(
        self,
        api_url: str,
        collection_uuid: str,
        shard_id: int,
        method: str,
        *args: object,
        timeout: float | None = None,
        routed_at: int | None = None,
        **kwargs: object,
    ) -> object:
        """Run ShardAccess `method` on the peer's replica of the shard; its result. A write
        carries `routed_at`, the shard version it was routed with
        (cluster/replication/write_routing.py)."""
        if method in STREAM_METHODS and self._streams is not None:
            stream = self._streams.ready(api_url)
            if stream is not None:
                call = StreamCall(collection_uuid, shard_id, method, list(args), kwargs,
                                  routed_at, sent_now())
                return await self._answer(api_url, method, self._streamed(
                    stream, api_url, call, timeout or self.read_timeout))
        path = f"shards/{collection_uuid}/{shard_id}/{method}"
        headers = {ROUTED_AT_HEADER: str(routed_at)} if routed_at is not None else None
        return await self._call(api_url, path, method, args, kwargs, timeout, headers)

    async def _streamed(self, stream: PeerStream, api_url: str, call: StreamCall,
                        timeout: float) -> tuple[int, bytes]:
        try:
            return await stream.call(call, timeout)
        except NotSent:  # the stream closed first: the call goes over HTTP after all
            path = f"shards/{call.collection_uuid}/{call.shard_id}/{call.method}"
            headers = ({ROUTED_AT_HEADER: str(call.routed_at)}
                       if call.routed_at is not None else None)
            return await self._exchange(api_url, path, call.method, tuple(call.args),
                                        call.kwargs, timeout, headers)
        except StreamLost as exc:
            raise PeerUnavailable(str(exc)) from None

    async def _dial_stream(self, api_url: str) -> aiohttp.ClientWebSocketResponse:
        return await asyncio.wait_for(self._get_session().ws_connect(
            self._url(api_url, STREAM_PATH), max_msg_size=MAX_ANSWER_BYTES, autoping=True,
        ), self.read_timeout)

    async def coordinate_write(
        self, api_url: str, collection_uuid: str, shard_id: int, method: str, *args: object
    ) -> object:
        """Hand a write to the peer that orders the shard's writes (ordering medium/strong);
        it applies it to every replica and returns the replica set's result."""
        path = f"coordinate/{collection_uuid}/{shard_id}/{method}"
        return await self._call(api_url, path, method, args, {}, None)

    async def send_snapshot(self, api_url: str, follower: str) -> None:
        """Ask the peer, the Raft leader, to send the follower at Raft address `follower` a
        snapshot of its state (cluster/consensus/recovery.py)."""
        await self._call(api_url, "raft/snapshot", "send_snapshot", (follower,), {},
                         SNAPSHOT_TIMEOUT)

    async def _call(self, api_url: str, path: str, method: str, args: tuple, kwargs: dict,
                    timeout: float | None, headers: dict[str, str] | None = None) -> object:
        return await self._answer(api_url, method, self._exchange(
            api_url, path, method, args, kwargs, timeout, headers))

    async def _exchange(self, api_url: str, path: str, method: str, args: tuple, kwargs: dict,
                        timeout: float | None, headers: dict[str, str] | None = None
                        ) -> tuple[int, bytes]:
        """(status, body) of the call over the HTTP route."""
        if timeout is None:
            timeout = self.write_timeout if method in WRITE_METHODS else self.read_timeout
        call = {"args": list(args), "kwargs": kwargs}
        body = await _off_loop_if_big(encode, call, method in WRITE_METHODS)
        # Stamped again once a connection is there (_StampedRequest): the receiver refuses a
        # write that arrives long after it was sent.
        headers = {**(headers or {}), SENT_AT_HEADER: sent_now()}
        url = self._url(api_url, f"internal/v1/{path}")
        try:
            return await while_alive(self._post(url, body, timeout, headers),
                                     lambda wait: self._answers_livez(api_url, wait))
        except PeerSilent as exc:
            raise PeerUnavailable(f"peer {api_url} is not answering: {exc}") from None

    async def _answer(self, api_url: str, method: str, exchange: Awaitable[tuple[int, bytes]]
                      ) -> object:
        """The result of a call, from its (status, body); the error the peer reported, or
        PeerUnavailable."""
        try:
            status, data = await exchange
            if status != 200:
                raise _error(api_url, status, data)
            try:
                result = await _off_loop_if_big(decode, data, len(data) > OFF_LOOP_BYTES)
            except WireError as exc:
                raise PeerUnavailable(
                    f"peer {api_url} answered {method} with garbage: {exc}"
                ) from None
        except PeerUnavailable:
            self._on_call(method, "unavailable")
            raise
        except Exception:
            self._on_call(method, "error")
            raise
        self._on_call(method, "ok")
        return result

    async def get_json(self, api_url: str, path: str, timeout: float | None = None,
                       *, while_answering: bool = False) -> object:
        """GET a small JSON document from a peer: the `result` of its envelope. With
        `while_answering`, given up as soon as the peer stops answering its liveness probe
        (frozen), not only at `timeout`."""
        if while_answering:
            try:
                return await while_alive(self.get_json(api_url, path, timeout),
                                         lambda wait: self._answers_livez(api_url, wait))
            except PeerSilent as exc:
                raise PeerUnavailable(f"peer {api_url} is not answering: {exc}") from None
        url = self._url(api_url, path)
        try:
            async with self._get_session().get(
                url, timeout=aiohttp.ClientTimeout(total=timeout or self.read_timeout)
            ) as response:
                status, data = response.status, await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise _unreachable(api_url, exc) from None
        if status != 200:
            raise _error(api_url, status, data)
        try:
            return orjson.loads(data)["result"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            raise PeerUnavailable(f"peer {api_url} answered {path} with garbage") from None

    async def _answers_livez(self, api_url: str, timeout: float) -> bool:
        try:
            async with self._get_session().get(
                self._url(api_url, "livez"), timeout=aiohttp.ClientTimeout(total=timeout)
            ) as response:
                await response.read()
                return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError, PeerUnavailable):
            return False

    def _url(self, api_url: str, path: str) -> str:
        # The secret header must not cross the network in the clear, nor a downgrade pass
        # unnoticed: with peer TLS on, a peer that advertises plain http is not called.
        if self._ssl_context is not None and not api_url.startswith("https://"):
            raise PeerUnavailable(f"peer {api_url} does not serve https, but "
                                  "cluster.p2p.enable_tls is on here")
        return f"{api_url.rstrip('/')}/{path.lstrip('/')}"

    async def _post(self, url: str, body: bytes, timeout: float,
                    headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        try:
            async with self._get_session().post(
                url, data=body, headers={"Content-Type": CONTENT_TYPE, **(headers or {})},
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                return response.status, await response.read()
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise _unreachable(url, exc) from None


class _StampedRequest(aiohttp.ClientRequest):
    """Sets the time a call is sent at the moment its headers go out, after any wait for a
    free connection to the peer: that wait is this node's, not a sign of a late delivery."""

    async def send(self, conn):  # noqa: ANN001, ANN201 - aiohttp's signature
        if SENT_AT_HEADER in self.headers:
            self.headers[SENT_AT_HEADER] = sent_now()
        return await super().send(conn)


async def _off_loop_if_big(fn, value: object, big: bool) -> object:
    return await asyncio.to_thread(fn, value) if big else fn(value)


def _unreachable(where: str, exc: BaseException) -> PeerUnavailable:
    reason = str(exc) or type(exc).__name__
    return PeerUnavailable(f"peer {where} is unreachable: {reason}")


def _error(api_url: str, status: int, data: bytes) -> FlotillaError:
    """The error a peer's non-200 answer stands for, with the peer's own message."""
    try:
        message = orjson.loads(data)["status"]["error"]
    except (orjson.JSONDecodeError, KeyError, TypeError):
        message = data[:200].decode("utf-8", "replace") or f"HTTP {status}"
    if status in (401, 403):
        return PeerRefused(f"peer {api_url} refused the call: {message}")
    if status == StalePlacement.status:
        return StalePlacement.from_message(message)
    if status == QuotaExceeded.status:
        # The peer is over its quota: its replica misses the write like one on a full disk,
        # and the client hears Qdrant's 507 when no replica took it.
        return QuotaExceeded(message)
    if status >= 500 or status < 400:
        return PeerUnavailable(f"peer {api_url} failed (HTTP {status}): {message}")
    return _CLIENT_ERRORS.get(status, BadRequest)(message)
