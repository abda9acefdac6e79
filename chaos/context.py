"""What a nemesis or a workload may touch during a run: the nodes, the links, the history."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import requests

from chaos.history import History
from chaos.links import Links
from chaos.netns import Topology
from chaos.nodes import CLUSTER_SECRET, SECRET_HEADER, ChaosNode, Nodes, wait_until

READY_TIMEOUT = 60.0


@dataclass
class RunContext:
    topology: Topology
    nodes: Nodes
    links: Links
    history: History
    run_dir: Path
    rng: random.Random  # the fault schedule's own generator: the same seed, the same faults
    members: list[int] = field(default_factory=list)  # indexes of the cluster's nodes

    def member_nodes(self) -> list[ChaosNode]:
        return [self.nodes[i] for i in self.members]

    def bootstrap_args(self) -> list[str]:
        """How a new or wiped node joins: through the first member that is up."""
        for node in self.member_nodes():
            if node.is_running() and not node.paused:
                return ["--bootstrap", node.raft_uri]
        return ["--bootstrap", self.member_nodes()[0].raft_uri]

    def restart(self, node: ChaosNode, timeout: float = READY_TIMEOUT) -> bool:
        """Start a stopped node (resume a frozen one) and wait until it answers /readyz."""
        if node.is_running():
            node.resume()
        else:
            node.start()
        return wait_until(node.ready, timeout, interval=0.1)

    def leader(self) -> ChaosNode | None:
        return self.nodes.leader(self.member_nodes())

    def placement(self, collection: str) -> dict[int, dict[int, str]]:
        """shard id -> {peer id: replica state}, as the leader (or any node) sees it."""
        for node in [self.leader(), *self.member_nodes()]:
            if node is None:
                continue
            info = node.get(f"/internal/v1/collections/{collection}")
            if info is not None:
                return {int(s): {int(p): st for p, st in reps.items()}
                        for s, reps in info["shards"].items()}
        return {}

    def post(self, node: ChaosNode, path: str, body: dict | None = None,
             method: str = "POST", timeout: float = 10.0) -> requests.Response:
        return requests.request(method, f"{node.url}{path}", json=body, timeout=timeout,
                                headers={SECRET_HEADER: CLUSTER_SECRET})
