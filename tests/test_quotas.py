"""Resource quotas on one node (Qdrant 1.19's `/quotas`): a real node whose storage is a
small tmpfs, filled with a ballast file to cross a disk limit set relative to it; a node
whose resident memory is grown past a 1% limit; the config through the real qdrant-client,
bad bodies, a read-only key, and restarts.

The cluster side (one node's config reaching all, peers' usage, a full replica skipped) is in
test_quota_cluster.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import grpc
import pytest
from nodeproc import HttpSession, NodeProcess, connect, wait_for
from qdrant_client import QdrantClient, models
from tmpfs import disk_percent, fill_to, small_tmpfs

from cluster.metadata.quota_op import set_quota_op
from cluster.metadata.state import MetadataState, apply, from_dict, to_dict
from node.errors import BadRequest, Unprocessable

DISK_MB = 64
DIM = 4
QUOTA_ERROR = re.compile(
    r"Disk usage is at (\d+)% of total capacity, exceeding the configured limit of 60%\. "
    r"Help: Reduce disk usage \(e\.g\. delete points or drop collections\), or raise "
    r"`max_disk_usage_percent` in the global quota config\.")
INSIDE_MARGIN = re.compile(
    r"Disk usage is at (\d+)% of total capacity\. It reached the configured limit of 60% and "
    r"has to fall below 55% before this node takes writes again\. Help: Reduce disk usage .*")


# ---- helpers -------------------------------------------------------------------------------


def points(first: int, count: int) -> list[dict]:
    return [{"id": i, "vector": [float(i + 1)] * DIM, "payload": {"n": i}}
            for i in range(first, first + count)]


def count(http: HttpSession, name: str) -> int:
    response = http.post(f"/collections/{name}/points/count", json={"exact": True})
    assert response.status_code == 200, response.text
    return response.json()["result"]["count"]


def quotas(http: HttpSession) -> dict:
    response = http.get("/quotas")
    assert response.status_code == 200, response.text
    return response.json()["result"]


def set_quota(client: QdrantClient, **config: object) -> None:
    """Through qdrant-client's own `/quotas` API, waiting for consensus."""
    assert client.http.quotas_api.update_quotas(
        wait=True, quota_config=models.QuotaConfig(**config)).result is True


def quota_metrics(http: HttpSession) -> dict[str, float]:
    text = http.get("/metrics").text
    return {match[1]: float(match[2])
            for match in re.finditer(r'^quota_exceeded\{resource="(\w+)"\} (\S+)$', text, re.M)}


def refused(response, pattern: re.Pattern = QUOTA_ERROR) -> re.Match:
    assert response.status_code == 507, response.text
    match = pattern.fullmatch(response.json()["status"]["error"])
    assert match is not None, response.json()["status"]["error"]
    return match


@pytest.fixture
def tmpfs_node(tmp_path: Path) -> Iterator[NodeProcess]:
    with small_tmpfs(tmp_path / "disk", DISK_MB) as disk:
        proc = NodeProcess(disk / "storage", name="quota-node",
                           log_path=tmp_path / "quota-node.log")
        proc.start_and_wait()
        try:
            yield proc
        finally:
            proc.stop()


# ---- disk ----------------------------------------------------------------------------------


