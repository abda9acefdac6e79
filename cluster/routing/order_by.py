"""Ordering points by a payload value (`order_by`), as Qdrant does.

A point is listed once per distinct value it holds at the key (arrays give several entries);
numbers order as numbers and RFC 3339 datetimes by their instant; `start_from` skips what comes
before it in the chosen direction.
"""

from __future__ import annotations

from node.engine.datetimes import parse_datetime
from node.engine.ids import PointId
from node.engine.payload_path import values_at
from node.engine.point_order import point_id_order
from node.errors import BadRequest

# Index types that keep values in order; Qdrant orders only by such an index.
ORDERED_INDEX_TYPES = ("integer", "float", "datetime")


def require_ordered_index(payload_indexes: dict[str, dict], key: str) -> None:
    schema = payload_indexes.get(key)
    kind = schema.get("type") if isinstance(schema, dict) else schema
    if kind not in ORDERED_INDEX_TYPES:
        raise BadRequest(
            f"order_by: `{key}` needs a payload index of type integer, float or datetime "
            "to order by"
        )


def order_value(value: object) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        instant = parse_datetime(value)
        if instant is not None:
            return int(instant.timestamp() * 1_000_000)
    return None


def order_points(points: list[tuple[PointId, dict | None, dict]], order_by: dict, k: int) -> list:
    """The first k entries in order: (order value as score, id, payload, vectors)."""
    start = order_by.get("start_from")  # a number or a datetime, checked by the decode
    start_value = order_value(start) if start is not None else None
    descending = order_by.get("direction") == "desc"
    entries = []
    for pid, payload, vectors in points:
        seen = set()
        for raw in values_at(payload or {}, order_by["key"]):
            value = order_value(raw)
            if value is None or value in seen:
                continue
            seen.add(value)
            if start_value is not None and (
                value > start_value if descending else value < start_value
            ):
                continue
            entries.append((value, pid, payload, vectors))
    entries.sort(key=lambda e: ((-e[0] if descending else e[0]), point_id_order(e[1])))
    return entries[:k]
