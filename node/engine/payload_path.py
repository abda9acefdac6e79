"""Payload keys in Qdrant's syntax, and the values a key resolves to in one payload.

Syntax: `a.b` descends into objects, `a[]` expands an array, `a[2]` takes one element,
`"odd.key"` quotes a key holding characters outside letters, digits, `_` and `-`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from node.errors import BadRequest

_PLAIN_KEY = re.compile(r"[\w-]+")
_BRACKET = re.compile(r"\[(\d*)\]")


@dataclass(frozen=True)
class PathPart:
    """One step of a key: an object field, an array index, or (both None) every array element."""

    key: str | None = None
    index: int | None = None

    @property
    def is_wildcard(self) -> bool:
        return self.key is None and self.index is None


ParsedKey = tuple[PathPart, ...]
# Keys up to this long are cached. The cache keeps 4,096 keys; unbounded in length, requests
# with long keys (2,000 counts with 32 KB keys) left the node 60 MiB larger for good.
CACHED_KEY_CHARS = 256


def parse_key(key: str) -> ParsedKey:
    """Split a payload key into path parts; raise BadRequest naming the problem if malformed.

    The result is a tuple because it is cached and shared between callers.
    """
    # Checked before the cache sees it: a list or object from a request body is unhashable.
    if not isinstance(key, str) or not key:
        raise BadRequest("payload key must be a non-empty string")
    if len(key) > CACHED_KEY_CHARS:  # parsed each time rather than kept
        return _parse_text_key.__wrapped__(key)
    return _parse_text_key(key)


@lru_cache(maxsize=4096)
def _parse_text_key(key: str) -> ParsedKey:
    parts: list[PathPart] = []
    pos = 0
    while True:
        pos = _read_field(key, pos, parts)
        pos = _read_brackets(key, pos, parts)
        if pos == len(key):
            return tuple(parts)
        if key[pos] != "." or pos + 1 == len(key):
            raise BadRequest(f"invalid payload key {key!r}: unexpected {key[pos:]!r}")
        pos += 1


def _read_field(key: str, pos: int, parts: list[PathPart]) -> int:
    if key.startswith('"', pos):
        end = key.find('"', pos + 1)
        if end < 0:
            raise BadRequest(f"invalid payload key {key!r}: unterminated quote")
        parts.append(PathPart(key=key[pos + 1 : end]))
        return end + 1
    match = _PLAIN_KEY.match(key, pos)
    if match is None:
        raise BadRequest(f"invalid payload key {key!r}: expected a field name at {key[pos:]!r}")
    parts.append(PathPart(key=match.group()))
    return match.end()


def _read_brackets(key: str, pos: int, parts: list[PathPart]) -> int:
    while key.startswith("[", pos):
        match = _BRACKET.match(key, pos)
        if match is None:
            raise BadRequest(f"invalid payload key {key!r}: expected [] or [N] at {key[pos:]!r}")
        digits = match.group(1)
        parts.append(PathPart(index=int(digits)) if digits else PathPart())
        pos = match.end()
    return pos


def values_at(payload: object, key: str | ParsedKey, *, expand_last: bool = True) -> list[object]:
    """All values `key` points to in `payload`; an empty list when it points nowhere.

    With expand_last, an array found at the final field contributes its elements (filters match
    when any element does); without it the array itself is returned, which is what counting and
    emptiness checks need. Arrays met before the final part are only entered through `[]`/`[N]`,
    and an array inside an array stays one value.
    """
    parts = parse_key(key) if isinstance(key, str) else key
    current: list[object] = [payload]
    for part in parts[:-1]:
        current = _step(current, part)
        if not current:
            return []
    last = parts[-1]
    if last.key is None:
        return _step(current, last)
    found: list[object] = []
    for data in current:
        if isinstance(data, dict) and last.key in data:
            value = data[last.key]
            if expand_last and isinstance(value, list):
                found.extend(value)
            else:
                found.append(value)
    return found


def _step(current: list[object], part: PathPart) -> list[object]:
    found: list[object] = []
    for data in current:
        if part.key is not None:
            if isinstance(data, dict) and part.key in data:
                found.append(data[part.key])
        elif isinstance(data, list):
            if part.index is None:
                found.extend(data)
            elif part.index < len(data):
                found.append(data[part.index])
    return found
