"""The node-to-node data path: wire format round trips, then RemoteShardAccess against real
node processes (results equal the public API's, engine errors keep their type, the cluster
secret guards the internal routes, an absent peer is PeerUnavailable)."""

from __future__ import annotations

import base64
import math
import pickle
import struct
import uuid
from collections.abc import Iterator

import msgspec
import numpy as np
import orjson
import pytest
import requests
from nodeproc import NodeProcess, cluster_of_one, free_port
from qdrant_client import QdrantClient, models

from cluster.metadata.placement import shard_for_point
from cluster.replication import hit_columns
from cluster.replication.peer_client import PeerClient, PeerRefused, PeerUnavailable
from cluster.replication.remote_shard import RemoteShardAccess
from cluster.replication.wire import CONTENT_TYPE, FRAME_MAGIC, TAG, WireError, decode, encode
from node.engine.filters import CompiledFilter, compile_filter
from node.engine.point_batch import DenseColumn, PointBatch, SparseVector
from node.engine.query_scoring import CONTEXT, NEAREST, VectorQuery
from node.engine.search import SearchParams
from node.engine.shard import ShardInfo
from node.errors import BadRequest, NotFound
from node.model import decode as decode_model
from node.model.filters import Condition, Filter

pytestmark = pytest.mark.timeout(60)

DIM = 8
POINTS = 40
SHARDS = 2


def _same(a: object, b: object) -> bool:
    """Deep equality that compares numpy arrays by dtype, shape and content, and types exactly."""
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if hasattr(a, "__dataclass_fields__"):
        return _same(vars(a), vars(b))
    return a == b


def _compile(raw: object) -> CompiledFilter | None:
    return compile_filter(decode_model(Filter | None, raw, path="filter"))


def _round_trip(value: object) -> object:
    back = decode(encode(value))
    assert _same(value, back), (value, back)
    return back


# ---------------------------------------------------------------- wire format


@pytest.mark.parametrize(
    "dtype", ["float32", "float16", "float64", "uint8", "uint32", "int64", "bool"]
)
def test_arrays_of_every_allowed_dtype(dtype: str) -> None:
    arr = (np.arange(24).reshape(2, 3, 4) % 7).astype(dtype)
    back = _round_trip(arr)
    assert back.flags.writeable
    _round_trip(np.zeros((0, 5), dtype=dtype))
    _round_trip(np.array(3, dtype=dtype))  # 0-d


def test_arrays_non_contiguous_and_big_endian() -> None:
    base = np.arange(40, dtype=np.float32).reshape(5, 8)
    assert _same(decode(encode(base[:, ::3])), np.ascontiguousarray(base[:, ::3]))
    big = np.arange(6, dtype=">f4")
    back = decode(encode(big))
    assert back.dtype == np.float32 and np.array_equal(back, big)
    assert np.array_equal(decode(encode(np.array([np.nan, np.inf], np.float32))),
                          [np.nan, np.inf], equal_nan=True)


def test_disallowed_values_are_refused() -> None:
    for value in (np.array([1 + 2j]), np.array(["a"], dtype=object), object(), b"bytes"):
        with pytest.raises(TypeError):
            encode(value)
    unnamed = _compile({"must": []})
    unnamed.source = None
    with pytest.raises(TypeError):
        encode(unnamed)


def test_plain_values_tuples_sets_and_keys() -> None:
    _round_trip(None)
    _round_trip([1, "a", 2.5, True, None, {"k": [1, {"x": None}]}])
    _round_trip((1, (2, 3), [4, (5,)]))
    _round_trip({1, 2, "u"})
    _round_trip(frozenset({(1, 2), 3}))
    _round_trip({1: "one", 2**64 - 1: "max u64", "s": (1,), (1, 2): None})
    _round_trip({"k": {TAG: "not a tag, a payload key", "other": 1}})
    _round_trip([math.inf, -math.inf, math.nan, 0.1, -0.0])
    _round_trip(np.float32(1.5).item())
    assert decode(encode(np.int64(7))) == 7


def _batch() -> PointBatch:
    rng = np.random.default_rng(1)
    pid = str(uuid.UUID(int=42))
    return PointBatch(
        ids=[1, pid, 2**64 - 1],
        payloads=[{"a": 1, "nested": {"l": [1, 2.5, None]}}, None, {TAG: "x", "b": [True]}],
        dense={
            "": DenseColumn(rows=rng.random((2, DIM), dtype=np.float32),
                            positions=np.array([0, 2], dtype=np.int64)),
            "img": DenseColumn(rows=np.array([[1, 2, 255]], np.uint8),
                               positions=np.array([1], dtype=np.int64)),
        },
        sparse={"s": {
            0: SparseVector(np.array([1, 7], np.uint32), np.array([0.5, 2.0], np.float32)),
            2: SparseVector(np.zeros(0, np.uint32), np.zeros(0, np.float32)),
        }},
    )


