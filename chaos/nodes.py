"""Flotilla nodes as real `flotilla serve` processes, each inside its own network namespace.

A node keeps its address, ports and storage across restarts, so a killed node comes back as the
same Raft member. Its output goes to `node-<i>.log` in the run directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from chaos.netns import Topology

# Every node gets the secret: a clustered node on a non-loopback address needs one, and the
# checkers read replicas through the internal API with it.
CLUSTER_SECRET = "chaos-harness-secret"
SECRET_HEADER = "X-Flotilla-Secret"
REPO_ROOT = Path(__file__).resolve().parent.parent
# Anti-entropy passes every 0.5 s instead of 2 s: the wait for it after healing is the
# harness's longest fixed cost a run (chaos/convergence.py needs two passes).
ANTI_ENTROPY_PERIOD_MS = "500"
# How long the nodes get to stop on SIGTERM at the end of a run before SIGKILL.
STOP_GRACE_S = 3.0


@dataclass
class ChaosNode:
    index: int
    host: str
    http_port: int
    raft_port: int
    storage: Path
    log_path: Path
    exec_prefix: list[str]
    proc: subprocess.Popen | None = None
    paused: bool = False
    peer_id: int | None = None
    # Set when the harness ends the process (kill, stop); an exit without it is a crash.
    ended_by_harness: bool = False
    crash_reported: bool = False
    join_args: list[str] = field(default_factory=list)
    extra_env: dict[str, str] = field(default_factory=dict)  # e.g. a fault injected at start

    @property
    def name(self) -> str:
        return f"node-{self.index}"

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.http_port}"

    @property
    def raft_uri(self) -> str:
        return f"http://{self.host}:{self.raft_port}"

    @property
    def raft_address(self) -> str:
        return f"{self.host}:{self.raft_port}"

    def command(self) -> list[str]:
        return [
            *self.exec_prefix, sys.executable, "-m", "node.cli", "serve", "--cluster-enabled",
            "--host", self.host, "--http-port", str(self.http_port), "--grpc-port", "off",
            "--p2p-port", str(self.raft_port), "--uri", self.raft_uri,
            "--storage-path", str(self.storage), *self.join_args,
        ]

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self) -> None:
        if self.is_running():
            return
        self.storage.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "PYTHONUNBUFFERED": "1",
               "FLOTILLA__CLUSTER__SECRET": CLUSTER_SECRET,
               "FLOTILLA__CLUSTER__ANTI_ENTROPY_PERIOD_MS": ANTI_ENTROPY_PERIOD_MS,
               **self.extra_env}
        with open(self.log_path, "ab") as log:
            log.write(f"\n===== start {time.strftime('%H:%M:%S')}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(self.command(), cwd=REPO_ROOT, env=env,
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT, start_new_session=True)
        self.paused = False
        self.ended_by_harness = False
        self.crash_reported = False

    def crashed(self) -> int | None:
        """The exit code of a process that ended without the harness asking, reported once."""
        if self.proc is None or self.ended_by_harness or self.crash_reported:
            return None
        code = self.proc.poll()
        if code is None:
            return None
        self.crash_reported = True
        return code

    def signal(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL, as a crash or a pulled plug."""
        self.ended_by_harness = True
        if self.is_running():
            self.signal(signal.SIGKILL)
            self.proc.wait(10)
        self.paused = False

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM (a paused node gets SIGCONT too, or it never acts on it); SIGKILL after
        `timeout`."""
        self.ended_by_harness = True
        if not self.is_running():
            return
        self.signal(signal.SIGTERM)
        self.signal(signal.SIGCONT)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self.paused = False

    def pause(self) -> None:
        self.signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.signal(signal.SIGCONT)
        self.paused = False

    def get(self, path: str, timeout: float = 2.0) -> dict | None:
        """The `result` of a GET on this node's API, or None when it does not answer."""
        if not self.is_running() or self.paused:
            return None
        try:
            response = requests.get(f"{self.url}{path}", timeout=timeout,
                                    headers={SECRET_HEADER: CLUSTER_SECRET})
            if response.status_code != 200:
                return None
            result = response.json().get("result")
        except (requests.RequestException, ValueError):
            return None
        if path == "/cluster" and isinstance(result, dict):
            self.peer_id = result.get("peer_id", self.peer_id)  # new after a wiped rejoin
        return result

    def ready(self) -> bool:
        if not self.is_running() or self.paused:
            return False
        try:
            return requests.get(f"{self.url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False


class Nodes:
    """The node processes of one run, addressed by index."""

    def __init__(self, topology: Topology, run_dir: Path) -> None:
        self.topology = topology
        self.run_dir = run_dir
        self.all: dict[int, ChaosNode] = {}

    def add(self, index: int, storage: Path | None = None) -> ChaosNode:
        self.topology.add_node(index)
        http_port, raft_port = self.topology.ports(index)
        node = ChaosNode(
            index=index, host=self.topology.host(index), http_port=http_port,
            raft_port=raft_port, storage=storage or self.run_dir / f"node-{index}",
            log_path=self.run_dir / f"node-{index}.log",
            exec_prefix=self.topology.exec_prefix(index),
        )
        self.all[index] = node
        return node

    def __iter__(self):
        return iter(list(self.all.values()))

    def __getitem__(self, index: int) -> ChaosNode:
        return self.all[index]

    def __len__(self) -> int:
        return len(self.all)

    def running(self) -> list[ChaosNode]:
        return [n for n in self if n.is_running() and not n.paused]

    def stop_all(self) -> None:
        """SIGTERM to every node at once, then wait for each (SIGKILL after STOP_GRACE_S: the
        run's figures are taken by then, and a node still draining peer calls to stopped peers
        would only lengthen the suite)."""
        for node in self:
            node.ended_by_harness = True
            node.signal(signal.SIGTERM)
            node.resume()
        for node in self:
            node.stop(timeout=STOP_GRACE_S)

    # --- what the cluster says about itself ------------------------------------------------

    def cluster_views(self, nodes: list[ChaosNode] | None = None) -> dict[int, dict]:
        """GET /cluster of every given (default: running) node that answers, by index."""
        views = {}
        for node in nodes if nodes is not None else self.running():
            view = node.get("/cluster")
            if view is not None:
                views[node.index] = view
                node.peer_id = view.get("peer_id", node.peer_id)
        return views

    def by_peer_id(self, peer_id: int | None) -> ChaosNode | None:
        return next((n for n in self if n.peer_id is not None and n.peer_id == peer_id), None)

    def leader(self, nodes: list[ChaosNode] | None = None) -> ChaosNode | None:
        """The leader a majority of the answering nodes agree on, if any."""
        views = self.cluster_views(nodes)
        if not views:
            return None
        votes: dict[int, int] = {}
        for view in views.values():
            leader = view.get("raft_info", {}).get("leader")
            if leader is not None:
                votes[leader] = votes.get(leader, 0) + 1
        if not votes:
            return None
        leader, count = max(votes.items(), key=lambda kv: kv[1])
        return self.by_peer_id(leader) if count * 2 > len(views) else None

    def formed(self, nodes: list[ChaosNode]) -> bool:
        """One cluster: every node answers, lists exactly these members and names one leader."""
        views = self.cluster_views(nodes)
        if len(views) != len(nodes):
            return False
        members = {frozenset(int(p) for p in v.get("peers", {})) for v in views.values()}
        leaders = {v.get("raft_info", {}).get("leader") for v in views.values()}
        own = {v.get("peer_id") for v in views.values()}
        return (len(members) == 1 and next(iter(members)) == own and len(leaders) == 1
                and None not in leaders)


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
