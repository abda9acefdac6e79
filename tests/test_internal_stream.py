"""The internal stream against real nodes: reads go over one WebSocket and answer what the HTTP
route answers; the upgrade needs the node credential; a malformed call closes the stream; a
peer that restarts, crashes or freezes mid-stream costs the calls in flight a PeerUnavailable
and nothing else; a peer without the stream is served over HTTP."""

from __future__ import annotations

import asyncio
import pickle
import re
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import numpy as np
import orjson
import pytest
import requests
from nodeproc import NodeProcess, cluster_of_one

from cluster.replication.peer_client import PeerClient, PeerRefused, PeerUnavailable
from cluster.replication.remote_shard import RemoteShardAccess
from cluster.replication.stream_frames import (
    STREAM_PATH,
    StreamCall,
    pack_call,
    unpack_answer,
)
from cluster.replication.wire import decode, encode
from node.engine.filters import compile_filter
from node.engine.query_scoring import NEAREST, VectorQuery
from node.engine.search import SearchParams
from node.model import decode as decode_model
from node.model.filters import Filter

pytestmark = pytest.mark.timeout(120)

SECRET = "s3"
HEADERS = {"X-Flotilla-Secret": SECRET}
DIM = 8
POINTS = 60
SHARDS = 2
SHARD_ROUTE = '/internal/v1/shards/{collection_uuid}/{shard_id}/{method}"'


def _vector(i: int) -> list[float]:
    return [((i * 7 + j * 3) % 11) / 10 + 0.01 for j in range(DIM)]


def _make_collection(node: NodeProcess, name: str) -> str:
    """A collection of POINTS points on the node; its uuid."""
    base = f"{node.url}/collections/{name}"
    requests.put(base, timeout=10, json={"vectors": {"size": DIM, "distance": "Dot"},
                                         "shard_number": SHARDS}).raise_for_status()
    requests.put(f"{base}/points?wait=true", timeout=10, json={"points": [
        {"id": i, "vector": _vector(i), "payload": {"odd": i % 2 == 1}} for i in range(POINTS)
    ]}).raise_for_status()
    meta = requests.get(f"{node.url}/internal/v1/collections/{name}", headers=HEADERS,
                        timeout=5).json()["result"]
    return meta["uuid"]


def _shard_route_calls(node: NodeProcess) -> float:
    """How many calls the node's HTTP shard route has served."""
    text = requests.get(f"{node.url}/metrics", timeout=5).text
    return sum(float(m) for m in re.findall(
        r'^flotilla_http_requests_total\{[^}]*' + re.escape(SHARD_ROUTE) + r'[^}]*\} (\S+)$',
        text, re.MULTILINE))