def test_disk_quota_refuses_writes_keeps_deletes_and_holds_the_release_margin(
        tmpfs_node: NodeProcess) -> None:
    disk = tmpfs_node.storage_path.parent
    name = "quota"
    with HttpSession(tmpfs_node.url) as http, closing(connect(tmpfs_node)) as client:
        before = quotas(http)
        assert before["config"] == {"enabled": False}
        assert "peers" not in before  # not in a cluster
        assert isinstance(before["usage"]["resident_memory_percent"], int)
        assert before["usage"]["disk_usage_percent"] == int(disk_percent(disk))
        assert http.put(f"/collections/{name}", json={
            "vectors": {"size": DIM, "distance": "Dot"}}).status_code == 200
        assert http.put(f"/collections/{name}/points?wait=true",
                        json={"points": points(0, 20)}).status_code == 200
        assert quota_metrics(http) == {}  # nothing enforced: no series

        fill_to(disk, 70)
        set_quota(client, enabled=True, max_disk_usage_percent=60)
        assert quotas(http)["config"] == {"enabled": True, "max_disk_usage_percent": 60}

        # Every write that would store more is refused, with Qdrant's text, and nothing of it
        # is written.
        reading = int(refused(http.put(f"/collections/{name}/points?wait=true",
                                       json={"points": points(100, 5)}))[1])
        assert 69 <= reading <= 71
        for path, body in [
            ("points/payload", {"payload": {"x": 1}, "points": [1]}),
            ("points/payload/delete", {"keys": ["n"], "points": [1]}),
            ("points/payload/clear", {"points": [1]}),
            ("points/vectors/delete", {"vector": [""], "points": [1]}),
            ("points/batch", {"operations": [{"upsert": {"points": points(200, 1)}}]}),
        ]:
            refused(http.post(f"/collections/{name}/{path}?wait=true", json=body))
        refused(http.put(f"/collections/{name}/points/vectors?wait=true",
                         json={"points": [{"id": 1, "vector": [9.0] * DIM}]}))
        refused(http.put("/collections/another", json={"vectors": {"size": DIM,
                                                                   "distance": "Dot"}}))
        refused(http.post("/collections/another/snapshots/upload",
                          files={"snapshot": ("s.snapshot", b"not read")}))
        assert http.get("/collections/another").status_code == 404
        assert count(http, name) == 20
        record = http.get(f"/collections/{name}/points/1").json()["result"]
        assert record["payload"] == {"n": 1} and record["vector"] == [2.0] * DIM
        # Reads go on; deleting points frees space and is let through.
        assert http.post(f"/collections/{name}/points/query",
                         json={"query": [1.0] * DIM, "limit": 3}).status_code == 200
        assert http.post(f"/collections/{name}/points/delete?wait=true",
                         json={"points": [0, 1, 2, 3, 4]}).status_code == 200
        assert count(http, name) == 15

        telemetry = http.get("/telemetry").json()["result"]["quota"]
        assert telemetry == {"config": {"enabled": True, "max_disk_usage_percent": 60},
                             "exceeded": {"resident_memory": None, "disk_usage": True}}
        assert quota_metrics(http) == {"disk": 1.0}

        # Back under the limit but not under the margin (default 5 points): still refused,
        # and the text says why.
        fill_to(disk, 57.5)
        assert quotas(http)["usage"]["disk_usage_percent"] < 60
        refused(http.put(f"/collections/{name}/points?wait=true",
                         json={"points": points(100, 5)}), INSIDE_MARGIN)
        assert quota_metrics(http) == {"disk": 1.0}

        fill_to(disk, 50)
        assert http.put(f"/collections/{name}/points?wait=true",
                        json={"points": points(100, 5)}).status_code == 200
        assert count(http, name) == 20
        assert quota_metrics(http) == {"disk": 0.0}
        assert http.get("/telemetry").json()["result"]["quota"]["exceeded"]["disk_usage"] is False


def test_disk_quota_over_grpc_is_resource_exhausted(tmpfs_node: NodeProcess) -> None:
    disk = tmpfs_node.storage_path.parent
    rest = connect(tmpfs_node)
    client = QdrantClient(url=tmpfs_node.url, grpc_port=tmpfs_node.grpc_port,
                          prefer_grpc=True, timeout=10)
    try:
        client.create_collection("g", vectors_config=models.VectorParams(
            size=DIM, distance=models.Distance.DOT))
        fill_to(disk, 70)
        set_quota(rest, enabled=True, max_disk_usage_percent=60)
        with pytest.raises(grpc.RpcError) as error:
            client.upsert("g", points=[models.PointStruct(id=1, vector=[1.0] * DIM)])
        assert error.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        assert QUOTA_ERROR.search(error.value.details()), error.value.details()
        assert client.count("g").count == 0
        # A quota changed through the API applies at once: disabled, the write goes in.
        set_quota(rest, enabled=False, max_disk_usage_percent=60)
        client.upsert("g", points=[models.PointStruct(id=1, vector=[1.0] * DIM)])
        assert client.count("g").count == 1
    finally:
        client.close()
        rest.close()


# ---- memory --------------------------------------------------------------------------------