def test_engine_dataclasses() -> None:
    back = _round_trip(_batch())
    assert list(back.sparse["s"]) == [0, 2]  # int keys stay ints
    _round_trip(SearchParams(hnsw_ef=64, exact=True, quantization={"rescore": False}))
    _round_trip(ShardInfo(points=3, vectors=5, indexed_vectors=0, segments=1, status="green",
                          optimizer_error=None))
    a, b = np.ones(DIM, np.float32), np.zeros(DIM, np.float32)
    sv = SparseVector(np.array([3], np.uint32), np.array([1.0], np.float32))
    _round_trip(VectorQuery("", CONTEXT, False, pairs=[(a, b), (b, a)]))
    _round_trip(VectorQuery("s", NEAREST, True, nearest=sv))
    _round_trip(VectorQuery("", "best_score", False, positives=[a], negatives=[b, a]))


def test_call_bodies_and_results() -> None:
    hits = [
        (0.5, 7, {"city": "Oslo"}, {"": np.arange(DIM, dtype=np.float32)}),
        (0.25, str(uuid.UUID(int=1)), None,
         {"s": SparseVector(np.array([1], np.uint32), np.array([2.0], np.float32))}),
    ]
    _round_trip(hits)
    _round_trip((12, np.array([3, 0], np.int64)))  # sparse_statistics
    _round_trip({"args": ["set_payload", [1, 2], None, ({"k": 1}, None), True], "kwargs": {}})
    _round_trip({"args": ["update_vectors", [5], None,
                          ({5: {"": np.ones(DIM, np.float32)}},), False], "kwargs": {}})


def test_filters_travel_as_source() -> None:
    raw = {"must": [{"key": "n", "range": {"gte": 3}}], "must_not": [{"has_id": [5]}]}
    back = decode(encode({"f": _compile(raw)}))["f"]
    assert msgspec.to_builtins(back.source) == raw
    assert back.matches(4, {"n": 3}, lambda name: True)
    assert not back.matches(5, {"n": 3}, lambda name: True)
    bad = _compile({"must": []})
    # A peer that sends a filter its own API would refuse (structs are not checked when built).
    bad.source = Filter(must=[Condition(key="n", range="high")])
    with pytest.raises(BadRequest):
        decode(encode(bad))


@pytest.mark.parametrize("data", [
    b"", b"not json", pickle.dumps([1, 2]),
    orjson.dumps({TAG: "nd", "d": "object", "s": [1], "b": "AA=="}),
    orjson.dumps({TAG: "nd", "d": "float32", "s": [3], "b": "AAAA"}),
    orjson.dumps({TAG: "nd", "d": "float32", "s": [-1], "b": ""}),
    orjson.dumps({TAG: "dc", "n": "LocalShard", "f": {}}),
    orjson.dumps({TAG: "dc", "n": "SearchParams", "f": {"__class__": 1}}),
    orjson.dumps({TAG: "dc", "n": "ShardInfo", "f": {"points": 1}}),
    orjson.dumps({TAG: "exec", "v": "print(1)"}),
    orjson.dumps({TAG: "set", "v": [[1]]}),
    orjson.dumps({TAG: "map", "v": [[[1], 2]]}),
    orjson.dumps({TAG: "f", "v": "1.5"}),
])
def test_bad_messages_are_wire_errors(data: bytes) -> None:
    with pytest.raises(WireError):
        decode(data)


def _frame(head: object, data: bytes = b"") -> bytes:
    text = orjson.dumps(head)
    return FRAME_MAGIC + struct.pack("<I", len(text)) + text + data


def test_arrays_travel_as_raw_bytes_in_a_frame() -> None:
    batch = _batch()
    batch.dense[""] = DenseColumn(rows=np.random.default_rng(2).random((256, 128), np.float32),
                                  positions=np.arange(256, dtype=np.int64))
    data = encode(batch)
    assert data.startswith(FRAME_MAGIC)
    raw_bytes = 256 * 128 * 4
    assert raw_bytes < len(data) < raw_bytes * 1.1  # base64 text would be a third larger
    back = decode(data)
    assert _same(batch, back)
    rows = back.dense[""].rows
    assert rows.flags.writeable and rows.ctypes.data % 8 == 0  # aligned within the data part
    assert encode({"no": ["arrays"]}) == b'{"no":["arrays"]}'  # plain JSON without a frame


