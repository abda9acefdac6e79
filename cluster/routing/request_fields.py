"""Reading the plain fields of a request body with Qdrant's two kinds of error: a value of the
wrong type is a format error (400), a value of the right type out of range a validation error
(422)."""

from __future__ import annotations

from node.errors import BadRequest, Unprocessable
from node.model.decode import decode
from node.model.shard_keys import ShardKeySelector


def require_object(body: object, *, allow_missing: bool = False) -> dict:
    if body is None and allow_missing:
        return {}
    if not isinstance(body, dict):
        raise BadRequest("Format error in JSON body: expected a JSON object")
    return body


def read_positive_int(obj: dict, key: str, default: int, minimum: int = 1) -> int:
    value = obj.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise BadRequest(
            f"Format error in JSON body: {key}: expected an unsigned integer, got {value!r}"
        )
    if value < minimum:
        raise Unprocessable(
            f"Validation error in JSON body: [{key}: value {value} invalid, "
            f"must be {minimum} or larger]"
        )
    return value


def read_bool(obj: dict, key: str, default: bool = False) -> bool:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise BadRequest(f"Format error in JSON body: {key}: expected a boolean, got {value!r}")
    return value


def read_shard_key(obj: dict) -> ShardKeySelector | None:
    """The `shard_key` selector of a read, checked for its shape (which keys exist is the
    collection's business)."""
    return decode(ShardKeySelector | None, obj.get("shard_key"), path="shard_key")
