"""The internal API between nodes: run a ShardAccess method on this node's replica of a shard.

`POST /internal/v1/shards/{collection_uuid}/{shard_id}/{method}` takes a wire-encoded
(cluster/replication/wire.py) `{"args": [...], "kwargs": {...}}`, runs that method of
LocalShardAccess and
answers the wire-encoded result. Errors come back in Qdrant's JSON envelope with the status the
engine gave them, so a peer re-raises the same FlotillaError: 404 when the shard is not here,
400 for an unknown method or an undecodable body.
`GET /internal/v1/stream` opens a WebSocket for the hot reads of the shard route, many calls
on one connection (node/api/internal_stream.py).
`GET /internal/v1/collections/{name}` tells the uuid and replica placement of a collection.
`GET /internal/v1/telemetry` gives this node's telemetry to a peer's `GET /cluster/telemetry`,
`GET /internal/v1/quota` its quota usage to a peer's `GET /quotas`; on the Raft leader,
`POST /internal/v1/raft/snapshot` sends a follower a snapshot (its `POST /cluster/recover`).

These routes share the public port and exist only on a node with clustering on. Every request
carries the node credential in `X-Flotilla-Secret`: the cluster secret, or the API key where no
secret is set (401 without it, 403 when wrong). Only a cluster with neither, which the settings
allow on loopback addresses alone, serves them openly, as it does its public API.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import inspect
import logging

from aiohttp import web

from cluster.metadata.state import ACTIVE, CollectionMeta
from cluster.replication import hit_columns
from cluster.replication.late_writes import SENT_AT_HEADER, ArrivalDelays
from cluster.replication.peer_client import WRITE_METHODS
from cluster.replication.replica_set import WRITE_ORDERING
from cluster.replication.shard_access import LocalShardAccess
from cluster.replication.stream_frames import STREAM_PATH, StreamCall
from cluster.replication.wire import CONTENT_TYPE, WireError, decode, encode
from cluster.replication.write_routing import ROUTED_AT_HEADER, check_read_routing
from node.api.access import FULL_ACCESS
from node.api.envelope import Handler, error_response, ok
from node.api.internal_stream import StreamServer
from node.api.telemetry import details_level
from node.ascii_digits import parse_ascii_uint
from node.engine.filters import CompiledFilter
from node.engine.point_batch import PointBatch
from node.engine.point_changes import POINT_CHANGES
from node.engine.shard import LocalShard
from node.errors import BadRequest, NotFound
from node.quota.status import PEER_QUOTA_PATH, peer_quota_usage
from node.runtime import Node
from node.settings import internal_credential
from node.telemetry import TelemetryDetail, node_telemetry

log = logging.getLogger(__name__)

PREFIX = "/internal/v1"
SECRET_HEADER = "X-Flotilla-Secret"
# The methods of the ShardAccess protocol, and the two reads of anti-entropy (a replica's
# content digest, its per-point hashes).
SHARD_METHODS = frozenset({
    "upsert", "update", "retrieve", "count", "existing", "scroll", "scan", "query", "query_batch",
    "sparse_statistics", "info", "indexed_points", "facet_counts", "matrix_sample",
    "content_digest", "point_hashes",
})
# Read once: inspecting a signature costs more than a small shard call's own work.
_SIGNATURES = {m: inspect.signature(getattr(LocalShardAccess, m)) for m in SHARD_METHODS}
# Bodies above this size are decoded and results encoded off the event loop.
OFF_LOOP_BYTES = 256 * 1024
# What a read raises when its arguments are not of the types its signature names.
_ARGUMENT_ERRORS = (TypeError, AttributeError, ValueError, KeyError, IndexError)
BULK_RESULTS = frozenset({"retrieve", "scroll", "scan"})
METADATA_WAIT_SECONDS = 2.0


def routes(node: Node) -> list[web.RouteDef]:
    credential = internal_credential(node.settings)
    arrivals = ArrivalDelays()

    def refuse_if_late(request: web.Request, write: bool) -> None:
        # Before the body is read: what counts is when the request reached this node.
        arrivals.check(request.remote or "", request.headers.get(SENT_AT_HEADER), write)

    def guarded(handler: Handler) -> Handler:
        async def check(request: web.Request) -> web.StreamResponse:
            if credential is not None:
                given = request.headers.get(SECRET_HEADER)
                if given is None:
                    return error_response(request, 401, f"internal API: missing {SECRET_HEADER}")
                if not hmac.compare_digest(given.encode(), credential.encode()):
                    return error_response(request, 403, f"internal API: wrong {SECRET_HEADER}")
            return await handler(request)

        return check

    async def call_shard(request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if method not in SHARD_METHODS:
            raise BadRequest(f"internal API: unknown shard method {method!r}")
        uuid, shard_id = request.match_info["collection_uuid"], request.match_info["shard_id"]
        routed_shard = parse_ascii_uint(shard_id)
        refuse_if_late(request, method in WRITE_METHODS)
        if method in WRITE_METHODS and routed_shard is not None and node.writes_in is not None:
            # A write is checked against the placement it was routed with first.
            replica = node.writes_in.accept(uuid, routed_shard,
                                            request.headers.get(ROUTED_AT_HEADER))
        else:
            replica = contextlib.nullcontext(
                _local_shard(node, uuid, shard_id, readable=method not in WRITE_METHODS,
                             routed_at=request.headers.get(ROUTED_AT_HEADER)))
        args, kwargs = await _read_call(request)
        async with replica as shard:
            result = await run_on_shard(node, shard, method, args, kwargs)
        return _wire_response(await _encode(method, result))

    async def coordinate(request: web.Request) -> web.Response:
        """A write handed over for ordering: applied to every replica, one at a time."""
        method = request.match_info["method"]
        if method not in ("upsert", "update"):
            raise BadRequest(f"internal API: {method!r} is not a write")
        refuse_if_late(request, True)
        uuid, shard_id = request.match_info["collection_uuid"], request.match_info["shard_id"]
        meta = next((m for m in list(node.catalog.state.collections.values())
                     if m.uuid == uuid), None)
        if meta is None or parse_ascii_uint(shard_id) not in meta.shards:
            raise NotFound(f"shard {shard_id} of collection {uuid} is unknown to this node")
        args, kwargs = await _read_call(request)
        token = WRITE_ORDERING.set("leader")
        try:
            result = await getattr(node.views.shard(meta, int(shard_id)), method)(*args, **kwargs)
        finally:
            WRITE_ORDERING.reset(token)
        return _wire_response(await _encode(method, result))

    async def collection(request: web.Request) -> web.Response:
        meta = node.catalog.resolve(request.match_info["name"])
        shards = {
            str(sid): {str(peer): state for peer, state in replicas.items()}
            for sid, replicas in meta.shards.items()
        }
        return ok(request, {"uuid": meta.uuid, "shards": shards})

    async def metadata_version(request: web.Request) -> web.Response:
        """Answers once this node applied metadata version `at_least` (or the wait ends)."""
        raw = request.query.get("at_least", "0")
        at_least = parse_ascii_uint(raw)
        if at_least is None:
            raise BadRequest("internal API: at_least must be a number")
        reached = await node.wait_metadata_version(at_least, METADATA_WAIT_SECONDS)
        return ok(request, {"version": node.catalog.state.version, "reached": reached})

    async def send_snapshot(request: web.Request) -> web.Response:
        """As the Raft leader, send the follower at the given Raft address a snapshot of the
        metadata (a peer's `POST /cluster/recover`)."""
        args, _ = await _read_call(request)
        if len(args) != 1 or not isinstance(args[0], str):
            raise BadRequest("internal API: send_snapshot takes the follower's Raft address")
        await node.consensus.send_snapshot(args[0])
        return _wire_response(encode(True))

    async def quota_usage(request: web.Request) -> web.Response:
        """This node's PeerQuotaUsage, for a peer's `GET /quotas`."""
        return ok(request, await asyncio.to_thread(peer_quota_usage, node))

    async def telemetry(request: web.Request) -> web.Response:
        """This node's telemetry, whole, for a peer's `GET /cluster/telemetry`."""
        detail = TelemetryDetail(level=details_level(request))
        return ok(request, await asyncio.to_thread(node_telemetry, node, detail, FULL_ACCESS))

    stream = StreamServer(lambda call: read_shard(node, call), arrivals,
                          node.settings.service.max_request_size_mb * 1024 * 1024)
    offered = [web.get(STREAM_PATH, guarded(stream.serve))] if (
        node.settings.cluster.p2p.stream) else []
    return [
        *offered,
        web.get(f"{PREFIX}/telemetry", guarded(telemetry)),
        web.get(PEER_QUOTA_PATH, guarded(quota_usage)),
        web.post(f"{PREFIX}/raft/snapshot", guarded(send_snapshot)),
        web.get(f"{PREFIX}/metadata/version", guarded(metadata_version)),
        web.post(f"{PREFIX}/coordinate/{{collection_uuid}}/{{shard_id}}/{{method}}",
                 guarded(coordinate)),
        web.post(f"{PREFIX}/shards/{{collection_uuid}}/{{shard_id}}/{{method}}",
                 guarded(call_shard)),
        web.get(f"{PREFIX}/collections/{{name}}", guarded(collection)),
    ]


async def run_on_shard(node: Node, shard: LocalShard, method: str, args: list, kwargs: dict
                       ) -> object:
    """Run a ShardAccess method on this node's replica, its arguments checked first."""
    bound = getattr(LocalShardAccess(shard, node.quota.admit_write), method)
    try:
        arguments = _SIGNATURES[method].bind(shard, *args, **kwargs)
    except TypeError as exc:
        raise BadRequest(f"internal API: bad arguments for {method}: {exc}") from None
    if method in WRITE_METHODS:
        _check_write_arguments(method, arguments)
        return await bound(*args, **kwargs)
    try:
        return await bound(*args, **kwargs)
    except _ARGUMENT_ERRORS as exc:
        # A read changes nothing: arguments the engine cannot use (sent by a peer of another
        # version, or forged by a holder of the cluster secret) are the caller's error, not
        # this node's. Logged whole, since an engine bug would look the same.
        log.warning("internal API: %s failed on its arguments", method, exc_info=True)
        raise BadRequest(f"internal API: {method} cannot run with these arguments: "
                         f"{type(exc).__name__}: {exc}") from None


async def read_shard(node: Node, call: StreamCall) -> bytes:
    """The encoded answer of a read on this node's Active replica (the internal stream's
    calls)."""
    routed_at = None if call.routed_at is None else str(call.routed_at)
    shard = _local_shard(node, call.collection_uuid, str(call.shard_id), readable=True,
                         routed_at=routed_at)
    return await _encode(call.method,
                         await run_on_shard(node, shard, call.method, call.args, call.kwargs))


def _local_shard(node: Node, uuid: str, shard_id: str, *, readable: bool = False,
                 routed_at: str | None = None):
    """This node's replica of the shard; with `readable`, only while this node's metadata
    says it is Active: a Dead or Partial replica may lack acknowledged writes (a recovery
    drops its points first), and a coordinator whose metadata trails may still read it. A
    read that carries the shard version it was routed with is refused when this node knows
    a newer one (check_read_routing)."""
    meta: CollectionMeta | None = next(
        (m for m in list(node.catalog.state.collections.values()) if m.uuid == uuid), None
    )
    shard = None
    number = parse_ascii_uint(shard_id)
    if meta is not None and number is not None:
        shard = node.shards.get(meta, number)
    if shard is None:
        raise NotFound(f"shard {shard_id} of collection {uuid} is not on this node "
                       f"(peer {node.peer_id})")
    state = meta.shards.get(number, {}).get(node.peer_id)  # type: ignore[union-attr]
    if readable:
        check_read_routing(meta, number, routed_at)  # type: ignore[arg-type]
    if readable and state != ACTIVE:
        raise NotFound(f"the replica of shard {shard_id} of collection {uuid} on peer "
                       f"{node.peer_id} is {state}: it serves no reads")
    return shard


async def _read_call(request: web.Request) -> tuple[list, dict]:
    body = await request.read()
    try:
        call = await asyncio.to_thread(decode, body) if len(body) > OFF_LOOP_BYTES else (
            decode(body))
    except WireError as exc:
        raise BadRequest(f"internal API: {exc}") from None
    if (not isinstance(call, dict) or not isinstance(call.get("args", []), list)
            or not isinstance(call.get("kwargs", {}), dict)):
        raise BadRequest('internal API: the body must be {"args": [...], "kwargs": {...}}')
    return call.get("args", []), call.get("kwargs", {})


def _check_write_arguments(method: str, bound: inspect.BoundArguments) -> None:
    # The shard writes an op to its WAL before applying it: an argument it cannot apply would
    # be logged, then fail on every replay. Refuse it before it reaches the shard.
    given = bound.arguments
    if not isinstance(given.get("sync"), bool):
        raise BadRequest(f"internal API: {method}: `sync` must be a boolean")
    if method == "upsert":
        batch = given.get("batch")
        if not isinstance(batch, PointBatch) or not isinstance(batch.ids, list) or \
                not isinstance(batch.payloads, list) or len(batch.ids) != len(batch.payloads):
            raise BadRequest("internal API: upsert needs a point batch with one payload per id")
        return
    if given.get("kind") not in POINT_CHANGES:
        raise BadRequest(f"internal API: unknown update operation {given.get('kind')!r}")
    if not isinstance(given.get("ids"), list | None) or \
            not isinstance(given.get("point_filter"), CompiledFilter | None) or \
            not isinstance(given.get("args"), list | tuple):
        raise BadRequest("internal API: update needs ids (a list or null), a compiled filter "
                         "or null, and a list of arguments")


async def _encode(method: str, result: object) -> bytes:
    if method == "query_batch":
        result = hit_columns.pack(result)  # type: ignore[arg-type]
    # Records can be many: encoding them off the loop keeps other requests flowing.
    if method in BULK_RESULTS:
        return await asyncio.to_thread(encode, result)
    return encode(result)


def _wire_response(data: bytes) -> web.Response:
    return web.Response(body=data, content_type=CONTENT_TYPE)