def test_base64_arrays_of_earlier_nodes_are_read() -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    old = orjson.dumps({"rows": {TAG: "nd", "d": "float32", "s": [2, 3],
                                 "b": base64.b64encode(arr.tobytes()).decode()}})
    assert _same(decode(old), {"rows": arr})


@pytest.mark.parametrize("data", [
    FRAME_MAGIC, FRAME_MAGIC + b"\x01\x00",
    FRAME_MAGIC + struct.pack("<I", 100) + b"{}",  # JSON part longer than the frame
    _frame({TAG: "nb", "d": "float32", "s": [2], "o": 0, "n": 8}, b"\0" * 4),  # past the end
    _frame({TAG: "nb", "d": "float32", "s": [2], "o": 0, "n": 4}, b"\0" * 8),  # wrong length
    _frame({TAG: "nb", "d": "float32", "s": [1], "o": -4, "n": 4}, b"\0" * 8),
    _frame({TAG: "nb", "d": "float32", "s": [1], "o": "0", "n": 4}, b"\0" * 8),
    _frame({TAG: "nb", "d": "object", "s": [1], "o": 0, "n": 8}, b"\0" * 8),
    _frame({TAG: "nb", "d": "float32", "s": [2], "o": 0, "n": 8}),  # no data part at all
    orjson.dumps({TAG: "nb", "d": "uint8", "s": [1], "o": 0, "n": 1}),  # JSON, not a frame
])
def test_bad_frames_are_wire_errors(data: bytes) -> None:
    with pytest.raises(WireError):
        decode(data)


# ---------------------------------------------------------------- against real nodes


def _vector(i: int) -> list[float]:
    return [((i * 7 + j * 3) % 11) / 10 for j in range(DIM)]


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = cluster_of_one(tmp_path_factory.mktemp("internal_node") / "storage", "internal_node")
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def collection(client: QdrantClient) -> Iterator[str]:
    name = f"internal_{uuid.uuid4().hex[:8]}"
    client.create_collection(
        name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.DOT),
        shard_number=SHARDS,
    )
    client.upsert(name, [
        models.PointStruct(id=i, vector=_vector(i), payload={"n": i, "odd": i % 2 == 1})
        for i in range(POINTS)
    ], wait=True)
    yield name
    client.delete_collection(name)


@pytest.fixture
async def peers() -> PeerClient:
    async with PeerClient() as peer_client:
        yield peer_client


async def _remotes(peers: PeerClient, node: NodeProcess, name: str) -> list[RemoteShardAccess]:
    meta = await peers.get_json(node.url, f"/internal/v1/collections/{name}")
    assert sorted(meta["shards"]) == [str(s) for s in range(SHARDS)]
    return [RemoteShardAccess(peers, 1, node.url, meta["uuid"], s) for s in range(SHARDS)]


