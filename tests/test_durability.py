"""Crash safety of one node: whatever was acknowledged survives SIGKILL, and a graceful SIGTERM
loses nothing either.

Each test runs its own node (never the module's shared one) because it kills it on purpose.
Writes use wait=true, so an acknowledgement is the node's promise that the data is durable.
"""

from __future__ import annotations

import math
import random
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from nodeproc import HttpSession, NodeProcess, connect, wait_for
from qdrant_client import QdrantClient, models

pytestmark = pytest.mark.timeout(300)

TOLERANCE = 1e-6
RETRIEVE_CHUNK = 256
KILL_ROUNDS = 4

RAM = "ram_vectors"
DISK = "disk_vectors"
MIXED = "named_and_sparse"
DOOMED = "deleted_before_crash"


# --- the model of what must be on disk ---------------------------------------------------------


@dataclass
class Expected:
    """What the node acknowledged: points per collection, and the alias table."""

    points: dict[str, dict[Any, models.PointStruct]] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Points sent but never acknowledged (the node died first): each may or may not be there.
    maybe: dict[str, dict[Any, models.PointStruct]] = field(default_factory=dict)

    def acknowledge(self, collection: str, points: list[models.PointStruct]) -> None:
        for point in points:
            self.points[collection][point.id] = point
            self.maybe[collection].pop(point.id, None)

    def in_flight(self, collection: str, points: list[models.PointStruct]) -> None:
        for point in points:
            if point.id not in self.points[collection]:
                self.maybe[collection][point.id] = point


