"""A real 3-node cluster on loopback: metadata seen everywhere, placement, write quorum, read
failover, recovery after SIGKILL and SIGSTOP, Raft leader loss, full restart, joining through
`--bootstrap`, and the manual shard operations.

One cluster is shared by the whole module. Tests that kill, freeze or stop nodes bring them back
and wait for every replica to be Active again before they end (`heal`), so the next test starts
from a whole cluster. Timings (failover, recovery) are printed: run with `-s` to see them.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import grpc
import pytest
import requests
from client_errors import status_of
from cluster_harness import Cluster, raft_uri
from nodeproc import NodeProcess, assert_concurrent_answers_match, free_port, wait_for
from pydantic import TypeAdapter
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

pytestmark = pytest.mark.timeout(300)

DIM = 4
RECOVERY_TIMEOUT = 60.0


def heal(cluster: Cluster) -> None:
    """Bring back every node that is down or frozen; wait until the cluster is whole."""
    for node in cluster.nodes:
        node.resume()
        if not node.is_running():
            node.start()
    cluster.wait_formed()


def vector(point_id: int, version: int = 0) -> list[float]:
    rng = random.Random(point_id * 1000 + version)
    return [round(rng.uniform(-1, 1), 4) for _ in range(DIM)]


def points(ids, version: int = 0, **payload) -> list[models.PointStruct]:
    return [models.PointStruct(id=i, vector=vector(i, version),
                               payload={"i": i, "v": version, **payload}) for i in ids]


def create(client: QdrantClient, name: str, shards: int, rf: int, wcf: int = 1) -> None:
    client.create_collection(
        name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
        shard_number=shards, replication_factor=rf, write_consistency_factor=wcf,
    )


def count_all(cluster: Cluster, node: NodeProcess, name: str) -> int:
    """Exact count asking every Active replica of each shard."""
    response = cluster.http(node).post(f"/collections/{name}/points/count",
                                       params={"consistency": "all"}, json={"exact": True})
    assert response.status_code == 200, response.text
    return response.json()["result"]["count"]


def retrieve_all(cluster: Cluster, node: NodeProcess, name: str, ids: list[int]) -> dict:
    """id -> (vector, payload), read with consistency=all. Replicas are asked own copy first
    and the first answer wins a tie, so through a node this reads that node's own replicas."""
    out: dict[int, tuple] = {}
    for start in range(0, len(ids), 500):
        response = cluster.http(node).post(
            f"/collections/{name}/points", params={"consistency": "all"},
            json={"ids": ids[start:start + 500], "with_vector": True, "with_payload": True},
        )
        assert response.status_code == 200, response.text
        for record in response.json()["result"]:
            out[record["id"]] = (record["vector"], record["payload"])
    return out


def local_counts(cluster: Cluster, name: str) -> dict[tuple[int, int], int]:
    """(shard id, peer id) -> points the replica holds, from every node's local shards."""
    out = {}
    for node in cluster.nodes:
        info = cluster.collection_cluster(node, name)
        for shard in info["local_shards"]:
            out[(shard["shard_id"], info["peer_id"])] = shard["points_count"]
    return out


def assert_replicas_agree(cluster: Cluster, name: str, expected_total: int) -> None:
    counts = local_counts(cluster, name)
    per_shard: dict[int, set[int]] = {}
    for (shard_id, _peer), count in counts.items():
        per_shard.setdefault(shard_id, set()).add(count)
    assert all(len(c) == 1 for c in per_shard.values()), f"replicas differ: {counts}"
    assert sum(next(iter(c)) for c in per_shard.values()) == expected_total, counts


def non_leaders(cluster: Cluster) -> list[NodeProcess]:
    leader = cluster.leader()
    return [n for n in cluster.nodes if n is not leader]


# --- 1. metadata --------------------------------------------------------------------------


def test_metadata_made_on_one_node_is_seen_on_all(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    name = f"meta_{random.randrange(10**6)}"
    with cluster.client(a) as ca, cluster.client(b) as cb, cluster.client(c) as cc:
        create(ca, name, shards=2, rf=2)
        # No polling: the node that made the change answers once live peers applied it.
        for client in (cb, cc):
            info = client.get_collection(name)
            assert info.config.params.shard_number == 2
            assert info.config.params.replication_factor == 2
        cb.update_collection_aliases(change_aliases_operations=[models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=name, alias_name=f"{name}_alias"))])
        assert [a.alias_name for a in cc.get_collection_aliases(name).aliases] == \
            [f"{name}_alias"]
        assert cc.get_collection(f"{name}_alias").config.params.shard_number == 2
        cc.create_payload_index(name, "color", models.PayloadSchemaType.KEYWORD, wait=True)
        assert "color" in ca.get_collection(name).payload_schema
        cc.update_collection(name, optimizers_config=models.OptimizersConfigDiff(
            indexing_threshold=12345))
        assert ca.get_collection(name).config.optimizer_config.indexing_threshold == 12345
        assert ca.delete_collection(name)
        assert not cb.collection_exists(name)
        assert not cc.collection_exists(f"{name}_alias")


def test_cluster_status_is_in_qdrant_shape(cluster: Cluster) -> None:
    """`GET /cluster` once left out `last_update` of a working consensus thread, which
    qdrant-client requires (schemathesis's response schema check found it)."""
    for node in cluster.nodes:
        status = cluster.get(node, "/cluster")["consensus_thread_status"]
        assert status["consensus_thread_status"] == "working", status
        assert abs(datetime.fromisoformat(status["last_update"].replace("Z", "+00:00"))
                   - datetime.now(timezone.utc)) < timedelta(minutes=1)
        with cluster.client(node) as client:
            parsed = client.http.distributed_api.cluster_status().result
            assert parsed.status == "enabled"
            assert parsed.consensus_thread_status.last_update is not None


