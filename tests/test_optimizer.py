"""The background optimizer seen through the API: index builds (yellow while they run, green
after), the grey status of optimizations found pending after a crash and their resumption by
an empty PATCH, rebuilds after a vector config change while reads and writes go on, vacuum of
segments with many deleted rows, and the optimizer counters of /metrics.

Tests that kill or restart a node run their own node; the others share the module's node.
Vectors are float32 values, so whatever the node stores and returns is compared exactly.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from nodeproc import HttpSession, NodeProcess, connect, wait_for
from prometheus_client.parser import text_string_to_metric_families
from qdrant_client import QdrantClient, models
from spec_schema import problems

pytestmark = pytest.mark.timeout(120)

RETRIEVE_CHUNK = 1000
GREEN, YELLOW, GREY = "green", "yellow", "grey"
OPTIMIZER_RUNS = "flotilla_optimizer_runs_total"
GRAPH_INSERTIONS = "flotilla_optimizer_graph_insertions_total"

Points = dict[int, tuple[list[float], dict[str, Any]]]


# --- helpers ------------------------------------------------------------------------------------


def make_points(rng: np.random.Generator, ids: range | list[int], dim: int, tag: str) -> Points:
    """Points with float32-exact vectors and a payload naming their id and version."""
    vectors = rng.standard_normal((len(ids), dim)).astype(np.float32)
    return {
        pid: (vectors[i].tolist(), {"id": pid, "tag": tag, "group": pid % 7})
        for i, pid in enumerate(ids)
    }


def upsert(client: QdrantClient, name: str, points: Points, batch: int = 1000) -> None:
    ids = list(points)
    for start in range(0, len(ids), batch):
        chunk = ids[start : start + batch]
        result = client.upsert(
            name,
            models.Batch(
                ids=chunk,
                vectors=[points[i][0] for i in chunk],
                payloads=[points[i][1] for i in chunk],
            ),
            wait=True,
        )
        assert result.status == models.UpdateStatus.COMPLETED


def same_vector(actual: Any, expected: list[float]) -> bool:
    return (
        isinstance(actual, list)
        and len(actual) == len(expected)
        and np.array_equal(np.asarray(actual, dtype=np.float32),
                           np.asarray(expected, dtype=np.float32))
    )


def check_points(client: QdrantClient, name: str, expected: Points) -> None:
    """Every expected point is there with its exact vector and payload, and nothing else."""
    assert client.count(name, exact=True).count == len(expected)
    ids = list(expected)
    found = 0
    for start in range(0, len(ids), RETRIEVE_CHUNK):
        chunk = ids[start : start + RETRIEVE_CHUNK]
        records = client.retrieve(name, chunk, with_payload=True, with_vectors=True)
        by_id = {r.id: r for r in records}
        assert set(by_id) == set(chunk), f"{name}: missing {sorted(set(chunk) - set(by_id))[:10]}"
        for pid in chunk:
            vector, payload = expected[pid]
            assert same_vector(by_id[pid].vector, vector), (name, pid, by_id[pid].vector)
            assert by_id[pid].payload == payload, (name, pid, by_id[pid].payload)
        found += len(records)
    assert found == len(expected)


def info(http: HttpSession, name: str) -> dict[str, Any]:
    response = http.get(f"/collections/{name}")
    assert response.status_code == 200, response.text
    return response.json()["result"]


def status_trace(http: HttpSession, name: str, timeout: float) -> tuple[list[str], dict[str, Any]]:
    """Poll the status quickly until it is green; the distinct statuses seen, in order, and the
    last collection info. optimizer_status must stay "ok" throughout."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        result = info(http, name)
        assert result["optimizer_status"] == "ok", result
        if not seen or seen[-1] != result["status"]:
            seen.append(result["status"])
        if result["status"] == GREEN:
            return seen, result
        assert time.monotonic() < deadline, f"{name} not green after {timeout}s: {seen}"
        time.sleep(0.01)


