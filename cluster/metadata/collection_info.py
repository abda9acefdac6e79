"""Collection info in Qdrant's shape, from the metadata and the shards' own counts."""

from __future__ import annotations

from cluster.metadata.payload_schema import schema_info
from cluster.metadata.state import CollectionMeta
from node.engine.shard import ShardInfo

# Worst first: the collection shows the worst status of its shards.
_STATUS_ORDER = ("red", "yellow", "grey", "green")


def worst_status(shards: list[ShardInfo]) -> str:
    """A collection shows the worst status of its shards; green when it has none."""
    statuses = {s.status for s in shards} or {"green"}
    return next(s for s in _STATUS_ORDER if s in statuses)


def collection_info(
    meta: CollectionMeta, shards: list[ShardInfo], indexed_points: dict[str, int]
) -> dict:
    status = worst_status(shards)
    errors = [s.optimizer_error for s in shards if s.optimizer_error]
    return {
        "status": status,
        "optimizer_status": {"error": errors[0]} if errors else "ok",
        "vectors_count": sum(s.vectors for s in shards),
        "indexed_vectors_count": sum(s.indexed_vectors for s in shards),
        "points_count": sum(s.points for s in shards),
        "segments_count": sum(s.segments for s in shards),
        "config": meta.config,
        "payload_schema": {
            field: schema_info(schema, indexed_points.get(field, 0))
            for field, schema in meta.payload_indexes.items()
        },
    }
