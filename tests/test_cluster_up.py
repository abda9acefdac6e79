"""`flotilla cluster up`: N real nodes under one foreground parent, stopped by Ctrl-C."""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from nodeproc import LOOPBACK, REPO_ROOT, wait_for

from node import cluster_up

# "  node-0  12345  http://127.0.0.1:6333  http://127.0.0.1:6335  /data/node-0"
SUMMARY_ROW = re.compile(r"^\s+node-(\d+)\s+(\d+)\s+(http://\S+)\s+(http://\S+)\s+(\S.*)$")
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


def free_base_port(nodes: int) -> int:
    """A base port whose every HTTP, gRPC and Raft port is free; below Linux's ephemeral range, so
    ports other tests get from bind(0) cannot collide with it."""
    for _ in range(200):
        base = random.randrange(20000, 32000 - cluster_up.PORT_STRIDE * nodes)
        specs = cluster_up.plan_nodes(nodes, base, Path("unused"), LOOPBACK)
        ports = [port for s in specs for port in (s.http_port, s.grpc_port, s.raft_port)]
        if all(cluster_up.port_is_free(LOOPBACK, port) for port in ports):
            return base
    raise RuntimeError("no free port range for a local cluster")


def process_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie nobody reaped yet has stopped running too.
    with contextlib.suppress(OSError):
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    return False


class ClusterUp:
    """The `cluster up` parent process, with its combined output collected line by line."""

    def __init__(self, *args: str) -> None:
        self.lines: list[str] = []
        self._lock = threading.Lock()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "node.cli", "cluster", "up", *args],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C at pytest's terminal is not meant for it
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in iter(self.proc.stdout.readline, b""):
            with self._lock:
                self.lines.append(raw.decode("utf-8", errors="replace").rstrip("\n"))

    def output(self) -> list[str]:
        with self._lock:
            return list(self.lines)

    def text(self) -> str:
        return "\n".join(self.output())

    def summary(self, nodes: int) -> dict[int, tuple[int, str, str, str]]:
        """node index -> (pid, api url, raft uri, storage), once the table is printed."""

        def rows() -> dict[int, tuple[int, str, str, str]] | None:
            found = {}
            for line in self.output():
                match = SUMMARY_ROW.match(line)
                if match:
                    index, pid, api, raft, storage = match.groups()
                    found[int(index)] = (int(pid), api, raft, storage.strip())
            return found if len(found) == nodes else None

        return wait_for(rows, 15, f"the summary table\n{self.text()}")

    def wait(self, timeout: float) -> int:
        code = self.proc.wait(timeout)
        self._reader.join(5)
        return code

    def kill_everything(self, pids: list[int]) -> None:
        """Cleanup after a failed test: no node may outlive it."""
        for pid in [self.proc.pid, *pids]:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(10)


@contextlib.contextmanager
def cluster_up_process(*args: str) -> Iterator[ClusterUp]:
    parent = ClusterUp(*args)
    try:
        yield parent
    finally:
        rows = (SUMMARY_ROW.match(line) for line in parent.output())
        pids = [int(match.group(2)) for match in rows if match]
        if parent.proc.poll() is None or not all(process_gone(pid) for pid in pids):
            parent.kill_everything(pids)