def optimizer_runs(
    http: HttpSession, collection: str, kind: str | None = None, metric: str = OPTIMIZER_RUNS
) -> float:
    """An optimizer counter (runs unless told) of one collection, of one kind or summed."""
    response = http.get("/metrics")
    assert response.status_code == 200, response.text
    total = 0.0
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            if sample.name != metric or sample.labels.get("collection") != collection:
                continue
            if kind is None or sample.labels.get("kind") == kind:
                total += sample.value
    return total


def create(
    client: QdrantClient,
    name: str,
    dim: int,
    indexing_threshold: int,
    **optimizer: Any,
) -> None:
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.EUCLID),
        optimizers_config=models.OptimizersConfigDiff(
            indexing_threshold=indexing_threshold, **optimizer
        ),
    )


# --- grey: optimizations pending after a crash wait for an update -------------------------------


def test_grey_after_crash_mid_build_then_resumed_by_empty_patch(own_node: NodeProcess) -> None:
    name = "grey_after_crash"
    count, dim = 10_000, 32  # 1.25 MB of vectors: the index build takes about a second here
    points = make_points(np.random.default_rng(1), range(count), dim, "v1")
    client = connect(own_node)
    create(client, name, dim, indexing_threshold=0)  # indexing disabled during the upload
    upsert(client, name, points)
    with HttpSession(own_node.url) as http:
        before = info(http, name)
        assert before["status"] == GREEN and before["indexed_vectors_count"] == 0, before

        client.update_collection(
            name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10)
        )
        # The PATCH is answered once the local shard has the new config: the build has started.
        building = info(http, name)
    assert building["status"] == YELLOW, building
    own_node.kill()  # at once: the build of 10k vectors is far from done
    client.close()

    own_node.start_and_wait()
    client = connect(own_node)
    with HttpSession(own_node.url) as http:
        after = info(http, name)
        assert after["status"] == GREY, after
        assert after["optimizer_status"] == "ok", after
        assert after["points_count"] == count, after
        assert after["config"]["optimizer_config"]["indexing_threshold"] == 10, after
        # Paused means paused: nothing starts by itself, and reads are served meanwhile.
        check_points(client, name, points)
        time.sleep(0.3)
        still = info(http, name)
        assert still["status"] == GREY and still["indexed_vectors_count"] == 0, still

        # Qdrant's documented way out of grey: any update, e.g. an empty optimizers_config.
        client.update_collection(name, optimizer_config=models.OptimizersConfigDiff())
        seen, final = status_trace(http, name, timeout=60)
    assert seen[0] in (GREY, YELLOW) and YELLOW in seen and seen[-1] == GREEN, seen
    assert seen[seen.index(YELLOW):] == [YELLOW, GREEN], seen
    assert final["indexed_vectors_count"] == count, final
    assert final["points_count"] == count, final
    check_points(client, name, points)
    client.close()


# --- yellow while the optimizer runs ------------------------------------------------------------


def test_yellow_while_indexing_then_green(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    count, dim = 5000, 32
    points = make_points(np.random.default_rng(2), range(count), dim, "v1")
    create(client, unique_name, dim, indexing_threshold=0)
    upsert(client, unique_name, points)
    assert info(http, unique_name)["status"] == GREEN

    client.update_collection(
        unique_name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10)
    )
    seen, final = status_trace(http, unique_name, timeout=60)
    assert seen == [YELLOW, GREEN], seen
    assert final["optimizer_status"] == "ok"
    assert final["indexed_vectors_count"] == count, final
    assert final["points_count"] == count, final
    info_ = client.get_collection(unique_name)
    assert info_.status == models.CollectionStatus.GREEN
    assert info_.optimizer_status == models.OptimizersStatusOneOf.OK
    check_points(client, unique_name, points)


# --- rebuild after a vector config change, while reads and writes go on -------------------------


