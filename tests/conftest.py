"""Shared fixtures: one real node process per test module, clients pointed at it."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cluster_harness import Cluster
from nodeproc import HttpSession, NodeProcess, running_nodes
from qdrant_client import QdrantClient

CLIENT_TIMEOUT = 10


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """A node shared by every test of one module; each test uses its own collection names."""
    base = tmp_path_factory.mktemp("node")
    proc = NodeProcess(base / "storage", name="node")
    proc.start_and_wait()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three clustered nodes shared by the tests of one module."""
    local = Cluster(tmp_path_factory.mktemp("cluster"), size=3).start()
    try:
        yield local
    finally:
        local.stop()


@pytest.fixture
def own_node(tmp_path) -> Iterator[NodeProcess]:
    """A node of the test's own, for tests that kill or restart it."""
    proc = NodeProcess(tmp_path / "storage", name="own-node")
    proc.start_and_wait()
    try:
        yield proc
    finally:
        proc.stop()


# The faces qdrant-client reaches a node through: every test taking `client` runs over both,
# with the same assertions.
FACES = ("rest", "grpc")


@pytest.fixture(scope="module", params=FACES)
def face(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def client(node: NodeProcess, face: str) -> Iterator[QdrantClient]:
    qdrant = QdrantClient(url=node.url, grpc_port=node.grpc_port, prefer_grpc=face == "grpc",
                          timeout=CLIENT_TIMEOUT)
    try:
        yield qdrant
    finally:
        qdrant.close()


@pytest.fixture(scope="module")
def http(node: NodeProcess) -> Iterator[HttpSession]:
    with HttpSession(node.url) as session:
        yield session


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A collection name no other test uses: derived from the test's name, plus a random tail."""
    stem = re.sub(r"[^A-Za-z0-9_]+", "_", request.node.name).strip("_")[:40]
    return f"{stem}_{uuid.uuid4().hex[:8]}"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Attach the tail of every started node's log to a failed test's report."""
    report = yield
    if report.failed:
        for proc in running_nodes():
            report.sections.append((f"flotilla node {proc.name} log", proc.log_tail()))
    return report