# --- 2. alias switch ------------------------------------------------------------------------


def test_alias_switch_is_atomic_under_concurrent_queries(cluster: Cluster) -> None:
    a = cluster.nodes[0]
    names = [f"blue_{random.randrange(10**6)}", f"green_{random.randrange(10**6)}"]
    alias = f"live_{random.randrange(10**6)}"
    with cluster.client(a) as admin:
        for name in names:
            create(admin, name, shards=3, rf=2)
            admin.upsert(name, points(range(50), source=name), wait=True)
        admin.update_collection_aliases(change_aliases_operations=[models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=names[0], alias_name=alias))])

        stop = threading.Event()
        errors: list[str] = []
        seen: dict[str, int] = dict.fromkeys(names, 0)
        lock = threading.Lock()

        def reader(node: NodeProcess) -> None:
            with cluster.client(node) as client:
                while not stop.is_set():
                    try:
                        hits = client.query_points(alias, query=[1.0, 0.5, 0.2, 0.1],
                                                   limit=5).points
                        sources = {h.payload["source"] for h in hits}
                        if len(hits) != 5 or len(sources) != 1 or not sources <= set(names):
                            errors.append(f"{node.name}: {len(hits)} hits from {sources}")
                        else:
                            with lock:
                                seen[sources.pop()] += 1
                    except Exception as exc:  # noqa: BLE001 - every failure is a finding
                        errors.append(f"{node.name}: {exc!r}")

        threads = [threading.Thread(target=reader, args=(n,)) for n in cluster.nodes]
        for thread in threads:
            thread.start()
        try:
            for switch in range(30):
                target = names[(switch + 1) % 2]
                admin.update_collection_aliases(change_aliases_operations=[
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=alias)),
                    models.CreateAliasOperation(create_alias=models.CreateAlias(
                        collection_name=target, alias_name=alias)),
                ])
                # Answered once every live node applied it: every node now reads the new one.
                for node in cluster.nodes:
                    hit = cluster.http(node).post(f"/collections/{alias}/points/query",
                                                  json={"query": [1, 0, 0, 0], "limit": 1,
                                                        "with_payload": True})
                    assert hit.json()["result"]["points"][0]["payload"]["source"] == target
                time.sleep(0.02)
        finally:
            stop.set()
            for thread in threads:
                thread.join(30)
        assert not errors, errors[:5]
        assert all(seen.values()), seen
        for name in names:
            admin.delete_collection(name)


def test_concurrent_queries_answer_like_sequential_ones(cluster: Cluster) -> None:
    """Plain queries on a shard held by another peer are gathered into one request to it:
    each caller still gets exactly its own answer, whatever its limit, ef or threshold."""
    a = cluster.nodes[0]
    name = f"gathered_{random.randrange(10**6)}"
    rng = random.Random(7)
    queries = [[rng.uniform(-1, 1) for _ in range(DIM)] for _ in range(60)]
    with cluster.client(a) as client:
        create(client, name, shards=3, rf=1)  # two of the three shards live on other peers
        client.upsert(name, points(range(600)), wait=True)
        assert_concurrent_answers_match(client, a.url, name, queries, threshold=0.2)
        client.delete_collection(name)


# --- 3. placement ---------------------------------------------------------------------------


@pytest.mark.parametrize(("shards", "rf"), [(1, 1), (3, 1), (3, 2), (4, 2), (2, 3), (1, 5)])
def test_placement_rules(cluster: Cluster, shards: int, rf: int) -> None:
    a = cluster.nodes[0]
    name = f"place_{shards}_{rf}_{random.randrange(10**6)}"
    placed_rf = min(rf, len(cluster.nodes))
    with cluster.client(a) as client:
        create(client, name, shards=shards, rf=rf)
        views = [cluster.placement(node, name) for node in cluster.nodes]
        assert views[0] == views[1] == views[2]
        placement = views[0]
        assert sorted(placement) == list(range(shards))
        per_peer: dict[int, int] = dict.fromkeys((cluster.peer_id(n) for n in cluster.nodes), 0)
        for replicas in placement.values():
            peers = [peer for peer, _ in replicas]
            assert len(peers) == len(set(peers)) == placed_rf
            assert {state for _, state in replicas} == {"Active"}
            for peer in peers:
                per_peer[peer] += 1
        assert max(per_peer.values()) - min(per_peer.values()) <= 1, per_peer
        client.upsert(name, points(range(300)), wait=True)
        assert sum(local_counts(cluster, name).values()) / placed_rf == 300
        if shards > 1:
            assert all(count > 0 for count in local_counts(cluster, name).values())
        assert client.count(name, exact=True).count == 300
        client.delete_collection(name)


# --- 4. SIGKILL under load -------------------------------------------------------------------


