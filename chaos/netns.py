"""Where the nodes live: one network namespace per node on a bridge the harness creates.

Every run owns a set of namespaces named `flchaos-<pid>-...`: one holding the bridge, one per
node and one for the harness itself (the "client"). The subnet exists only inside them, so no
packet can leave the machine and a link cut inside one node's namespace cuts exactly that link.
A run that crashed leaves namespaces whose pid is gone; the next run removes them (and kills
what still runs inside) before it starts.

Without root there are no namespaces: `LoopbackTopology` puts every node on 127.0.0.1 with
ports of its own, and only process faults can be used.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path

PREFIX = "flchaos"
# A /24 that is only ever configured inside this run's namespaces (never in the root one).
SUBNET = "10.213.47"
NODE_HOST_BASE = 10  # node i: SUBNET.(10 + i)
CLIENT_HOST = 2
HTTP_PORT = 6333
RAFT_PORT = 6335
NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
_STALE_NAME = re.compile(rf"^{PREFIX}-(\d+)-")


class TopologyError(RuntimeError):
    """The namespaces or the bridge could not be set up."""


def namespaces_available() -> bool:
    """Root, and the tools to make namespaces and cut, drop and delay links (iproute2, nft,
    iptables for the latency queue)."""
    return os.geteuid() == 0 and all(shutil.which(tool)
                                     for tool in ("ip", "nft", "iptables", "nsenter"))


def _run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise TopologyError(f"{' '.join(command)}: {result.stderr.strip()}")
    return result


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _netns_names() -> list[str]:
    out = _run("ip", "netns", "list", check=False).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _kill_inside(name: str) -> None:
    pids = _run("ip", "netns", "pids", name, check=False).stdout.split()
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)


def tmpfs_dir(run_dir: Path, index: int) -> Path:
    """Where node `index` of this process's run keeps its storage on a tmpfs; the name
    carries the pid so that a later run can unmount it if this one crashes."""
    return run_dir / f"{PREFIX}-{os.getpid()}-tmpfs-node-{index}"


def _remove_stale_mounts() -> list[str]:
    removed = []
    with open("/proc/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.startswith("tmpfs ")]
    for point in points:
        match = re.search(rf"/{PREFIX}-(\d+)-tmpfs-node-\d+$", point)
        if match and not _pid_alive(int(match.group(1))):
            subprocess.run(["umount", "-l", point], capture_output=True, timeout=30)
            removed.append(point)
    return removed


def remove_stale() -> list[str]:
    """Delete the namespaces (and tmpfs mounts) of runs whose process is gone; what was
    removed."""
    removed = []
    if os.geteuid() != 0 or not shutil.which("ip"):
        return removed
    removed += _remove_stale_mounts()
    for name in _netns_names():
        match = _STALE_NAME.match(name)
        if match and not _pid_alive(int(match.group(1))):
            _kill_inside(name)
            _run("ip", "netns", "del", name, check=False)
            removed.append(name)
    return removed


def _setns(path: Path) -> None:
    """Move the calling thread (and the threads it starts later) into a network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            errno = ctypes.get_errno()
            raise TopologyError(f"setns({path}): {os.strerror(errno)}")
    finally:
        os.close(fd)