async def test_reads_match_the_public_api(
    peers: PeerClient, node: NodeProcess, client: QdrantClient, collection: str
) -> None:
    shards = await _remotes(peers, node, collection)
    assert shards[1].peer_id == 1
    assert sum([await s.count() for s in shards]) == POINTS
    odd = _compile({"must": [{"key": "odd", "match": {"value": True}}]})
    assert sum([await s.count(odd) for s in shards]) == POINTS // 2

    scanned = [r for s in shards for r in await s.scan(None)]
    assert sorted(r[0] for r in scanned) == list(range(POINTS))
    for pid, payload, vectors in scanned:
        assert shard_for_point(pid, SHARDS) in (0, 1)
        assert payload == {"n": pid, "odd": pid % 2 == 1}
        assert vectors[""].dtype == np.float32
        assert np.allclose(vectors[""], _vector(pid))
    assert [r[0] for r in await shards[0].scan(odd, {1, 2, 3, 5})] == sorted(
        p for p in (1, 3, 5) if shard_for_point(p, SHARDS) == 0)

    scrolled = [r[0] for s in shards for r in await s.scroll(None, 10, 5)]
    expected = [p for sid in range(SHARDS)
                for p in [q for q in range(10, POINTS) if shard_for_point(q, SHARDS) == sid][:5]]
    assert scrolled == expected
    ids_0 = [p for p in range(POINTS) if shard_for_point(p, SHARDS) == 0]
    got = await shards[0].retrieve([ids_0[1], 999, ids_0[0]])
    assert [r[0] for r in got] == [ids_0[1], ids_0[0]]
    assert await shards[0].existing([*ids_0[:3], 999]) == set(ids_0[:3])
    infos = [await s.info() for s in shards]
    assert all(isinstance(i, ShardInfo) for i in infos)
    assert sum(i.points for i in infos) == POINTS
    assert await shards[0].indexed_points() == {}

    target = np.asarray(_vector(3), np.float32)
    query = VectorQuery("", NEAREST, False, nearest=target)
    hits = [h for s in shards
            for h in await s.query(query, 5, SearchParams(), odd, None, None)]
    hits.sort(key=lambda h: -h[0])
    public = client.query_points(
        collection, target.tolist(), limit=5, with_payload=True, with_vectors=True,
        query_filter=models.Filter(must=[models.FieldCondition(
            key="odd", match=models.MatchValue(value=True))]),
    ).points
    assert [h[1] for h in hits[:5]] == [p.id for p in public]
    assert np.allclose([h[0] for h in hits[:5]], [p.score for p in public], atol=1e-5)
    assert [h[2] for h in hits[:5]] == [p.payload for p in public]
    assert all(np.allclose(h[3][""], p.vector) for h, p in zip(hits, public, strict=False))
    restricted = await shards[0].query(query, 10, SearchParams(exact=True), None, 0.0,
                                       set(ids_0[:3]))
    assert sorted(h[1] for h in restricted) == sorted(ids_0[:3])

    # A batch answers as columns when its hits carry ids and scores only, as tuples otherwise:
    # both give the same ranking.
    queries = np.stack([np.asarray(_vector(p), np.float32) for p in (3, 8, 13)])
    lean = await shards[0].query_batch("", queries, 4, SearchParams(with_payload=False,
                                                                    with_vectors=False), None)
    full = await shards[0].query_batch("", queries, 4, SearchParams(), None)
    assert [[h[:2] for h in hits] for hits in lean] == [[h[:2] for h in hits] for hits in full]
    assert all(len(hits) == 4 and h[2:] == (None, {}) for hits in lean for h in hits)
    assert all(h[2] is not None for hits in full for h in hits)


async def test_writes_reach_the_replica(
    peers: PeerClient, node: NodeProcess, client: QdrantClient, collection: str
) -> None:
    shards = await _remotes(peers, node, collection)
    new_ids = [1000 + i for i in range(6)]
    for sid, shard in enumerate(shards):
        mine = [p for p in new_ids if shard_for_point(p, SHARDS) == sid]
        batch = PointBatch(
            ids=mine, payloads=[{"n": p, "via": "internal"} for p in mine],
            dense={"": DenseColumn(rows=np.ones((len(mine), DIM), np.float32),
                                   positions=np.arange(len(mine), dtype=np.int64))},
        )
        assert isinstance(await shard.upsert(batch, True), int)
    got = client.retrieve(collection, new_ids, with_vectors=True)
    assert sorted(p.id for p in got) == new_ids
    assert all(p.payload["via"] == "internal" and p.vector == [1.0] * DIM for p in got)

    flt = _compile({"must": [{"key": "via", "match": {"value": "internal"}}]})
    for shard in shards:
        await shard.update("set_payload", None, flt, ({"seen": True}, None), True)
    assert all(p.payload["seen"] for p in client.retrieve(collection, new_ids))
    for sid, shard in enumerate(shards):
        mine = [p for p in new_ids if shard_for_point(p, SHARDS) == sid]
        await shard.update("delete", mine, None, (), True)
    assert client.retrieve(collection, new_ids) == []
    assert client.count(collection).count == POINTS


async def test_errors_keep_their_type(
    peers: PeerClient, node: NodeProcess, collection: str
) -> None:
    shard = (await _remotes(peers, node, collection))[0]
    with pytest.raises(BadRequest, match="unknown update operation"):
        await shard.update("drop_everything", [1], None, (), True)
    bad = _compile({"must": []})
    # A peer that sends a filter its own API would refuse (structs are not checked when built).
    bad.source = Filter(must=[Condition(key="n", range="high")])
    with pytest.raises(BadRequest, match="range"):
        await shard.count(bad)
    with pytest.raises(BadRequest, match="unknown shard method"):
        await peers.call_shard(node.url, shard.collection_uuid, 0, "close")
    with pytest.raises(BadRequest, match="bad arguments"):
        await peers.call_shard(node.url, shard.collection_uuid, 0, "count", 1, 2, 3)
    with pytest.raises(NotFound, match="not on this node"):
        await peers.call_shard(node.url, shard.collection_uuid, 7, "count")
    with pytest.raises(NotFound, match="not on this node"):
        await peers.call_shard(node.url, str(uuid.uuid4()), 0, "count")
    with pytest.raises(NotFound):
        await peers.get_json(node.url, "/internal/v1/collections/nope")
    url = f"{node.url}/internal/v1/shards/{shard.collection_uuid}/0/count"
    for body in (b"garbage", pickle.dumps({"args": []}), encode([1, 2])):
        response = requests.post(url, data=body, timeout=5)
        assert response.status_code == 400, response.text
        assert "error" in response.json()["status"]
    ok = requests.post(url, data=encode({"args": []}), timeout=5)
    assert ok.headers["Content-Type"].startswith(CONTENT_TYPE)
    assert decode(ok.content) == sum(shard_for_point(p, SHARDS) == 0 for p in range(POINTS))