class Traffic:
    """A writer streaming upserts (wait=true) through one node and readers through another,
    each operation logged as (start, end, ok, detail)."""

    def __init__(self, cluster: Cluster, name: str, writer: NodeProcess, reader: NodeProcess,
                 first_id: int, client_timeout: float | None = 15) -> None:
        self.cluster, self.name = cluster, name
        self.writer_node, self.reader_node = writer, reader
        self.next_id = first_id
        self.client_timeout = client_timeout
        self.acked: dict[int, int] = {}  # id -> version acknowledged last
        self.lock = threading.Lock()  # the writer updates `acked` while readers sample it
        self.uncertain: set[int] = set()
        self.writes: list[tuple[float, float, bool, str]] = []
        self.reads: list[tuple[float, float, bool, str]] = []
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._write)]
        self.threads += [threading.Thread(target=self._read, args=(k,)) for k in range(2)]

    def __enter__(self) -> Traffic:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(120)

    def _write(self) -> None:
        rng = random.Random(1)
        client = QdrantClient(url=self.writer_node.url, timeout=self.client_timeout)
        batch = 0
        while not self.stop.is_set():
            batch += 1
            if batch % 4 == 0 and self.acked:  # overwrite some acknowledged points
                with self.lock:
                    ids = rng.sample(sorted(self.acked), min(10, len(self.acked)))
                version = batch
            else:
                ids = list(range(self.next_id, self.next_id + 10))
                self.next_id += 10
                version = 0
            started = time.monotonic()
            try:
                client.upsert(self.name, points(ids, version), wait=True)
            except Exception as exc:  # noqa: BLE001 - logged and asserted on
                self.uncertain.update(ids)
                self.writes.append((started, time.monotonic(), False, repr(exc)))
                continue
            self.writes.append((started, time.monotonic(), True, ""))
            with self.lock:
                self.acked.update(dict.fromkeys(ids, version))
        client.close()

    def _read(self, seed: int) -> None:
        rng = random.Random(seed)
        client = QdrantClient(url=self.reader_node.url, timeout=self.client_timeout)
        while not self.stop.is_set():
            with self.lock:
                known = list(self.acked.items())
            sample = dict(rng.sample(known, min(20, len(known))))
            started = time.monotonic()
            try:
                if seed == 0:
                    records = client.retrieve(self.name, list(sample), with_vectors=False)
                    found = {r.id for r in records}
                    missing = [i for i in sample if i not in found]
                    assert not missing, f"acknowledged points missing: {missing[:5]}"
                else:
                    hits = client.query_points(self.name, query=vector(rng.randrange(10**6)),
                                               limit=10).points
                    assert len(hits) == 10, len(hits)
            except Exception as exc:  # noqa: BLE001 - logged and asserted on
                self.reads.append((started, time.monotonic(), False, repr(exc)))
                continue
            self.reads.append((started, time.monotonic(), True, ""))
            time.sleep(0.01)
        client.close()

    def failures(self) -> tuple[list, list]:
        return ([w for w in self.writes if not w[2]], [r for r in self.reads if not r[2]])

    @staticmethod
    def first_ok_after(log: list, moment: float) -> float:
        done = [end for start, end, ok, _ in log if ok and start >= moment]
        return min(done) - moment if done else float("inf")

    @staticmethod
    def slowest_around(log: list, moment: float, window: float = 10.0) -> float:
        spans = [end - start for start, end, ok, _ in log if moment - 1 < start < moment + window]
        return max(spans, default=0.0)

    @staticmethod
    def percentiles(log: list, since: float, until: float) -> str:
        """p50 and p99 of the operations that ran between `since` and `until`."""
        spans = sorted(end - start for start, end, _, _ in log if end >= since and start < until)
        if not spans:
            return "none"
        p99 = spans[min(len(spans) - 1, int(0.99 * len(spans)))]
        return f"p50 {spans[len(spans) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"


def verify_acknowledged(cluster: Cluster, name: str, traffic: Traffic) -> None:
    """Every acknowledged write, at its acknowledged version, on every replica."""
    expected = {i: v for i, v in traffic.acked.items() if i not in traffic.uncertain}
    assert_replicas_agree(cluster, name, len(traffic.acked))
    for node in cluster.nodes:
        assert count_all(cluster, node, name) == len(traffic.acked)
        got = retrieve_all(cluster, node, name, sorted(expected))
        missing = sorted(set(expected) - set(got))
        assert not missing, f"{node.name} misses {missing[:5]}"
        wrong = [i for i, version in expected.items()
                 if got[i][1]["v"] != version
                 or got[i][0] != pytest.approx(vector(i, version), abs=1e-3)]
        assert not wrong, f"{node.name}: stale or wrong points {wrong[:5]}"


def test_sigkill_of_a_replica_under_load(cluster: Cluster) -> None:
    name = f"failover_{random.randrange(10**6)}"
    victim = non_leaders(cluster)[0]
    writer = next(n for n in cluster.nodes if n is not victim)
    reader = next(n for n in cluster.nodes if n not in (victim, writer))
    victim_peer = cluster.peer_id(victim)
    preload = 3000
    with cluster.client(writer) as client:
        create(client, name, shards=3, rf=2, wcf=1)
        for start in range(0, preload, 500):
            client.upsert(name, points(range(start, start + 500)), wait=True)
    traffic = Traffic(cluster, name, writer, reader, first_id=preload)
    try:
        with traffic:
            traffic.acked.update(dict.fromkeys(range(preload), 0))
            time.sleep(1.0)
            killed_at = time.monotonic()
            victim.kill()
            wait_for(lambda: cluster.replica_state(writer, name, victim_peer) == {"Dead"},
                     30, "the killed node's replicas marked Dead", interval=0.02)
            dead_after = time.monotonic() - killed_at
            time.sleep(3.0)
            restarted_at = time.monotonic()
            victim.start_and_wait()
            ready_after = time.monotonic() - restarted_at
            cluster.wait_all_active(name, RECOVERY_TIMEOUT)
            active_after = time.monotonic() - restarted_at
            time.sleep(0.5)  # writes keep flowing to the recovered replicas
        write_failures, read_failures = traffic.failures()
        assert not write_failures, write_failures[:3]
        assert not read_failures, read_failures[:3]
        verify_acknowledged(cluster, name, traffic)
        print(
            f"\nSIGKILL failover ({len(traffic.acked)} points, shards 3, rf 2): "
            f"first write after kill {Traffic.first_ok_after(traffic.writes, killed_at):.3f}s, "
            f"first read {Traffic.first_ok_after(traffic.reads, killed_at):.3f}s, "
            f"slowest write around the kill "
            f"{Traffic.slowest_around(traffic.writes, killed_at):.3f}s, "
            f"slowest read {Traffic.slowest_around(traffic.reads, killed_at):.3f}s, "
            f"replicas marked Dead after {dead_after:.3f}s; restart -> ready {ready_after:.2f}s, "
            f"-> all replicas Active {active_after:.2f}s; "
            f"{len(traffic.writes)} writes, {len(traffic.reads)} reads, none failed"
        )
    finally:
        heal(cluster)
    with cluster.client(writer) as client:
        client.delete_collection(name)