async def _until_streamed(shard: RemoteShardAccess, node: NodeProcess,
                          timeout: float = 10.0) -> None:
    """Read until a read no longer reaches the HTTP route: the stream is open."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        before = _shard_route_calls(node)
        await shard.count()
        if _shard_route_calls(node) == before:
            return
        await asyncio.sleep(0.05)
    raise AssertionError("reads never went over the stream")


@pytest.fixture(scope="module")
def peer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = cluster_of_one(tmp_path_factory.mktemp("stream_peer") / "storage", "stream_peer",
                          "--cluster-secret", SECRET)
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture(scope="module")
def collection_uuid(peer: NodeProcess) -> str:
    return _make_collection(peer, "streamed")


def _remotes(client: PeerClient, node: NodeProcess, uuid_: str) -> list[RemoteShardAccess]:
    return [RemoteShardAccess(client, 1, node.url, uuid_, s) for s in range(SHARDS)]


async def _reads(shard: RemoteShardAccess) -> list[object]:
    """Every streamed read of one shard, with answers that compare by value."""
    odd = compile_filter(decode_model(Filter, {"must": [{"key": "odd", "match": {"value": True}}]},
                                      path="filter"))
    target = np.asarray(_vector(5), np.float32)
    queries = np.stack([np.asarray(_vector(i), np.float32) for i in (1, 2, 3)])
    lean = SearchParams(with_payload=False, with_vectors=False)
    info = await shard.info()
    return [
        await shard.count(), await shard.count(odd),
        sorted(await shard.existing(list(range(0, POINTS, 3)) + [999])),
        (info.points, info.segments), await shard.indexed_points(),
        [h[:2] for h in await shard.query(VectorQuery("", NEAREST, False, nearest=target), 5,
                                          lean, odd, None, None)],
        [[h[:2] for h in hits] for hits in await shard.query_batch("", queries, 4, lean, None)],
    ]


async def test_reads_go_over_the_stream_and_answer_as_http(
    peer: NodeProcess, collection_uuid: str
) -> None:
    async with PeerClient(secret=SECRET) as streamed, \
            PeerClient(secret=SECRET, stream=False) as plain:
        over_stream = _remotes(streamed, peer, collection_uuid)
        over_http = _remotes(plain, peer, collection_uuid)
        await _until_streamed(over_stream[0], peer)
        before = _shard_route_calls(peer)
        answers = [await _reads(s) for s in over_stream]
        assert _shard_route_calls(peer) == before  # none of them reached the HTTP route
        assert answers == [await _reads(s) for s in over_http]
        assert sum(a[0] for a in answers) == POINTS
        # Many calls in flight at once on the one connection, each paired with its answer.
        queries = [np.asarray(_vector(i), np.float32) for i in range(40)]
        lean = SearchParams(with_payload=False, with_vectors=False)
        concurrent = await asyncio.gather(*(
            over_stream[i % SHARDS].query_batch("", q[None, :], 3, lean, None)
            for i, q in enumerate(queries)))
        one_by_one = [await over_http[i % SHARDS].query_batch("", q[None, :], 3, lean, None)
                      for i, q in enumerate(queries)]
        assert [[h[:2] for h in a[0]] for a in concurrent] == [
            [h[:2] for h in a[0]] for a in one_by_one]
        # Errors keep their type and message, as over HTTP.
        with pytest.raises(Exception, match="not on this node") as streamed_error:
            await streamed.call_shard(peer.url, collection_uuid, 7, "count")
        with pytest.raises(Exception, match="not on this node") as http_error:
            await plain.call_shard(peer.url, collection_uuid, 7, "count")
        assert type(streamed_error.value) is type(http_error.value)
        with pytest.raises(Exception, match="bad arguments") as bad_args:
            await streamed.call_shard(peer.url, collection_uuid, 0, "count", 1, 2, 3)
        assert bad_args.value.status == 400
        # Bulk reads stay on the HTTP route.
        before = _shard_route_calls(peer)
        await over_stream[0].scan(None)
        assert _shard_route_calls(peer) == before + 1


async def test_the_upgrade_needs_the_credential(peer: NodeProcess, collection_uuid: str) -> None:
    url = peer.url + STREAM_PATH
    async with aiohttp.ClientSession() as session:
        for headers, status in (({}, 401), ({"X-Flotilla-Secret": "s4"}, 403)):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
                await session.ws_connect(url, headers=headers)
            assert refused.value.status == status
        # A plain GET of the route is no upgrade.
        async with session.get(url, headers=HEADERS) as response:
            assert response.status == 400
            assert "error" in (await response.json())["status"]
        async with session.ws_connect(url, headers=HEADERS) as ws:
            await ws.send_bytes(pack_call(9, StreamCall(collection_uuid, 0, "count", [], {})))
            call_id, status, body = unpack_answer(await ws.receive_bytes(timeout=5))
            assert (call_id, status) == (9, 200) and isinstance(decode(body), int)
    async with PeerClient(secret="wrong") as wrong:
        shard = RemoteShardAccess(wrong, 1, peer.url, collection_uuid, 0)
        for _ in range(3):  # the stream is never opened; HTTP says why
            with pytest.raises(PeerRefused):
                await shard.count()
            await asyncio.sleep(0.2)


def _call(body: bytes, call_id: int = 1) -> bytes:
    return struct.pack("<I", call_id) + body


def _malformed(collection: str) -> list[tuple[str, bytes | str]]:
    good = {"c": collection, "s": 0, "m": "count", "a": [], "k": {}, "r": None, "t": None}
    return [
        ("text", "count please"),
        ("too short", b"\x01\x00"),
        ("not wire", _call(b"garbage")),
        ("pickle", _call(pickle.dumps(good))),
        ("a list", _call(encode([1, 2]))),
        ("a write", _call(encode({**good, "m": "upsert"}))),
        ("unknown method", _call(encode({**good, "m": "close"}))),
        ("extra key", _call(encode({**good, "x": 1}))),
        ("missing key", _call(encode({k: v for k, v in good.items() if k != "t"}))),
        ("negative shard", _call(encode({**good, "s": -1}))),
        ("args not a list", _call(encode({**good, "a": {"x": 1}}))),
        ("unknown tag", _call(b'{"$w": "zz"}')),
        # Written by hand: encode() would escape the tag as a plain map.
        ("disallowed type", _call(orjson.dumps({**good, "a": [{"$w": "dc", "n": "Popen",
                                                              "f": {}}]}))),
    ]


async def test_malformed_calls_close_the_stream(peer: NodeProcess, collection_uuid: str) -> None:
    url = peer.url + STREAM_PATH
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        for what, message in _malformed(collection_uuid):
            async with session.ws_connect(url) as ws:
                await (ws.send_str(message) if isinstance(message, str)
                       else ws.send_bytes(message))
                answer = await ws.receive(timeout=5)
                assert answer.type == aiohttp.WSMsgType.CLOSE, (what, answer)
                assert answer.data in (1002, 1003), (what, answer)
        # A well-formed call that is refused is answered, and the stream stays open.
        async with session.ws_connect(url) as ws:
            await ws.send_bytes(pack_call(3, StreamCall(str(uuid.uuid4()), 0, "count", [], {})))
            call_id, status, body = unpack_answer(await ws.receive_bytes(timeout=5))
            assert (call_id, status) == (3, 404)
            assert "not on this node" in decode(body)["status"]["error"]
            await ws.send_bytes(pack_call(4, StreamCall(collection_uuid, 0, "count", [], {})))
            call_id, status, body = unpack_answer(await ws.receive_bytes(timeout=5))
            assert (call_id, status) == (4, 200)
    assert requests.get(f"{peer.url}/healthz", timeout=5).ok


@pytest.fixture
def own_peer(tmp_path: Path) -> Iterator[NodeProcess]:
    proc = cluster_of_one(tmp_path / "storage", "stream_own_peer", "--cluster-secret", SECRET)
    try:
        yield proc
    finally:
        proc.stop()


async def test_a_peer_restarting_or_crashing_mid_stream(own_peer: NodeProcess) -> None:
    collection = _make_collection(own_peer, "restarted")
    outcomes: list[tuple[int, object]] = []
    async with PeerClient(secret=SECRET) as client:
        shards = _remotes(client, own_peer, collection)
        await _until_streamed(shards[0], own_peer)
        expected = [await s.count() for s in shards]
        stop = asyncio.Event()

        async def reader(i: int) -> None:
            while not stop.is_set():
                try:
                    outcomes.append((i, await shards[i].count()))
                except PeerUnavailable as exc:  # the only failure a reader may see
                    outcomes.append((i, exc))
                    await asyncio.sleep(0.05)

        readers = [asyncio.ensure_future(reader(i % SHARDS)) for i in range(4)]
        try:
            for graceful in (True, False):
                await asyncio.sleep(0.3)
                if graceful:  # its shutdown closes the streams open to it: a clean exit
                    assert await asyncio.to_thread(own_peer.stop) == 0
                else:
                    await asyncio.to_thread(own_peer.kill)
                await asyncio.sleep(0.3)
                await asyncio.to_thread(own_peer.start_and_wait)
                await _until_streamed(shards[0], own_peer)
        finally:
            stop.set()
            await asyncio.gather(*readers)
        assert [await s.count() for s in shards] == expected
    assert any(isinstance(o, PeerUnavailable) for _, o in outcomes)
    answered = [(i, o) for i, o in outcomes if not isinstance(o, PeerUnavailable)]
    assert answered and all(o == expected[i] for i, o in answered)


async def test_a_frozen_peer_is_given_up_on_the_stream(own_peer: NodeProcess) -> None:
    collection = _make_collection(own_peer, "frozen")
    # Timeouts far beyond the test: only the stream's liveness watch can end a call early.
    async with PeerClient(secret=SECRET, read_timeout=60) as client:
        shard = _remotes(client, own_peer, collection)[0]
        await _until_streamed(shard, own_peer)
        expected = await shard.count()
        own_peer.pause()
        try:
            with pytest.raises(PeerUnavailable, match="not answering"):
                await shard.count()
        finally:
            own_peer.resume()
        await _until_streamed(shard, own_peer)
        assert await shard.count() == expected


@pytest.fixture(scope="module")
def peer_without_stream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    proc = cluster_of_one(tmp_path_factory.mktemp("no_stream") / "storage", "no_stream",
                          "--cluster-secret", SECRET,
                          env={"FLOTILLA__CLUSTER__P2P__STREAM": "false"})
    try:
        yield proc
    finally:
        proc.stop()


async def test_a_peer_without_the_stream_is_served_over_http(
    peer_without_stream: NodeProcess
) -> None:
    node = peer_without_stream
    collection = _make_collection(node, "unstreamed")
    async with aiohttp.ClientSession(headers=HEADERS) as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(node.url + STREAM_PATH)
        assert refused.value.status in (404, 405)
    async with PeerClient(secret=SECRET) as client:
        shards = _remotes(client, node, collection)
        for round_ in range(3):
            before = _shard_route_calls(node)
            answers = [await _reads(s) for s in shards]
            assert sum(a[0] for a in answers) == POINTS
            assert _shard_route_calls(node) > before, round_  # every read went over HTTP
            await asyncio.sleep(0.2)
