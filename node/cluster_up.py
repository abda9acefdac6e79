"""`flotilla cluster up --nodes N`: a local cluster on loopback, in the foreground.

Every node is an ordinary `flotilla serve` child process with a static member list, so what runs
here is exactly what an operator would run on N machines. The parent only multiplexes the
children's output (one `[node-i] ` prefix per line) and owns their shutdown: Ctrl-C or SIGTERM
stops every node gracefully; a node that dies on its own takes the others down with it.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO, Any

DEFAULT_NODES = 3
DEFAULT_BASE_PORT = 6333
DEFAULT_DATA_DIR = "./cluster-data"
DEFAULT_HOST = "127.0.0.1"
PORT_STRIDE = 10  # node i: http = base + 10*i, grpc = base + 10*i + 1, raft = base + 10*i + 2
GRPC_OFFSET = 1
RAFT_OFFSET = 2  # so node 0 gets Qdrant's usual 6333 / 6334 / 6335
STOP_GRACE_SECONDS = 20.0
POLL_SECONDS = 0.1
READER_JOIN_SECONDS = 2.0
PARENT_PREFIX = "[cluster] "

# One lock for every line written by the parent, so lines of different nodes never interleave.
_output_lock = threading.Lock()


@dataclass(frozen=True)
class NodeSpec:
    index: int
    host: str
    http_port: int
    raft_port: int
    storage_path: Path
    grpc_port: int = 0

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    @property
    def prefix(self) -> str:
        return f"[{self.name}] "

    @property
    def api_url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.http_port}"

    @property
    def raft_uri(self) -> str:
        return f"http://{_url_host(self.host)}:{self.raft_port}"


class ClusterUpError(RuntimeError):
    """The cluster cannot be started as asked (bad options, busy port, unusable data dir)."""


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # IPv6 literals need brackets in a URL


def plan_nodes(nodes: int, base_port: int, data_dir: Path, host: str) -> list[NodeSpec]:
    """The ports and storage directory of every node; raises ClusterUpError on bad options."""
    if nodes < 1:
        raise ClusterUpError(f"--nodes must be at least 1, got {nodes}")
    last_port = base_port + PORT_STRIDE * (nodes - 1) + RAFT_OFFSET
    if base_port < 1 or last_port > 65535:
        raise ClusterUpError(
            f"--base-port {base_port} with {nodes} nodes needs ports {base_port}-{last_port}, "
            "outside 1-65535"
        )
    return [
        NodeSpec(
            index=i,
            host=host,
            http_port=base_port + PORT_STRIDE * i,
            raft_port=base_port + PORT_STRIDE * i + RAFT_OFFSET,
            grpc_port=base_port + PORT_STRIDE * i + GRPC_OFFSET,
            storage_path=data_dir / f"node-{i}",
        )
        for i in range(nodes)
    ]


def port_is_free(host: str, port: int) -> bool:
    """Whether a TCP server could bind host:port right now."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        # Servers set SO_REUSEADDR too: a port in TIME_WAIT is usable, a listening one is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def check_ports(specs: list[NodeSpec]) -> None:
    """Raise ClusterUpError naming the first busy port, before any node is started."""
    for spec in specs:
        for kind, port in (("HTTP", spec.http_port), ("gRPC", spec.grpc_port),
                           ("Raft", spec.raft_port)):
            if not port_is_free(spec.host, port):
                raise ClusterUpError(
                    f"port {port} on {spec.host} ({spec.name} {kind} port) is already in use; "
                    "stop whatever listens there or pick another --base-port"
                )


def node_command(spec: NodeSpec, peers: list[str], log_level: str | None) -> list[str]:
    """The `flotilla serve` command line of one node (the secret travels in the environment)."""
    command = [
        sys.executable,
        "-m",
        "node.cli",
        "serve",
        "--cluster-enabled",
        "--host",
        spec.host,
        "--http-port",
        str(spec.http_port),
        "--grpc-port",
        str(spec.grpc_port),
        "--p2p-port",
        str(spec.raft_port),
        "--uri",
        spec.raft_uri,
        "--peers",
        ",".join(peers),
        "--storage-path",
        str(spec.storage_path),
    ]
    if log_level:
        command += ["--log-level", log_level]
    return command


def node_env(secret: str | None) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}  # children's lines should show up at once
    if secret:
        # In the environment rather than on the command line, where `ps` would show it.
        env["FLOTILLA__CLUSTER__SECRET"] = secret
    return env


def _emit(stream: IO[str], text: str) -> None:
    with _output_lock:
        stream.write(text)
        stream.flush()


def _say(message: str, prefix: str = PARENT_PREFIX) -> None:
    _emit(sys.stdout, f"{prefix}{message}\n")