class Traffic:
    """Reader threads (retrieve, count, query_points) and a writer thread (new points,
    overwrites and payload updates of a mutable range of old points), all checking answers."""

    def __init__(self, proc: NodeProcess, name: str, points: Points, stable: list[int]) -> None:
        self.proc = proc
        self.name = name
        self.expected: Points = dict(points)  # acknowledged state
        self.stable = stable  # ids the writer never touches: readers check them exactly
        self.initial_count = len(points)
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[str] = []
        self.reads = 0
        self.writes = 0
        self.threads = [
            threading.Thread(target=self._guard, args=(self._read, seed), daemon=True)
            for seed in (10, 11)
        ] + [threading.Thread(target=self._guard, args=(self._write, 12), daemon=True)]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)
        assert not any(t.is_alive() for t in self.threads), "traffic threads did not stop"

    def _guard(self, body: Any, seed: int) -> None:
        client = connect(self.proc)
        try:
            body(client, random.Random(seed))
        except Exception as exc:  # reported by the test, with what failed
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            client.close()

    def _read(self, client: QdrantClient, rng: random.Random) -> None:
        while not self.stop.is_set():
            ids = rng.sample(self.stable, 20)
            records = client.retrieve(self.name, ids, with_payload=True, with_vectors=True)
            assert sorted(r.id for r in records) == sorted(ids), "retrieve lost points"
            for record in records:
                vector, payload = self.expected[record.id]
                assert same_vector(record.vector, vector), f"vector of {record.id} changed"
                assert record.payload == payload, f"payload of {record.id} changed"
            counted = client.count(self.name, exact=True).count
            assert counted >= self.initial_count, f"count fell to {counted}"
            target = ids[0]
            hits = client.query_points(
                self.name,
                query=self.expected[target][0],
                limit=3,
                search_params=models.SearchParams(exact=True),
            ).points
            assert hits and hits[0].id == target and hits[0].score == 0.0, hits
            approx = client.query_points(self.name, query=self.expected[ids[1]][0], limit=5)
            assert len(approx.points) == 5, approx
            with self.lock:
                self.reads += 1

    def _write(self, client: QdrantClient, rng: random.Random) -> None:
        np_rng = np.random.default_rng(rng.randrange(1 << 30))
        next_id = 100_000
        stable = set(self.stable)
        mutable = [pid for pid in self.expected if pid not in stable]
        round_no = 0
        while not self.stop.is_set():
            round_no += 1
            dim = len(next(iter(self.expected.values()))[0])
            fresh = make_points(np_rng, range(next_id, next_id + 20), dim, f"new{round_no}")
            next_id += 20
            overwritten = make_points(np_rng, rng.sample(mutable, 5), dim, f"over{round_no}")
            batch = {**fresh, **overwritten}
            upsert(client, self.name, batch)
            with self.lock:
                self.expected.update(batch)
            relabelled = [pid for pid in rng.sample(mutable, 20) if pid not in overwritten]
            if relabelled:
                result = client.set_payload(
                    self.name, {"tag": f"set{round_no}"}, points=relabelled, wait=True
                )
                assert result.status == models.UpdateStatus.COMPLETED
                with self.lock:
                    for pid in relabelled:
                        vector, payload = self.expected[pid]
                        self.expected[pid] = (vector, {**payload, "tag": f"set{round_no}"})
            with self.lock:
                self.writes += 1


