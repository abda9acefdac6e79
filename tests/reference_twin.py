"""The same collection in Flotilla and in qdrant-client's local mode (Qdrant's reference
semantics), for the congruence tests."""

from __future__ import annotations

from qdrant_client import QdrantClient, models


def twin_collections(client: QdrantClient, name: str, points: list[models.PointStruct],
                     vectors_config: dict, sparse_config: dict | None = None,
                     shard_number: int = 2) -> QdrantClient:
    """Create `name` with these vectors in Flotilla (through `client`, over `shard_number`
    shards) and in local mode, upsert `points` into both; the local-mode client is returned."""
    reference = QdrantClient(":memory:")
    reference.create_collection(name, vectors_config=vectors_config,
                                sparse_vectors_config=sparse_config)
    client.create_collection(name, vectors_config=vectors_config,
                             sparse_vectors_config=sparse_config, shard_number=shard_number)
    reference.upsert(name, points)
    client.upsert(name, points, wait=True)
    return reference
