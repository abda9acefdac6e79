"""Credentials on every port: the internal API, the read-only key on every served route of the
OpenAPI spec, and JWT access tokens (global, per collection, aliases, lookups, value_exists)."""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Iterator

import jwt
import pytest
import requests
from nodeproc import REPO_ROOT, NodeProcess, cluster_of_one
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import UnexpectedResponse

from cluster.replication.wire import encode

pytestmark = pytest.mark.timeout(120)

ADMIN = "admin-key-of-thirty-two-bytes-or-more"
READER = "reader-key"
SPEC = REPO_ROOT.parent / "shared" / "reference" / "qdrant-openapi-v1.19.json"
DIM = 4

# Qdrant's read operations, by operationId: what a read-only credential may call.
READ_OPERATIONS = frozenset({
    "root", "telemetry", "metrics", "healthz", "livez", "readyz", "get_issues", "cluster_status",
    "cluster_telemetry", "get_quotas", "get_collections", "get_collection", "collection_exists",
    "collection_cluster_info", "get_optimizations", "get_collection_aliases",
    "get_collections_aliases", "list_shard_keys", "get_point", "get_points", "scroll_points",
    "count_points", "facet", "query_points", "query_batch_points", "query_points_groups",
    "search_matrix_pairs", "search_matrix_offsets",
    # served by Flotilla from Qdrant's older API, absent from the 1.19 spec
    "search_points", "search_batch_points", "recommend_points", "recommend_batch_points",
})
OLDER_READ_ROUTES = [
    ("POST", "/collections/{collection_name}/points/search", "search_points"),
    ("POST", "/collections/{collection_name}/points/search/batch", "search_batch_points"),
    ("POST", "/collections/{collection_name}/points/recommend", "recommend_points"),
    ("POST", "/collections/{collection_name}/points/recommend/batch", "recommend_batch_points"),
]
PATH_VALUES = {"collection_name": "guarded", "field_name": "city", "id": "1", "peer_id": "1",
               "shard_id": "0", "snapshot_name": "s.snapshot", "vector_name": "extra"}


def _token(claims: dict, key: str = ADMIN) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def _call(node: NodeProcess, method: str, path: str, credential: str | None = None,
          body: object = None) -> requests.Response:
    headers = {"api-key": credential} if credential else {}
    return requests.request(method, f"{node.url}{path}", headers=headers, timeout=10,
                            json=body if body is not None else
                            ({} if method in ("POST", "PUT", "PATCH") else None))


def _client(node: NodeProcess, credential: str) -> QdrantClient:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the client warns about a key over plain http
        return QdrantClient(url=node.url, api_key=credential, timeout=10)


def _seed(admin: QdrantClient, name: str) -> None:
    admin.create_collection(name, vectors_config=models.VectorParams(size=DIM, distance="Dot"))
    admin.upsert(name, [models.PointStruct(id=i, vector=[float(i), 1, 0, 0],
                                           payload={"city": "Berlin" if i % 2 else "Paris",
                                                    "user": f"u{i}"})
                        for i in range(1, 11)], wait=True)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    base = tmp_path_factory.mktemp("rbac")
    node = NodeProcess(base / "storage", name="rbac", env={
        "QDRANT__SERVICE__API_KEY": ADMIN, "QDRANT__SERVICE__READ_ONLY_API_KEY": READER,
        "QDRANT__SERVICE__JWT_RBAC": "true"})
    node.start_and_wait()
    admin = _client(node, ADMIN)
    for name in ("guarded", "alpha", "beta"):
        _seed(admin, name)
    admin.update_collection_aliases([
        models.CreateAliasOperation(create_alias=models.CreateAlias(
            collection_name="beta", alias_name="beta_alias")),
        models.CreateAliasOperation(create_alias=models.CreateAlias(
            collection_name="alpha", alias_name="alpha_alias")),
    ])
    try:
        yield node
    finally:
        node.stop()


# ---------------------------------------------------------------- the internal API


@pytest.fixture(scope="module")
def clustered_with_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    """API key set, no cluster secret: how most Qdrant users configure a node."""
    node = cluster_of_one(tmp_path_factory.mktemp("internal_keyed") / "storage",
                          "internal_keyed", env={"QDRANT__SERVICE__API_KEY": ADMIN})
    _call(node, "PUT", "/collections/c", ADMIN, {"vectors": {"size": DIM, "distance": "Dot"}})
    try:
        yield node
    finally:
        node.stop()


def _internal_routes(uuid: str) -> list[tuple[str, str, bytes | None]]:
    shard = f"/internal/v1/shards/{uuid}/0"
    return [
        ("GET", "/internal/v1/collections/c", None),
        ("GET", "/internal/v1/metadata/version", None),
        ("GET", "/internal/v1/telemetry", None),
        ("POST", f"{shard}/count", encode({"args": []})),
        ("POST", f"{shard}/scan", encode({"args": [None]})),
        ("POST", f"{shard}/upsert", encode({"args": []})),
        ("POST", f"/internal/v1/coordinate/{uuid}/0/upsert", encode({"args": []})),
    ]