# --- 5. write consistency factor ---------------------------------------------------------------


def upsert_status(cluster: Cluster, node: NodeProcess, name: str, ids: list[int]) -> int:
    body = {"points": [{"id": i, "vector": vector(i), "payload": {"i": i}} for i in ids]}
    response = cluster.http(node).put(f"/collections/{name}/points", params={"wait": "true"},
                                      json=body)
    return response.status_code


def test_write_consistency_factor_refuses_writes_with_a_replica_down(cluster: Cluster) -> None:
    name = f"wcf_{random.randrange(10**6)}"
    coordinator = cluster.nodes[0]
    with cluster.client(coordinator) as client:
        create(client, name, shards=1, rf=2, wcf=2)
        client.upsert(name, points(range(100)), wait=True)
    holders = {peer for peer, _ in cluster.placement(coordinator, name)[0]}
    nodes = {cluster.peer_id(n): n for n in cluster.nodes}
    third = next(n for peer, n in nodes.items() if peer not in holders)
    leader = cluster.leader()
    victim = next((nodes[p] for p in sorted(holders) if nodes[p] is not leader),
                  nodes[min(holders)])
    survivor = next(nodes[p] for p in holders if nodes[p] is not victim)
    victim_peer, survivor_peer = cluster.peer_id(victim), cluster.peer_id(survivor)
    try:
        victim.kill()
        # The first write may still reach the survivor before the victim's failure is seen,
        # but it is not acknowledged.
        assert upsert_status(cluster, third, name, [1000]) >= 500
        # (on both live nodes: a coordinator that still sees two Active replicas would write
        # to the survivor before finding the victim gone, like the write above)
        wait_for(lambda: all(cluster.replica_state(n, name, victim_peer) == {"Dead"}
                             and cluster.replica_state(n, name, survivor_peer) == {"Active"}
                             for n in (third, survivor)),
                 10, "the killed replica marked Dead")
        # With one Active replica of the two the factor asks for, nothing is written at all.
        refused = [2000, 2001]
        for node in (third, survivor):
            status = upsert_status(cluster, node, name, refused)
            assert status == 503, status
        with cluster.client(survivor) as client:
            assert client.retrieve(name, refused) == []
            assert client.count(name, exact=True).count in (100, 101)
        victim.start_and_wait()
        cluster.wait_all_active(name, RECOVERY_TIMEOUT)
        assert upsert_status(cluster, third, name, [3000, 3001]) == 200
        for node in cluster.nodes:
            assert retrieve_all(cluster, node, name, refused) == {}
            assert set(retrieve_all(cluster, node, name, [3000, 3001])) == {3000, 3001}
        assert_replicas_agree(cluster, name, count_all(cluster, third, name))
    finally:
        heal(cluster)
    with cluster.client(coordinator) as client:
        client.delete_collection(name)


# --- 6. Raft leader killed ---------------------------------------------------------------------


def put_collection(cluster: Cluster, node: NodeProcess, name: str) -> int:
    body = {"vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 3,
            "replication_factor": 2}
    try:
        return cluster.http(node).put(f"/collections/{name}", json=body, timeout=15).status_code
    except requests.RequestException:
        return 0


