"""A collection as the routers see it: its metadata, parsed config and this node's shards."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.metadata.catalog import Catalog
from cluster.metadata.state import CollectionMeta
from cluster.replication.local_shards import LocalShards
from cluster.replication.replica_set import ClusterLinks, ReplicaSet
from cluster.replication.shard_access import LocalShardAccess, ShardAccess
from cluster.routing.shard_selection import read_scope
from node.engine.shard_config import ShardConfig
from node.errors import Unavailable
from node.model.shard_keys import ShardKeySelector


@dataclass
class CollectionView:
    meta: CollectionMeta
    config: ShardConfig
    shards: list[ShardAccess]  # one per shard id, in shard id order

    @property
    def unnamed_vector(self) -> bool:
        return "size" in (self.meta.config["params"].get("vectors") or {})


class CollectionViews:
    def __init__(
        self, catalog: Catalog, shards: LocalShards, links: ClusterLinks | None = None
    ) -> None:
        self._catalog = catalog
        self._shards = shards
        self.links = links
        # collection uuid -> (the config dict parsed, its parsed form): parsed once per change
        self._configs: dict[str, tuple[dict, ShardConfig]] = {}

    def config_of(self, meta: CollectionMeta) -> ShardConfig:
        cached = self._configs.get(meta.uuid)
        if cached is None or cached[0] is not meta.config:
            if len(self._configs) > 1024:
                self._configs.clear()
            cached = self._configs[meta.uuid] = (
                meta.config, ShardConfig.from_collection_config(meta.config)
            )
        return cached[1]

    def shard(self, meta: CollectionMeta, shard_id: int) -> ShardAccess:
        """The shard's replicas as one access: a replica set in a cluster, else the local one."""
        if self.links is None:
            shard = self._shards.get(meta, shard_id)
            if shard is None:
                raise Unavailable(
                    f"shard {shard_id} of `{meta.name}` is not available on this node"
                )
            return LocalShardAccess(shard)
        return ReplicaSet(meta, shard_id, lambda m: self._replicas(m, shard_id), self.links)

    def _replicas(self, meta: CollectionMeta, shard_id: int) -> dict[int, ShardAccess]:
        """peer id -> access to its replica of the shard, for the peers the cluster knows."""
        links = self.links
        assert links is not None
        peers = links.peers()
        replicas: dict[int, ShardAccess] = {}
        for peer_id in meta.shards.get(shard_id, {}):
            if peer_id == links.peer_id:
                local = self._shards.get(meta, shard_id)
                if local is not None:
                    replicas[peer_id] = LocalShardAccess(local)
            elif peer_id in peers:
                replicas[peer_id] = links.remote(peer_id, peers[peer_id]["api"], meta, shard_id)
        return replicas

    def of(self, meta: CollectionMeta) -> CollectionView:
        shards = [self.shard(meta, sid) for sid in sorted(meta.shards)]
        return CollectionView(meta, self.config_of(meta), shards)

    def named(self, name: str, shard_key: ShardKeySelector | None = None) -> CollectionView:
        """The collection (or the shards of the keys `shard_key` selects) for a read."""
        return self.of(read_scope(self._catalog.resolve(name), shard_key))