def test_every_internal_route_needs_the_node_credential(clustered_with_key) -> None:
    node = clustered_with_key
    meta = requests.get(f"{node.url}/internal/v1/collections/c", timeout=5,
                        headers={"X-Flotilla-Secret": ADMIN})
    assert meta.status_code == 200, meta.text
    uuid = meta.json()["result"]["uuid"]
    for method, path, body in _internal_routes(uuid):
        url = f"{node.url}{path}"
        missing = requests.request(method, url, data=body, timeout=5)
        assert missing.status_code == 401, (path, missing.text)
        assert "error" in missing.json()["status"]
        for wrong in ({"X-Flotilla-Secret": "guess"}, {"api-key": "guess"}):
            assert requests.request(method, url, data=body, headers=wrong,
                                    timeout=5).status_code in (401, 403), path
        # The public key in the public header does not open the internal API either.
        public = requests.request(method, url, data=body, headers={"api-key": ADMIN}, timeout=5)
        assert public.status_code == 401, path
    count = requests.post(f"{node.url}/internal/v1/shards/{uuid}/0/count", timeout=5,
                          data=encode({"args": []}), headers={"X-Flotilla-Secret": ADMIN})
    assert count.status_code == 200


def test_a_node_outside_a_cluster_serves_no_internal_api(keyed) -> None:
    for method, path, body in _internal_routes("00000000-0000-0000-0000-000000000000"):
        answer = requests.request(method, f"{keyed.url}{path}", data=body, timeout=5,
                                  headers={"X-Flotilla-Secret": ADMIN, "api-key": ADMIN})
        assert answer.status_code == 404, path


# ---------------------------------------------------------------- the read-only key


def _spec_routes() -> list[tuple[str, str, str]]:
    spec = json.loads(SPEC.read_text())
    routes = [(method.upper(), path, op["operationId"])
              for path, ops in spec["paths"].items() for method, op in ops.items()]
    return routes + OLDER_READ_ROUTES


def _fill(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: PATH_VALUES[m.group(1)], path)


def _served(response: requests.Response) -> bool:
    """aiohttp's own 404 (no route) and 405 (no such method) say the route is not served."""
    if response.status_code == 405:
        return False
    return not (response.status_code == 404
                and response.json()["status"]["error"] == "Not Found")


def test_the_read_only_key_reads_everything_and_writes_nothing(keyed) -> None:
    admin = _client(keyed, ADMIN)
    before = admin.count("guarded", exact=True).count
    config_before = admin.get_collection("guarded").config
    served = {"read": 0, "write": 0}
    for method, path, operation in _spec_routes():
        answer = _call(keyed, method, _fill(path), READER)
        if not _served(answer):
            continue
        assert answer.status_code < 500, (operation, answer.text)
        if operation in READ_OPERATIONS:
            served["read"] += 1
            assert answer.status_code not in (401, 403), (operation, answer.text)
        else:
            served["write"] += 1
            assert answer.status_code == 403, (operation, answer.status_code, answer.text)
            assert "Forbidden" in answer.json()["status"]["error"]
    print("read-only key, routes served:", served)
    assert served["read"] >= 15 and served["write"] >= 15, served
    assert admin.count("guarded", exact=True).count == before
    assert admin.get_collection("guarded").config == config_before
    assert admin.collection_exists("guarded")


def test_the_read_only_key_through_the_client(keyed) -> None:
    reader = _client(keyed, READER)
    assert reader.count("guarded").count == 10
    assert len(reader.query_points("guarded", query=[1, 0, 0, 0], limit=3).points) == 3
    assert len(reader.search_matrix_pairs("guarded", sample=4, limit=1).pairs) == 4
    with pytest.raises(UnexpectedResponse) as refused:  # a read: refused for want of an index
        reader.facet("guarded", "city")
    assert refused.value.status_code == 400
    with pytest.raises(UnexpectedResponse) as refused:
        reader.upsert("guarded", [models.PointStruct(id=99, vector=[1, 1, 1, 1])])
    assert refused.value.status_code == 403
    with pytest.raises(UnexpectedResponse) as refused:
        reader.delete_collection("guarded")
    assert refused.value.status_code == 403


def test_no_credential_or_a_wrong_one_is_401(keyed) -> None:
    for credential in (None, "wrong", _token({"access": "m"}, key="another-key"),
                       "a.b.c", _token({"access": "m", "exp": int(time.time()) - 5})):
        answer = _call(keyed, "GET", "/collections", credential)
        assert answer.status_code == 401, (credential, answer.text)
        assert answer.json()["status"]["error"]
    unsigned = jwt.encode({"access": "m"}, key=None, algorithm="none")
    assert _call(keyed, "GET", "/collections", unsigned).status_code == 401
    bearer = requests.get(f"{keyed.url}/collections", timeout=5,
                          headers={"Authorization": f"Bearer {READER}"})
    assert bearer.status_code == 200


# ---------------------------------------------------------------- JWT access tokens