def test_cluster_metrics(cluster: Cluster) -> None:
    """After the failures above: Raft role, term and commit, replica states, quorum failures,
    replicas marked Dead and node-to-node requests are on /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with cluster.client(cluster.nodes[0]) as client:
        client.create_collection("metrics", shard_number=2, replication_factor=2,
                                 vectors_config=models.VectorParams(size=2, distance="Dot"))
    totals: dict[tuple[str, tuple], float] = {}
    leaders = 0
    for node in cluster.nodes:
        text = cluster.http(node).get("/metrics").text
        samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
        for sample in samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            totals[key] = totals.get(key, 0.0) + sample.value
        leaders += sum(s.value for s in samples
                       if s.name == "flotilla_raft_role" and s.labels["role"] == "Leader")
        assert any(s.name == "flotilla_raft_term" and s.value >= 1 for s in samples)
        assert any(s.name == "flotilla_raft_commit_index" and s.value > 0 for s in samples)

    def total(name: str, **labels: str) -> float:
        return sum(v for (n, ls), v in totals.items()
                   if n == name and all(dict(ls).get(k) == w for k, w in labels.items()))

    assert leaders == 1
    assert total("flotilla_replicas", state="Active") > 0
    assert total("flotilla_write_quorum_failures_total") >= 1
    assert total("flotilla_replicas_marked_dead_total") >= 1
    assert total("flotilla_peer_requests_total", outcome="ok") > 0
    # Qdrant's names, for dashboards built for Qdrant: per node, summed over the three.
    assert total("cluster_enabled") == 3
    assert total("cluster_peers_total") == 9
    assert total("cluster_voter") == 3
    assert total("cluster_term") >= 3 and total("cluster_commit") > 0
    assert total("collections_total") >= 3
    assert total("collection_dead_replicas", id="metrics") == 0
    assert ("collection_points", (("id", "metrics"),)) in totals
    assert sum(v for (n, ls), v in totals.items()
               if n == "app_info" and dict(ls).get("name") == "flotilla") == 3
    assert total("rest_responses_total", method="PUT", endpoint="/collections/{collection_name}",
                 status="200") >= 1
    assert total("rest_responses_duration_seconds_count") > 0


def test_raft_leader_killed(cluster: Cluster) -> None:
    leader = wait_for(cluster.leader, 10, "a Raft leader")
    other = next(n for n in cluster.nodes if n is not leader)
    name = f"after_leader_{random.randrange(10**6)}"
    try:
        killed_at = time.monotonic()
        leader.kill()
        attempts = 0
        while True:
            attempts += 1
            status = put_collection(cluster, other, name)
            # 409: an earlier attempt whose outcome was unknown did commit.
            if status in (200, 409):
                break
            assert time.monotonic() - killed_at < 30, f"no collection created (HTTP {status})"
            time.sleep(0.05)
        created_after = time.monotonic() - killed_at
        new_leader = wait_for(cluster.leader, 10, "a new Raft leader")
        assert new_leader is not leader
        for node in cluster.nodes:
            if node is not leader:
                assert cluster.get(node, f"/collections/{name}")["status"] == "green"
        restarted_at = time.monotonic()
        leader.start_and_wait()
        cluster.wait_formed(nodes=[leader])
        # It caught up with the metadata committed while it was down.
        assert cluster.get(leader, f"/collections/{name}")["config"]["params"][
            "replication_factor"] == 2
        cluster.wait_all_active(name, RECOVERY_TIMEOUT)
        print(f"\nRaft leader SIGKILL: collection created through another node after "
              f"{created_after:.2f}s ({attempts} attempts); old leader back and caught up "
              f"{time.monotonic() - restarted_at:.2f}s after its restart")
    finally:
        heal(cluster)
    cluster.http(other).delete(f"/collections/{name}")


# --- 7. SIGSTOP ---------------------------------------------------------------------------------


def test_frozen_node_is_marked_dead_and_recovers(cluster: Cluster) -> None:
    """A node frozen with SIGSTOP (rf 2, wcf 1) holds up no write and no read: the clients
    keep qdrant-client's default timeout (5 s), and none of their operations may fail, while
    its replicas are Active, once they are marked Dead, and while they recover after SIGCONT.
    Every acknowledged write ends on every replica, at its acknowledged version."""
    name = f"frozen_{random.randrange(10**6)}"
    frozen = non_leaders(cluster)[0]
    writer = next(n for n in cluster.nodes if n is not frozen)
    reader = next(n for n in cluster.nodes if n not in (frozen, writer))
    frozen_peer = cluster.peer_id(frozen)
    with cluster.client(writer) as client:
        create(client, name, shards=3, rf=2, wcf=1)
        client.upsert(name, points(range(1000)), wait=True)
    traffic = Traffic(cluster, name, writer, reader, first_id=1000, client_timeout=None)
    traffic.acked.update(dict.fromkeys(range(1000), 0))
    try:
        with traffic:
            time.sleep(0.5)
            frozen_at = time.monotonic()
            frozen.pause()
            wait_for(lambda: cluster.replica_state(writer, name, frozen_peer) == {"Dead"},
                     90, "the frozen node's replicas marked Dead", interval=0.05)
            dead_after = time.monotonic() - frozen_at
            acked_while_frozen = len(traffic.acked)
            time.sleep(2.0)
            assert len(traffic.acked) > acked_while_frozen, "writes stalled after Dead"
            resumed_at = time.monotonic()
            frozen.resume()
            cluster.wait_all_active(name, RECOVERY_TIMEOUT)
            active_after = time.monotonic() - resumed_at
            time.sleep(0.5)
        write_failures, read_failures = traffic.failures()
        assert not write_failures, write_failures[:3]
        assert not read_failures, read_failures[:3]
        verify_acknowledged(cluster, name, traffic)
        print(
            f"\nSIGSTOP ({len(traffic.acked)} points): replicas marked Dead after "
            f"{dead_after:.2f}s; while frozen, writes "
            f"{Traffic.percentiles(traffic.writes, frozen_at, resumed_at)} (slowest "
            f"{Traffic.slowest_around(traffic.writes, frozen_at, 90):.2f}s), reads "
            f"{Traffic.percentiles(traffic.reads, frozen_at, resumed_at)} (slowest "
            f"{Traffic.slowest_around(traffic.reads, frozen_at, 90):.2f}s); "
            f"SIGCONT -> all replicas Active {active_after:.2f}s"
        )
    finally:
        heal(cluster)
    cluster.http(writer).delete(f"/collections/{name}")


def test_a_replica_that_missed_an_acknowledged_write_is_dead_by_then(cluster: Cluster) -> None:
    """rf 2, wcf 1, one replica frozen: a write the other replica acknowledged is answered
    only once the frozen one is out of the metadata (Dead), so no read, transfer source or
    late-arriving copy can stand for it. Before, it was marked Dead in the background after
    the acknowledgement (or once its call timed out, 10 s later), and a frozen replica that
    resumed applied queued writes from several coordinators in any order while still Active."""
    name = f"missed_{random.randrange(10**6)}"
    frozen = non_leaders(cluster)[0]
    writer = next(n for n in cluster.nodes if n is not frozen)
    frozen_peer = cluster.peer_id(frozen)
    with cluster.client(writer) as client:
        create(client, name, shards=3, rf=2, wcf=1)  # every peer holds two of the shards
        client.upsert(name, points(range(100)), wait=True)
    try:
        frozen.pause()
        with cluster.client(writer) as client:
            client.upsert(name, points(range(100, 160)), wait=True)  # touches every shard
        # Read right after the acknowledgement, before any background work could run.
        assert cluster.replica_state(writer, name, frozen_peer) == {"Dead"}
        frozen.resume()
        cluster.wait_all_active(name, RECOVERY_TIMEOUT)
        with cluster.client(frozen) as client:
            assert client.count(name, exact=True).count == 160
    finally:
        heal(cluster)
    cluster.http(writer).delete(f"/collections/{name}")


def test_a_strong_write_given_up_on_its_frozen_leader_is_not_applied_later(
        cluster: Cluster) -> None:
    """ordering=strong hands a write to the node holding the shard's first replica. While that
    node is frozen, the forwarding node gives up and answers 503; the forwarded request waits
    in the frozen node's socket. Before, the node applied it to every replica on SIGCONT, after
    any write the client had made since (chaos: pause-random seed 3, partition-isolate seed 1,
    where TCP resent it once a partition healed): a read went back in time. Now the node
    refuses a write that arrives that much later than its sender's writes usually take."""
    name = f"zombie_{random.randrange(10**6)}"
    with cluster.client(cluster.nodes[0]) as client:
        create(client, name, shards=1, rf=3, wcf=2)
        client.upsert(name, points([1], version=0), wait=True)
    shard = cluster.get(cluster.nodes[0], f"/internal/v1/collections/{name}")["shards"]["0"]
    leader = cluster.node_of(int(next(iter(shard))))  # the first placed replica orders
    forwarder = next(n for n in cluster.nodes if n is not leader)
    try:
        with cluster.client(forwarder) as client:  # forwarded and applied: the usual delay
            client.overwrite_payload(name, {"v": 1}, points=[1], wait=True,
                                     ordering=models.WriteOrdering.STRONG)
        leader.pause()
        with cluster.client(forwarder) as client, pytest.raises(UnexpectedResponse) as failed:
            client.overwrite_payload(name, {"v": 9}, points=[1], wait=True,
                                     ordering=models.WriteOrdering.STRONG)
        assert failed.value.status_code == 503
        leader.resume()
        time.sleep(1.0)  # what waited in the socket is handled by now
        for node in cluster.nodes:
            response = cluster.http(node).post(
                f"/collections/{name}/points", params={"consistency": "all"},
                json={"ids": [1], "with_payload": True})
            assert response.status_code == 200, response.text
            assert response.json()["result"][0]["payload"]["v"] == 1, node.name
        with cluster.client(leader) as client:  # the leader orders writes again
            client.overwrite_payload(name, {"v": 2}, points=[1], wait=True,
                                     ordering=models.WriteOrdering.STRONG)
            assert client.retrieve(name, [1], consistency=models.ReadConsistencyType.ALL
                                   )[0].payload["v"] == 2
    finally:
        heal(cluster)
    cluster.http(forwarder).delete(f"/collections/{name}")


