"""`POST /collections/{name}/cluster`: one shard operation (move, replicate, abort a transfer,
drop a replica, create or drop a shard key)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from node.model.shard_keys import CreateShardingKey, DropShardingKey

PeerOrShard = Annotated[int, Meta(ge=0)]


class MoveShard(msgspec.Struct):
    shard_id: PeerOrShard
    from_peer_id: PeerOrShard
    to_peer_id: PeerOrShard


class AbortTransfer(msgspec.Struct):
    shard_id: PeerOrShard
    to_peer_id: PeerOrShard


class DropReplica(msgspec.Struct):
    shard_id: PeerOrShard
    peer_id: PeerOrShard


class ClusterOperation(msgspec.Struct, forbid_unknown_fields=True):
    move_shard: MoveShard | None = None
    replicate_shard: MoveShard | None = None
    abort_transfer: AbortTransfer | None = None
    drop_replica: DropReplica | None = None
    create_sharding_key: CreateShardingKey | None = None
    drop_sharding_key: DropShardingKey | None = None

    def __post_init__(self) -> None:
        given = [op for op in (self.move_shard, self.replicate_shard, self.abort_transfer,
                               self.drop_replica, self.create_sharding_key,
                               self.drop_sharding_key) if op is not None]
        if len(given) != 1:
            raise ValueError("expected one of move_shard, replicate_shard, abort_transfer, "
                             "drop_replica, create_sharding_key, drop_sharding_key")
