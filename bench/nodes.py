"""Flotilla nodes as real child processes: one node, or a local cluster on free loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

LOOPBACK = "127.0.0.1"
REPO_ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def http_json(method: str, url: str, body: object = None, timeout: float = 600.0) -> dict:
    """One blocking JSON request for setup and polling; the timed traffic goes through loadgen."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as exc:
        raise RuntimeError(f"{method} {url}: {exc.code} {exc.read()[:500]!r}") from exc


@dataclass
class Node:
    http_port: int
    raft_port: int
    storage: Path
    grpc_port: int = 0
    proc: subprocess.Popen | None = None
    log: Path | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.http_port}"

    @property
    def grpc_target(self) -> str:
        return f"{LOOPBACK}:{self.grpc_port}"

    @property
    def raft_uri(self) -> str:
        return f"http://{LOOPBACK}:{self.raft_port}"

    def ps(self) -> psutil.Process:
        assert self.proc is not None
        return psutil.Process(self.proc.pid)

    def rss(self) -> int:
        return int(self.ps().memory_info().rss)

    def cpu_seconds(self) -> float:
        t = self.ps().cpu_times()
        return float(t.user + t.system)


@dataclass
class Deployment:
    """Nodes started together, stopped together; the temp dir goes with them."""

    nodes: list[Node]
    root: Path
    extra: dict = field(default_factory=dict)

    @property
    def urls(self) -> list[str]:
        return [n.url for n in self.nodes]

    def rss(self) -> list[int]:
        return [n.rss() for n in self.nodes]

    def cpu_seconds(self) -> float:
        return sum(n.cpu_seconds() for n in self.nodes)

    def stop(self) -> None:
        for n in self.nodes:
            if n.proc and n.proc.poll() is None:
                n.proc.terminate()
        for n in self.nodes:
            if n.proc is None:
                continue
            try:
                n.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                n.proc.kill()
                n.proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Deployment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _spawn(node: Node, extra: list[str], repo_root: Path) -> None:
    node.storage.mkdir(parents=True, exist_ok=True)
    node.log = node.storage.parent / f"{node.storage.name}.log"
    cmd = [sys.executable, "-m", "node.cli", "serve", "--host", LOOPBACK,
           "--http-port", str(node.http_port), "--p2p-port", str(node.raft_port),
           "--grpc-port", str(node.grpc_port),
           "--storage-path", str(node.storage), "--log-level", "WARNING", *extra]
    with open(node.log, "wb") as log:
        node.proc = subprocess.Popen(cmd, cwd=repo_root, stdout=log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "PYTHONUNBUFFERED": "1",
                                          "PYTHONPATH": str(repo_root)})


def _wait(node: Node, check: str, timeout: float, pred: object = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if node.proc is not None and node.proc.poll() is not None:
            tail = node.log.read_text(errors="replace")[-3000:] if node.log else ""
            raise RuntimeError(f"node on {node.http_port} exited: {tail}")
        try:
            with urllib.request.urlopen(node.url + check, timeout=2) as resp:
                body = resp.read()
                if resp.status == 200 and (pred is None or pred(body)):  # type: ignore[operator]
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"node on {node.http_port}: {check} not ready in {timeout:.0f}s")


def start(count: int = 1, timeout: float = 60.0, repo_root: Path = REPO_ROOT) -> Deployment:
    """Start `count` nodes; with more than one, a static-member cluster that lists every peer.
    `repo_root` is the source tree the nodes run (another checkout for an A/B comparison)."""
    root = Path(tempfile.mkdtemp(prefix="flotilla-bench-"))
    nodes = [Node(free_port(), free_port(), root / f"node-{i}", free_port())
             for i in range(count)]
    dep = Deployment(nodes, root)
    try:
        peers = ",".join(n.raft_uri for n in nodes)
        for n in nodes:
            extra = (["--cluster-enabled", "--uri", n.raft_uri, "--peers", peers]
                     if count > 1 else [])
            _spawn(n, extra, repo_root)
        for n in nodes:
            _wait(n, "/readyz", timeout)
        if count > 1:
            def all_peers(body: bytes) -> bool:
                return len(json.loads(body)["result"].get("peers", {})) >= count
            for n in nodes:
                _wait(n, "/cluster", timeout, all_peers)
    except BaseException:
        dep.stop()
        raise
    return dep