def test_global_tokens(keyed) -> None:
    manage = _token({"access": "m", "exp": int(time.time()) + 60})
    assert _call(keyed, "PUT", "/collections/made_by_token", manage,
                 {"vectors": {"size": DIM, "distance": "Dot"}}).status_code == 200
    assert _call(keyed, "DELETE", "/collections/made_by_token", manage).status_code == 200
    full_by_default = _token({"sub": "ops"})
    assert _call(keyed, "GET", "/cluster", full_by_default).status_code == 200
    read = _token({"access": "r"})
    assert _call(keyed, "GET", "/collections/alpha", read).status_code == 200
    assert _call(keyed, "GET", "/metrics", read).status_code == 200
    assert _call(keyed, "PUT", "/collections/alpha/points", read, {"points": []}).status_code \
        == 403


def test_a_collection_token_reaches_its_collection_only(keyed) -> None:
    token = _token({"access": [{"collection": "alpha", "access": "r"}]})
    client = _client(keyed, token)
    assert client.count("alpha").count == 10
    assert client.count("alpha_alias").count == 10
    assert [c.name for c in client.get_collections().collections] == ["alpha"]
    assert {a.alias_name for a in client.get_aliases().aliases} == {"alpha_alias"}
    for name in ("beta", "beta_alias", "guarded", "missing"):
        answer = _call(keyed, "POST", f"/collections/{name}/points/count", token)
        assert answer.status_code == 403, (name, answer.text)
    assert _call(keyed, "GET", "/collections/beta", token).status_code == 403
    # Neither a write to its own collection nor anything global.
    assert _call(keyed, "PUT", "/collections/alpha/points?wait=true", token, {"points": [
        {"id": 50, "vector": [1, 1, 1, 1]}]}).status_code == 403
    assert _call(keyed, "GET", "/cluster", token).status_code == 403
    assert _call(keyed, "GET", "/metrics", token).status_code == 403
    # A lookup into another collection reads that collection: refused.
    query = {"query": {"recommend": {"positive": [1]}}, "limit": 2,
             "lookup_from": {"collection": "beta_alias"}}
    assert _call(keyed, "POST", "/collections/alpha/points/query", token, query).status_code \
        == 403
    query["lookup_from"] = {"collection": "alpha"}
    assert _call(keyed, "POST", "/collections/alpha/points/query", token, query).status_code \
        == 200


def test_a_read_write_collection_token(keyed) -> None:
    token = _token({"access": [{"collection": "alpha", "access": "rw"},
                               {"collection": "beta", "access": "r"}]})
    client = _client(keyed, token)
    client.upsert("alpha", [models.PointStruct(id=77, vector=[1, 0, 0, 1])], wait=True)
    assert client.retrieve("alpha", [77])[0].id == 77
    client.create_payload_index("alpha", "city", models.PayloadSchemaType.KEYWORD, wait=True)
    for method, path, body in [
        ("PUT", "/collections/beta/points", {"points": [{"id": 5, "vector": [1, 1, 1, 1]}]}),
        ("DELETE", "/collections/alpha", None),
        ("PATCH", "/collections/alpha", {"optimizers_config": {}}),
        ("PUT", "/collections/gamma", {"vectors": {"size": DIM, "distance": "Dot"}}),
        ("POST", "/collections/aliases", {"actions": [{"delete_alias": {
            "alias_name": "alpha_alias"}}]}),
    ]:
        answer = _call(keyed, method, path, token, body)
        assert answer.status_code == 403, (method, path, answer.text)
    admin = _client(keyed, ADMIN)
    assert admin.collection_exists("alpha") and not admin.collection_exists("gamma")
    assert {a.alias_name for a in admin.get_aliases().aliases} >= {"alpha_alias"}


@pytest.mark.parametrize("claims", [
    {"access": "x"},
    {"access": [{"collection": "alpha"}]},
    {"access": [{"collection": "alpha", "access": "m"}]},
    {"access": [{"collection": "alpha", "access": "r"}, {"collection": "alpha", "access": "rw"}]},
    {"access": [{"collection": "alpha", "access": "r", "payload": {"user": "u1"}}]},
    {"value_exists": {"collection": "alpha"}},
])
def test_malformed_claims_are_refused(keyed, claims) -> None:
    answer = _call(keyed, "GET", "/collections", _token(claims))
    assert answer.status_code == 401, answer.text
    assert "Invalid JWT" in answer.json()["status"]["error"]


def test_value_exists_tokens_live_as_long_as_the_value(keyed) -> None:
    admin = _client(keyed, ADMIN)
    _seed(admin, "users")
    token = _token({"access": "r", "value_exists": {
        "collection": "users", "matches": [{"key": "user", "value": "u3"}]}})
    assert _call(keyed, "GET", "/collections/alpha", token).status_code == 200
    admin.delete("users", points_selector=models.PointIdsList(points=[3]), wait=True)
    answer = _call(keyed, "GET", "/collections/alpha", token)
    assert answer.status_code == 403
    assert "value_exists" in answer.json()["status"]["error"]


def test_probes_stay_open(keyed) -> None:
    for probe in ("/", "/healthz", "/livez", "/readyz"):
        assert requests.get(f"{keyed.url}{probe}", timeout=5).status_code == 200