def wait_ready(api_url: str, parent: ClusterUp) -> None:
    def ready() -> bool:
        if parent.proc.poll() is not None:
            raise AssertionError(f"cluster up exited early:\n{parent.text()}")
        try:
            return requests.get(f"{api_url}/readyz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_for(ready, READY_TIMEOUT, f"{api_url}/readyz\n{parent.text()}", interval=0.1)


def test_plan_gives_node_i_ports_base_plus_10i_and_a_static_member_list() -> None:
    specs = cluster_up.plan_nodes(3, 6333, Path("data"), "127.0.0.1")
    assert [(s.http_port, s.grpc_port, s.raft_port) for s in specs] == [
        (6333, 6334, 6335), (6343, 6344, 6345), (6353, 6354, 6355)]
    assert [s.storage_path for s in specs] == [Path("data") / f"node-{i}" for i in range(3)]
    peers = [s.raft_uri for s in specs]
    command = cluster_up.node_command(specs[1], peers, "DEBUG")
    assert command[1:4] == ["-m", "node.cli", "serve"]
    flags = dict(zip(command[5::2], command[6::2], strict=True))
    assert "--cluster-enabled" in command
    assert flags == {
        "--host": "127.0.0.1",
        "--http-port": "6343",
        "--grpc-port": "6344",
        "--p2p-port": "6345",
        "--uri": "http://127.0.0.1:6345",
        "--peers": "http://127.0.0.1:6335,http://127.0.0.1:6345,http://127.0.0.1:6355",
        "--storage-path": str(Path("data") / "node-1"),
        "--log-level": "DEBUG",
    }
    with pytest.raises(cluster_up.ClusterUpError, match="65535"):
        cluster_up.plan_nodes(3, 65520, Path("data"), "127.0.0.1")
    with pytest.raises(cluster_up.ClusterUpError, match="at least 1"):
        cluster_up.plan_nodes(0, 6333, Path("data"), "127.0.0.1")


def test_two_nodes_form_a_cluster_and_ctrl_c_stops_them_all(tmp_path: Path) -> None:
    base = free_base_port(2)
    with cluster_up_process(
        "--nodes", "2", "--base-port", str(base), "--data-dir", str(tmp_path)
    ) as parent:
        rows = parent.summary(2)
        assert [rows[i][1] for i in (0, 1)] == [
            f"http://{LOOPBACK}:{base}",
            f"http://{LOOPBACK}:{base + 10}",
        ]
        assert [rows[i][2] for i in (0, 1)] == [
            f"http://{LOOPBACK}:{base + 2}",
            f"http://{LOOPBACK}:{base + 12}",
        ]
        assert any("Ctrl-C" in line for line in parent.output())
        for i in (0, 1):
            wait_ready(rows[i][1], parent)
        # Each node logged the settings it was started with, under its own prefix.
        peers = f"'peers': ['http://{LOOPBACK}:{base + 2}', 'http://{LOOPBACK}:{base + 12}']"
        for i in (0, 1):
            started = [
                line for line in parent.output()
                if line.startswith(f"[node-{i}] ") and "starting flotilla" in line
            ]
            assert started, parent.text()
            assert "'enabled': True" in started[0]
            assert peers in started[0]
            assert f"'storage_path': '{tmp_path / f'node-{i}'}'" in started[0]
            assert (tmp_path / f"node-{i}").is_dir()

        def members() -> bool:
            body = requests.get(f"{rows[0][1]}/cluster", timeout=5).json()
            return len(body["result"]["peers"]) == 2

        wait_for(members, 15, "both nodes in node-0's member list")

        parent.proc.send_signal(signal.SIGINT)
        assert parent.wait(STOP_TIMEOUT) == 0, parent.text()
        for pid, *_ in rows.values():
            assert wait_for(lambda pid=pid: process_gone(pid), 5, f"node pid {pid} gone")
        # After the table every line is a whole, prefixed line.
        after_table = parent.output()[parent.output().index("Press Ctrl-C to stop all nodes.") + 1:]
        assert after_table and all(re.match(r"\[(node-\d+|cluster)\] ", x) for x in after_table)
        assert any(line.startswith("[node-0] ") for line in after_table)
        assert any(line.startswith("[node-1] ") for line in after_table)


def test_a_crashed_node_stops_the_others_and_fails(tmp_path: Path) -> None:
    base = free_base_port(2)
    with cluster_up_process(
        "--nodes", "2", "--base-port", str(base), "--data-dir", str(tmp_path)
    ) as parent:
        rows = parent.summary(2)
        for i in (0, 1):
            wait_ready(rows[i][1], parent)
        os.kill(rows[1][0], signal.SIGKILL)
        assert parent.wait(STOP_TIMEOUT) == 1, parent.text()
        assert "[node-1] exited on its own: killed by SIGKILL" in parent.text()
        assert wait_for(lambda: process_gone(rows[0][0]), 5, "node-0 stopped")


@pytest.mark.parametrize(("offset", "what"), [(0, "node-0 HTTP"), (12, "node-1 Raft")])
def test_a_busy_port_is_named_and_nothing_starts(tmp_path: Path, offset: int, what: str) -> None:
    base = free_base_port(2)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as blocker:
        blocker.bind((LOOPBACK, base + offset))
        blocker.listen()
        with cluster_up_process(
            "--nodes", "2", "--base-port", str(base), "--data-dir", str(tmp_path)
        ) as parent:
            assert parent.wait(15) != 0
            text = parent.text()
            assert f"port {base + offset}" in text and what in text, text
            assert not any(SUMMARY_ROW.match(line) for line in parent.output()), text
