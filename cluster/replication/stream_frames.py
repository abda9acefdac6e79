"""The messages of the internal stream (node/api/internal_stream.py): shard reads from one
node to another over one long-lived WebSocket, many in flight at once.

A call is `u32 call id | wire message` (cluster/replication/wire.py) of
`{"c": collection uuid, "s": shard id, "m": method, "a": args, "k": kwargs,
"r": routed_at or null, "t": the sender's clock when sent, or null}`; its answer is
`u32 call id | u16 status | body`, the body being the wire encoded result when the status is
200, else Qdrant's error envelope as JSON (what the HTTP route answers). Answers come in the
order calls finish; the id pairs them up.

Only reads travel this way (STREAM_METHODS): they are the hot path, and none of them needs the
write checks of the HTTP route (placement versions, late arrivals). Their answers are small
(rankings carry ids and scores only); bulk reads stay on the HTTP route, where a big answer
does not hold up the calls behind it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import orjson

from cluster.replication.wire import WireError, decode, encode

STREAM_PATH = "/internal/v1/stream"
STREAM_METHODS = frozenset({
    "query", "query_batch", "count", "existing", "sparse_statistics", "info", "indexed_points",
})
_CALL_HEAD = struct.Struct("<I")
_ANSWER_HEAD = struct.Struct("<IH")
_CALL_KEYS = frozenset({"c", "s", "m", "a", "k", "r", "t"})
MAX_CALL_ID = 2**32 - 1


@dataclass(frozen=True, slots=True)
class StreamCall:
    collection_uuid: str
    shard_id: int
    method: str
    args: list
    kwargs: dict
    routed_at: int | None = None
    sent_at: str | None = None


def pack_call(call_id: int, call: StreamCall) -> bytes:
    body = encode({"c": call.collection_uuid, "s": call.shard_id, "m": call.method,
                   "a": call.args, "k": call.kwargs, "r": call.routed_at, "t": call.sent_at})
    return _CALL_HEAD.pack(call_id) + body


def call_id_of(data: bytes) -> int:
    """The id of a call message; WireError when it is too short to have one."""
    if len(data) < _CALL_HEAD.size:
        raise WireError("a stream call is shorter than its header")
    return _CALL_HEAD.unpack_from(data)[0]


def unpack_call(data: bytes) -> StreamCall:
    """The call a message carries; WireError for anything but a well-formed call of a
    streamed method. A filter in the arguments that its own API would refuse raises that
    API's BadRequest (wire.decode), answered like any other refused call."""
    call = decode(data[_CALL_HEAD.size:])
    if type(call) is not dict or call.keys() != _CALL_KEYS:
        raise WireError(f"a stream call is an object with the keys {sorted(_CALL_KEYS)}")
    uuid, shard_id, method, args, kwargs, routed_at, sent_at = (
        call["c"], call["s"], call["m"], call["a"], call["k"], call["r"], call["t"])
    if type(uuid) is not str or type(shard_id) is not int or shard_id < 0:
        raise WireError("a stream call names a collection uuid and a shard id")
    if method not in STREAM_METHODS:
        raise WireError(f"{method!r} is not a method the stream carries")
    if type(args) is not list or type(kwargs) is not dict:
        raise WireError("a stream call's args are a list and its kwargs an object")
    if routed_at is not None and (type(routed_at) is not int or routed_at < 0):
        raise WireError("a stream call's routed_at is a shard version")
    if sent_at is not None and type(sent_at) is not str:
        raise WireError("a stream call's sent_at is the sender's clock as text")
    return StreamCall(uuid, shard_id, method, args, kwargs, routed_at, sent_at)


def pack_answer(call_id: int, status: int, body: bytes) -> bytes:
    return _ANSWER_HEAD.pack(call_id, status) + body


def pack_error(call_id: int, status: int, message: str) -> bytes:
    return pack_answer(call_id, status, orjson.dumps({"status": {"error": message}}))


def unpack_answer(data: bytes) -> tuple[int, int, bytes]:
    """(call id, status, body) of an answer; WireError when it is too short to be one."""
    if len(data) < _ANSWER_HEAD.size:
        raise WireError("a stream answer is shorter than its header")
    call_id, status = _ANSWER_HEAD.unpack_from(data)
    return call_id, status, data[_ANSWER_HEAD.size:]
