"""Run a Flotilla node as a real child process for end-to-end tests.

The node is started exactly the way an operator starts it (`python -m node.cli serve`), on free
loopback ports, with its stdout/stderr captured to a log file next to its storage directory so a
failing test can show what the node said.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from qdrant_client import QdrantClient

REPO_ROOT = Path(__file__).resolve().parent.parent
LOOPBACK = "127.0.0.1"
DEFAULT_READY_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 20.0
LOG_TAIL_CHARS = 6000

T = TypeVar("T")

# Ports handed out recently by this process: the OS may hand the same ephemeral port to two
# back-to-back bind(0) calls once the first socket is closed.
_handed_out: set[int] = set()
_handed_out_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now, never the same one twice in this process."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((host, 0))
            port = sock.getsockname()[1]
        with _handed_out_lock:
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise RuntimeError("could not find a free loopback port")


class HttpSession(requests.Session):
    """A requests.Session that resolves paths ("/collections") against the node's base URL;
    with `tls`, it trusts the test CA (per request: requests lets REQUESTS_CA_BUNDLE from the
    environment beat a session's own `verify`)."""

    def __init__(self, base_url: str, timeout: float = 10.0, tls: ClientTls | None = None) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.default_timeout = timeout
        self.tls_kwargs = tls.requests_kwargs() if tls is not None else {}

    def url(self, path: str) -> str:
        return path if "://" in path else f"{self.base_url}/{path.lstrip('/')}"

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.default_timeout)
        for name, value in self.tls_kwargs.items():
            kwargs.setdefault(name, value)
        return super().request(method, self.url(url), *args, **kwargs)


@dataclass(frozen=True)
class ClientTls:
    """How a test client reaches a node that serves https: the CA it trusts and, for mutual
    TLS, the certificate and key it presents."""

    ca_cert: Path
    cert: Path | None = None
    key: Path | None = None

    def context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(self.ca_cert))
        if self.cert is not None:
            context.load_cert_chain(self.cert, self.key)
        return context

    def requests_kwargs(self) -> dict[str, Any]:
        """`verify` and `cert` for requests."""
        cert = (str(self.cert), str(self.key)) if self.cert is not None else None
        return {"verify": str(self.ca_cert), "cert": cert}


class NodeStartError(RuntimeError):
    """The node exited or did not become ready in time."""


class NodeProcess:
    """One Flotilla node process: start, wait until ready, stop gracefully, crash, restart."""

    # Every node ever created in this test process, so a failure report can show their logs.
    live: weakref.WeakSet[NodeProcess] = weakref.WeakSet()

    def __init__(
        self,
        storage_path: Path,
        *,
        host: str = LOOPBACK,
        http_port: int | None = None,
        p2p_port: int | None = None,
        grpc_port: int | None | bool = None,
        extra_args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        name: str | None = None,
        tls: ClientTls | None = None,
    ) -> None:
        self.storage_path = Path(storage_path)
        self.host = host
        self.http_port = http_port if http_port is not None else free_port(host)
        self.p2p_port = p2p_port if p2p_port is not None else free_port(host)
        # gRPC on a free port unless given one; False runs the node without gRPC.
        self.grpc_port: int | None = (None if grpc_port is False else
                                      grpc_port if grpc_port is not None else free_port(host))
        self.extra_args = list(extra_args)
        self.env = dict(env or {})
        # Set for a node that serves https (its settings enable TLS): how to reach it.
        self.tls = tls
        self.name = name or self.storage_path.name
        self.log_path = log_path or self.storage_path.parent / f"{self.name}.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_offset = 0
        # Set when the test ended the process on purpose; an exit without it is a crash.
        self._ended_by_test = False
        NodeProcess.live.add(self)

    # --- addresses ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://{self.host}:{self.http_port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "node.cli",
            "serve",
            "--host",
            self.host,
            "--http-port",
            str(self.http_port),
            "--p2p-port",
            str(self.p2p_port),
            "--grpc-port",
            "off" if self.grpc_port is None else str(self.grpc_port),
            "--storage-path",
            str(self.storage_path),
            *self.extra_args,
        ]

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> NodeProcess:
        """Launch the process (does not wait for readiness)."""
        if self.is_running():
            raise RuntimeError(f"node {self.name} is already running")
        self.storage_path.mkdir(parents=True, exist_ok=True)
        self._ended_by_test = False
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            banner = f"\n===== start {time.strftime('%H:%M:%S')}: {' '.join(self.command())}\n"
            log.write(banner.encode())
            log.flush()
            # A session of its own: a crash kill can take any helper processes down with it,
            # and a Ctrl-C in the terminal running pytest does not hit the node first.
            self._proc = subprocess.Popen(
                self.command(),
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = DEFAULT_READY_TIMEOUT) -> NodeProcess:
        """Block until `GET /readyz` answers 200; raise with the node's log if it never does."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt made"
        context = self.tls.context() if self.tls is not None else None
        while time.monotonic() < deadline:
            if not self.is_running():
                raise NodeStartError(
                    f"node {self.name} exited with code {self.returncode} before becoming "
                    f"ready\n{self.log_tail(since_start=True)}"
                )
            try:
                with urllib.request.urlopen(f"{self.url}/readyz", timeout=2,
                                            context=context) as response:
                    if response.status == 200:
                        return self
                    last_error = f"HTTP {response.status}"
            except urllib.error.HTTPError as exc:
                last_error = f"HTTP {exc.code}"
            except (OSError, urllib.error.URLError) as exc:
                last_error = str(exc)
            time.sleep(0.05)
        raise NodeStartError(
            f"node {self.name} not ready after {timeout:.0f}s ({last_error})\n"
            f"{self.log_tail(since_start=True)}"
        )

    def start_and_wait(self, timeout: float = DEFAULT_READY_TIMEOUT) -> NodeProcess:
        return self.start().wait_ready(timeout)

    def stop(self, timeout: float = DEFAULT_STOP_TIMEOUT) -> int | None:
        """Graceful shutdown with SIGTERM; escalates to SIGKILL after `timeout`. Exit code."""
        if self._proc is None:
            return None
        self._ended_by_test = True
        if self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signal.SIGTERM)
                # A paused node only acts on SIGTERM once it runs again.
                os.killpg(self._proc.pid, signal.SIGCONT)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._write_log_note(f"did not stop within {timeout}s of SIGTERM; killing")
                self.kill()
                return None
        return self._proc.returncode

    def kill(self) -> None:
        """Crash the node: SIGKILL to its whole process group, then reap it."""
        if self._proc is None or self._proc.poll() is not None:
            return
        self._ended_by_test = True
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            self._proc.kill()
        self._proc.wait(10)
        self._write_log_note("killed with SIGKILL")

    def pause(self) -> None:
        """Freeze the node (SIGSTOP): it keeps its sockets but answers nothing."""
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGCONT)

    def restart(
        self, *, graceful: bool = True, timeout: float = DEFAULT_READY_TIMEOUT
    ) -> NodeProcess:
        """Stop (SIGTERM, or SIGKILL when not graceful), start on the same ports, wait ready."""
        if graceful:
            self.stop()
        else:
            self.kill()
        return self.start_and_wait(timeout)

    def __enter__(self) -> NodeProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- logs -------------------------------------------------------------------------------

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def log_tail(self, chars: int = LOG_TAIL_CHARS, since_start: bool = False) -> str:
        """The end of the log (of the current run only, with since_start), for error messages."""
        text = self.log_text()
        if since_start:
            text = text[self._log_offset :] if self._log_offset <= len(text) else text
        tail = text[-chars:]
        prefix = "...\n" if len(text) > len(tail) else ""
        return f"--- log of node {self.name} ({self.log_path.name}) ---\n{prefix}{tail}"

    def _write_log_note(self, note: str) -> None:
        with contextlib.suppress(OSError), open(self.log_path, "a", encoding="utf-8") as log:
            log.write(f"===== {time.strftime('%H:%M:%S')}: {note}\n")


def running_nodes() -> Iterator[NodeProcess]:
    """Nodes that are running now, or that exited without the test asking them to (crashed)."""
    for node in list(NodeProcess.live):
        if node._proc is not None and (node.is_running() or not node._ended_by_test):
            yield node


def wait_for(
    condition: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.1,
) -> T:
    """Poll `condition` until it returns a truthy value (returned); AssertionError on timeout."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while True:
        last = condition()
        if last:
            return last
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
        time.sleep(interval)


