"""Bad requests over raw HTTP: each must be refused with a 4xx in Qdrant's error envelope, say what
was wrong, and leave no trace (no collection created, no point written)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psutil
import pytest
import requests
from nodeproc import HttpSession, NodeProcess

pytestmark = pytest.mark.timeout(60)

INVALID = (400, 422)  # Qdrant answers 400 to unparsable bodies and 422 to invalid values
JSON_HEADERS = {"Content-Type": "application/json"}
GOOD_VECTORS = {"size": 4, "distance": "Dot"}


def assert_rejected(
    response: requests.Response, statuses: tuple[int, ...], mentions: tuple[str, ...] = ()
) -> str:
    """Status is one of `statuses`, body is the error envelope, the message names the culprit."""
    assert response.status_code in statuses, (response.status_code, response.text)
    try:
        body = response.json()
    except ValueError:
        pytest.fail(f"error body is not JSON: {response.text!r}")
    assert isinstance(body, dict), body
    assert isinstance(body.get("status"), dict), body
    error = body["status"].get("error")
    assert isinstance(error, str) and error.strip(), body
    assert isinstance(body.get("time"), (int, float)) and not isinstance(body["time"], bool), body
    if mentions:
        lowered = error.lower()
        assert any(word.lower() in lowered for word in mentions), (
            f"error message {error!r} mentions none of {mentions}"
        )
    return error


def collection_names(http: HttpSession) -> set[str]:
    response = http.get("/collections")
    assert response.status_code == 200, response.text
    return {c["name"] for c in response.json()["result"]["collections"]}


def exists(http: HttpSession, name: str) -> bool:
    response = http.get(f"/collections/{name}/exists")
    assert response.status_code == 200, response.text
    return response.json()["result"]["exists"]


def count(http: HttpSession, name: str) -> int:
    response = http.post(f"/collections/{name}/points/count", json={"exact": True})
    assert response.status_code == 200, response.text
    return response.json()["result"]["count"]


def retrieve(http: HttpSession, name: str, ids: list[Any]) -> dict[Any, dict[str, Any]]:
    response = http.post(
        f"/collections/{name}/points", json={"ids": ids, "with_payload": True, "with_vector": True}
    )
    assert response.status_code == 200, response.text
    return {point["id"]: point for point in response.json()["result"]}


def create(http: HttpSession, name: str, body: dict[str, Any]) -> None:
    response = http.put(f"/collections/{name}", json=body)
    assert response.status_code == 200, response.text
    assert response.json()["result"] is True


def put_raw(http: HttpSession, path: str, text: str) -> requests.Response:
    return http.put(path, data=text.encode(), headers=JSON_HEADERS)


# --- creating collections -------------------------------------------------------------------

CREATE_REJECTIONS = [
    pytest.param('{"vectors": {"size": 4,', ("json", "parse", "eof", "expect"), id="truncated"),
    pytest.param("vectors: size 4", ("json", "parse", "expect"), id="not-json"),
    pytest.param('{"vectors": {"size": 4, "distance": "Dot"},}', (), id="trailing-comma"),
    pytest.param("[]", ("object", "map", "expect", "body"), id="top-level-array"),
    pytest.param({"vectors": {"size": "four", "distance": "Dot"}}, ("size", "four"), id="size-str"),
    pytest.param({"vectors": {"size": 4.5, "distance": "Dot"}}, ("size", "4.5"), id="size-float"),
    pytest.param({"vectors": {"size": True, "distance": "Dot"}}, ("size", "true"), id="size-bool"),
    pytest.param({"vectors": [4, "Dot"]}, ("vectors",), id="vectors-list"),
    pytest.param(
        {"vectors": GOOD_VECTORS, "shard_number": "two"}, ("shard_number", "two"), id="shards-str"
    ),
    pytest.param(
        {"vectors": GOOD_VECTORS, "on_disk_payload": "yes"},
        ("on_disk_payload", "yes"),
        id="on-disk-payload-str",
    ),
    pytest.param(
        {"vectors": GOOD_VECTORS, "hnsw_config": {"m": "big"}}, ("hnsw", "big"), id="hnsw-m-str"
    ),
    pytest.param(
        {"vectors": GOOD_VECTORS, "optimizers_config": [1]}, ("optimizers_config",), id="opt-list"
    ),
    pytest.param(
        {"vectors": GOOD_VECTORS, "wal_config": {"wal_capacity_mb": "lots"}},
        ("wal_capacity_mb", "lots"),
        id="wal-str",
    ),
    pytest.param(
        {"vectors": {"size": 4, "distance": "Cosinus"}}, ("distance", "cosinus"), id="distance"
    ),
    pytest.param(
        {"vectors": {"size": 4, "distance": "cosine"}}, ("distance", "cosine"), id="distance-case"
    ),
    pytest.param({"vectors": {"size": 4}}, ("distance",), id="distance-missing"),
    pytest.param(
        {"vectors": {"size": 4, "distance": "Dot", "datatype": "int4"}},
        ("datatype", "int4"),
        id="datatype",
    ),
    pytest.param({"vectors": {"size": 0, "distance": "Dot"}}, ("size",), id="size-0"),
    pytest.param({"vectors": {"size": -3, "distance": "Dot"}}, ("size",), id="size-negative"),
    pytest.param(
        {"vectors": {"img": {"size": 0, "distance": "Dot"}}}, ("size",), id="named-size-0"
    ),
    pytest.param({"vectors": GOOD_VECTORS, "shard_number": 0}, ("shard_number",), id="shards-0"),
    pytest.param(
        {"vectors": GOOD_VECTORS, "replication_factor": 0},
        ("replication_factor",),
        id="replication-0",
    ),
    pytest.param(
        {"vectors": GOOD_VECTORS, "hnsw_config": {"ef_construct": 1}},
        ("ef_construct",),
        id="ef-construct-too-small",
    ),
    pytest.param(
        {"vectors": GOOD_VECTORS, "optimizers_config": {"deleted_threshold": 1.5}},
        ("deleted_threshold",),
        id="deleted-threshold-above-1",
    ),
    pytest.param(
        {"vectors": GOOD_VECTORS, "quantization_config": {"scalar": {"type": "int4"}}},
        ("type", "int4", "scalar"),
        id="scalar-type",
    ),
    pytest.param(
        {"vectors": GOOD_VECTORS, "quantization_config": {"product": {"compression": "x3"}}},
        ("compression", "x3"),
        id="product-compression",
    ),
    pytest.param(
        {"vectors": {"text": GOOD_VECTORS}, "sparse_vectors": {"text": {}}},
        ("text",),
        id="sparse-name-clash",
    ),
]


@pytest.mark.parametrize(("body", "mentions"), CREATE_REJECTIONS)
def test_create_rejects(
    http: HttpSession, unique_name: str, body: str | dict[str, Any], mentions: tuple[str, ...]
) -> None:
    text = body if isinstance(body, str) else json.dumps(body)
    response = put_raw(http, f"/collections/{unique_name}", text)
    assert_rejected(response, INVALID, mentions)
    assert not exists(http, unique_name)
    assert unique_name not in collection_names(http)


def test_create_from_a_missing_collection(http: HttpSession, unique_name: str) -> None:
    body = {"vectors": GOOD_VECTORS, "init_from": {"collection": f"{unique_name}_nowhere"}}
    response = http.put(f"/collections/{unique_name}", json=body)
    assert_rejected(response, (400, 404), (f"{unique_name}_nowhere",))
    assert not exists(http, unique_name)


def test_duplicate_create_conflicts(http: HttpSession, unique_name: str) -> None:
    create(http, unique_name, {"vectors": GOOD_VECTORS})
    before = http.get(f"/collections/{unique_name}").json()["result"]["config"]
    response = http.put(
        f"/collections/{unique_name}", json={"vectors": {"size": 8, "distance": "Cosine"}}
    )
    assert_rejected(response, (409,), (unique_name,))
    assert http.get(f"/collections/{unique_name}").json()["result"]["config"] == before


# --- collection names -------------------------------------------------------------------------

BAD_NAMES = [
    pytest.param("a" * 256, (400, 422), id="256-chars"),
    pytest.param("a..b", (400, 422), id="dot-dot-inside"),
    pytest.param("..x", (400, 422), id="dot-dot-leading"),
    pytest.param("%00", (400, 422), id="nul-only"),
    pytest.param("a%00b", (400, 422), id="nul"),
    pytest.param("a%0Ab", (400, 422), id="newline"),
    pytest.param("a%1Fb", (400, 422), id="control"),
    pytest.param("a%5Cb", (400, 422), id="backslash"),
    pytest.param("a%3Cb", (400, 422), id="less-than"),
    pytest.param("a%3Eb", (400, 422), id="greater-than"),
    pytest.param("a%3Ab", (400, 422), id="colon"),
    pytest.param("a%22b", (400, 422), id="quote"),
    pytest.param("a%7Cb", (400, 422), id="pipe"),
    pytest.param("a%3Fb", (400, 422), id="question-mark"),
    pytest.param("a%2Ab", (400, 422), id="star"),
    # A decoded slash makes the path another route, or none: anything but success.
    pytest.param("a%2Fb", (400, 404, 405, 422), id="slash"),
]


@pytest.mark.parametrize(("encoded", "statuses"), BAD_NAMES)
def test_unsafe_collection_names_are_refused(
    http: HttpSession, encoded: str, statuses: tuple[int, ...]
) -> None:
    before = collection_names(http)
    response = put_raw(http, f"/collections/{encoded}", json.dumps({"vectors": GOOD_VECTORS}))
    routed_elsewhere = response.status_code in (404, 405) and response.status_code in statuses
    if not routed_elsewhere:  # a path no route matches may answer without the envelope
        assert_rejected(response, statuses, ("name",))
    assert collection_names(http) == before


@pytest.mark.parametrize("path", ["/collections/", "/collections/.."])
def test_empty_and_dot_names_create_nothing(http: HttpSession, path: str) -> None:
    before = collection_names(http)
    response = put_raw(http, path, json.dumps({"vectors": GOOD_VECTORS}))
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert collection_names(http) == before


def test_longest_allowed_name_works(http: HttpSession, unique_name: str) -> None:
    name = (unique_name + "x" * 255)[:255]
    create(http, name, {"vectors": GOOD_VECTORS})
    assert exists(http, name)
    assert http.delete(f"/collections/{name}").status_code == 200
    assert not exists(http, name)


@pytest.mark.parametrize("alias", ["", "a/b", "a..b", "a\x00b"])
def test_unsafe_alias_names_are_refused(http: HttpSession, unique_name: str, alias: str) -> None:
    create(http, unique_name, {"vectors": GOOD_VECTORS})
    body = {"actions": [{"create_alias": {"collection_name": unique_name, "alias_name": alias}}]}
    response = http.post("/collections/aliases", json=body)
    assert_rejected(response, INVALID, ("alias", "name"))
    assert http.get(f"/collections/{unique_name}/aliases").json()["result"]["aliases"] == []


# --- missing collections ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("GET", "", None),
        ("PATCH", "", {"optimizers_config": {"indexing_threshold": 100}}),
        ("GET", "/aliases", None),
        ("PUT", "/points", {"points": [{"id": 1, "vector": [1, 2, 3, 4]}]}),
        ("POST", "/points", {"ids": [1]}),
        ("POST", "/points/count", {"exact": True}),
        ("GET", "/points/1", None),
    ],
    ids=["get", "patch", "aliases", "upsert", "retrieve", "count", "get-point"],
)
def test_missing_collection_is_404(
    http: HttpSession, unique_name: str, method: str, suffix: str, body: dict[str, Any] | None
) -> None:
    response = http.request(method, f"/collections/{unique_name}{suffix}", json=body)
    assert_rejected(response, (404,), (unique_name,))
    assert not exists(http, unique_name)


def test_update_rejections_change_nothing(http: HttpSession, unique_name: str) -> None:
    create(http, unique_name, {"vectors": {"my_vector": GOOD_VECTORS}})
    before = http.get(f"/collections/{unique_name}").json()["result"]["config"]
    for body, mentions in [
        ({"vectors": {"nope_vector": {"on_disk": True}}}, ("nope_vector",)),
        ({"hnsw_config": {"m": "big"}}, ("hnsw", "big")),
        ({"optimizers_config": {"deleted_threshold": 2}}, ("deleted_threshold",)),
        ({"params": {"replication_factor": 0}}, ("replication_factor",)),
        # The valid part of a request is not applied when another part is invalid.
        (
            {"hnsw_config": {"ef_construct": 200}, "vectors": {"nope_vector": {"on_disk": True}}},
            ("nope_vector",),
        ),
    ]:
        response = http.patch(f"/collections/{unique_name}", json=body)
        assert_rejected(response, INVALID, mentions)
    response = http.patch(
        f"/collections/{unique_name}", data=b'{"optimizers_config": ', headers=JSON_HEADERS
    )
    assert_rejected(response, INVALID)
    assert http.get(f"/collections/{unique_name}").json()["result"]["config"] == before


# --- points -------------------------------------------------------------------------------------


@pytest.fixture
def four_dim(http: HttpSession, unique_name: str) -> str:
    """A collection of 4-dim Dot vectors holding one point (id 1)."""
    create(http, unique_name, {"vectors": GOOD_VECTORS})
    response = http.put(
        f"/collections/{unique_name}/points?wait=true",
        json={"points": [{"id": 1, "vector": [1, 2, 3, 4], "payload": {"keep": True}}]},
    )
    assert response.status_code == 200, response.text
    return unique_name


def assert_only_point_one(http: HttpSession, name: str) -> None:
    assert count(http, name) == 1
    points = retrieve(http, name, [1, 2, 3, 4])
    assert set(points) == {1}
    assert points[1]["payload"] == {"keep": True}
    assert points[1]["vector"] == [1.0, 2.0, 3.0, 4.0]


UPSERT_REJECTIONS = [
    pytest.param('{"points": [{"id": 2, "vector": [1, 2, 3]}]}', ("dim", "size"), id="short"),
    pytest.param('{"points": [{"id": 2, "vector": [1, 2, 3, 4, 5]}]}', ("dim", "size"), id="long"),
    pytest.param('{"points": [{"id": 2, "vector": []}]}', ("dim", "size", "empty"), id="empty"),
    pytest.param(
        '{"points": [{"id": 2, "vector": [NaN, 0, 0, 0]}]}',
        ("nan", "json", "finite", "number", "expect"),
        id="nan",
    ),
    pytest.param(
        '{"points": [{"id": 2, "vector": [Infinity, 0, 0, 0]}]}',
        ("infinity", "json", "finite", "number", "expect"),
        id="infinity",
    ),
    pytest.param(
        '{"points": [{"id": 2, "vector": [0, -Infinity, 0, 0]}]}',
        ("infinity", "json", "finite", "number", "expect"),
        id="minus-infinity",
    ),
    pytest.param(
        '{"points": [{"id": 2, "vector": [1e999, 0, 0, 0]}]}',
        ("range", "finite", "number", "json", "inf"),
        id="overflow",
    ),
    pytest.param(
        '{"points": [{"id": 2, "vector": ["a", "b", "c", "d"]}]}', ("vector",), id="strings"
    ),
    pytest.param('{"points": [{"id": -5, "vector": [1, 2, 3, 4]}]}', ("id",), id="negative-id"),
    pytest.param('{"points": [{"id": 2.5, "vector": [1, 2, 3, 4]}]}', ("id",), id="float-id"),
    pytest.param(
        '{"points": [{"id": "not-a-uuid", "vector": [1, 2, 3, 4]}]}',
        ("id", "uuid", "not-a-uuid"),
        id="string-id",
    ),
    pytest.param(
        '{"points": [{"id": 2, "vector": [1, 2, 3, 4], "payload": [1, 2]}]}',
        ("payload",),
        id="payload-list",
    ),
    pytest.param('{"points": [{"id": 2}]}', ("vector",), id="no-vector"),
    pytest.param('{"points": {"id": 2}}', ("points",), id="points-object"),
    pytest.param("{}", ("points", "batch"), id="no-points"),
    pytest.param(
        '{"points": [{"id": 2, "vector": {"nope_vector": [1, 2, 3, 4]}}]}',
        ("nope_vector",),
        id="unknown-name",
    ),
    pytest.param(
        '{"batch": {"ids": [2, 3], "vectors": [[1, 2, 3, 4]]}}',
        ("ids", "vectors", "length", "number"),
        id="batch-lengths",
    ),
    pytest.param(
        '{"batch": {"ids": [2, 3], "vectors": [[1, 2, 3, 4], [1, 2]]}}',
        ("dim", "size"),
        id="batch-bad-vector",
    ),
    pytest.param(
        '{"points": [{"id": 2, "vector": [1, 2, 3, 4]}, {"id": 3, "vector": [1, 2]},'
        ' {"id": 4, "vector": [4, 3, 2, 1]}]}',
        ("dim", "size"),
        id="bad-point-mid-batch",
    ),
    pytest.param(
        '{"points": [{"id": 2, "vector": [1, 2, 3, 4]}, {"id": 3, "vector": [1, 2, 3, 4]},'
        ' {"id": 4, "vector": [1, 2, 3, NaN]}]}',
        (),
        id="nan-last-in-batch",
    ),
    pytest.param('{"points": [{"id": 2, "vector": [1, 2, 3, 4]}', (), id="truncated"),
]


@pytest.mark.parametrize(("text", "mentions"), UPSERT_REJECTIONS)
def test_upsert_rejects_and_writes_nothing(
    http: HttpSession, four_dim: str, text: str, mentions: tuple[str, ...]
) -> None:
    response = put_raw(http, f"/collections/{four_dim}/points?wait=true", text)
    assert_rejected(response, INVALID, mentions)
    assert_only_point_one(http, four_dim)


@pytest.mark.parametrize("value", ["256", "-1", "1.5", "1000"])
def test_uint8_values_out_of_range(http: HttpSession, unique_name: str, value: str) -> None:
    create(http, unique_name, {"vectors": {"size": 3, "distance": "Dot", "datatype": "uint8"}})
    ok = http.put(
        f"/collections/{unique_name}/points?wait=true",
        json={"points": [{"id": 1, "vector": [0, 255, 7]}]},
    )
    assert ok.status_code == 200, ok.text
    text = (
        f'{{"points": [{{"id": 2, "vector": [1, 2, 3]}}, {{"id": 3, "vector": [1, {value}, 3]}}]}}'
    )
    response = put_raw(http, f"/collections/{unique_name}/points?wait=true", text)
    assert_rejected(response, INVALID, ("uint8", "255", "range", value))
    assert count(http, unique_name) == 1
    assert set(retrieve(http, unique_name, [1, 2, 3])) == {1}


def test_named_vector_errors(http: HttpSession, unique_name: str) -> None:
    create(
        http,
        unique_name,
        {
            "vectors": {"image": {"size": 2, "distance": "Dot"}},
            "sparse_vectors": {"words": {}},
        },
    )
    path = f"/collections/{unique_name}/points?wait=true"
    for body, mentions in [
        ({"points": [{"id": 1, "vector": {"nope_vector": [1, 2]}}]}, ("nope_vector",)),
        # A named-vector collection has no unnamed vector to put a plain list in.
        ({"points": [{"id": 1, "vector": [1, 2]}]}, ("vector", "name")),
        ({"points": [{"id": 1, "vector": {"image": [1, 2, 3]}}]}, ("dim", "size")),
        (
            {"points": [{"id": 1, "vector": {"words": {"indices": [1, 2], "values": [0.5]}}}]},
            ("indices", "values", "length"),
        ),
        (
            {"points": [{"id": 1, "vector": {"words": {"indices": [3, 3], "values": [1, 2]}}}]},
            ("indices", "unique", "duplicate"),
        ),
        ({"points": [{"id": 1, "vector": {"words": [1.0, 2.0]}}]}, ("words", "sparse")),
        ({"points": [{"id": 1, "vector": {"image": {"indices": [0], "values": [1]}}}]}, ()),
    ]:
        response = http.put(path, json=body)
        assert_rejected(response, INVALID, mentions)
    assert count(http, unique_name) == 0


def test_error_envelope_on_every_rejection_has_no_result(http: HttpSession) -> None:
    response = put_raw(http, "/collections/whatever_x", "{")
    assert_rejected(response, INVALID)
    body = response.json()
    assert body.get("result") is None
    assert set(body) <= {"status", "time", "result"}


# --- requests schemathesis (tests/fuzz) once answered with a 500 --------------------------------

PAYLOAD_KEY_REJECTIONS = [
    pytest.param("/points/payload", {"payload": {"city": "London", "color": "green"},
                                     "points": [], "shard_key": None, "key": {}}, id="set-key-obj"),
    pytest.param("/points/payload", {"payload": {"city": "London", "color": "green"},
                                     "points": [], "filter": None, "shard_key": None,
                                     "key": [None, None]}, id="set-key-list"),
    pytest.param("/points/payload", {"payload": {"city": "London"}, "points": [1], "key": {}},
                 id="set-key-obj-on-a-point"),
    pytest.param("/points/payload/delete", {"keys": [{}], "points": [], "filter": None,
                                            "shard_key": None}, id="delete-keys-obj"),
    pytest.param("/points/payload/delete", {"keys": [[None, None]], "points": [],
                                            "filter": None, "shard_key": None},
                 id="delete-keys-list"),
    pytest.param("/points/payload/delete", {"keys": ["keep", {}], "points": [1]},
                 id="delete-keys-obj-on-a-point"),
]


@pytest.mark.parametrize(("suffix", "body"), PAYLOAD_KEY_REJECTIONS)
def test_payload_keys_that_are_not_strings(
    http: HttpSession, four_dim: str, suffix: str, body: dict[str, Any]
) -> None:
    response = http.post(f"/collections/{four_dim}{suffix}?wait=true", json=body)
    assert_rejected(response, INVALID, ("key",))
    assert_only_point_one(http, four_dim)


EMPTY_CONTEXT_PREFETCH = {
    "prefetch": None, "query": {"context": []}, "using": None, "filter": None, "params": None,
    "score_threshold": None, "limit": 1, "lookup_from": None,
}


@pytest.mark.parametrize("body", [
    pytest.param({"shard_key": None, "limit": 1, "prefetch": {
        "prefetch": EMPTY_CONTEXT_PREFETCH, "query": None, "using": None, "filter": None,
        "params": None, "score_threshold": None, "limit": 1, "lookup_from": None}},
        id="nested-prefetch"),
    pytest.param({"query": {"context": []}}, id="top-level"),
    pytest.param({"prefetch": [{"query": [1, 2, 3, 4]}, {"query": {"context": []}}],
                  "query": {"fusion": "rrf"}}, id="fused"),
])
def test_query_with_an_empty_context(
    http: HttpSession, four_dim: str, body: dict[str, Any]
) -> None:
    response = http.post(f"/collections/{four_dim}/points/query", json=body)
    assert_rejected(response, INVALID, ("context",))


@pytest.mark.parametrize(("method", "suffix"), [
    ("PUT", ""), ("PATCH", ""), ("POST", "/points/scroll"), ("POST", "/points/count"),
])
def test_a_null_body_is_refused(
    http: HttpSession, four_dim: str, unique_name: str, method: str, suffix: str
) -> None:
    """`null` is not an absent body: schemathesis's PATCH with it was taken as "change nothing",
    and a PUT with it created a collection."""
    before = http.get(f"/collections/{four_dim}").json()["result"]["config"]
    for name in (four_dim, f"{unique_name}_new"):
        response = http.request(method, f"/collections/{name}{suffix}", data=b"null",
                                headers=JSON_HEADERS)
        assert_rejected(response, INVALID, ("null", "object"))
    assert not exists(http, f"{unique_name}_new")
    assert http.get(f"/collections/{four_dim}").json()["result"]["config"] == before
    assert_only_point_one(http, four_dim)


def test_bad_datetimes_in_filters_are_not_kept(
    http: HttpSession, node: NodeProcess, four_dim: str
) -> None:
    """parse_datetime caches what it parses (65,536 entries): it once kept every long string a
    filter's range held, so a client's refused requests grew the node for good (fuzzing showed
    the node's RSS creeping up; 2,000 such filters of 32 KB held 60 MiB)."""
    process = psutil.Process(node.pid)
    before = process.memory_info().rss
    for _ in range(1000):
        text = uuid.uuid4().hex * 2048  # 64 KB, a new string each time
        body = {"filter": {"must": [{"key": "keep", "range": {"gt": text}}]}, "exact": True}
        response = http.post(f"/collections/{four_dim}/points/count", json=body)
        assert_rejected(response, INVALID, ("datetime",))
    grown = process.memory_info().rss - before
    assert grown < 24 * 2**20, f"the node grew by {grown / 2**20:.0f} MiB"


def test_long_payload_keys_are_not_kept(
    http: HttpSession, node: NodeProcess, four_dim: str
) -> None:
    """Parsed payload keys are cached (4,096 of them): long ones must not be, or requests with
    long keys (valid ones, answered 200) grow the node for good, up to 4,096 times their size."""
    process = psutil.Process(node.pid)
    before = process.memory_info().rss
    for _ in range(1000):
        key = uuid.uuid4().hex * 2048  # 64 KB, a new key each time
        body = {"filter": {"must": [{"key": key, "match": {"value": 1}}]}, "exact": True}
        response = http.post(f"/collections/{four_dim}/points/count", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["result"]["count"] == 0
    grown = process.memory_info().rss - before
    assert grown < 24 * 2**20, f"the node grew by {grown / 2**20:.0f} MiB"
    assert_only_point_one(http, four_dim)


# The collection name and query string schemathesis sent with `timeout=¹`: a superscript one
# passed str.isdigit() and then failed int(). (Its body, of random keys, played no part.)
FUZZED_NAME = ("Ω≈ç√∫˜µ≤≥÷åß∂ƒ©˙∆˚¬…æœ∑´®†¥¨ˆøπ“‘¡™£¢∞§¶•ªº–≠¸˛Ç◊ı˜Â¯˘¿ÅÍÎÏ˝ÓÔÒÚÆ☃Œ„´‰ˇÁ¨ˆ"
               "Ø∏”’`⁄€‹›ﬁﬂ‡°·‚—±")
FUZZED_BODY = {"~\x98;C": None, "": 697, "\x9f": [None], "keys": ["city"]}


@pytest.mark.parametrize(("method", "path", "body"), [
    pytest.param("POST", "/collections/{fuzzed}/points/payload/delete"
                 "?wait=false&ordering=strong&timeout=%C2%B9", FUZZED_BODY, id="fuzzed"),
    pytest.param("POST", "/collections/{name}/points/count?timeout=%C2%B9", {}, id="timeout"),
    pytest.param("POST", "/collections/{name}/points/count?timeout=%D9%A1", {},
                 id="timeout-arabic-indic-one"),
    pytest.param("POST", "/collections/{name}/points/count?consistency=%C2%B2", {},
                 id="consistency"),
    pytest.param("DELETE", "/cluster/peer/%C2%B9", None, id="peer-id"),
])
def test_numbers_in_other_digits_than_ascii(
    http: HttpSession, four_dim: str, method: str, path: str, body: dict[str, Any] | None
) -> None:
    url = path.format(fuzzed=requests.utils.quote(FUZZED_NAME, safe=""), name=four_dim)
    response = http.request(method, url, json=body)
    assert_rejected(response, INVALID, ("timeout", "consistency", "peer"))
    assert_only_point_one(http, four_dim)


def test_point_id_in_superscript_digits(http: HttpSession, four_dim: str) -> None:
    response = http.get(f"/collections/{four_dim}/points/%C2%B9")
    assert_rejected(response, (400, 404, 422), ("¹",))


@pytest.mark.parametrize("path, body", [
    ("query", {"query": [1.0, [2.0, 3.0], 4.0, 5.0]}),
    ("query/batch", {"searches": [{"query": [1, 2, 3, 4]}, {"query": [1.0, [2.0], 3, 4]}]}),
    ("query/batch", {"searches": [{"query": [1, 2, 3, 4]}, {"query": [1, 2, 3]}]}),
])
def test_query_vectors_of_the_wrong_shape(http: HttpSession, four_dim: str, path: str,
                                          body: dict[str, Any]) -> None:
    """Numbers mixed with lists, or a vector of the wrong size inside a batch."""
    response = http.post(f"/collections/{four_dim}/points/{path}", json=body)
    assert_rejected(response, INVALID, ("query",))
