"""Facet counts of one shard: how many points that pass a filter hold each value of a key.

A point counts once per distinct value it holds at the key (an array of values counts for each
of them). Only values of the key's index type count, as Qdrant counts from that index: strings
for `keyword`, integers for `integer`, booleans for `bool`, UUID strings (in their canonical
hyphenated form) for `uuid`.
"""

from __future__ import annotations

import uuid

from node.engine.payload_path import values_at
from node.engine.point_filter import PointFilter, matching_points
from node.engine.shard import LocalShard

# Payload index types a facet can count from (those that answer exact-match conditions).
FACET_INDEX_TYPES = ("keyword", "integer", "uuid", "bool")

FacetValue = str | int | bool


def facet_value(value: object, kind: str) -> FacetValue | None:
    """`value` as the index of type `kind` keys it, or None when that index ignores it."""
    if kind == "bool":
        return value if isinstance(value, bool) else None
    if kind == "integer":
        return value if isinstance(value, int) and not isinstance(value, bool) else None
    if not isinstance(value, str):
        return None
    if kind == "uuid":
        try:
            return str(uuid.UUID(value))
        except ValueError:
            return None
    return value


def shard_facet_counts(shard: LocalShard, key: str, kind: str,
                       point_filter: PointFilter | None) -> list[tuple[FacetValue, int]]:
    """(value, points holding it) for every value of `key` among the shard's live points that
    pass the filter, in value order (replicas with the same points answer alike, whatever
    their segments). All values travel: a coordinator sums shards' counts before it picks the
    top ones, so each returned count is exact."""
    counts: dict[FacetValue, int] = {}
    with shard.lock:
        for segment, offset in matching_points(shard.segments, point_filter):
            payload = segment.payload(offset)
            if not payload:
                continue
            held = {facet_value(v, kind) for v in values_at(payload, key)}
            held.discard(None)
            for value in held:
                counts[value] = counts.get(value, 0) + 1
    return sorted(counts.items())


def top_facet_hits(parts: list[list[tuple[FacetValue, int]]], limit: int) -> list[dict]:
    """Shards' counts summed per value, then the `limit` largest: by count descending, then by
    value ascending, as Qdrant orders them."""
    totals: dict[FacetValue, int] = {}
    for part in parts:
        for value, count in part:
            totals[value] = totals.get(value, 0) + int(count)
    ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [{"value": value, "count": count} for value, count in ordered[:limit] if count > 0]