def test_a_majority_read_through_a_node_that_was_frozen_sees_acknowledged_writes(
        cluster: Cluster) -> None:
    """rf 2, wcf 1: while a replica's node is frozen a write is acknowledged by the other
    replica and the frozen one is marked Dead. A majority read sent to the frozen node waits in
    its socket; on SIGCONT the node serves it before it has applied that change. Before, it
    asked its own stale replica and the other one, and on the tie answered with its own, older
    value (chaos: the short pause-random run, about one in ten). Now the other replica refuses
    a read routed with an older placement than it knows; the node catches up and asks again."""
    name = f"stale_read_{random.randrange(10**6)}"
    with cluster.client(cluster.nodes[0]) as client:
        create(client, name, shards=1, rf=2, wcf=1)
        client.upsert(name, points([1], version=1), wait=True)
    shard = cluster.get(cluster.nodes[0], f"/internal/v1/collections/{name}")["shards"]["0"]
    up, frozen = (cluster.node_of(int(peer)) for peer in shard)
    answer: dict[str, object] = {}

    def read_through_frozen() -> None:
        try:
            with cluster.client(frozen) as client:
                answer["v"] = client.retrieve(
                    name, [1], consistency=models.ReadConsistencyType.MAJORITY)[0].payload["v"]
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            answer["error"] = exc

    try:
        frozen.pause()
        with cluster.client(up) as client:
            client.overwrite_payload(name, {"v": 2}, points=[1], wait=True)
        reader = threading.Thread(target=read_through_frozen)
        reader.start()
        time.sleep(0.5)  # the read waits in the frozen node's socket
        frozen.resume()
        reader.join(30)
        assert answer.get("v") == 2, answer
    finally:
        heal(cluster)
    cluster.http(up).delete(f"/collections/{name}")


# --- 8. full restart ----------------------------------------------------------------------------


