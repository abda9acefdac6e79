"""Snapshots in a 3-node cluster: taken under concurrent writes, recovered through consensus in
the same cluster (replicas resync from the recovered one) and in a new cluster."""

from __future__ import annotations

import threading

from cluster_harness import Cluster
from nodeproc import HttpSession
from snapshot_helpers import digest, make_collection, upsert

WRITTEN_DURING = 1_000_000  # ids of the points written while the snapshot is taken


def snapshot_under_writes(http: HttpSession, name: str) -> dict:
    stop = threading.Event()

    def write_more() -> None:
        with HttpSession(http.base_url, timeout=15) as session:
            next_id = WRITTEN_DURING
            while not stop.is_set():
                upsert(session, name, range(next_id, next_id + 20))
                next_id += 20

    writer = threading.Thread(target=write_more)
    writer.start()
    try:
        r = http.post(f"/collections/{name}/snapshots")
    finally:
        stop.set()
        writer.join()
    assert r.status_code == 200, r.text
    return r.json()["result"]


def every_node_digest(cluster: Cluster, name: str, below: int | None = None) -> set:
    return {digest(cluster.http(node), name, below) for node in cluster.nodes}


def test_snapshot_restore_in_cluster_and_in_a_new_cluster(cluster: Cluster, tmp_path):
    name = "snapc"
    first = cluster.nodes[0]
    http = cluster.http(first)
    make_collection(http, name, 1500, shard_number=2, replication_factor=3)
    cluster.wait_all_active(name)
    acknowledged = digest(http, name)
    snap = snapshot_under_writes(http, name)
    data = http.get(f"/collections/{name}/snapshots/{snap['name']}").content

    # Recovered by URL on another node into a new collection: config and placement agree on
    # every node, the other replicas resync from the recovered one.
    url = f"{first.url}/collections/{name}/snapshots/{snap['name']}"
    other = cluster.http(cluster.nodes[1])
    r = other.put("/collections/snapc_copy/snapshots/recover",
                  json={"location": url, "priority": "snapshot", "checksum": snap["checksum"]})
    assert r.status_code == 200, r.text
    cluster.wait_all_active("snapc_copy")
    assert every_node_digest(cluster, "snapc_copy", WRITTEN_DURING) == {acknowledged}
    copies = every_node_digest(cluster, "snapc_copy")
    assert len(copies) == 1
    configs = {str(cluster.get(n, "/collections/snapc_copy")["config"]["params"])
               for n in cluster.nodes}
    assert len(configs) == 1

    # Recovered in place over later changes (priority snapshot): back to the snapshot.
    upsert(http, name, range(5000, 5100))
    http.post(f"/collections/{name}/points/delete?wait=true", json={"points": [1, 2, 3]})
    r = cluster.http(cluster.nodes[2]).post(
        f"/collections/{name}/snapshots/upload", params={"priority": "snapshot"},
        files={"snapshot": ("s.snapshot", data)})
    assert r.status_code == 200, r.text
    cluster.wait_all_active(name)
    assert every_node_digest(cluster, name) == copies

    # A new 3-node cluster restored from the downloaded archive.
    fresh = Cluster(tmp_path / "fresh", size=3).start()
    try:
        target = fresh.http(fresh.nodes[1])
        r = target.post(f"/collections/{name}/snapshots/upload",
                        params={"priority": "snapshot", "checksum": snap["checksum"]},
                        files={"snapshot": ("s.snapshot", data)})
        assert r.status_code == 200, r.text
        fresh.wait_all_active(name)
        assert every_node_digest(fresh, name) == copies
        assert every_node_digest(fresh, name, WRITTEN_DURING) == {acknowledged}
        # Writes go on in the restored cluster and reach every replica.
        upsert(target, name, [7_000_000])
        assert {d[0] for d in every_node_digest(fresh, name)} == {next(iter(copies))[0] + 1}
    finally:
        fresh.stop()


def test_damaged_archive_leaves_cluster_collection_untouched(cluster: Cluster):
    name = "snapd"
    http = cluster.http(cluster.nodes[0])
    make_collection(http, name, 300, shard_number=1, replication_factor=2)
    cluster.wait_all_active(name)
    before = every_node_digest(cluster, name)
    placement = cluster.placement(cluster.nodes[0], name)
    r = cluster.http(cluster.nodes[1]).post(
        f"/collections/{name}/snapshots/upload", params={"priority": "snapshot"},
        files={"snapshot": ("s.snapshot", b"\x00" * 4096)})
    assert r.status_code == 400, r.text
    assert every_node_digest(cluster, name) == before
    assert cluster.placement(cluster.nodes[0], name) == placement