async def test_arguments_of_the_wrong_type_are_refused_and_write_nothing(
    peers: PeerClient, node: NodeProcess, collection: str, client: QdrantClient
) -> None:
    """A forged or mismatched call (a dict where a compiled filter goes, a string where ids
    go) is the caller's 400, never a 500, and no write of it reaches the replica."""
    shard = (await _remotes(peers, node, collection))[0]
    uuid_, call = shard.collection_uuid, peers.call_shard
    for method, args in (("count", [{"must": []}]), ("retrieve", [5]),
                         ("scroll", [None, None, "ten"]), ("existing", [7]),
                         ("facet_counts", [3, "keyword", None]),
                         ("upsert", [{"ids": [1]}, True]),
                         ("upsert", [PointBatch(ids=[10**6], payloads=[None]), "yes"]),
                         ("update", ["delete", "all", None, (), True]),
                         ("update", ["delete", None, {"must": []}, (), True]),
                         ("update", ["delete", [1], None, 5, True])):
        with pytest.raises(BadRequest, match=method):
            await call(node.url, uuid_, 0, method, *args)
            pytest.fail(f"{method}{args} was answered")
    assert client.count(collection).count == POINTS


async def test_unreachable_peer() -> None:
    async with PeerClient(read_timeout=2.0) as peer_client:
        remote = RemoteShardAccess(peer_client, 9, f"http://127.0.0.1:{free_port()}",
                                   str(uuid.uuid4()), 0)
        with pytest.raises(PeerUnavailable, match="unreachable"):
            await remote.count()
    with pytest.raises(PeerUnavailable, match="closed"):
        await remote.count()


@pytest.fixture(scope="module")
def secret_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = cluster_of_one(tmp_path_factory.mktemp("secret_node") / "storage", "secret_node",
                          "--cluster-secret", "s3")
    try:
        yield proc
    finally:
        proc.stop()


async def test_cluster_secret_guards_the_internal_api(secret_node: NodeProcess) -> None:
    name = "guarded"
    requests.put(f"{secret_node.url}/collections/{name}", timeout=10, json={
        "vectors": {"size": DIM, "distance": "Dot"}, "shard_number": 1}).raise_for_status()
    url = f"{secret_node.url}/internal/v1/collections/{name}"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"X-Flotilla-Secret": "s4"}, timeout=5).status_code == 403
    shard_url = f"{secret_node.url}/internal/v1/shards/x/0/count"
    assert requests.post(shard_url, data=encode({"args": []}), timeout=5).status_code == 401
    async with PeerClient(secret="wrong") as wrong:
        with pytest.raises(PeerRefused):
            await wrong.get_json(secret_node.url, f"/internal/v1/collections/{name}")
    async with PeerClient(secret="s3") as right:
        meta = await right.get_json(secret_node.url, f"/internal/v1/collections/{name}")
        shard = RemoteShardAccess(right, 1, secret_node.url, meta["uuid"], 0)
        assert await shard.count() == 0


@pytest.mark.parametrize("answers", [
    [[(0.5, 1, None, {}), (0.25, 2**63 - 1, None, {})], [], [(1.0, 0, None, {})]],
    [[(0.5, "2f1f6b5e-8a6d-4b7a-9d59-0a0f6c1f3a11", None, {}), (0.1, 7, None, {})]],
    [[(0.5, 2**63, None, {})]],  # past int64: the ids travel as a list
    [],
])
def test_hit_columns_round_trip(answers: list) -> None:
    packed = hit_columns.pack(answers)
    assert isinstance(packed, dict)
    assert hit_columns.unpack(decode(encode(packed))) == answers


def test_hit_columns_keep_payloads_as_they_are_and_refuse_garbage() -> None:
    full = [[(0.5, 1, {"a": 1}, {})]]
    assert hit_columns.pack(full) is full
    packed = hit_columns.pack([[(0.5, 1, None, {})]])
    for broken in ({**packed, "counts": np.array([2])}, {**packed, "scores": [0.5]},
                   {"kind": "other"}, 7):
        with pytest.raises(ValueError):
            hit_columns.unpack(broken)
