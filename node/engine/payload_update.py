"""Changing a payload at a key path: `set_payload` with `key`, and `delete_payload` of nested keys.

Setting follows qdrant-client's local mode: missing objects along the path are created, a
non-object in the way is replaced by one, and an object at the end is merged into (anything
else there is replaced). Array steps (`a[0]`, `a[]`) only reach elements that exist.
"""

from __future__ import annotations

import copy

from node.engine.payload_path import ParsedKey, PathPart


def set_at(payload: dict, path: ParsedKey, value: dict) -> dict:
    """`payload` (changed in place) with `value` merged into the object at `path`."""
    holder: list = [payload]
    _assign(holder, 0, path, value)
    return holder[0]


def _assign(holder: dict | list, slot: str | int, path: ParsedKey, value: dict) -> None:
    current = holder[slot]
    if not path:
        if isinstance(current, dict):
            current.update(copy.deepcopy(value))
        else:
            holder[slot] = copy.deepcopy(value)
        return
    part, rest = path[0], path[1:]
    if part.key is not None:
        if not isinstance(current, dict):
            current = holder[slot] = {}
        current.setdefault(part.key, {})
        _assign(current, part.key, rest, value)
    elif isinstance(current, list):
        for i in _indices(current, part):
            _assign(current, i, rest, value)


def delete_at(payload: dict, path: ParsedKey) -> None:
    """Remove what `path` names from `payload`, in place; a path that names nothing is a no-op."""
    part, rest = path[0], path[1:]
    if part.key is not None:
        if not isinstance(payload, dict) or part.key not in payload:
            return
        if rest:
            delete_at(payload[part.key], rest)
        else:
            del payload[part.key]
    elif isinstance(payload, list):
        indices = _indices(payload, part)
        if rest:
            for i in indices:
                delete_at(payload[i], rest)
        else:
            for i in reversed(indices):
                del payload[i]


def _indices(items: list, part: PathPart) -> list[int]:
    if part.is_wildcard:
        return list(range(len(items)))
    return [part.index] if part.index is not None and part.index < len(items) else []
