"""A collection as the routers see it: its metadata, parsed config and this node's shards."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cluster.metadata.catalog import Catalog
from cluster.metadata.state import CollectionMeta
from cluster.replication.local_shards import LocalShards
from cluster.replication.replica_set import ClusterLinks, ReplicaSet
from cluster.replication.shard_access import AdmitWrite, LocalShardAccess, ShardAccess
from node.engine.shard_config import ShardConfig
from node.errors import Unavailable


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
        self, catalog: Catalog, shards: LocalShards, links: ClusterLinks | None = None,
        admit_write: AdmitWrite | None = None,
    ) -> None:
        self._catalog = catalog
        self._shards = shards
        self.links = links
        # Asked before each write to this node's replicas (the node's quota, node/quota).
        self._admit_write = admit_write
        # collection uuid -> (the config dict parsed, its parsed form): parsed once per change
        self._configs: dict[str, tuple[dict, ShardConfig]] = {}
        # collection uuid -> (metadata, peers, local shards' generation, view): metadata and
        # the peer table are replaced, never changed in place, on every change, so a view is
        # built once per change instead of once per request.
        self._views: dict[str, tuple[CollectionMeta, object, int, CollectionView]] = {}

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
            return LocalShardAccess(shard)  # writes admitted per request: admit_request
        return ReplicaSet(meta, shard_id, lambda m: self._replicas(m, shard_id), self.links)

    def admit_request(self, kinds: Iterable[str]) -> None:
        """On a node alone, a request's writes are admitted once, before any is made, so one
        whose own data crosses the quota after its first shard is not applied in part; in a
        cluster each replica admits the writes it receives (LocalShardAccess)."""
        if self.links is None and self._admit_write is not None:
            for kind in kinds:
                self._admit_write(kind)

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
                    replicas[peer_id] = LocalShardAccess(local, self._admit_write)
            elif peer_id in peers:
                replicas[peer_id] = links.remote(peer_id, peers[peer_id]["api"], meta, shard_id)
        return replicas

    def of(self, meta: CollectionMeta) -> CollectionView:
        peers = self.links.peers() if self.links is not None else None
        generation = self._shards.generation
        cached = self._views.get(meta.uuid)
        if cached is not None and cached[0] is meta and cached[1] is peers and (
                cached[2] == generation):
            return cached[3]
        shards = [self.shard(meta, sid) for sid in sorted(meta.shards)]
        view = CollectionView(meta, self.config_of(meta), shards)
        if len(self._views) > 1024:
            self._views.clear()
        self._views[meta.uuid] = (meta, peers, generation, view)
        return view

    def named(self, name: str) -> CollectionView:
        return self.of(self._catalog.resolve(name))
