"""A local cluster of real Flotilla node processes on loopback, for the cluster tests.

Every node keeps its HTTP and Raft ports across restarts (Raft identity is the address), so a
killed node comes back as the same member.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import requests
from nodeproc import (
    LOOPBACK,
    ClientTls,
    HttpSession,
    NodeProcess,
    client_tls_kwargs,
    free_port,
    wait_for,
)
from qdrant_client import QdrantClient

from cluster.replication.wire import CONTENT_TYPE, decode, encode

READY_TIMEOUT = 60.0
CLIENT_TIMEOUT = 15

Placement = dict[int, frozenset[tuple[int, str]]]  # shard id -> {(peer id, state)}


def shard_call(node: NodeProcess, uuid: str, method: str, *args: object,
               shard_id: int = 0) -> object:
    """A shard method called on `node`'s own replica through the internal API, as a coordinator
    calls it (a write through it reaches that replica only); its decoded result."""
    response = requests.post(f"{node.url}/internal/v1/shards/{uuid}/{shard_id}/{method}",
                             data=encode({"args": list(args), "kwargs": {}}),
                             headers={"Content-Type": CONTENT_TYPE}, timeout=30)
    assert response.status_code == 200, response.text
    return decode(response.content)


def raft_uri(port: int) -> str:
    return f"http://{LOOPBACK}:{port}"


class Cluster:
    """N nodes formed with a static `--peers` list; `env(i)` adds to node i's environment
    (its settings), `tls` is how clients reach nodes that serve https."""

    def __init__(self, base: Path, size: int = 3,
                 env: Callable[[int], Mapping[str, str]] | None = None,
                 tls: ClientTls | None = None) -> None:
        self.base = base
        self.nodes: list[NodeProcess] = []
        ports = [free_port() for _ in range(size)]
        peers = ",".join(raft_uri(p) for p in ports)
        for index, port in enumerate(ports):
            self.nodes.append(NodeProcess(
                base / f"node{index}", name=f"node{index}", p2p_port=port,
                extra_args=["--cluster-enabled", "--uri", raft_uri(port), "--peers", peers],
                env=env(index) if env is not None else None, tls=tls,
            ))
        self._sessions: dict[int, HttpSession] = {}

    # --- lifecycle -----------------------------------------------------------------------

    def start(self, timeout: float = READY_TIMEOUT) -> Cluster:
        for node in self.nodes:
            node.start()
        self.wait_formed(timeout)
        return self

    def wait_formed(self, timeout: float = READY_TIMEOUT,
                    nodes: Iterable[NodeProcess] | None = None) -> None:
        """Every (given) node ready and listing every cluster member."""
        chosen = list(nodes) if nodes is not None else self.nodes
        deadline = time.monotonic() + timeout
        for node in chosen:
            node.wait_ready(max(deadline - time.monotonic(), 1.0))
        want = len(self.nodes)
        for node in chosen:
            wait_for(lambda node=node: len(self.cluster(node)["peers"]) == want,
                     max(deadline - time.monotonic(), 1.0), f"{node.name} to list {want} peers")

    def stop(self) -> None:
        for session in self._sessions.values():
            session.close()
        self._sessions.clear()
        for node in self.nodes:
            node.stop()

    def restart(self, node: NodeProcess, timeout: float = READY_TIMEOUT) -> None:
        """Start a node that is down (or paused: it is resumed) and wait until it is back."""
        if node.is_running():
            node.resume()
            return
        node.start_and_wait(timeout)
        self.wait_formed(timeout, [node])

    # --- HTTP ------------------------------------------------------------------------------

    def http(self, node: NodeProcess) -> HttpSession:
        key = id(node)
        if key not in self._sessions:
            self._sessions[key] = HttpSession(node.url, timeout=CLIENT_TIMEOUT, tls=node.tls)
        return self._sessions[key]

    def client(self, node: NodeProcess) -> contextlib.closing[QdrantClient]:
        """`with cluster.client(node) as client:` a qdrant-client closed afterwards."""
        return contextlib.closing(QdrantClient(url=node.url, timeout=CLIENT_TIMEOUT,
                                               **client_tls_kwargs(node)))

    def get(self, node: NodeProcess, path: str, **kwargs) -> dict:
        response = self.http(node).get(path, **kwargs)
        assert response.status_code == 200, f"{node.name} GET {path}: {response.text}"
        return response.json()["result"]

    def cluster(self, node: NodeProcess) -> dict:
        with contextlib.suppress(requests.RequestException, ValueError, KeyError):
            response = self.http(node).get("/cluster", timeout=3)
            if response.status_code == 200:
                return response.json()["result"]
        return {"peers": {}}

    def peer_id(self, node: NodeProcess) -> int:
        return int(self.get(node, "/cluster")["peer_id"])

    def node_of(self, peer_id: int) -> NodeProcess:
        for node in self.nodes:
            if self.peer_id(node) == peer_id:
                return node
        raise KeyError(peer_id)

    def leader(self) -> NodeProcess | None:
        for node in self.nodes:
            if node.is_running() and self.cluster(node).get("raft_info", {}).get("role") == \
                    "Leader":
                return node
        return None

    # --- placement ------------------------------------------------------------------------

    def collection_cluster(self, node: NodeProcess, name: str) -> dict:
        return self.get(node, f"/collections/{name}/cluster")

    def placement(self, node: NodeProcess, name: str) -> Placement:
        """shard id -> {(peer, state)} as `node` sees it, local and remote shards merged."""
        info = self.collection_cluster(node, name)
        out: dict[int, set[tuple[int, str]]] = {}
        for shard in info["local_shards"]:
            out.setdefault(shard["shard_id"], set()).add((info["peer_id"], shard["state"]))
        for shard in info["remote_shards"]:
            out.setdefault(shard["shard_id"], set()).add((shard["peer_id"], shard["state"]))
        return {sid: frozenset(replicas) for sid, replicas in out.items()}

    def all_active(self, name: str, nodes: Iterable[NodeProcess] | None = None) -> bool:
        """Every replica Active and no transfer running, as every (given) node sees it."""
        for node in nodes if nodes is not None else self.nodes:
            try:
                info = self.collection_cluster(node, name)
            except (AssertionError, requests.RequestException):
                return False
            if info["shard_transfers"]:
                return False
            states = [s["state"] for s in info["local_shards"] + info["remote_shards"]]
            if any(state != "Active" for state in states):
                return False
        return True

    def wait_all_active(self, name: str, timeout: float = 60.0) -> float:
        """Seconds until every replica of `name` is Active on every node."""
        started = time.monotonic()
        wait_for(lambda: self.all_active(name), timeout, f"every replica of {name} Active",
                 interval=0.1)
        return time.monotonic() - started

    def replica_state(self, node: NodeProcess, name: str, peer_id: int) -> set[str]:
        """States of the replicas `peer_id` holds of `name`, as `node` sees them."""
        return {state for replicas in self.placement(node, name).values()
                for peer, state in replicas if peer == peer_id}