def test_all_nodes_restarted_keep_their_state(cluster: Cluster) -> None:
    a, b, c = cluster.nodes
    name = f"durable_{random.randrange(10**6)}"
    alias = f"{name}_alias"
    with cluster.client(a) as client:
        create(client, name, shards=3, rf=2)
        client.upsert(name, points(range(500)), wait=True)
        client.create_payload_index(name, "i", models.PayloadSchemaType.INTEGER, wait=True)
        client.update_collection_aliases(change_aliases_operations=[models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=name, alias_name=alias))])
    placement = cluster.placement(a, name)
    peers = {n.name: cluster.peer_id(n) for n in cluster.nodes}
    collections = sorted(x["name"] for x in cluster.get(b, "/collections")["collections"])
    try:
        for node in cluster.nodes:
            assert node.stop() == 0, node.log_tail()
        for node in cluster.nodes:
            node.start()
        cluster.wait_formed()
        cluster.wait_all_active(name, RECOVERY_TIMEOUT)
        for node in cluster.nodes:
            assert cluster.peer_id(node) == peers[node.name]
            assert cluster.placement(node, name) == placement
            assert sorted(x["name"] for x in cluster.get(node, "/collections")["collections"]) \
                == collections
            assert cluster.get(node, "/aliases")["aliases"] == [
                {"alias_name": alias, "collection_name": name}]
            assert "i" in cluster.get(node, f"/collections/{alias}")["payload_schema"]
            assert count_all(cluster, node, alias) == 500
            got = retrieve_all(cluster, node, name, list(range(0, 500, 7)))
            assert all(got[i][0] == pytest.approx(vector(i), abs=1e-3) for i in got)
            assert len(got) == len(range(0, 500, 7))
        assert_replicas_agree(cluster, name, 500)
    finally:
        heal(cluster)
    cluster.http(a).delete(f"/collections/{name}")


# --- 10. manual shard operations ------------------------------------------------------------


def raft_partners(node: NodeProcess) -> int:
    """Members other than itself in the node's Raft group, from pysyncobj's own status."""
    from pysyncobj.utility import TcpUtility

    status = TcpUtility(timeout=3).executeCommand(f"127.0.0.1:{node.p2p_port}", ["status"])
    return sum(1 for key in status if key.startswith("partner_node_status_server_"))


def make_leader(cluster: Cluster, node: NodeProcess) -> None:
    """Hand the Raft leadership to `node` (pysyncobj's utility `transfer` command)."""
    from pysyncobj.utility import TcpUtility

    def leads() -> bool:
        role = cluster.cluster(node).get("raft_info", {}).get("role")
        if role == "Leader":
            return True
        leader = next((n for n in cluster.nodes if n.is_running()
                       and cluster.cluster(n).get("raft_info", {}).get("role") == "Leader"), None)
        if leader is not None:
            with contextlib.suppress(Exception):
                TcpUtility(timeout=3).executeCommand(
                    f"127.0.0.1:{leader.p2p_port}", ["transfer", f"127.0.0.1:{node.p2p_port}"])
        return False

    wait_for(leads, 20, f"{node.name} to lead the Raft group", interval=0.3)


def post_cluster_op(cluster: Cluster, node: NodeProcess, name: str, op: dict) -> requests.Response:
    return cluster.http(node).post(f"/collections/{name}/cluster", json=op)


CLUSTER_OPERATIONS = TypeAdapter(models.ClusterOperations)


def cluster_op(cluster: Cluster, node: NodeProcess, name: str, op: dict, face: str) -> int:
    """The HTTP status of one cluster operation sent over REST, or over gRPC
    (UpdateCollectionClusterSetup) through qdrant-client, read as the HTTP status it maps to."""
    if face == "rest":
        response = post_cluster_op(cluster, node, name, op)
        return response.status_code
    client = QdrantClient(url=node.url, grpc_port=node.grpc_port, prefer_grpc=True, timeout=30)
    try:
        assert client.cluster_collection_update(name, CLUSTER_OPERATIONS.validate_python(op))
        return 200
    except grpc.RpcError as refused:
        return status_of(refused)
    finally:
        client.close()