def _pump(pipe: IO[bytes], prefix: str, stream: IO[str]) -> None:
    """Copy a child's pipe to our stream line by line, each line prefixed."""
    with pipe:
        for raw in iter(pipe.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            _emit(stream, f"{prefix}{line}\n")


class _Child:
    def __init__(self, spec: NodeSpec, proc: subprocess.Popen[bytes]) -> None:
        self.spec = spec
        self.proc = proc
        self.readers: list[threading.Thread] = []
        self.reported = False

    def start_readers(self) -> None:
        assert self.proc.stdout is not None and self.proc.stderr is not None
        for pipe, stream in ((self.proc.stdout, sys.stdout), (self.proc.stderr, sys.stderr)):
            reader = threading.Thread(
                target=_pump,
                args=(pipe, self.spec.prefix, stream),
                name=f"{self.spec.name}-output",
                daemon=True,
            )
            reader.start()
            self.readers.append(reader)

    def join_readers(self) -> None:
        # A node's last words (a traceback) should be printed before we say it exited.
        for reader in self.readers:
            reader.join(READER_JOIN_SECONDS)

    def running(self) -> bool:
        return self.proc.poll() is None


def summary(children: list[_Child], data_dir: Path) -> str:
    rows = [("node", "pid", "api", "raft", "storage")]
    rows += [
        (c.spec.name, str(c.proc.pid), c.spec.api_url, c.spec.raft_uri, str(c.spec.storage_path))
        for c in children
    ]
    widths = [max(len(row[col]) for row in rows) for col in range(len(rows[0]))]
    lines = [f"flotilla cluster of {len(children)} node(s), data in {data_dir}"]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
    lines.append("Press Ctrl-C to stop all nodes.")
    return "\n".join(lines) + "\n"


class _Signals:
    """SIGINT/SIGTERM handlers that only count; the main loop acts on the count."""

    def __init__(self) -> None:
        self.count = 0
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1

    def install(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _stop_all(children: list[_Child], grace: float, forced: Callable[[], bool]) -> None:
    """SIGTERM every running node, wait up to `grace` seconds (or until `forced`), then SIGKILL."""
    for child in children:
        if child.running():
            with contextlib.suppress(ProcessLookupError):
                child.proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while any(c.running() for c in children) and time.monotonic() < deadline and not forced():
        time.sleep(POLL_SECONDS)
    for child in children:
        if child.running():
            _say(f"did not stop within {grace:.0f} s; killing it", child.spec.prefix)
            # Its own process group (start_new_session): take any helpers down with it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(child.proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                child.proc.kill()
        child.proc.wait()
    for child in children:
        child.join_readers()


def run(args: argparse.Namespace) -> int:
    data_dir = Path(args.data_dir).resolve()
    try:
        specs = plan_nodes(args.nodes, args.base_port, data_dir, args.host)
        check_ports(specs)
        for spec in specs:
            spec.storage_path.mkdir(parents=True, exist_ok=True)
    except ClusterUpError as exc:
        print(f"flotilla cluster up: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"flotilla cluster up: cannot create the data directory: {exc}", file=sys.stderr)
        return 2

    peers = [spec.raft_uri for spec in specs]
    env = node_env(args.cluster_secret)
    signals = _Signals()
    signals.install()
    children: list[_Child] = []
    try:
        for spec in specs:
            try:
                proc = subprocess.Popen(
                    node_command(spec, peers, args.log_level),
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    # Not in the terminal's process group: Ctrl-C reaches only us, and we stop
                    # the nodes in order instead of them all seeing SIGINT at once.
                    start_new_session=True,
                )
            except OSError as exc:
                _say(f"could not start {spec.name}: {exc}")
                _stop_all(children, STOP_GRACE_SECONDS, lambda: signals.count > 1)
                return 1
            children.append(_Child(spec, proc))
        # The table first, then the nodes' output (buffered in the pipes meanwhile).
        _emit(sys.stdout, summary(children, data_dir))
        for child in children:
            child.start_readers()
        return _supervise(children, signals)
    finally:
        signals.restore()


def _supervise(children: list[_Child], signals: _Signals) -> int:
    def forced() -> bool:  # a second Ctrl-C: stop waiting for a graceful exit
        return signals.count > 1

    while True:
        if signals.count:
            _say(
                f"stopping {len(children)} node(s) (up to {STOP_GRACE_SECONDS:.0f} s; "
                "Ctrl-C again kills them now)"
            )
            _stop_all(children, STOP_GRACE_SECONDS, forced)
            _say("all nodes stopped")
            return 0
        for child in children:
            code = child.proc.poll()
            if code is None or child.reported:
                continue
            child.reported = True
            child.join_readers()
            _say(f"exited on its own: {describe_exit(code)}", child.spec.prefix)
            if code != 0:
                _say("stopping the other nodes")
                _stop_all(children, STOP_GRACE_SECONDS, forced)
                return 1
        if not any(c.running() for c in children):
            _say("every node has exited")
            return 0
        time.sleep(POLL_SECONDS)


def describe_exit(code: int) -> str:
    if code < 0:  # Popen's way of saying "killed by a signal"
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exit code {code}"


def register(commands: argparse._SubParsersAction) -> None:
    """Add `cluster up` to the `flotilla` command's subcommands."""
    cluster = commands.add_parser("cluster", help="run a local multi-node cluster")
    actions = cluster.add_subparsers(dest="cluster_command", metavar="ACTION")

    def usage(args: argparse.Namespace) -> int:
        cluster.print_help(sys.stderr)
        return 2

    cluster.set_defaults(handler=usage)

    up = actions.add_parser(
        "up",
        help="start N nodes on this machine in the foreground (Ctrl-C stops them all)",
        description=(
            "Start N `flotilla serve` nodes forming one cluster. Node i serves HTTP on "
            "BASE+10*i and Raft on BASE+10*i+2, and stores its data in DATA_DIR/node-i."
        ),
    )
    up.add_argument("--nodes", type=int, default=DEFAULT_NODES, metavar="N",
                    help=f"number of nodes (default {DEFAULT_NODES})")
    up.add_argument("--base-port", type=int, default=DEFAULT_BASE_PORT, metavar="PORT",
                    help=f"HTTP port of node 0 (default {DEFAULT_BASE_PORT})")
    up.add_argument("--data-dir", default=DEFAULT_DATA_DIR, metavar="DIR",
                    help=f"parent of every node's storage directory (default {DEFAULT_DATA_DIR})")
    up.add_argument("--host", default=DEFAULT_HOST,
                    help=f"address every node binds to (default {DEFAULT_HOST})")
    up.add_argument("--cluster-secret", metavar="SECRET",
                    help="shared secret for Raft traffic, given to every node")
    up.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR")
    up.set_defaults(handler=run)
