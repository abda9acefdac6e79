"""Custom sharding requests: a shard key, the selector of keys a request reads or writes, and
the bodies that create and drop a key."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from node.model.collections import ShardCount

# A key is a string or an unsigned 64-bit integer; "1" and 1 are two different keys.
ShardKey = str | Annotated[int, Meta(ge=0)]
PeerId = Annotated[int, Meta(ge=0)]
Positive = Annotated[int, Meta(ge=1, le=2**32 - 1)]


class ShardKeyWithFallback(msgspec.Struct, forbid_unknown_fields=True):
    """Use `target` if that key exists, else `fallback` (tiered multitenancy: a tenant gets a
    key of its own once it is large; until then its points live in a shared key)."""

    target: ShardKey
    fallback: ShardKey


# One key, a list of keys, or a key with a fallback.
ShardKeySelector = ShardKey | list[ShardKey] | ShardKeyWithFallback


class CreateShardingKey(msgspec.Struct, forbid_unknown_fields=True):
    shard_key: ShardKey
    shards_number: ShardCount | None = None
    replication_factor: Positive | None = None
    placement: list[PeerId] | None = None
    initial_state: Literal["Active", "Partial"] | None = None

    def op(self, collection: str) -> dict:
        """The metadata op that creates this key (cluster/metadata/state.py checks the rest)."""
        return {"op": "create_shard_key", "collection": collection,
                "shard_key": self.shard_key, "shards_number": self.shards_number,
                "replication_factor": self.replication_factor, "placement": self.placement,
                "initial_state": self.initial_state}


class DropShardingKey(msgspec.Struct, forbid_unknown_fields=True):
    shard_key: ShardKey

    def op(self, collection: str) -> dict:
        return {"op": "delete_shard_key", "collection": collection,
                "shard_key": self.shard_key}
