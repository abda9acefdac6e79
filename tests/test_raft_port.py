"""The Raft port decodes plain data only, and a clustered node reachable from other machines
refuses to start without a cluster secret."""

from __future__ import annotations

import os
import pickle
import socket
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from nodeproc import LOOPBACK, NodeProcess, cluster_of_one, wait_for
from pysyncobj.encryptor import getEncryptor
from pysyncobj.node import TCPNode

from cluster.consensus import raft_codec
from node.settings import SettingsError, load_settings

pytestmark = pytest.mark.timeout(60)

SECRET = "raft-secret"


class _RunsACommand:
    """Unpickling this runs a shell command: what an attacker would send."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return (os.system, (self.command,))


def _frame(message: object, secret: str | None) -> bytes:
    """One message as pysyncobj frames it: length, then zlib'd pickle, encrypted with a secret."""
    data = zlib.compress(pickle.dumps(message, 2), 3)
    if secret is not None:
        data = getEncryptor(secret).encrypt_at_time(data, int(time.monotonic()))
    return struct.pack("i", len(data)) + data


@pytest.fixture(params=[None, SECRET], ids=["no-secret", "secret"])
def raft_node(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[NodeProcess,
                                                                              str | None]]:
    secret = request.param
    proc = cluster_of_one(tmp_path / "storage", tmp_path.name,
                          *(["--cluster-secret", secret] if secret else []))
    try:
        yield proc, secret
    finally:
        proc.stop()


def test_a_pickle_that_runs_code_runs_nothing(raft_node, tmp_path: Path) -> None:
    node, secret = raft_node
    marker = tmp_path / "pwned"
    # With a secret, the attacker is assumed to hold it: the decoder is the last line.
    with socket.create_connection((LOOPBACK, node.p2p_port), timeout=5) as sock:
        sock.sendall(_frame(_RunsACommand(f"touch {marker}"), secret))
        sock.settimeout(5)
        with pytest.raises((ConnectionError, TimeoutError, OSError)) as closed:
            if sock.recv(1) == b"":
                raise ConnectionError("closed by the node")
        assert closed.value is not None
    wait_for(lambda: "refused a message that names posix.system" in node.log_tail(),
             timeout=10, what="the refusal in the node's log")
    assert not marker.exists()
    assert requests.get(f"{node.url}/readyz", timeout=5).status_code == 200


def test_the_decoder_keeps_what_raft_sends() -> None:
    message = {"type": "append_entries", "term": 3, "entries": [(b"\x01op", 7, 3)],
               "nodes": {TCPNode("127.0.0.1:1")}, "none": None, "f": 1.5, "t": (1, "a"),
               "empty": b"", "fs": frozenset({1})}
    back = raft_codec.loads(pickle.dumps(message, 2))
    assert back == message
    assert next(iter(back["nodes"])).address == "127.0.0.1:1"


@pytest.mark.parametrize("payload", [
    pickle.dumps(_RunsACommand("true"), 2),
    pickle.dumps(Path("x"), 2),
    b"\x80\x02cbuiltins\nbytes\nJ\x00\xca\x9a;\x85R.",  # bytes(10**9)
    b"\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.",
])
def test_the_decoder_refuses_anything_else(payload: bytes) -> None:
    with pytest.raises(pickle.UnpicklingError):
        raft_codec.loads(payload)


def test_a_reachable_raft_address_needs_a_secret() -> None:
    reachable = {"cluster.enabled": True, "cluster.uri": "http://flotilla-0.flotilla:6335"}
    with pytest.raises(SettingsError, match="cluster.secret"):
        load_settings(None, {}, reachable)
    assert load_settings(None, {"FLOTILLA__CLUSTER__SECRET": "s"}, reachable).cluster.secret
    loopback = load_settings(None, {}, {"cluster.enabled": True,
                                        "cluster.uri": "http://127.0.0.1:6335"})
    assert loopback.cluster.secret is None


def test_the_node_refuses_to_start_and_says_how(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "serve", "--cluster-enabled",
         "--uri", "http://flotilla-0.flotilla:6335", "--storage-path", str(tmp_path)],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode != 0
    assert "FLOTILLA__CLUSTER__SECRET" in done.stderr
    assert not (tmp_path / "raft").exists()