def change_under_traffic(proc: NodeProcess, http: HttpSession, name: str, points: Points,
                         kind: str, change: Callable[[], object]) -> Points:
    """Make `change` while readers check and a writer changes the collection (every third
    point is the writer's), until an optimizer run of `kind` finished with writes during it
    and reads after it, none failing; the acknowledged state afterwards."""
    runs_before = optimizer_runs(http, name, kind)
    stable = [pid for pid in points if pid % 3]
    with Traffic(proc, name, points, stable) as traffic:
        wait_for(lambda: traffic.reads >= 3 and traffic.writes >= 3, 30, "traffic to start")
        change()
        writes_at_change = traffic.writes
        wait_for(lambda: optimizer_runs(http, name, kind) > runs_before, 60,
                 f"a {kind} to finish")
        writes_during = traffic.writes - writes_at_change
        # More traffic after the segments were swapped.
        reads_now = traffic.reads
        wait_for(lambda: traffic.reads >= reads_now + 3, 30, f"reads after the {kind}")
        assert not traffic.errors, traffic.errors
    assert not traffic.errors, traffic.errors
    assert writes_during >= 1, f"no write happened while the {kind} ran"
    return traffic.expected


def check_kept_across_restart(
    proc: NodeProcess, name: str, expected: Points,
    check_config: Callable[[HttpSession, str], None] | None = None,
) -> None:
    """Once the collection settles green it holds exactly `expected` (and passes
    `check_config`); after a graceful restart it is green at once and holds the same."""
    for restarted in (False, True):
        if restarted:
            proc.restart()  # graceful: SIGTERM
        client, http = connect(proc), HttpSession(proc.url)
        if restarted:
            now = info(http, name)
            assert now["status"] == GREEN, now
        _, final = status_trace(http, name, timeout=60)
        assert final["points_count"] == len(expected), final
        if check_config is not None:
            check_config(http, name)
        check_points(client, name, expected)
        client.close()
        http.close()


def check_rebuilt_config(http: HttpSession, name: str) -> None:
    config = info(http, name)["config"]
    vectors = config["params"]["vectors"]
    assert vectors["on_disk"] is True, vectors
    assert vectors["hnsw_config"]["m"] == 32, vectors
    assert vectors["hnsw_config"]["ef_construct"] == 123, vectors
    assert config["hnsw_config"]["m"] == 16, config  # the collection-wide default is unchanged


def test_rebuild_on_config_change_while_serving(own_node: NodeProcess) -> None:
    name = "rebuilt_while_serving"
    count, dim = 3000, 16
    points = make_points(np.random.default_rng(3), range(count), dim, "v1")
    client = connect(own_node)
    # 20 kB of 64-byte vectors: a segment is sealed and indexed every ~320 points.
    create(client, name, dim, indexing_threshold=20)
    upsert(client, name, points, batch=500)
    http = HttpSession(own_node.url)
    _, first = status_trace(http, name, timeout=60)
    assert first["indexed_vectors_count"] > 0, first
    expected = change_under_traffic(own_node, http, name, points, "rebuild", lambda: (
        client.update_collection(
            name,
            vectors_config={
                "": models.VectorParamsDiff(
                    on_disk=True,
                    hnsw_config=models.HnswConfigDiff(m=32, ef_construct=123),
                )
            },
        )
    ))

    client.close()
    http.close()
    assert len(expected) > count
    check_kept_across_restart(own_node, name, expected, check_rebuilt_config)


def test_merge_while_serving(own_node: NodeProcess) -> None:
    """Segments merged while reads and writes go on (overwrites delete rows in the sources,
    new points land in the appendable one): nothing acknowledged is lost, before and after a
    restart."""
    name = "merged_while_serving"
    count, dim = 3000, 16
    points = make_points(np.random.default_rng(8), range(count), dim, "v1")
    client = connect(own_node)
    # 20 kB of 64-byte vectors: a batch of 500 is over the threshold. Waiting for green after
    # each batch seals one segment per batch however slowly the optimizer thread gets the CPU
    # (otherwise a loaded machine seals fewer, larger segments); no merges at first.
    create(client, name, dim, indexing_threshold=20, default_segment_number=16)
    http = HttpSession(own_node.url)
    ids = sorted(points)
    for start in range(0, count, 500):
        upsert(client, name, {pid: points[pid] for pid in ids[start:start + 500]}, batch=500)
        _, first = status_trace(http, name, timeout=60)
    assert first["segments_count"] > 3, first
    expected = change_under_traffic(own_node, http, name, points, "merge", lambda: (
        client.update_collection(
            name, optimizers_config=models.OptimizersConfigDiff(default_segment_number=1))
    ))

    client.close()
    http.close()
    check_kept_across_restart(own_node, name, expected)


