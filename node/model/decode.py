"""One entry point from wire to types: `decode(Kind, body)`, errors as BadRequest with a path."""

from __future__ import annotations

from functools import cache
from typing import TypeVar

import msgspec

from node.errors import BadRequest, Unprocessable

T = TypeVar("T")

# Separates a sub-path from the message in a check that runs inside a Struct's __post_init__:
# msgspec knows the path of the struct, the check knows which of its fields is wrong.
_SUB = "\x1f"
# Marks a check that Qdrant answers as a validation error (422), not a format error (400).
_VALIDATION = "\x1e"


def invalid(sub_path: str, message: str) -> ValueError:
    """An error for __post_init__ that names the field below the struct being checked."""
    return ValueError(f"{sub_path}{_SUB}{message}")


def below_minimum(field: str, value: int, minimum: int) -> ValueError:
    """An error for __post_init__: a number of the right type, but under the least value the
    API takes; answered with 422 and Qdrant's validation text, as Qdrant does."""
    return ValueError(f"{_VALIDATION}{field}{_SUB}value {value} invalid, must be {minimum} or "
                      "larger")


@cache
def _json_decoder(kind: type) -> msgspec.json.Decoder:
    return msgspec.json.Decoder(kind)


def decode(kind: type[T], body: bytes | bytearray | memoryview | object, *, path: str = "") -> T:
    """`body` as a `kind`: JSON bytes are parsed and checked in one pass; any other value (a
    dict from a protobuf message or a test) is converted. `path` prefixes error locations."""
    try:
        if isinstance(body, (bytes, bytearray, memoryview)):
            return _json_decoder(kind).decode(body)
        return msgspec.convert(body, kind)
    except msgspec.ValidationError as exc:
        text = str(exc)
        if _VALIDATION in text:
            message = _message(text.replace(_VALIDATION, ""), path)
            raise Unprocessable(f"Validation error in JSON body: [{message}]") from None
        prefix = getattr(kind, "format_error_prefix", "")
        raise BadRequest(prefix + _message(text, path)) from None
    except msgspec.DecodeError as exc:
        raise BadRequest(f"the request body is not valid JSON: {exc}") from None


def convert_at(value: object, kind: type[T], sub_path: str) -> T:
    """`value` (a part of a request that only a __post_init__ can tell the type of) as a
    `kind`; a failure names its field below the struct being checked, as `invalid` does."""
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError as exc:
        location, message = _located(str(exc), sub_path)
        raise invalid(location, message) from None


def _located(text: str, root: str) -> tuple[str, str]:
    """msgspec's `<message> - at `$.a[0].b`` as (`a[0].b`, `<message>`), with the sub-path
    that a __post_init__ check named appended to the location."""
    message, _, at = text.rpartition(" - at `")
    if not _:
        message, at = text, "$`"
    location = root + at[1:-1]
    if _SUB in message:
        sub, message = message.split(_SUB, 1)
        location = f"{location}.{sub}" if not sub.startswith("[") else location + sub
    return location.lstrip("."), message


def _message(text: str, root: str) -> str:
    location, message = _located(text, root)
    return f"{location}: {message}" if location else message
