"""Limits that keep a node serving while clients misbehave: body size, header and URL size,
connections held open, and clients too slow to finish their request."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
import requests
from nodeproc import LOOPBACK, NodeProcess

pytestmark = pytest.mark.timeout(90)

MAX_CONNECTIONS = 8
CLIENT_TIMEOUT = 2


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    node = NodeProcess(tmp_path_factory.mktemp("limited") / "storage", name="limited", env={
        "QDRANT__SERVICE__MAX_REQUEST_SIZE_MB": "1",
        "FLOTILLA__SERVICE__MAX_CONNECTIONS": str(MAX_CONNECTIONS),
        "FLOTILLA__SERVICE__CLIENT_TIMEOUT_SEC": str(CLIENT_TIMEOUT),
    })
    node.start_and_wait()
    requests.put(f"{node.url}/collections/c", timeout=10, json={
        "vectors": {"size": 4, "distance": "Dot"}}).raise_for_status()
    try:
        yield node
    finally:
        node.stop()


def _count(node: NodeProcess) -> int:
    answer = requests.post(f"{node.url}/collections/c/points/count", json={}, timeout=10)
    return answer.json()["result"]["count"]


def _open(node: NodeProcess) -> socket.socket:
    return socket.create_connection((LOOPBACK, node.http_port), timeout=10)


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_body_over_the_limit_is_413_and_writes_nothing(limited) -> None:
    points = [{"id": i, "vector": [0.1, 0.2, 0.3, 0.4], "payload": {"pad": "x" * 200}}
              for i in range(6000)]
    answer = requests.put(f"{limited.url}/collections/c/points?wait=true", timeout=30,
                          json={"points": points})
    assert answer.status_code == 413
    assert answer.json()["status"]["error"]
    assert _count(limited) == 0
    small = requests.put(f"{limited.url}/collections/c/points?wait=true", timeout=10,
                         json={"points": points[:10]})
    assert small.status_code == 200 and _count(limited) == 10


@pytest.mark.parametrize("path, headers", [
    ("/collections/" + "c" * 20_000, {}),
    ("/collections", {"X-Huge": "h" * 20_000}),
    ("/collections", {f"X-Many-{i}": "v" for i in range(300)}),
])
def test_oversized_request_heads_get_a_4xx(limited, path, headers) -> None:
    answer = requests.get(f"{limited.url}{path}", headers=headers, timeout=10)
    assert 400 <= answer.status_code < 500
    assert requests.get(f"{limited.url}/readyz", timeout=5).status_code == 200


def test_connections_past_the_limit_are_refused_then_served_again(limited) -> None:
    held = [_open(limited) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.2)
        # Answered 503 and closed; requests may see either the answer or the close.
        try:
            refused = requests.get(f"{limited.url}/collections", timeout=5).status_code == 503
        except requests.ConnectionError:
            refused = True
        assert refused
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert requests.get(f"{limited.url}/collections", timeout=5).status_code == 200


def test_slow_clients_are_cut_off(limited) -> None:
    started = time.monotonic()
    with _open(limited) as silent:
        assert _read_all(silent) == b""  # closed by the node, nothing said
    with _open(limited) as dripping:
        dripping.sendall(b"GET /collections HTTP/1.1\r\nHost: x\r\n")
        dripping.sendall(b"X-Slow: ")
        assert _read_all(dripping) == b""
    with _open(limited) as slow_body:
        slow_body.sendall(b"POST /collections/c/points/count HTTP/1.1\r\nHost: x\r\n"
                          b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        answer = slow_body.recv(65536)
        assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert time.monotonic() - started < 6 * CLIENT_TIMEOUT + 5
    assert requests.get(f"{limited.url}/readyz", timeout=5).status_code == 200
