"""Forming a cluster the way a StatefulSet does: node 0 starts with `--uri` alone, every other
node with `--bootstrap` pointing at node 0, all at once (podManagementPolicy: Parallel), back to
back after node 0 leads, or with node 0 restarted while the others join.

Each try must end as ONE cluster: every node lists the same five peers and the same Raft leader,
and pysyncobj's own status shows four partners on every node. Joins used to race (one try in
three): a leader of one lost its quorum to a node added before it ran, and joiners with empty
logs and member lists taken mid-change elected a leader of their own. The time each try took is
printed (run with -s); `FLOTILLA_FORMATION_TRIES` repeats the parallel start (default 3).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests
from cluster_harness import raft_uri
from nodeproc import NodeProcess, free_port

pytestmark = pytest.mark.timeout(600)

SIZE = 5
FORM_TIMEOUT = 60.0
MakePods = Callable[[str], "StatefulSet"]
TRIES = int(os.environ.get("FLOTILLA_FORMATION_TRIES", "3"))


class StatefulSet:
    """SIZE nodes; node 0 has no --bootstrap, the others bootstrap through node 0."""

    def __init__(self, base: Path) -> None:
        ports = [free_port() for _ in range(SIZE)]
        self.nodes = []
        for index, port in enumerate(ports):
            args = ["--cluster-enabled", "--uri", raft_uri(port)]
            if index > 0:
                args += ["--bootstrap", raft_uri(ports[0])]
            self.nodes.append(NodeProcess(base / f"pod{index}", name=f"pod{index}",
                                          p2p_port=port, extra_args=args))

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()

    def views(self) -> list[dict | None]:
        """What each node says of the cluster: its peers, its leader, its Raft partners."""
        return [_view(node) for node in self.nodes]

    def wait_one_cluster(self, started: float) -> float:
        """Seconds from `started` until every node agrees on one cluster of SIZE."""
        views: list[dict | None] = []
        while time.monotonic() - started < FORM_TIMEOUT:
            views = self.views()
            if _one_cluster(views):
                return time.monotonic() - started
            time.sleep(0.1)
        raise AssertionError(f"no single cluster after {FORM_TIMEOUT:g}s: {views}")


def _view(node: NodeProcess) -> dict | None:
    from pysyncobj.utility import TcpUtility

    try:
        response = requests.get(f"{node.url}/cluster", timeout=2)
        if response.status_code != 200:
            return None
        result = response.json()["result"]
        status = TcpUtility(timeout=2).executeCommand(f"127.0.0.1:{node.p2p_port}", ["status"])
    except (requests.RequestException, ValueError, KeyError, OSError):
        return None
    if not isinstance(status, dict):
        return None
    return {
        "peers": sorted(result["peers"]),
        "leader": result["raft_info"]["leader"],
        "raft_partners": status.get("partner_nodes_count"),
        "raft_leader": str(status.get("leader")),
    }


def _one_cluster(views: list[dict | None]) -> bool:
    if any(view is None for view in views):
        return False
    first = views[0]
    return (len(first["peers"]) == SIZE and first["leader"] is not None
            and all(view["peers"] == first["peers"] and view["leader"] == first["leader"]
                    and view["raft_leader"] == first["raft_leader"]
                    and view["raft_partners"] == SIZE - 1 for view in views))


@pytest.fixture
def statefulset(tmp_path: Path) -> Iterator[MakePods]:
    made: list[StatefulSet] = []

    def make(name: str) -> StatefulSet:
        made.append(StatefulSet(tmp_path / name))
        return made[-1]

    yield make
    for pods in made:
        with contextlib.suppress(Exception):
            pods.stop()


def test_all_started_at_once_form_one_cluster(statefulset: MakePods) -> None:
    took = []
    for attempt in range(TRIES):
        pods = statefulset(f"parallel{attempt}")
        started = time.monotonic()
        for node in pods.nodes:
            node.start()
        took.append(pods.wait_one_cluster(started))
        pods.stop()
    print(f"\n{SIZE} nodes started at once: one cluster after "
          f"{', '.join(f'{t:.1f}' for t in took)} s")


def test_joined_back_to_back_after_the_first_leads(statefulset: MakePods) -> None:
    pods = statefulset("sequential")
    pods.nodes[0].start_and_wait()
    started = time.monotonic()
    for node in pods.nodes[1:]:
        node.start()
    took = pods.wait_one_cluster(started)
    print(f"\n{SIZE - 1} nodes joining back to back: one cluster after {took:.1f} s")


def test_first_node_restarted_while_the_others_join(statefulset: MakePods) -> None:
    pods = statefulset("restart")
    started = time.monotonic()
    for node in pods.nodes:
        node.start()
    pods.nodes[0].wait_ready()
    pods.nodes[0].kill()
    pods.nodes[0].start()
    took = pods.wait_one_cluster(started)
    print(f"\nnode 0 killed and restarted during the joins: one cluster after {took:.1f} s")