MEMORY_LIMIT_PERCENT = 1
PAYLOAD_MB = 1
BATCH = 16
MAX_GROWTH_MB = 1536


def test_memory_quota_refuses_writes_past_a_low_percent(own_node: NodeProcess) -> None:
    """The node's resident memory is grown past 1% of the machine's memory with large
    payloads (kept in RAM); then a 1% memory limit refuses writes and lets deletes through."""
    with HttpSession(own_node.url, timeout=60) as http, closing(connect(own_node)) as client:
        created = http.put("/collections/big", json={"vectors": {"size": DIM,
                                                                 "distance": "Dot"}})
        assert created.status_code == 200, created.text
        text = "x" * (PAYLOAD_MB << 20)
        added = 0
        while quotas(http)["usage"]["resident_memory_percent"] < MEMORY_LIMIT_PERCENT:
            if added * PAYLOAD_MB >= MAX_GROWTH_MB:
                pytest.skip(f"{MAX_GROWTH_MB} MB of payloads stay under 1% of this machine")
            batch = [{"id": added + i, "vector": [1.0] * DIM, "payload": {"text": text}}
                     for i in range(BATCH)]
            assert http.put("/collections/big/points?wait=true",
                            json={"points": batch}).status_code == 200
            added += BATCH
        print(f"resident memory reached 1% after {added * PAYLOAD_MB} MB of payloads")
        set_quota(client, enabled=True, max_resident_memory_percent=MEMORY_LIMIT_PERCENT)
        response = http.put("/collections/big/points?wait=true",
                            json={"points": points(100_000, 1)})
        assert response.status_code == 507, response.text
        assert re.fullmatch(
            r"Resident memory usage is at \d+% of total memory, exceeding the configured limit "
            r"of 1%\. Help: Reduce memory usage \(e\.g\. delete points or drop collections\), "
            r"or raise `max_resident_memory_percent` in the global quota config\.",
            response.json()["status"]["error"])
        assert count(http, "big") == added
        assert quota_metrics(http) == {"memory": 1.0}
        assert http.get("/telemetry").json()["result"]["quota"]["exceeded"] == {
            "resident_memory": True, "disk_usage": None}
        assert http.post("/collections/big/points/delete?wait=true",
                         json={"points": list(range(BATCH))}).status_code == 200
        assert count(http, "big") == added - BATCH


# ---- the config ----------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "status", "message"), [
    ({"max_disk_usage_percent": 0}, 422,
     "Validation error in JSON body: [max_disk_usage_percent: value 0 invalid, must be from "
     "1 to 100]"),
    ({"max_resident_memory_percent": 101}, 422, None),
    ({"release_margin_percent": -1}, 422, None),
    ({"enabled": "yes"}, 400, None),
    ({"max_disk_usage_percent": 50.5}, 400, None),
    ({"max_disk_usage_percent": True}, 400, None),
    ([{"enabled": True}], 400, None),
    ("not json", 400, None),
])
def test_bad_quota_bodies_are_refused_and_change_nothing(
        http: HttpSession, body: object, status: int, message: str | None) -> None:
    raw = body.encode() if isinstance(body, str) else None
    response = (http.put("/quotas?wait=true", data=raw,
                         headers={"Content-Type": "application/json"}) if raw is not None
                else http.put("/quotas?wait=true", json=body))
    assert response.status_code == status, response.text
    assert set(response.json()) == {"status", "time"}
    if message is not None:
        assert response.json()["status"]["error"] == message
    assert quotas(http)["config"] == {"enabled": False}


def test_quota_config_survives_a_restart_and_beats_the_settings(tmp_path: Path) -> None:
    settings = {"QDRANT__STORAGE__QUOTAS__ENABLED": "true",
                "QDRANT__STORAGE__QUOTAS__MAX_DISK_USAGE_PERCENT": "99"}
    proc = NodeProcess(tmp_path / "storage", name="restarted", env=settings)
    proc.start_and_wait()
    try:
        with HttpSession(proc.url) as http:
            # Until the API sets one, the node's settings decide.
            assert quotas(http)["config"] == {"enabled": True, "max_disk_usage_percent": 99}
            response = http.put("/quotas?wait=true", json={
                "enabled": True, "max_resident_memory_percent": 95,
                "release_margin_percent": 0})
            assert response.status_code == 200, response.text
        proc.restart(graceful=False)
        with HttpSession(proc.url) as http:
            expected = {"enabled": True, "max_resident_memory_percent": 95,
                        "release_margin_percent": 0}
            assert quotas(http)["config"] == expected
            assert http.get("/telemetry").json()["result"]["quota"]["config"] == expected
    finally:
        proc.stop()


