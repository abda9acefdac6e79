"""HTTP load generator that runs in its own process, so its CPU is not the server's or ours.

A minimal HTTP/1.1 keep-alive client on asyncio Protocols (uvloop). Each concurrent worker has
one request in flight at a time, over one connection per target URL, and is driven by callbacks:
an answer leads straight to writing the next request, with no coroutine or future in between.
Every request (request line, Host, Content-Type, Content-Length, body) is encoded once before
the timed loop, so sending is one write (a writev for large bodies). Reading finds the status,
Content-Length or chunked framing and Connection: close, collects the body, and decodes the ids
only of the first answer to each body. A closed connection is reopened on next use. aiohttp's
client cost about as much CPU per request as the server it measured; this costs a fraction.
It reports its own CPU time so the caller can show the load generator costs less than the server.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from urllib.parse import urlsplit

import numpy as np
import orjson

REQUEST_TIMEOUT = 600.0  # seconds a request may stay unanswered before the run fails
_CONCAT_LIMIT = 16 * 1024  # bodies up to this size are sent as one buffer with their head
_NO_BODY = frozenset({204, 304})


@dataclass
class LoadSpec:
    urls: list[str]  # requests are spread over these (one per node in a cluster)
    path: str
    bodies: list[bytes]
    concurrency: int
    duration: float | None = None  # None: send every body once; else loop until time is up
    parse: str = "none"  # "query", "batch" or "none": what to read out of each answer
    method: str = "POST"


@dataclass
class LoadResult:
    requests: int
    errors: int
    wall: float
    client_cpu: float
    latencies: list[float]
    ids: dict[int, list] = field(default_factory=dict)  # body index -> ids (first answer only)
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else 0.0


def _ids(parse: str, raw: bytes) -> list:
    result = orjson.loads(raw)["result"]
    if parse == "query":
        return [p["id"] for p in result["points"]]
    return [[p["id"] for p in r["points"]] for r in result]


class _Conn(asyncio.Protocol):
    """One keep-alive connection with at most one request in flight; answers go to its worker."""

    def __init__(self, worker: _Worker) -> None:
        self.worker = worker
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.busy = False  # a request is in flight
        self.used = False  # has answered a request: a close before any reply may be a stale idle
        self.i = 0  # request index in flight
        self.t0 = 0.0  # perf_counter() when that request was started: latency and watchdog
        self._reset()

    def _reset(self) -> None:
        self._head = b""  # bytes received before the end of the headers
        self._parts: list[bytes] = []  # body bytes received so far
        self._have = 0
        self._status = 0
        self._length = -1  # Content-Length; -1: chunked or read to close
        self._chunked = False
        self._keep = True
        self._got_any = False

    def send(self, req: bytes | tuple[bytes, bytes], i: int, t0: float) -> None:
        """Write a pre-encoded request; the answer comes back through worker.answered."""
        assert self.transport is not None and not self.busy
        self._reset()
        self.busy, self.i, self.t0 = True, i, t0
        if type(req) is bytes:
            self.transport.write(req)
        else:
            self.transport.writelines(req)  # one writev: large bodies are not copied

    # --- asyncio.Protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # bytes nobody asked for: the stream is out of step
            self.fail(ConnectionError(f"unexpected data from server: {data[:100]!r}"))
            return
        self._got_any = True
        try:
            self._feed(data)
        except ValueError as exc:  # a malformed number in the status line or the framing
            self.fail(ConnectionError(f"bad HTTP response: {exc}"))

    def _feed(self, data: bytes) -> None:
        if self._status:  # headers done: just collect the body
            self._parts.append(data)
            self._have += len(data)
        else:
            head = self._head + data if self._head else data
            end = head.find(b"\r\n\r\n")
            if end < 0:
                self._head = head
                return
            self._parse_head(head[:end])
            rest = head[end + 4:]
            if not self.busy:  # the head was not HTTP
                return
            if self._status < 200:  # an interim answer (100 Continue): the real one follows
                self._status, self._head = 0, b""
                if rest:
                    self._feed(rest)
                return
            if rest:
                self._parts.append(rest)
                self._have = len(rest)
        if self._length >= 0:
            if self._have >= self._length:
                body = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
                if len(body) > self._length:  # more than one answer's worth: out of step
                    self._keep = False
                    body = body[: self._length]
                self._finish(body)
        elif self._chunked:
            self._try_chunked()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if not self.busy:
            return
        if self._status and self._length < 0 and not self._chunked:
            self._finish(b"".join(self._parts))  # no length given: the body ends at the close
        else:
            self.fail(ConnectionError(f"server closed the connection mid-request ({exc})"))

    # --- parsing ------------------------------------------------------------------------

    def _parse_head(self, head: bytes) -> None:
        # Case-insensitive search over the few headers that frame the body.
        low = head.lower()
        if not low.startswith(b"http/1.") or len(low) < 12:
            self.fail(ConnectionError(f"bad status line: {head[:100]!r}"))
            return
        self._status = int(low[9:12])
        self._keep = not low.startswith(b"http/1.0")
        if b"\r\nconnection:" in low:
            conn = _header(low, b"connection")
            if b"close" in conn:
                self._keep = False
            elif b"keep-alive" in conn:
                self._keep = True
        if self._status in _NO_BODY:
            self._length = 0
        elif b"\r\ntransfer-encoding:" in low and b"chunked" in _header(low, b"transfer-encoding"):
            self._chunked = True
        elif b"\r\ncontent-length:" in low:
            self._length = int(_header(low, b"content-length"))
        else:
            self._keep = False  # body runs until the server closes

    def _try_chunked(self) -> None:
        # Re-scan the whole body each time more arrives: chunked answers are rare and small.
        buf = self._parts[0] if len(self._parts) == 1 else b"".join(self._parts)
        self._parts = [buf]
        out: list[bytes] = []
        pos = 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return
            size = int(buf[pos:eol].split(b";", 1)[0], 16)
            if size == 0:
                # Trailers (usually none) end with an empty line.
                end = buf.find(b"\r\n\r\n", eol) if buf[eol + 2: eol + 4] != b"\r\n" else eol
                if end < 0:
                    return
                if end + 4 < len(buf):
                    self._keep = False
                self._finish(b"".join(out))
                return
            start = eol + 2
            if len(buf) < start + size + 2:
                return
            out.append(buf[start: start + size])
            pos = start + size + 2

    def _finish(self, body: bytes) -> None:
        self.busy = False
        self.used = True
        if not self._keep:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
        self.worker.answered(self, self._status, body)

    def fail(self, exc: Exception) -> None:
        """Drop the connection; a request in flight goes back to the worker as lost."""
        busy, self.busy = self.busy, False
        self.closed = True
        if self.transport is not None:
            self.transport.abort()
        if busy:
            self.worker.lost(self, exc)

    @property
    def stale(self) -> bool:
        """A reused connection that closed before any reply: the server dropped it while idle."""
        return self.used and not self._got_any


def _header(low: bytes, name: bytes) -> bytes:
    start = low.index(b"\r\n" + name + b":") + len(name) + 3
    end = low.find(b"\r\n", start)
    return low[start: end if end >= 0 else len(low)].strip()


def _encode_requests(spec: LoadSpec) -> tuple[list[tuple[str, int]], list[list]]:
    """Per URL, (host, port) and every body's full request, encoded once before timing."""
    targets, per_url = [], []
    for url in spec.urls:
        parts = urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"only plain http:// URLs are supported: {url!r}")
        port = parts.port or 80
        target = (parts.path or "") + (f"?{parts.query}" if parts.query else "") + spec.path
        head = (f"{spec.method} {target or '/'} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
                "Content-Type: application/json\r\n").encode()
        reqs: list = []
        for body in spec.bodies:
            h = head + b"Content-Length: %d\r\n\r\n" % len(body)
            # Small bodies go out as one buffer; large ones are not copied once per URL.
            reqs.append(h + body if len(body) <= _CONCAT_LIMIT else (h, body))
        targets.append((parts.hostname, port))
        per_url.append(reqs)
    return targets, per_url