class NetnsTopology:
    """The bridge, the client namespace and one namespace per node, for one run."""

    isolated = True

    def __init__(self, tag: str | None = None) -> None:
        self.tag = tag or str(os.getpid())
        self.bridge_ns = f"{PREFIX}-{self.tag}-br"
        self.client_ns = f"{PREFIX}-{self.tag}-client"
        self.node_namespaces: dict[int, str] = {}
        self._root_netns: int | None = None

    # --- addresses ------------------------------------------------------------------------

    def host(self, index: int) -> str:
        return f"{SUBNET}.{NODE_HOST_BASE + index}"

    def ports(self, index: int) -> tuple[int, int]:
        return HTTP_PORT, RAFT_PORT  # every node has its own address, so the usual ports

    def client_host(self) -> str:
        return f"{SUBNET}.{CLIENT_HOST}"

    # --- lifecycle --------------------------------------------------------------------------

    def create(self) -> None:
        remove_stale()
        _run("ip", "netns", "add", self.bridge_ns)
        _run("ip", "-n", self.bridge_ns, "link", "add", "br0", "type", "bridge")
        _run("ip", "-n", self.bridge_ns, "link", "set", "br0", "up")
        self._attach(self.client_ns, "pc", self.client_host())

    def add_node(self, index: int) -> str:
        """The namespace of node `index`, created on first use."""
        if index not in self.node_namespaces:
            name = f"{PREFIX}-{self.tag}-n{index}"
            self._attach(name, f"p{index}", self.host(index))
            self.node_namespaces[index] = name
        return self.node_namespaces[index]

    def _attach(self, name: str, bridge_port: str, address: str) -> None:
        _run("ip", "netns", "add", name)
        _run("ip", "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name",
             bridge_port, "netns", self.bridge_ns)
        _run("ip", "-n", self.bridge_ns, "link", "set", bridge_port, "master", "br0")
        _run("ip", "-n", self.bridge_ns, "link", "set", bridge_port, "up")
        _run("ip", "-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
        _run("ip", "-n", name, "link", "set", "eth0", "up")
        _run("ip", "-n", name, "link", "set", "lo", "up")

    def enter_client(self) -> None:
        """Move this thread into the client namespace (before it starts any other thread)."""
        self._root_netns = os.open("/proc/self/ns/net", os.O_RDONLY)
        _setns(NETNS_DIR / self.client_ns)

    def leave_client(self) -> None:
        if self._root_netns is not None:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.setns(self._root_netns, CLONE_NEWNET)
            os.close(self._root_netns)
            self._root_netns = None

    def destroy(self) -> None:
        """Kill whatever still runs inside and delete every namespace of this run."""
        self.leave_client()
        for name in [*self.node_namespaces.values(), self.client_ns, self.bridge_ns]:
            if name in _netns_names():
                _kill_inside(name)
                _run("ip", "netns", "del", name, check=False)
        self.node_namespaces.clear()

    # --- commands inside a node's namespace -------------------------------------------------

    def exec_prefix(self, index: int) -> list[str]:
        """Prepended to a command so that it runs inside node `index`'s namespace."""
        return ["nsenter", f"--net={NETNS_DIR / self.add_node(index)}", "--"]

    def run_in_node(self, index: int, *command: str, stdin: str | None = None) -> None:
        result = subprocess.run([*self.exec_prefix(index), *command], input=stdin,
                                capture_output=True, text=True, timeout=30)
        if result.returncode != 0:
            raise TopologyError(f"node {index}: {' '.join(command)}: {result.stderr.strip()}")

    def describe(self) -> str:
        return (f"network namespaces {PREFIX}-{self.tag}-*, bridge br0, "
                f"nodes at {SUBNET}.{NODE_HOST_BASE}+i, client at {self.client_host()}")


class LoopbackTopology:
    """Every node on 127.0.0.1 with ports of its own: process faults only, no link faults."""

    isolated = False

    def __init__(self) -> None:
        self._ports: dict[int, tuple[int, int]] = {}

    def host(self, index: int) -> str:
        return "127.0.0.1"

    def ports(self, index: int) -> tuple[int, int]:
        if index not in self._ports:
            self._ports[index] = (_free_port(), _free_port())
        return self._ports[index]

    def create(self) -> None:
        pass

    def add_node(self, index: int) -> str:
        return "loopback"

    def enter_client(self) -> None:
        pass

    def destroy(self) -> None:
        pass

    def exec_prefix(self, index: int) -> list[str]:
        return []

    def run_in_node(self, index: int, *command: str, stdin: str | None = None) -> None:
        raise TopologyError("link faults need network namespaces (run as root)")

    def describe(self) -> str:
        return ("loopback fallback (no network namespaces: not root, tools missing or "
                "--loopback): nodes on 127.0.0.1, process faults only")


_given_ports: set[int] = set()


def _free_port() -> int:
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _given_ports:
            _given_ports.add(port)
            return port


Topology = NetnsTopology | LoopbackTopology


def make_topology(force_loopback: bool = False) -> Topology:
    if not force_loopback and namespaces_available():
        return NetnsTopology()
    return LoopbackTopology()
