"""Snapshots on real nodes: create, list, download, delete, upload and recover, through REST
and through the real qdrant-client; damaged archives and escaping paths refused."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import pickle
import subprocess
import sys
import tarfile
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
import requests
from client_errors import status_of
from nodeproc import HttpSession, NodeProcess
from qdrant_client import QdrantClient, models
from qdrant_client import grpc as pb
from snapshot_helpers import digest, make_collection, upsert

from node.snapshots.archive import ArchivedCollection, extract_archive, write_archive


def create_snapshot(http: HttpSession, name: str) -> dict:
    r = http.post(f"/collections/{name}/snapshots")
    assert r.status_code == 200, r.text
    return r.json()["result"]


def download(http: HttpSession, name: str, snapshot: str) -> bytes:
    r = http.get(f"/collections/{name}/snapshots/{snapshot}")
    assert r.status_code == 200, r.text
    return r.content


def upload(http: HttpSession, name: str, data: bytes, **params) -> object:
    return http.post(f"/collections/{name}/snapshots/upload", params=params,
                     files={"snapshot": ("x.snapshot", data)})


def test_snapshot_round_trip_under_concurrent_writes(http: HttpSession, unique_name: str):
    make_collection(http, unique_name, 2000)
    before = digest(http, unique_name)
    stop = threading.Event()
    errors: list[str] = []

    def write_more() -> None:
        with HttpSession(http.base_url) as session:
            next_id = 100_000
            while not stop.is_set():
                try:
                    upsert(session, unique_name, range(next_id, next_id + 50))
                except AssertionError as exc:
                    errors.append(str(exc))
                next_id += 50

    writer = threading.Thread(target=write_more)
    writer.start()
    try:
        snapshot = create_snapshot(http, unique_name)
    finally:
        stop.set()
        writer.join()
    assert not errors
    assert snapshot["name"].endswith(".snapshot") and snapshot["size"] > 0
    data = download(http, unique_name, snapshot["name"])
    assert hashlib.sha256(data).hexdigest() == snapshot["checksum"]
    listed = http.get(f"/collections/{unique_name}/snapshots").json()["result"]
    assert snapshot in listed

    restored = unique_name + "_r"
    r = upload(http, restored, data, priority="snapshot", checksum=snapshot["checksum"])
    assert r.status_code == 200, r.text
    count, _ = digest(http, restored)
    assert count >= before[0]
    # Every point acknowledged before the snapshot is there, exactly as written.
    original = {p: v for p, v in _points(http, unique_name).items() if p < 100_000}
    copied = _points(http, restored)
    assert {p: copied[p] for p in original} == original
    # A point in the copy is whole: the batches written meanwhile are in it or not, entirely.
    extra = sorted(p for p in copied if p >= 100_000)
    assert len(extra) % 50 == 0
    assert extra == list(range(100_000, 100_000 + len(extra)))

    # Writes after the restore land in the recovered collection.
    upsert(http, restored, [999_999])
    assert digest(http, restored)[0] == count + 1
    r = http.delete(f"/collections/{unique_name}/snapshots/{snapshot['name']}")
    assert r.status_code == 200
    assert http.get(f"/collections/{unique_name}/snapshots").json()["result"] == []


def _points(http: HttpSession, name: str) -> dict:
    r = http.post(f"/collections/{name}/points/scroll", json={
        "limit": 100_000, "with_payload": True, "with_vector": True})
    return {p["id"]: (json.dumps(p["payload"], sort_keys=True),
                      tuple(np.round(p["vector"], 5))) for p in r.json()["result"]["points"]}


def test_recover_replaces_existing_collection(http: HttpSession, unique_name: str):
    make_collection(http, unique_name, 300)
    snap = create_snapshot(http, unique_name)
    expected = digest(http, unique_name)
    upsert(http, unique_name, range(300, 400))
    http.post(f"/collections/{unique_name}/points/delete?wait=true", json={"points": [1, 2, 3]})
    assert digest(http, unique_name) != expected
    node_dir = "file://" + snap["name"]  # relative: refused (not inside the directory)
    r = http.put(f"/collections/{unique_name}/snapshots/recover", json={"location": node_dir})
    assert r.status_code in (400, 404), r.text
    data = download(http, unique_name, snap["name"])
    r = upload(http, unique_name, data)
    assert r.status_code == 200, r.text
    assert digest(http, unique_name) == expected


def test_damaged_archives_are_refused_and_change_nothing(http: HttpSession, unique_name: str):
    make_collection(http, unique_name, 200)
    snap = create_snapshot(http, unique_name)
    data = download(http, unique_name, snap["name"])
    make_collection(http, unique_name + "_t", 50)
    target = unique_name + "_t"
    kept = digest(http, target)

    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0xFF
    foreign = io.BytesIO()
    with tarfile.open(fileobj=foreign, mode="w") as tar:
        info = tarfile.TarInfo("hello.txt")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    cases = {
        "truncated": data[: len(data) // 3],
        "bit flip": bytes(flipped),
        "foreign tar": foreign.getvalue(),
        "not a tar": b"definitely not an archive" * 100,
        "empty": b"",
    }
    for label, body in cases.items():
        r = upload(http, target, body)
        assert r.status_code == 400, (label, r.status_code, r.text)
        assert "error" in r.json()["status"], label
        assert digest(http, target) == kept, label
    r = upload(http, target, data, checksum="0" * 64)
    assert r.status_code == 400 and "checksum" in r.text
    assert digest(http, target) == kept
    # A refused name was never created.
    r = upload(http, unique_name + "_never", data[:1000])
    assert r.status_code == 400
    assert http.get(f"/collections/{unique_name}_never").status_code == 404


def test_escaping_names_and_paths_are_refused(http: HttpSession, unique_name: str,
                                              node: NodeProcess):
    make_collection(http, unique_name, 10)
    for name in ("..%2F..%2Fpeer_id", "%2E%2E", ".hidden.snapshot", "a%2Fb.snapshot"):
        r = http.get(f"/collections/{unique_name}/snapshots/{name}")
        assert r.status_code in (400, 404), (name, r.status_code)
        assert r.headers["Content-Type"].startswith("application/json")
    peer_id_file = node.storage_path / "peer_id"
    for location in (f"file://{peer_id_file}", "file:///etc/passwd",
                     f"file://{node.storage_path}/snapshots/../peer_id", "ftp://x/y",
                     "not a url"):
        r = http.put(f"/collections/{unique_name}/snapshots/recover",
                     json={"location": location})
        assert r.status_code == 400, (location, r.text)
    r = http.put(f"/collections/{unique_name}/snapshots/recover", json={"location": 5})
    assert r.status_code == 400


def test_qdrant_client_snapshot_methods(node: NodeProcess, unique_name: str, http: HttpSession):
    make_collection(http, unique_name, 100)
    expected = digest(http, unique_name)
    client = QdrantClient(url=node.url, timeout=30)
    try:
        snap = client.create_snapshot(unique_name)
        assert snap is not None and snap.size > 0 and snap.checksum
        assert [s.name for s in client.list_snapshots(unique_name)] == [snap.name]
        location = f"file://{node.storage_path}/snapshots/{unique_name}/{snap.name}"
        assert client.recover_snapshot(unique_name + "_c", location,
                                       priority=models.SnapshotPriority.SNAPSHOT)
        assert digest(http, unique_name + "_c") == expected
        assert client.delete_snapshot(unique_name, snap.name)
        assert client.list_snapshots(unique_name) == []
        full = client.create_full_snapshot()
        assert full is not None and full.name in [s.name for s in client.list_full_snapshots()]
        assert client.delete_full_snapshot(full.name)
        shard = client.create_shard_snapshot(unique_name, 0)
        assert [s.name for s in client.list_shard_snapshots(unique_name, 0)] == [shard.name]
        client.delete(unique_name, points_selector=models.PointIdsList(points=[1, 2]))
        location = (f"file://{node.storage_path}/snapshots/{unique_name}/shards/0/"
                    f"{shard.name}")
        assert client.recover_shard_snapshot(unique_name, 0, location,
                                             priority=models.SnapshotPriority.NO_SYNC)
        assert digest(http, unique_name) == expected
        assert client.delete_shard_snapshot(unique_name, 0, shard.name)
    finally:
        client.close()


def test_qdrant_client_snapshot_methods_over_grpc(node: NodeProcess, unique_name: str,
                                                  http: HttpSession):
    """With prefer_grpc the client creates, lists and deletes collection and full snapshots
    over the Snapshots service; the snapshots are the ones REST lists, and one made over gRPC
    recovers the collection."""
    make_collection(http, unique_name, 100)
    expected = digest(http, unique_name)
    client = QdrantClient(url=node.url, grpc_port=node.grpc_port, prefer_grpc=True, timeout=30)
    try:
        snap = client.create_snapshot(unique_name)
        assert snap is not None and snap.size > 0 and snap.checksum
        listed = client.list_snapshots(unique_name)
        assert [(s.name, s.size, s.checksum) for s in listed] == [
            (snap.name, snap.size, snap.checksum)]
        over_rest = http.get(f"/collections/{unique_name}/snapshots").json()["result"]
        assert [(s["name"], s["size"], s["checksum"]) for s in over_rest] == [
            (snap.name, snap.size, snap.checksum)]
        location = f"file://{node.storage_path}/snapshots/{unique_name}/{snap.name}"
        r = http.put(f"/collections/{unique_name}_c/snapshots/recover",
                     json={"location": location})
        assert r.status_code == 200, r.text
        assert digest(http, unique_name + "_c") == expected
        assert client.delete_snapshot(unique_name, snap.name)
        assert client.list_snapshots(unique_name) == []

        full = client.create_full_snapshot()
        assert full is not None and full.name in [s.name for s in client.list_full_snapshots()]
        assert full.name in [s["name"] for s in http.get("/snapshots").json()["result"]]
        assert client.delete_full_snapshot(full.name)
        assert full.name not in [s.name for s in client.list_full_snapshots()]

        refusals = [
            (lambda: client.create_snapshot("no_such_collection"), 404),
            (lambda: client.list_snapshots("no_such_collection"), 404),
            (lambda: client.delete_snapshot(unique_name, "missing.snapshot"), 404),
            (lambda: client.delete_full_snapshot("missing.snapshot"), 404),
        ]
        for call, status in refusals:
            with pytest.raises(grpc.RpcError) as refused:
                call()
            assert status_of(refused.value) == status, refused.value.details()
        for name in ("../peer_id", "..", ".hidden.snapshot", "a/b.snapshot"):
            with pytest.raises(grpc.RpcError) as refused:
                client.delete_snapshot(unique_name, name)
            assert refused.value.code() in (grpc.StatusCode.INVALID_ARGUMENT,
                                            grpc.StatusCode.NOT_FOUND), name
        assert (node.storage_path / "peer_id").exists()
    finally:
        client.close()


def test_recover_by_url_from_another_node(node: NodeProcess, http: HttpSession,
                                          own_node: NodeProcess, unique_name: str):
    make_collection(http, unique_name, 500)
    expected = digest(http, unique_name)
    snap = create_snapshot(http, unique_name)
    with HttpSession(own_node.url) as other:
        url = f"{node.url}/collections/{unique_name}/snapshots/{snap['name']}"
        r = other.put(f"/collections/{unique_name}/snapshots/recover",
                      json={"location": url, "checksum": snap["checksum"]})
        assert r.status_code == 200, r.text
        assert digest(other, unique_name) == expected
        r = other.put(f"/collections/{unique_name}/snapshots/recover",
                      json={"location": url + "-missing"})
        assert r.status_code == 400
        assert digest(other, unique_name) == expected


def test_full_storage_snapshot_restores_a_node(http: HttpSession, own_node: NodeProcess,
                                               unique_name: str, tmp_path):
    names = [unique_name + "_a", unique_name + "_b"]
    for n, name in enumerate(names):
        make_collection(http, name, 100 * (n + 1))
    r = http.post("/collections/aliases", json={"actions": [
        {"create_alias": {"alias_name": unique_name + "_alias", "collection_name": names[0]}}]})
    assert r.status_code == 200
    expected = {name: digest(http, name) for name in names}
    full = http.post("/snapshots").json()["result"]
    data = http.get(f"/snapshots/{full['name']}").content
    with HttpSession(own_node.url) as fresh:
        target = own_node.storage_path / "snapshots" / full["name"]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        r = fresh.put("/snapshots/recover", json={"location": f"file://{target}"})
        assert r.status_code == 200, r.text
        for name in names:
            assert digest(fresh, name) == expected[name]
        aliases = fresh.get("/aliases").json()["result"]["aliases"]
        assert {"alias_name": unique_name + "_alias", "collection_name": names[0]} in aliases
        # The restored node keeps its data across a restart.
        own_node.stop()
        own_node.start_and_wait()
        for name in names:
            assert digest(fresh, name) == expected[name]
    http.delete(f"/snapshots/{full['name']}")


@pytest.mark.parametrize("limit_mb", [1])
def test_upload_size_limit(tmp_path, limit_mb: int):
    proc = NodeProcess(tmp_path / "storage", name="small",
                       env={"QDRANT__STORAGE__SNAPSHOT_MAX_SIZE_MB": str(limit_mb)})
    proc.start_and_wait()
    try:
        with HttpSession(proc.url) as http:
            r = upload(http, "big", b"\0" * (limit_mb * 1024 * 1024 + 10))
            assert r.status_code == 413, r.text
            assert list((tmp_path / "storage" / "snapshots").rglob("*.partial")) == []
    finally:
        proc.stop()


def test_cli_create_list_download_restore(node: NodeProcess, http: HttpSession,
                                          unique_name: str, tmp_path):
    make_collection(http, unique_name, 120)
    expected = digest(http, unique_name)

    def cli(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "node.cli", "snapshot", "--url", node.url,
                               *args], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stdout

    created = json.loads(cli("create", "-c", unique_name))
    listed = [json.loads(line) for line in cli("list", "-c", unique_name).splitlines()]
    assert created in listed
    out = tmp_path / "copy.snapshot"
    cli("download", "-c", unique_name, created["name"], "-o", str(out))
    assert hashlib.sha256(out.read_bytes()).hexdigest() == created["checksum"]
    cli("restore", "-c", unique_name + "_cli", str(out), "--checksum", created["checksum"])
    assert digest(http, unique_name + "_cli") == expected
    bad = subprocess.run([sys.executable, "-m", "node.cli", "snapshot", "--url", node.url,
                          "restore", "-c", unique_name + "_x", str(out), "--checksum", "0" * 64],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "checksum" in bad.stderr


def _leftovers(storage) -> list:
    work = storage / "snapshot-work"
    partials = list((storage / "snapshots").rglob("*.partial"))
    return partials + (list(work.iterdir()) if work.exists() else [])


@pytest.mark.parametrize("kill_after", [0.02, 0.1, 0.3])
def test_node_killed_during_create_and_recover_comes_back_consistent(tmp_path, kill_after):
    proc = NodeProcess(tmp_path / "storage", name="killed")
    proc.start_and_wait()
    try:
        with HttpSession(proc.url, timeout=60) as http:
            make_collection(http, "big", 0)
            for start in range(0, 30_000, 3000):
                upsert(http, "big", range(start, start + 3000))
            expected = digest(http, "big")
            good = http.post("/collections/big/snapshots").json()["result"]
            data = http.get(f"/collections/big/snapshots/{good['name']}").content

            # Killed while creating: no partial archive is listed or left; retry works.
            creating = threading.Thread(target=lambda: _quietly(
                lambda: HttpSession(proc.url).post("/collections/big/snapshots")))
            creating.start()
            time.sleep(kill_after)
            proc.kill()
            creating.join()
            proc.start_and_wait()
            assert _leftovers(proc.storage_path) == []
            listed = http.get("/collections/big/snapshots").json()["result"]
            assert good in listed
            for item in listed:
                assert item["size"] > 0 and item["checksum"]
            assert digest(http, "big") == expected

            # Killed while recovering over changed data: the collection is the old data or
            # the snapshot's, never a mix; nothing staged is left; the recovery can be retried.
            upsert(http, "big", range(50_000, 50_100))
            changed = digest(http, "big")
            recovering = threading.Thread(target=lambda: _quietly(lambda: upload(
                HttpSession(proc.url, timeout=60), "big", data, priority="snapshot")))
            recovering.start()
            time.sleep(kill_after)
            proc.kill()
            recovering.join()
            proc.start_and_wait()
            assert digest(http, "big") in (changed, expected)
            assert _leftovers(proc.storage_path) == []
            r = upload(http, "big", data, priority="snapshot")
            assert r.status_code == 200, r.text
            assert digest(http, "big") == expected
            proc.stop()
            proc.start_and_wait()
            assert digest(http, "big") == expected
    finally:
        proc.stop()


def _quietly(call) -> None:
    with contextlib.suppress(requests.RequestException):  # the node was killed under it
        call()


def test_snapshot_metrics(http: HttpSession, unique_name: str):
    def created() -> float:
        text = http.get("/metrics").text
        lines = [line for line in text.splitlines()
                 if line.startswith('flotilla_snapshots_created_total{kind="collection"}')]
        return float(lines[0].split()[-1]) if lines else 0.0

    make_collection(http, unique_name, 10)
    before = created()
    http.post(f"/collections/{unique_name}/snapshots")
    assert created() == before + 1
    text = http.get("/metrics").text
    assert "flotilla_snapshot_creation_running 0.0" in text
    assert "flotilla_snapshot_recovery_running 0.0" in text


def test_shard_snapshot_recovers_one_shard(http: HttpSession, unique_name: str):
    make_collection(http, unique_name, 400, shard_number=2)
    base = f"/collections/{unique_name}/shards/0/snapshots"
    r = http.post(base)
    assert r.status_code == 200, r.text
    snap = r.json()["result"]
    data = http.get(f"{base}/{snap['name']}").content
    before = _points(http, unique_name)
    http.post(f"/collections/{unique_name}/points/delete?wait=true",
              json={"points": list(range(400))})
    assert digest(http, unique_name)[0] == 0
    r = http.post(f"{base}/upload", params={"priority": "snapshot"},
                  files={"snapshot": ("s.snapshot", data)})
    assert r.status_code == 200, r.text
    after = _points(http, unique_name)
    assert 0 < len(after) < 400  # shard 0's points are back, shard 1 stays empty
    assert all(before[p] == v for p, v in after.items())
    # A collection snapshot is no shard snapshot, and the shard must be the archived one.
    r = http.post(f"/collections/{unique_name}/shards/1/snapshots/upload",
                  files={"snapshot": ("s.snapshot", data)})
    assert r.status_code == 400, r.text
    streamed = http.get(f"/collections/{unique_name}/shards/0/snapshot")
    assert streamed.status_code == 200
    r = http.post(f"{base}/upload", files={"snapshot": ("s.snapshot", streamed.content)})
    assert r.status_code == 200, r.text
    assert _points(http, unique_name) == after
    r = http.post(f"/collections/{unique_name}/shards/x/snapshots")
    assert r.status_code == 400
    r = http.post(f"/collections/{unique_name}/shards/7/snapshots")
    assert r.status_code == 404


def test_create_without_waiting(http: HttpSession, unique_name: str):
    make_collection(http, unique_name, 50)
    r = http.post(f"/collections/{unique_name}/snapshots", params={"wait": "false"})
    assert r.status_code == 202 and r.json()["status"] == "accepted", r.text
    deadline = time.monotonic() + 20
    while not http.get(f"/collections/{unique_name}/snapshots").json()["result"]:
        assert time.monotonic() < deadline, "the snapshot never appeared"
        time.sleep(0.05)


def test_malformed_uploads_are_400(http: HttpSession, unique_name: str):
    boundary = "b0undary"
    bad_header = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"\x1b\"\r\n\r\nx\r\n"
                  f"--{boundary}--\r\n").encode()
    no_field = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"other\"\r\n\r\nx\r\n"
                f"--{boundary}--\r\n").encode()
    for body in (bad_header, no_field):
        r = http.post(f"/collections/{unique_name}/snapshots/upload", data=body,
                      headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        assert r.status_code == 400, r.text
    r = http.post(f"/collections/{unique_name}/snapshots/upload", params={"priority": "nope"},
                  files={"snapshot": ("s.snapshot", b"x")})
    assert r.status_code == 400


def test_snapshots_need_the_manage_right(tmp_path):
    proc = NodeProcess(tmp_path / "storage", name="keyed", env={
        "QDRANT__SERVICE__API_KEY": "admin-key", "QDRANT__SERVICE__READ_ONLY_API_KEY": "reader"})
    proc.start_and_wait()
    try:
        with HttpSession(proc.url) as http:
            admin = {"api-key": "admin-key"}
            r = http.put("/collections/k", json={"vectors": {"size": 4, "distance": "Dot"}},
                         headers=admin)
            assert r.status_code == 200
            snap = http.post("/collections/k/snapshots", headers=admin).json()["result"]
            calls = [("POST", "/collections/k/snapshots"), ("GET", "/collections/k/snapshots"),
                     ("GET", f"/collections/k/snapshots/{snap['name']}"),
                     ("PUT", "/collections/k/snapshots/recover"), ("POST", "/snapshots"),
                     ("GET", "/snapshots"), ("GET", "/collections/k/shards/0/snapshot")]
            for method, path in calls:
                assert http.request(method, path).status_code == 401, path
                r = http.request(method, path, headers={"api-key": "reader"},
                                 json={"location": "file:///x"})
                assert r.status_code == 403, (path, r.status_code)
            r = http.get(f"/collections/k/snapshots/{snap['name']}", headers=admin)
            assert r.status_code == 200
        with grpc.insecure_channel(f"{proc.host}:{proc.grpc_port}") as channel:
            stub = pb.SnapshotsStub(channel)
            grpc_calls = [(stub.Create, pb.CreateSnapshotRequest(collection_name="k")),
                          (stub.List, pb.ListSnapshotsRequest(collection_name="k")),
                          (stub.Delete, pb.DeleteSnapshotRequest(
                              collection_name="k", snapshot_name=snap["name"])),
                          (stub.CreateFull, pb.CreateFullSnapshotRequest()),
                          (stub.ListFull, pb.ListFullSnapshotsRequest()),
                          (stub.DeleteFull, pb.DeleteFullSnapshotRequest(snapshot_name="x"))]
            for method, request in grpc_calls:
                for metadata, code in ((None, grpc.StatusCode.UNAUTHENTICATED),
                                       ((("api-key", "reader"),),
                                        grpc.StatusCode.PERMISSION_DENIED)):
                    with pytest.raises(grpc.RpcError) as refused:
                        method(request, metadata=metadata, timeout=10)
                    assert refused.value.code() is code, (request, refused.value.details())
            listed = stub.List(pb.ListSnapshotsRequest(collection_name="k"),
                               metadata=(("api-key", "admin-key"),), timeout=10)
            assert [d.name for d in listed.snapshot_descriptions] == [snap["name"]]
    finally:
        proc.stop()


def _rebuilt(data: bytes, tmp_path: Path, change) -> bytes:
    """The archive `data` extracted, changed by `change(collection)` and written again with
    correct checksums: whole as far as its manifest can tell."""
    source, into = tmp_path / "in.snapshot", tmp_path / "x"
    tmp_path.mkdir()
    source.write_bytes(data)
    into.mkdir()
    extracted = extract_archive(source, into)
    collection = extracted.collections[0]
    change(collection)
    shards = {
        sid: [(str(f.relative_to(d)), f, f.stat().st_size) for f in sorted(d.rglob("*"))
              if f.is_file()]
        for sid, d in collection.shards.items()
    }
    out = io.BytesIO()
    write_archive(out, "collection", [ArchivedCollection(
        collection.name, collection.config, collection.payload_indexes, shards)])
    return out.getvalue()


class _RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_whole_but_hostile_archives_are_refused(http: HttpSession, unique_name: str,
                                                tmp_path: Path):
    """Checksums prove an archive whole, not harmless: a config no create request could give,
    an unknown index type, or segment state that names code are refused before consensus."""
    make_collection(http, unique_name, 120)
    data = download(http, unique_name, create_snapshot(http, unique_name)["name"])
    kept = digest(http, unique_name)
    marker = tmp_path / "ran"

    def bad_vectors(c):
        c.config["params"]["vectors"] = {"size": "big", "distance": "Cosine"}

    def unknown_part(c):
        c.config["surprise"] = {}

    def bad_index(c):
        c.payload_indexes = {"tag": {"type": "nonsense"}}

    def code_in_state(c):
        for state in next(iter(c.shards.values())).rglob("state-*.pkl"):
            state.write_bytes(pickle.dumps(_RunsCode(marker)))

    for change in (bad_vectors, unknown_part, bad_index, code_in_state):
        hostile = _rebuilt(data, tmp_path / change.__name__, change)
        for target in (unique_name, f"{unique_name}_new"):
            r = upload(http, target, hostile)
            assert r.status_code == 400, (change.__name__, r.text)
        assert digest(http, unique_name) == kept, change.__name__
        assert http.get(f"/collections/{unique_name}_new").status_code == 404
    assert not marker.exists()