@pytest.mark.parametrize("face", ["rest", "grpc"])
def test_manual_shard_operations(cluster: Cluster, face: str) -> None:
    a = cluster.nodes[0]
    name = f"manual_{random.randrange(10**6)}"
    all_peers = {cluster.peer_id(n) for n in cluster.nodes}
    with cluster.client(a) as client:
        create(client, name, shards=2, rf=1)
        client.upsert(name, points(range(600)), wait=True)
    counts = local_counts(cluster, name)
    placement = cluster.placement(a, name)
    (holder0,) = [peer for peer, _ in placement[0]]
    (holder1,) = [peer for peer, _ in placement[1]]
    shard0_points = counts[(0, holder0)]
    shard1_points = counts[(1, holder1)]

    # replicate_shard: a new Active replica with every point
    target = min(all_peers - {holder0})
    status = cluster_op(cluster, a, name, face=face, op={"replicate_shard": {
        "shard_id": 0, "from_peer_id": holder0, "to_peer_id": target}})
    assert status == 200
    cluster.wait_all_active(name, RECOVERY_TIMEOUT)
    for node in cluster.nodes:
        assert cluster.placement(node, name)[0] == {(holder0, "Active"), (target, "Active")}
    assert local_counts(cluster, name)[(0, target)] == shard0_points

    # a peer that already holds the shard cannot receive it again
    status = cluster_op(cluster, a, name, face=face, op={"replicate_shard": {
        "shard_id": 0, "from_peer_id": holder0, "to_peer_id": target}})
    assert status == 409

    # move_shard: the source replica is dropped once the target is Active
    move_to = min(all_peers - {holder1})
    status = cluster_op(cluster, cluster.nodes[1], name, face=face, op={"move_shard": {
        "shard_id": 1, "from_peer_id": holder1, "to_peer_id": move_to}})
    assert status == 200
    wait_for(lambda: all(cluster.placement(n, name)[1] == {(move_to, "Active")}
                         for n in cluster.nodes), RECOVERY_TIMEOUT, "the move to finish")
    cluster.wait_all_active(name, RECOVERY_TIMEOUT)
    counts = local_counts(cluster, name)
    assert counts[(1, move_to)] == shard1_points
    assert (1, holder1) not in counts

    # drop_replica: the replica added above goes away; the last one cannot
    status = cluster_op(cluster, cluster.nodes[2], name, face=face, op={"drop_replica": {
        "shard_id": 0, "peer_id": target}})
    assert status == 200
    for node in cluster.nodes:
        assert cluster.placement(node, name)[0] == {(holder0, "Active")}
    assert (0, target) not in local_counts(cluster, name)
    status = cluster_op(cluster, a, name, face=face, op={"drop_replica": {
        "shard_id": 0, "peer_id": holder0}})
    assert status == 409

    # abort_transfer of a transfer that does not exist
    status = cluster_op(cluster, a, name, face=face, op={"abort_transfer": {
        "shard_id": 0, "from_peer_id": holder0, "to_peer_id": target}})
    assert status == 404

    for node in cluster.nodes:
        assert count_all(cluster, node, name) == 600
        assert len(retrieve_all(cluster, node, name, list(range(600)))) == 600
    cluster.http(a).delete(f"/collections/{name}")


# --- 9. bootstrap join (last: it changes the membership) --------------------------------------


def test_bootstrap_join_restart_and_removal(cluster: Cluster, tmp_path: Path) -> None:
    a = cluster.nodes[0]
    raft_port = free_port()
    joiner = NodeProcess(tmp_path / "node3", name="node3", p2p_port=raft_port, extra_args=[
        "--cluster-enabled", "--uri", raft_uri(raft_port),
        "--bootstrap", raft_uri(cluster.nodes[0].p2p_port)])
    name = f"joined_{random.randrange(10**6)}"
    try:
        joiner.start_and_wait(60)
        joiner_peer = int(cluster.get(joiner, "/cluster")["peer_id"])
        for node in [*cluster.nodes, joiner]:
            wait_for(lambda node=node: len(cluster.cluster(node)["peers"]) == 4, 20,
                     f"{node.name} to list 4 peers")
        with cluster.client(a) as client:
            create(client, name, shards=4, rf=1)
            client.upsert(name, points(range(400)), wait=True)
        placement = cluster.placement(joiner, name)
        mine = [sid for sid, replicas in placement.items() if (joiner_peer, "Active") in replicas]
        assert mine, placement

        # Restarted without --bootstrap: it remembers the members.
        joiner.stop()
        joiner.extra_args = ["--cluster-enabled", "--uri", raft_uri(raft_port)]
        joiner.start_and_wait(60)
        wait_for(lambda: len(cluster.cluster(joiner)["peers"]) == 4, 20, "the joiner back")
        assert cluster.get(joiner, "/cluster")["raft_info"]["leader"] is not None
        assert count_all(cluster, joiner, name) == 400

        # It holds the only replica of its shards: removal without force is refused.
        response = cluster.http(a).delete(f"/cluster/peer/{joiner_peer}")
        assert response.status_code == 409, response.text
        others = sorted(cluster.peer_id(n) for n in cluster.nodes)
        for index, shard_id in enumerate(mine):
            response = post_cluster_op(cluster, a, name, {"move_shard": {
                "shard_id": shard_id, "from_peer_id": joiner_peer,
                "to_peer_id": others[index % len(others)]}})
            assert response.status_code == 200, response.text
        wait_for(lambda: all(joiner_peer not in {p for r in cluster.placement(n, name).values()
                                                 for p, _ in r} for n in cluster.nodes),
                 RECOVERY_TIMEOUT, "the joiner's shards moved away")
        cluster.wait_all_active(name, RECOVERY_TIMEOUT)
        # The hard case: the node removed leads the Raft group, and pysyncobj's leader refuses
        # to remove itself.
        make_leader(cluster, joiner)
        response = cluster.http(a).delete(f"/cluster/peer/{joiner_peer}")
        assert response.status_code == 200, response.text
        joiner.stop()
        for node in cluster.nodes:
            wait_for(lambda node=node: str(joiner_peer) not in cluster.cluster(node)["peers"],
                     10, f"{node.name} to forget the removed peer")
            assert len(cluster.cluster(node)["peers"]) == 3
            # It left the Raft group too (a Raft leader cannot remove itself: then the removal
            # completes once it is stopped), so it no longer counts in the quorum.
            wait_for(lambda node=node: raft_partners(node) == 2, 20,
                     f"{node.name}'s Raft group back to 3 members")
        # The remaining three still commit metadata (after a new election, if it led).
        deadline = time.monotonic() + 15
        while (status := cluster.http(a).delete(f"/collections/{name}").status_code) != 200:
            assert status == 503 and time.monotonic() < deadline, status
            time.sleep(0.1)
        assert not any(x["name"] == name
                       for x in cluster.get(cluster.nodes[2], "/collections")["collections"])
    finally:
        with contextlib.suppress(Exception):
            joiner.stop()