# --- vacuum ------------------------------------------------------------------------------------


def test_vacuum_after_deletes_and_overwrites(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    name = unique_name
    count, dim = 2000, 16
    rng = np.random.default_rng(4)
    points = make_points(rng, range(count), dim, "v1")
    create(
        client, name, dim, indexing_threshold=20,
        vacuum_min_vector_number=100, deleted_threshold=0.1,
    )
    upsert(client, name, points, batch=count)  # one segment of 2000 rows, sealed and indexed
    _, start = status_trace(http, name, timeout=60)
    assert start["indexed_vectors_count"] == count, start
    segments_at_start = start["segments_count"]
    vacuums = optimizer_runs(http, name, "vacuum")

    # 25% of the sealed segment's rows deleted: over deleted_threshold, so it gets vacuumed.
    doomed = list(range(0, count, 4))
    result = client.delete(name, models.PointIdsList(points=doomed), wait=True)
    assert result.status == models.UpdateStatus.COMPLETED
    for pid in doomed:
        del points[pid]
    wait_for(lambda: optimizer_runs(http, name, "vacuum") > vacuums, 60, "a vacuum after deletes")
    _, after_delete = status_trace(http, name, timeout=60)
    assert after_delete["points_count"] == len(points), after_delete
    assert after_delete["indexed_vectors_count"] == len(points), after_delete
    assert after_delete["segments_count"] <= segments_at_start, after_delete
    check_points(client, name, points)
    vacuums = optimizer_runs(http, name, "vacuum")

    # Overwriting 40% of the points deletes their old rows in the sealed segment: vacuumed again.
    overwritten = make_points(rng, sorted(points)[::5] + sorted(points)[1::5], dim, "v2")
    upsert(client, name, overwritten, batch=len(overwritten))
    points.update(overwritten)
    wait_for(
        lambda: optimizer_runs(http, name, "vacuum") > vacuums, 60, "a vacuum after overwrites"
    )
    _, final = status_trace(http, name, timeout=60)
    assert final["points_count"] == len(points), final
    assert final["indexed_vectors_count"] == len(points), final
    # The vacuumed segment, the indexed segment of the overwrites and the appendable one.
    assert final["segments_count"] <= segments_at_start + 1, final
    check_points(client, name, points)


def test_merge_settles_to_default_segment_number(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    """Each batch over the indexing threshold is sealed as its own segment; the merge optimizer
    then folds them, and the idle tail, into default_segment_number indexed segments."""
    name = unique_name
    count, dim = 2400, 16  # 64 bytes a row: 10 kB is 160 rows
    points = make_points(np.random.default_rng(7), range(count), dim, "v1")
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.EUCLID),
        hnsw_config=models.HnswConfigDiff(full_scan_threshold=10),
        optimizers_config=models.OptimizersConfigDiff(
            indexing_threshold=10, default_segment_number=1
        ),
    )
    upsert(client, name, dict(list(points.items())[:2000]), batch=400)
    upsert(client, name, dict(list(points.items())[2000:]), batch=400)  # the tail: 400 rows

    def settled() -> dict[str, Any] | None:
        result = info(http, name)
        done = result["status"] == GREEN and result["indexed_vectors_count"] == count
        # One merged segment and the empty appendable one.
        return result if done and result["segments_count"] <= 2 else None

    final = wait_for(settled, 60, "the segments to merge")
    assert final["points_count"] == count, final
    assert optimizer_runs(http, name, "merge") >= 1
    check_points(client, name, points)
    hits = client.query_points(name, query=points[123][0], limit=1).points
    assert hits[0].id == 123