def cluster_of_one(storage_path: Path, name: str, *args: str,
                   env: Mapping[str, str] | None = None) -> NodeProcess:
    """A node with clustering on, alone in its cluster (the internal API exists only so),
    started and ready; `args` are further `serve` flags."""
    proc = NodeProcess(storage_path, name=name, env=env)
    proc.extra_args = ["--cluster-enabled", "--uri", f"http://{proc.host}:{proc.p2p_port}",
                       *args]
    proc.start_and_wait()
    return proc


def connect(proc: NodeProcess) -> QdrantClient:
    """A new client for a node; after every restart, since pooled connections to the dead
    process are useless."""
    return QdrantClient(url=proc.url, timeout=30, check_compatibility=False,
                        **client_tls_kwargs(proc))


def client_tls_kwargs(proc: NodeProcess) -> dict[str, Any]:
    """qdrant-client hands unknown keyword arguments to its httpx client: `verify` takes an
    SSLContext, with the CA to trust and any client certificate in it."""
    return {"verify": proc.tls.context()} if proc.tls is not None else {}


def assert_concurrent_answers_match(client: QdrantClient, url: str, name: str,
                                    queries: list[list[float]], threshold: float) -> None:
    """Plain queries of three kinds (a limit, an hnsw_ef, a score threshold), asked one by one
    through `client`, then all at once through qdrant-client's async client at `url`: every
    concurrent answer must be exactly its sequential one."""
    import asyncio

    import pytest
    from qdrant_client import AsyncQdrantClient, models

    kinds: list[dict[str, Any]] = [
        {"limit": 5},
        {"limit": 7, "search_params": models.SearchParams(hnsw_ef=20)},
        {"limit": 10, "score_threshold": threshold},
    ]
    asks = [(q, kinds[i % len(kinds)]) for i, q in enumerate(queries)]
    expected = [client.query_points(name, query=q, **kind).points for q, kind in asks]

    async def together() -> list:
        async_client = AsyncQdrantClient(url=url, timeout=30)
        try:
            answers = await asyncio.gather(*(
                async_client.query_points(name, query=q, **kind) for q, kind in asks))
        finally:
            await async_client.close()
        return [answer.points for answer in answers]

    for got, want in zip(asyncio.run(together()), expected, strict=True):
        assert [p.id for p in got] == [p.id for p in want]
        assert [p.score for p in got] == pytest.approx([p.score for p in want], abs=1e-6)
