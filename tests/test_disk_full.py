"""A node whose storage (segments, WAL and Raft journal) lives on a small tmpfs that fills up.

The node must stay up, refuse each write it cannot store with Qdrant's 500 "Service internal
error: No space left on device" and apply nothing of it, and take writes again once space is
back; after a restart every acknowledged point is there and no refused one is.
"""

from __future__ import annotations

import contextlib
import errno
import random
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from nodeproc import HttpSession, NodeProcess, wait_for
from tmpfs import small_tmpfs

from node.engine.hnsw_index import HnswIndex
from node.engine.shard_config import DenseVectorSpec

DIM = 16
DISK_MB = 48
NO_SPACE = "Service internal error: No space left on device"


@pytest.fixture
def node_on_tmpfs(tmp_path: Path) -> Iterator[NodeProcess]:
    with small_tmpfs(tmp_path / "disk", DISK_MB) as disk:
        proc = NodeProcess(disk / "storage", name="full-disk-node",
                           log_path=tmp_path / "full-disk-node.log")
        # Clustering on: the Raft journal is on the same full disk.
        proc.extra_args = ["--cluster-enabled", "--uri", f"http://{proc.host}:{proc.p2p_port}"]
        proc.start_and_wait()
        try:
            yield proc
        finally:
            proc.stop()


def fill(disk: Path) -> Path:
    """Write a ballast file until the filesystem refuses another byte."""
    ballast = disk / "ballast"
    with open(ballast, "wb", buffering=0) as out:
        for chunk in (1 << 20, 1 << 12):
            with contextlib.suppress(OSError):
                while True:
                    out.write(b"\0" * chunk)
    with pytest.raises(OSError) as refused, open(disk / "probe", "wb", buffering=0) as probe:
        probe.write(b"\0" * 8192)
    assert refused.value.errno == errno.ENOSPC
    return ballast


def points(first: int, count: int, rng: random.Random) -> list[dict]:
    return [{"id": i, "vector": [rng.random() for _ in range(DIM)], "payload": {"n": i}}
            for i in range(first, first + count)]


def upsert(http: HttpSession, name: str, batch: list[dict]):
    return http.put(f"/collections/{name}/points?wait=true", json={"points": batch})


def stored_ids(http: HttpSession, name: str) -> set[int]:
    response = http.post(f"/collections/{name}/points/scroll",
                         json={"limit": 100_000, "with_payload": False})
    assert response.status_code == 200, response.text
    return {p["id"] for p in response.json()["result"]["points"]}


@pytest.mark.parametrize("on_disk", [False, True], ids=["vectors-in-ram", "vectors-on-disk"])
def test_full_disk_refuses_writes_and_recovers(node_on_tmpfs: NodeProcess, on_disk: bool) -> None:
    proc = node_on_tmpfs
    disk = proc.storage_path.parent
    rng = random.Random(7)
    name = "full"
    with HttpSession(proc.url) as http:
        created = http.put(f"/collections/{name}", json={
            "vectors": {"size": DIM, "distance": "Cosine", "on_disk": on_disk}})
        assert created.status_code == 200, created.text
        acknowledged: set[int] = set()
        next_id = 0
        for _ in range(5):
            batch = points(next_id, 100, rng)
            next_id += 100
            assert upsert(http, name, batch).status_code == 200
            acknowledged.update(p["id"] for p in batch)

        ballast = fill(disk)
        refused: set[int] = set()
        # Batches large enough to need fresh blocks for WAL records and vector rows.
        for _ in range(20):
            batch = points(next_id, 400, rng)
            next_id += 400
            response = upsert(http, name, batch)
            ids = {p["id"] for p in batch}
            if response.status_code == 200:
                acknowledged |= ids  # a little space was left somewhere
                continue
            assert response.status_code == 500, response.text
            assert response.json()["status"]["error"] == NO_SPACE
            refused |= ids
        assert refused, "the full disk refused no write"
        assert proc.is_running(), proc.log_tail()
        # Nothing of a refused write was applied.
        assert stored_ids(http, name) == acknowledged
        # A metadata change needs the Raft journal: it fails or waits, the node stays up.
        http.put("/collections/other", json={"vectors": {"size": DIM, "distance": "Dot"}},
                 timeout=15)
        time.sleep(1.0)
        assert proc.is_running(), proc.log_tail()

        ballast.unlink()
        (disk / "probe").unlink(missing_ok=True)
        batch = points(next_id, 400, rng)
        wait_for(lambda: upsert(http, name, batch).status_code == 200, 15,
                 "a write once space is back")
        acknowledged.update(p["id"] for p in batch)
        assert stored_ids(http, name) == acknowledged

    proc.stop()
    proc.start_and_wait()
    with HttpSession(proc.url) as http:
        assert stored_ids(http, name) == acknowledged
        info = http.get(f"/collections/{name}").json()["result"]
        assert info["points_count"] == len(acknowledged)


def test_a_graph_saved_to_a_full_disk_is_refused_not_truncated(tmp_path: Path) -> None:
    spec = DenseVectorSpec(name="", size=DIM, distance="Euclid")
    rng = np.random.default_rng(3)
    graph = HnswIndex.build(spec, rng.random((8000, DIM), dtype=np.float32),
                            np.arange(8000))
    with small_tmpfs(tmp_path / "disk", size_mb=1) as disk:
        with pytest.raises(OSError, match="truncated"):
            graph.save(disk / "graph.bin")  # about 1.7 MB: does not fit in 1 MB
        assert not (disk / "graph.bin").exists()
    graph.save(tmp_path / "graph.bin")
    assert HnswIndex.load(spec, tmp_path / "graph.bin", 8000).count == 8000