def test_merge_extends_the_graph_of_its_largest_source(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    """A merge keeps the graph of its largest source without deletions and inserts only the
    other sources' points; a segment that needs a graph while the shard is over its target is
    merged into an indexed one. Searches through extended graphs find the exact neighbours.
    A largest segment with deletions is not reused (its offsets change when copied)."""
    name, dim = unique_name, 16  # 64 bytes a row: 10 kB is 160 rows
    rng = np.random.default_rng(11)
    points = make_points(rng, range(1500), dim, "v1")
    client.create_collection(
        name,
        vectors_config=models.VectorParams(size=dim, distance=models.Distance.EUCLID),
        hnsw_config=models.HnswConfigDiff(full_scan_threshold=10),
        optimizers_config=models.OptimizersConfigDiff(
            indexing_threshold=10, default_segment_number=2
        ),
    )

    def settled(count: int, segments: int) -> Callable[[], dict[str, Any] | None]:
        def check() -> dict[str, Any] | None:
            result = info(http, name)
            done = result["status"] == GREEN and result["indexed_vectors_count"] == count
            # `segments` sealed ones and the appendable one.
            return result if done and result["segments_count"] <= segments + 1 else None
        return check

    def inserted(kind: str) -> float:
        return optimizer_runs(http, name, kind, metric=GRAPH_INSERTIONS)

    def exact_neighbours_found() -> None:
        queries = rng.standard_normal((30, dim)).tolist()
        found = same = 0
        for query in queries:
            graph = client.query_points(name, query=query, limit=10,
                                        search_params=models.SearchParams(hnsw_ef=128)).points
            exact = client.query_points(name, query=query, limit=10,
                                        search_params=models.SearchParams(exact=True)).points
            found += len(exact)
            same += len({p.id for p in graph} & {p.id for p in exact})
        assert same >= 0.95 * found, (same, found)

    def add(count: int, tag: str) -> None:
        start = max(points) + 1
        more = make_points(rng, range(start, start + count), dim, tag)
        upsert(client, name, more, batch=count)
        points.update(more)

    # Two indexed segments, the smaller first; then a target of one merges them, copying the
    # larger first so its graph stays valid.
    upsert(client, name, dict(list(points.items())[:300]), batch=300)
    wait_for(settled(300, 1), 60, "the first segment's graph")
    upsert(client, name, dict(list(points.items())[300:]), batch=1200)
    wait_for(settled(1500, 2), 60, "the second segment's graph")
    assert inserted("index") == 1500
    client.update_collection(
        name, optimizers_config=models.OptimizersConfigDiff(default_segment_number=1)
    )
    wait_for(settled(1500, 1), 60, "the two segments to merge")
    assert inserted("merge") == 300
    check_points(client, name, points)
    exact_neighbours_found()

    # Deletions in the merged segment: the next batch gets a graph of its own, and the merge
    # after it builds on that clean segment, inserting the older one's 1,450 live points.
    deleted = list(range(0, 1500, 30))
    client.delete(name, points_selector=models.PointIdsList(points=deleted), wait=True)
    for pid in deleted:
        del points[pid]
    add(1200, "v2")
    wait_for(settled(len(points), 1), 60, "the second merge")
    assert inserted("index") == 1500 + 1200
    assert inserted("merge") == 300 + 1450
    check_points(client, name, points)
    exact_neighbours_found()

    # A batch over the indexing threshold now goes straight into the clean segment's graph.
    add(500, "v3")
    wait_for(settled(len(points), 1), 60, "the batch to join the segment")
    assert inserted("index") == 1500 + 1200
    assert inserted("merge") == 300 + 1450 + 500
    check_points(client, name, points)
    exact_neighbours_found()


# --- metrics -----------------------------------------------------------------------------------


def test_metrics_count_index_builds(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    count, dim = 1000, 16
    points = make_points(np.random.default_rng(5), range(count), dim, "v1")
    # Two segments allowed: the second batch gets a graph of its own, not a merge.
    create(client, unique_name, dim, indexing_threshold=0, default_segment_number=2)
    upsert(client, unique_name, points)
    assert optimizer_runs(http, unique_name) == 0  # nothing ran for this collection yet

    client.update_collection(
        unique_name, optimizers_config=models.OptimizersConfigDiff(indexing_threshold=10)
    )
    _, final = status_trace(http, unique_name, timeout=60)
    assert final["indexed_vectors_count"] == count, final
    runs = wait_for(lambda: optimizer_runs(http, unique_name, "index"), 10, "the index counter")
    assert runs >= 1

    # A second build (a new batch over the threshold) counts again.
    more = make_points(np.random.default_rng(6), range(count, 2 * count), dim, "v1")
    upsert(client, unique_name, more, batch=count)
    _, final = status_trace(http, unique_name, timeout=60)
    assert final["indexed_vectors_count"] == 2 * count, final
    wait_for(
        lambda: optimizer_runs(http, unique_name, "index") > runs, 10, "the counter to increase"
    )


# --- GET /collections/{name}/optimizations ----------------------------------------------------


def optimizations(http: HttpSession, name: str, **params: str) -> dict:
    response = http.get(f"/collections/{name}/optimizations", params=params)
    assert response.status_code == 200, response.text
    result = response.json()["result"]
    assert problems("OptimizationsResponse", result) == [], result
    return result


def test_optimizations_report_running_completed_and_idle(
    client: QdrantClient, http: HttpSession, unique_name: str
) -> None:
    name = unique_name
    count, dim = 10_000, 32  # the index build takes about a second: seen while it runs
    create(client, name, dim, indexing_threshold=0)
    upsert(client, name, make_points(np.random.default_rng(11), range(count), dim, "v1"))
    every = {"with": "queued,completed,idle_segments"}
    before = optimizations(http, name, **every)
    assert before["running"] == [] and before["queued"] == [] and before["completed"] == []
    segments = info(http, name)["segments_count"]
    assert before["summary"]["idle_segments"] == segments == len(before["idle_segments"])
    assert sum(s["points_count"] for s in before["idle_segments"]) == count

    client.update_collection(name, optimizers_config=models.OptimizersConfigDiff(
        indexing_threshold=20))
    seen_running = []
    deadline = time.monotonic() + 60
    while info(http, name)["status"] != GREEN:
        assert time.monotonic() < deadline, "not green after 60 s"
        seen_running += optimizations(http, name)["running"]
        time.sleep(0.01)
    assert seen_running, "no optimization seen running during a one-second index build"
    assert {r["status"] for r in seen_running} == {"optimizing"}
    assert {r["optimizer"] for r in seen_running} <= {"indexing", "merge"}

    after = optimizations(http, name, **every)
    assert after["running"] == [] and after["queued"] == []
    done = after["completed"]
    assert done and {d["status"] for d in done} == {"done"}
    assert {r["uuid"] for r in seen_running} <= {d["uuid"] for d in done}
    assert all(d["progress"]["duration_sec"] >= 0 for d in done)
    assert sum(s["points_count"] for d in done for s in d["segments"]) >= count
    assert len(optimizations(http, name, completed_limit="1", **{"with": "completed"})[
        "completed"]) == 1


@pytest.mark.parametrize("params", [{"with": "queued,bogus"}, {"completed_limit": "-1"},
                                    {"completed_limit": "many"}])
def test_optimizations_bad_parameters(
    client: QdrantClient, http: HttpSession, unique_name: str, params: dict
) -> None:
    create(client, unique_name, 4, indexing_threshold=0)
    response = http.get(f"/collections/{unique_name}/optimizations", params=params)
    assert response.status_code == 400, response.text
    assert response.json()["status"]["error"]
    missing = http.get("/collections/no_such_collection/optimizations")
    assert missing.status_code == 404