def test_quota_put_without_wait_applies_soon(own_node: NodeProcess) -> None:
    with HttpSession(own_node.url) as http:
        response = http.put("/quotas", json={"enabled": True, "max_disk_usage_percent": 100})
        assert response.status_code == 200 and response.json()["result"] is True
        wait_for(lambda: quotas(http)["config"]["enabled"], 10, "the quota to apply")


def test_read_only_key_reads_quotas_but_cannot_change_them(tmp_path: Path) -> None:
    keys = {"QDRANT__SERVICE__API_KEY": "full-key",
            "QDRANT__SERVICE__READ_ONLY_API_KEY": "read-key"}
    proc = NodeProcess(tmp_path / "storage", name="keys", env=keys)
    proc.start_and_wait()
    try:
        with HttpSession(proc.url) as http:
            read = {"api-key": "read-key"}
            assert http.get("/quotas").status_code == 401
            assert http.get("/quotas", headers=read).status_code == 200
            refused_put = http.put("/quotas?wait=true", headers=read, json={"enabled": True})
            assert refused_put.status_code == 403, refused_put.text
            assert http.get("/quotas", headers=read).json()["result"]["config"] == {
                "enabled": False}
            assert http.put("/quotas?wait=true", headers={"api-key": "full-key"},
                            json={"enabled": True}).status_code == 200
            assert http.get("/quotas", headers=read).json()["result"]["config"] == {
                "enabled": True}
            assert "quota" in http.get("/telemetry", headers=read).json()["result"]
    finally:
        proc.stop()


def test_a_write_that_crosses_the_limit_itself_is_applied_whole(tmpfs_node: NodeProcess) -> None:
    """Admitted while under the limit, a write to several shards goes to all of them even
    though its own data takes the disk over the limit after the first: nothing is half
    applied. The next write is refused."""
    disk = tmpfs_node.storage_path.parent
    dim = 64
    with HttpSession(tmpfs_node.url, timeout=60) as http, \
            closing(connect(tmpfs_node)) as client:
        assert http.put("/collections/sharded", json={
            "vectors": {"size": dim, "distance": "Dot"}, "shard_number": 4}).status_code == 200
        limit = int(disk_percent(disk)) + 3
        fill_to(disk, limit - 0.5)
        set_quota(client, enabled=True, max_disk_usage_percent=limit)
        batch = [{"id": i, "vector": [float(i % 7)] * dim} for i in range(6000)]
        response = http.put("/collections/sharded/points?wait=true", json={"points": batch})
        assert response.status_code == 200, response.text
        assert count(http, "sharded") == len(batch)
        assert disk_percent(disk) >= limit, "the write did not cross the limit by itself"
        assert http.put("/collections/sharded/points?wait=true",
                        json={"points": batch[:1]}).status_code == 507


def test_set_quota_op_is_checked_where_applied_and_kept_in_snapshots() -> None:
    """The Raft op refuses a config no API would send (a log entry is applied wherever it
    lands), changes nothing then, and the config rides along in the metadata's dump."""
    state = MetadataState()
    assert apply(state, set_quota_op({"enabled": True, "max_disk_usage_percent": 80}))
    assert state.quota == {"enabled": True, "max_disk_usage_percent": 80}
    version = state.version
    for bad, error in [({"max_disk_usage_percent": 0}, Unprocessable),
                       ({"enabled": "yes"}, BadRequest)]:
        with pytest.raises(error):
            apply(state, set_quota_op(bad))
    with pytest.raises(BadRequest):
        apply(state, {"op": "set_quota", "config": "enabled"})
    assert state.version == version
    assert state.quota == {"enabled": True, "max_disk_usage_percent": 80}
    assert from_dict(to_dict(state)).quota == state.quota
    assert from_dict(to_dict(MetadataState())).quota is None