class PointFactory:
    """Random but reproducible points for each collection's vector layout."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.next_int_id = 1

    def fresh_id(self) -> int | str:
        if self.rng.random() < 0.3:
            return str(uuid.UUID(int=self.rng.getrandbits(128)))
        self.next_int_id += self.rng.randint(1, 3)
        return self.next_int_id

    def dense(self, dim: int) -> list[float]:
        return [round(self.rng.uniform(-10, 10), 3) for _ in range(dim)]

    def payload(self, point_id: Any, round_no: int) -> dict[str, Any]:
        return {
            "id": str(point_id),
            "round": round_no,
            "text": self.rng.choice(["plain", "ünïcödé ✓", 'quote " and \\ slash', ""]),
            "score": self.rng.randint(-(2**40), 2**40),
            "ratio": self.rng.choice([0.5, 0.25, -1.75, 3.0]),
            "flag": self.rng.random() < 0.5,
            "none": None,
            "nested": {"tags": [self.rng.choice("abc") for _ in range(3)], "depth": {"x": 1}},
        }

    def point(self, collection: str, point_id: Any, round_no: int) -> models.PointStruct:
        payload = self.payload(point_id, round_no)
        if collection == MIXED:
            vector: Any = {}
            if self.rng.random() < 0.8:
                vector["dense"] = self.dense(4)
            if self.rng.random() < 0.8 or not vector:
                indices = sorted(self.rng.sample(range(5000), self.rng.randint(1, 6)))
                values = [round(self.rng.uniform(-1, 1), 3) for _ in indices]
                vector["sparse"] = models.SparseVector(indices=indices, values=values)
            return models.PointStruct(id=point_id, vector=vector, payload=payload)
        return models.PointStruct(id=point_id, vector=self.dense(8), payload=payload)

    def batch(
        self, collection: str, expected: Expected, size: int, round_no: int, overwrite: bool
    ) -> list[models.PointStruct]:
        existing = list(expected.points[collection])
        ids: list[Any] = []
        while len(ids) < size:
            if overwrite and existing and self.rng.random() < 0.3:
                candidate = self.rng.choice(existing)
            else:
                candidate = self.fresh_id()
            if candidate not in ids:
                ids.append(candidate)
        return [self.point(collection, point_id, round_no) for point_id in ids]


# --- node and client helpers ------------------------------------------------------------------


def upsert(client: QdrantClient, collection: str, points: list[models.PointStruct]) -> None:
    """Upsert with wait=true, alternating between the list and the columnar batch form."""
    if collection != MIXED and len(points) % 2 == 0:
        body: Any = models.Batch(
            ids=[p.id for p in points],
            vectors=[p.vector for p in points],
            payloads=[p.payload for p in points],
        )
    else:
        body = points
    result = client.upsert(collection, body, wait=True)
    assert result.status == models.UpdateStatus.COMPLETED


def setup_collections(client: QdrantClient, http: HttpSession, expected: Expected) -> None:
    client.create_collection(
        RAM, vectors_config=models.VectorParams(size=8, distance=models.Distance.DOT)
    )
    client.create_collection(
        DISK,
        vectors_config=models.VectorParams(size=8, distance=models.Distance.EUCLID, on_disk=True),
        on_disk_payload=True,
        hnsw_config=models.HnswConfigDiff(m=8, ef_construct=50),
        wal_config=models.WalConfigDiff(wal_capacity_mb=1),
    )
    client.create_collection(
        MIXED,
        vectors_config={"dense": models.VectorParams(size=4, distance=models.Distance.MANHATTAN)},
        sparse_vectors_config={
            "sparse": models.SparseVectorParams(modifier=models.Modifier.IDF),
        },
        optimizers_config=models.OptimizersConfigDiff(indexing_threshold=5000),
        strict_mode_config=models.StrictModeConfig(enabled=True, upsert_max_batchsize=1000),
    )
    # A collection deleted before the crash must stay deleted after it.
    client.create_collection(
        DOOMED, vectors_config=models.VectorParams(size=2, distance=models.Distance.DOT)
    )
    client.upsert(DOOMED, [models.PointStruct(id=1, vector=[1.0, 2.0])], wait=True)
    client.update_collection_aliases(
        change_aliases_operations=[
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=RAM, alias_name="ram_alias")
            ),
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=DISK, alias_name="old_name")
            ),
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=DOOMED, alias_name="doomed_alias")
            ),
        ]
    )
    client.update_collection_aliases(
        change_aliases_operations=[
            models.RenameAliasOperation(
                rename_alias=models.RenameAlias(old_alias_name="old_name", new_alias_name="disk_a")
            ),
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=MIXED, alias_name="mixed_alias")
            ),
        ]
    )
    client.update_collection(
        RAM, optimizers_config=models.OptimizersConfigDiff(deleted_threshold=0.5)
    )
    client.delete_collection(DOOMED)
    expected.aliases = {"ram_alias": RAM, "disk_a": DISK, "mixed_alias": MIXED}
    for name in (RAM, DISK, MIXED):
        expected.points[name] = {}
        expected.maybe[name] = {}
        expected.configs[name] = http.get(f"/collections/{name}").json()["result"]["config"]


def assert_vector_equal(actual: Any, expected: Any, where: str) -> None:
    if isinstance(expected, models.SparseVector):
        assert isinstance(actual, models.SparseVector), where
        got = sorted(zip(actual.indices, actual.values, strict=True))
        want = sorted(zip(expected.indices, expected.values, strict=True))
        assert [i for i, _ in got] == [i for i, _ in want], where
        values = zip([v for _, v in got], [v for _, v in want], strict=True)
        assert all(math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE) for a, b in values), (
            where
        )
    elif isinstance(expected, dict):
        assert isinstance(actual, dict) and set(actual) == set(expected), (where, actual)
        for name, vector in expected.items():
            assert_vector_equal(actual[name], vector, f"{where}[{name}]")
    else:
        assert actual is not None and len(actual) == len(expected), (where, actual, expected)
        for a, b in zip(actual, expected, strict=True):
            assert math.isclose(a, b, rel_tol=TOLERANCE, abs_tol=TOLERANCE), (where, actual)


def fetch(client: QdrantClient, collection: str, ids: list[Any]) -> dict[Any, models.Record]:
    found: dict[Any, models.Record] = {}
    for start in range(0, len(ids), RETRIEVE_CHUNK):
        chunk = ids[start : start + RETRIEVE_CHUNK]
        for record in client.retrieve(collection, chunk, with_payload=True, with_vectors=True):
            found[record.id] = record
    return found


def verify(client: QdrantClient, http: HttpSession, expected: Expected) -> None:
    """Everything acknowledged is back, exactly; unacknowledged points are absent or intact."""
    names = {c.name for c in client.get_collections().collections}
    assert names == set(expected.points), "collections after restart differ"
    aliases = {a.alias_name: a.collection_name for a in client.get_aliases().aliases}
    assert aliases == expected.aliases
    for name, points in expected.points.items():
        config = http.get(f"/collections/{name}").json()["result"]["config"]
        assert config == expected.configs[name], f"config of {name} changed across restart"
        maybe = expected.maybe[name]
        total = client.count(name, exact=True).count
        assert len(points) <= total <= len(points) + len(maybe), (name, total, len(points))
        records = fetch(client, name, list(points))
        missing = [pid for pid in points if pid not in records]
        assert not missing, f"{len(missing)} acknowledged points of {name} lost: {missing[:5]}"
        for point_id, point in points.items():
            record = records[point_id]
            assert record.payload == point.payload, (name, point_id)
            assert_vector_equal(record.vector, point.vector, f"{name}/{point_id}")
        for point_id, record in fetch(client, name, list(maybe)).items():
            point = maybe[point_id]
            assert record.payload == point.payload, (name, point_id, "half-written point")
            assert_vector_equal(record.vector, point.vector, f"{name}/{point_id} (unacked)")


def change_metadata(
    client: QdrantClient, http: HttpSession, expected: Expected, round_no: int
) -> None:
    """Create a collection, switch an alias and update a config: all acknowledged."""
    late = f"created_in_round_{round_no}"
    client.create_collection(
        late, vectors_config=models.VectorParams(size=8, distance=models.Distance.DOT)
    )
    expected.points[late] = {}
    expected.maybe[late] = {}
    target = DISK if expected.aliases["ram_alias"] == RAM else RAM
    client.update_collection_aliases(
        change_aliases_operations=[
            models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name="ram_alias")),
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=target, alias_name="ram_alias")
            ),
            models.CreateAliasOperation(
                create_alias=models.CreateAlias(collection_name=late, alias_name=f"{late}_alias")
            ),
        ]
    )
    expected.aliases["ram_alias"] = target
    expected.aliases[f"{late}_alias"] = late
    client.update_collection(
        RAM, optimizers_config=models.OptimizersConfigDiff(flush_interval_sec=round_no + 2)
    )
    for name in (RAM, late):
        expected.configs[name] = http.get(f"/collections/{name}").json()["result"]["config"]


def write_round(
    client: QdrantClient, factory: PointFactory, expected: Expected, round_no: int, batches: int
) -> None:
    for _ in range(batches):
        collection = factory.rng.choice(list(expected.points))
        points = factory.batch(collection, expected, factory.rng.randint(1, 40), round_no, True)
        upsert(client, collection, points)
        expected.acknowledge(collection, points)


class BackgroundWriter(threading.Thread):
    """Upserts fresh points until the node dies; records what was acknowledged and what not."""

    def __init__(self, proc: NodeProcess, factory: PointFactory, expected: Expected, round_no: int):
        super().__init__(daemon=True)
        self.proc = proc
        self.factory = factory
        self.expected = expected
        self.round_no = round_no
        self.acked_batches = 0
        self.lock = threading.Lock()

    def run(self) -> None:
        client = connect(self.proc)
        try:
            while True:
                with self.lock:
                    collection = self.factory.rng.choice(list(self.expected.points))
                    size = self.factory.rng.randint(1, 25)
                    points = self.factory.batch(
                        collection, self.expected, size, self.round_no, overwrite=False
                    )
                    self.expected.in_flight(collection, points)
                try:
                    upsert(client, collection, points)
                except Exception:
                    return  # the node was killed under us: this batch stays "maybe"
                with self.lock:
                    self.expected.acknowledge(collection, points)
                    self.acked_batches += 1
        finally:
            client.close()


# --- tests ------------------------------------------------------------------------------------


def test_acknowledged_writes_survive_sigkill(own_node: NodeProcess) -> None:
    factory = PointFactory(seed=20240611)
    expected = Expected()
    client = connect(own_node)
    with HttpSession(own_node.url, timeout=30) as http:
        setup_collections(client, http, expected)
        for round_no in range(KILL_ROUNDS):
            write_round(client, factory, expected, round_no, batches=12)
            if round_no % 2 == 0:
                # Metadata changed just before the crash must be back too.
                change_metadata(client, http, expected, round_no)
                # Kill right after an acknowledged upsert: no time to flush in the background.
                collection = factory.rng.choice(list(expected.points))
                last = factory.batch(collection, expected, 30, round_no, overwrite=True)
                upsert(client, collection, last)
                expected.acknowledge(collection, last)
                own_node.kill()
            else:
                # Kill at a random moment while a writer is in the middle of its stream.
                writer = BackgroundWriter(own_node, factory, expected, round_no)
                writer.start()
                wait_for(lambda w=writer: w.acked_batches >= 3, 30, "background writes")
                time.sleep(factory.rng.uniform(0.0, 0.3))
                with writer.lock:
                    own_node.kill()
                writer.join(30)
                assert not writer.is_alive()
            client.close()
            own_node.start_and_wait()
            client = connect(own_node)
            verify(client, http, expected)
        # The restarted node keeps taking writes on top of the recovered state.
        write_round(client, factory, expected, KILL_ROUNDS, batches=5)
        verify(client, http, expected)
    client.close()


def test_graceful_sigterm_restart_keeps_everything(own_node: NodeProcess) -> None:
    factory = PointFactory(seed=7)
    expected = Expected()
    client = connect(own_node)
    with HttpSession(own_node.url, timeout=30) as http:
        setup_collections(client, http, expected)
        write_round(client, factory, expected, 0, batches=20)
        client.close()
        started = time.monotonic()
        assert own_node.stop() == 0, "SIGTERM must end the node cleanly (exit code 0)"
        assert time.monotonic() - started < 15, "graceful shutdown took too long"
        own_node.start_and_wait()
        client = connect(own_node)
        verify(client, http, expected)
        # And a second time, with writes in between, to catch state that only survives once.
        write_round(client, factory, expected, 1, batches=5)
        client.close()
        assert own_node.stop() == 0
        own_node.start_and_wait()
        client = connect(own_node)
        verify(client, http, expected)
    client.close()


def test_kill_during_optimisation(own_node: NodeProcess) -> None:
    name = "being_indexed"
    dim = 64
    rng = random.Random(99)
    points = [
        models.PointStruct(
            id=i,
            vector=[round(rng.uniform(-1, 1), 4) for _ in range(dim)],
            payload={"i": i, "group": i % 7},
        )
        for i in range(3000)
    ]
    client = connect(own_node)
    client.create_collection(
        name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.EUCLID)
    )
    for start in range(0, len(points), 500):
        client.upsert(name, points[start : start + 500], wait=True)
    # 3000 x 64 x 4 bytes = 750 kB: far over a 10 kB threshold, so an index build starts now.
    client.update_collection(
        name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10)
    )
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        if client.get_collection(name).status != models.CollectionStatus.GREEN:
            break
        time.sleep(0.02)
    time.sleep(rng.uniform(0.0, 0.1))  # a build of this size takes a few hundred ms
    client.close()
    own_node.kill()

    own_node.start_and_wait()
    client = connect(own_node)

    def check_data() -> None:
        assert client.count(name, exact=True).count == len(points)
        records = fetch(client, name, [p.id for p in points])
        assert len(records) == len(points)
        for point in points:
            assert records[point.id].payload == point.payload
            assert_vector_equal(records[point.id].vector, point.vector, f"{name}/{point.id}")

    check_data()
    info = client.get_collection(name)
    assert info.config.optimizer_config.indexing_threshold == 10

    # Kill again, right after the restart, while a resumed optimisation may be running.
    client.close()
    own_node.kill()
    own_node.start_and_wait()
    client = connect(own_node)
    check_data()

    # Optimisations pending after a restart may wait for an update (grey): give them one.
    client.update_collection(name, optimizers_config=models.OptimizersConfigDiff())

    def indexed() -> models.CollectionInfo | None:
        info = client.get_collection(name)
        if info.status == models.CollectionStatus.GREEN and (info.indexed_vectors_count or 0) > 0:
            return info
        return None

    info = wait_for(indexed, 90, "the interrupted index build to complete")
    assert info.points_count == len(points)
    check_data()
    client.close()
