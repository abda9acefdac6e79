"""This node's local shards, kept in line with the replicated metadata.

The metadata says which replicas this peer holds; `reconcile` opens or creates those shards and
closes and deletes the ones the metadata no longer lists (a deleted collection, a dropped
replica). Directories are named by the collection's uuid, so a collection re-created under an
old name never sees the old data.
"""

from __future__ import annotations

import logging
import shutil
import threading
from collections.abc import Callable
from pathlib import Path

from cluster.metadata.state import PARTIAL, CollectionMeta, MetadataState
from cluster.replication.staged_restores import StagedRestores
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig

log = logging.getLogger(__name__)

ShardKey = tuple[str, int]  # (collection uuid, shard id)


class LocalShards:
    def __init__(
        self,
        root: Path,
        peer_id: int,
        on_optimizer_run: Callable[[str, str, int], None] | None = None,
    ) -> None:
        self.root = root
        self.peer_id = peer_id
        self._on_optimizer_run = on_optimizer_run
        self._shards: dict[ShardKey, LocalShard] = {}
        # Counts every replica opened or dropped: what views built over these shards check
        # to know they still hold the live ones.
        self.generation = 0
        self._configs: dict[str, dict] = {}  # collection uuid -> config the shards were given
        # Points the optimizer put into graphs since this process started, per shard.
        self._optimized_points: dict[ShardKey, int] = {}
        self._lock = threading.Lock()
        root.mkdir(parents=True, exist_ok=True)
        # Shard data extracted from snapshots, waiting for their recover_collection op.
        self.restores = StagedRestores(root.parent / "snapshot-work")

    def get(self, meta: CollectionMeta, shard_id: int) -> LocalShard | None:
        return self._shards.get((meta.uuid, shard_id))

    def of_collection(self, meta: CollectionMeta) -> dict[int, LocalShard]:
        return {sid: s for (uuid, sid), s in list(self._shards.items()) if uuid == meta.uuid}

    def all(self) -> list[LocalShard]:
        return list(self._shards.values())

    def optimized_points(self, meta: CollectionMeta, shard_id: int) -> int:
        """Points the optimizer inserted into this shard's graphs since the node started."""
        return self._optimized_points.get((meta.uuid, shard_id), 0)

    def reconcile(self, state: MetadataState) -> None:
        """Open, create, reconfigure and drop local shards to match `state`. Idempotent."""
        with self._lock:
            wanted: dict[ShardKey, CollectionMeta] = {}
            for meta in list(state.collections.values()):
                for shard_id, replicas in meta.shards.items():
                    if self.peer_id in replicas:
                        wanted[(meta.uuid, shard_id)] = meta
            for key, meta in wanted.items():
                shard = self._shards.get(key)
                staged = self.restores.take(meta.restored.get(key[1]), key[1])
                if staged is not None:  # a snapshot recovery replaces this replica's data
                    if shard is not None:
                        self._drop(key)
                    self.restores.install(staged, self.root / key[0] / str(key[1]))
                    shard = None
                if shard is None:
                    shard = self._open(key, meta)
                elif self._configs.get(meta.uuid) is not meta.config:
                    shard.update_config(ShardConfig.from_collection_config(meta.config))
                if shard.payload_schemas != meta.payload_indexes:
                    shard.set_payload_indexes(meta.payload_indexes)
                shard_id = key[1]
                if meta.shards[shard_id].get(self.peer_id) != PARTIAL:
                    shard.end_transfer(as_of=meta.shard_versions.get(shard_id, 0))
            for meta in {id(m): m for m in wanted.values()}.values():
                self._configs[meta.uuid] = meta.config
            for key in [k for k in self._shards if k not in wanted]:
                self._drop(key)
            live_uuids = {uuid for uuid, _ in wanted}
            for uuid in [u for u in self._configs if u not in live_uuids]:
                del self._configs[uuid]
            self._remove_orphans(live_uuids)

    def _open(self, key: ShardKey, meta: CollectionMeta) -> LocalShard:
        uuid, shard_id = key
        path = self.root / uuid / str(shard_id)
        config = ShardConfig.from_collection_config(meta.config)
        name = meta.name

        def count_run(kind: str, inserted: int) -> None:
            self._optimized_points[key] = self._optimized_points.get(key, 0) + inserted
            if self._on_optimizer_run is not None:
                self._on_optimizer_run(name, kind, inserted)

        shard = LocalShard(path, config, on_optimizer_run=count_run)
        self._shards[key] = shard
        self.generation += 1
        return shard

    def _drop(self, key: ShardKey) -> None:
        self.generation += 1
        self._shards.pop(key).drop()

    def _remove_orphans(self, live_uuids: set[str]) -> None:
        for directory in self.root.iterdir():
            if directory.is_dir() and directory.name not in live_uuids:
                log.info("removing data of a collection no longer in the metadata: %s", directory)
                shutil.rmtree(directory, ignore_errors=True)

    def flush_all(self, force: bool = False) -> None:
        for shard in list(self._shards.values()):
            try:
                shard.flush(force=force)
            except OSError as exc:  # a full disk: the WAL keeps the writes; flushed next time
                log.warning("flush of shard %s failed: %s", shard.path, exc)
            shard.maybe_start_optimizer()  # some optimizations wait for writes to pause

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
            self.generation += 1