class _Run:
    """Shared state of one load run: the request counter, the results and the end signal."""

    def __init__(self, spec: LoadSpec, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.targets, self.requests = _encode_requests(spec)
        self.n, self.k = len(spec.bodies), len(spec.urls)
        self.parse = spec.parse
        self.counter = 0
        self.latencies: list[float] = []
        self.ids: dict[int, list] = {}
        self.errors, self.first_error = 0, ""
        self.conns: list[_Conn] = []  # every connection opened, for the watchdog and cleanup
        self.connecting: set[asyncio.Task] = set()  # the loop only keeps weak references
        self.live = spec.concurrency  # workers still sending
        self.stopped = False
        self.done = loop.create_future()
        self.start = time.perf_counter()
        self.deadline = self.start + spec.duration if spec.duration else None

    def take(self) -> int:
        """The next request index, or -1 when the run is over."""
        i = self.counter
        if self.stopped or (self.deadline is None and i >= self.n) or (
                self.deadline is not None and time.perf_counter() >= self.deadline):
            return -1
        self.counter = i + 1
        return i

    def record(self, i: int, t0: float, status: int, raw: bytes) -> None:
        self.latencies.append(time.perf_counter() - t0)
        if status != 200:
            self.errors += 1
            self.first_error = self.first_error or f"{status} {raw[:300]!r}"
        elif self.parse != "none" and i < self.n:
            self.ids[i] = _ids(self.parse, raw)

    def worker_done(self) -> None:
        self.live -= 1
        if self.live <= 0:
            self.finish(None)

    def finish(self, exc: BaseException | None) -> None:
        self.stopped = True
        if not self.done.done():
            if exc is None:
                self.done.set_result(None)
            else:
                self.done.set_exception(exc)


class _Worker:
    """One concurrent client: a request at a time, one connection per target URL.

    Driven by callbacks from its connections rather than a coroutine, so an answer leads
    straight to the next write with no future or task switch in between.
    """

    def __init__(self, run: _Run) -> None:
        self.run = run
        self.conns: list[_Conn | None] = [None] * run.k
        self.retried = False

    def next(self) -> None:
        i = self.run.take()
        if i < 0:
            self.run.worker_done()
            return
        self.retried = False
        self.send(i, time.perf_counter())

    def send(self, i: int, t0: float) -> None:
        run = self.run
        u = i % run.k
        conn = self.conns[u]
        if conn is None or conn.closed:  # first use, or the server closed it
            task = run.loop.create_task(self._connect_and_send(u, i, t0))
            run.connecting.add(task)
            task.add_done_callback(run.connecting.discard)
        else:
            conn.send(run.requests[u][i % run.n], i, t0)

    async def _connect_and_send(self, u: int, i: int, t0: float) -> None:
        run = self.run
        try:
            _, conn = await run.loop.create_connection(lambda: _Conn(self), *run.targets[u])
        except OSError as exc:
            run.finish(exc)
            return
        run.conns.append(conn)
        if run.stopped:
            return  # closed with the others by _run
        self.conns[u] = conn
        conn.send(run.requests[u][i % run.n], i, t0)

    def answered(self, conn: _Conn, status: int, raw: bytes) -> None:
        try:
            self.run.record(conn.i, conn.t0, status, raw)
        except Exception as exc:  # e.g. an answer without ids: end the run with it, as raised
            self.run.finish(exc)
            return
        self.next()

    def lost(self, conn: _Conn, exc: Exception) -> None:
        if self.run.stopped:
            return
        if conn.stale and not self.retried:
            # The server dropped an idle keep-alive connection: resend once on a new one.
            self.retried = True
            self.send(conn.i, conn.t0)
        else:
            self.run.finish(exc)


async def _watchdog(run: _Run) -> None:
    # One timer for the run instead of a timeout per request.
    while True:
        await asyncio.sleep(1.0)
        now = time.perf_counter()
        for c in run.conns:
            if c.busy and now - c.t0 > REQUEST_TIMEOUT:
                c.fail(TimeoutError(f"no answer in {REQUEST_TIMEOUT:.0f} s"))


async def _run(spec: LoadSpec) -> LoadResult:
    run = _Run(spec, asyncio.get_running_loop())
    dog = asyncio.ensure_future(_watchdog(run))
    try:
        if spec.concurrency <= 0:
            run.finish(None)
        for _ in range(spec.concurrency):
            _Worker(run).next()
        await run.done
    finally:
        run.stopped = True
        dog.cancel()
        for c in run.conns:
            if c.transport is not None:
                c.transport.close()
    wall = time.perf_counter() - run.start
    return LoadResult(len(run.latencies), run.errors, wall, 0.0, run.latencies, run.ids,
                      run.first_error)


def _entry(spec: LoadSpec) -> LoadResult:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass
    cpu0 = time.process_time()
    result = asyncio.run(_run(spec))
    result.client_cpu = time.process_time() - cpu0
    return result


def _warm() -> None:
    import uvloop  # noqa: F401  (imported once here rather than inside the first timed run)


class LoadGenerator:
    """One long-lived worker process; each run pickles its spec across."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        # Start the worker now, so its interpreter start-up is not timed in the first run.
        self._pool.submit(_warm).result()

    def run(self, spec: LoadSpec) -> LoadResult:
        return self._pool.submit(_entry, spec).result()

    def run_grpc(self, spec) -> LoadResult:
        """A bench.grpc_load.GrpcLoadSpec, in the same worker process."""
        from bench import grpc_load

        return self._pool.submit(grpc_load.entry, spec).result()

    def close(self) -> None:
        self._pool.shutdown()


def encode(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
