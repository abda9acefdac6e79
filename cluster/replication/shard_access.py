"""The async operations the routers run on one shard, whoever holds it.

`LocalShardAccess` runs them on this node's replica in a worker thread (small batches of
gathered queries on the loop); a replica set
(cluster/replication/replica_set.py) runs them on the replicas of a shard across peers, with the
same interface, so the routers never care where a shard lives.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Protocol

import numpy as np

from cluster.routing.query_coalescer import coalescer_of
from node.engine.content_digest import point_hashes, shard_digest
from node.engine.distance_matrix import Vector, sample_shard
from node.engine.facets import shard_facet_counts
from node.engine.ids import PointId
from node.engine.point_batch import PointBatch
from node.engine.query_scoring import VectorQuery
from node.engine.search import SearchParams
from node.engine.shard import LocalShard, ShardInfo
from node.engine.shard_query import (
    Hit,
    is_light,
    query_shard,
    query_shard_batch,
    scan_shard,
    sparse_statistics,
)
from node.errors import Unavailable

Record = tuple[PointId, dict | None, dict]
# Raises to refuse a write of the given kind to this node's replica before it starts.
AdmitWrite = Callable[[str], None]


class ShardAccess(Protocol):
    async def upsert(self, batch: PointBatch, sync: bool) -> int: ...
    async def update(self, kind: str, ids: list[PointId] | None, point_filter, args: tuple,
                     sync: bool) -> int | None: ...
    async def retrieve(self, ids: list[PointId]) -> list[Record]: ...
    async def count(self, point_filter=None) -> int: ...
    async def existing(self, ids: list[PointId]) -> set[PointId]: ...
    async def scroll(self, point_filter, start: PointId | None, limit: int) -> list[Record]: ...
    async def scan(self, point_filter, restrict: set[PointId] | None = None) -> list[Record]: ...
    async def query(self, query: VectorQuery, k: int, params: SearchParams, point_filter,
                    score_threshold: float | None, restrict: set[PointId] | None) -> list[Hit]: ...
    async def query_batch(self, vector_name: str, queries: np.ndarray, k: int,
                          params: SearchParams, score_threshold: float | None
                          ) -> list[list[Hit]]: ...
    async def sparse_statistics(self, name: str, indices: np.ndarray) -> tuple[int, np.ndarray]:
        ...
    async def info(self) -> ShardInfo: ...
    async def indexed_points(self) -> dict[str, int]: ...
    async def facet_counts(self, key: str, kind: str, point_filter) -> list[tuple]: ...
    async def matrix_sample(self, vector_name: str, point_filter, sample: int, seed: int
                            ) -> tuple[int, list[tuple[PointId, Vector]]]: ...


# Gathered batches up to this many queries run on the event loop: a few graph searches take
# less than a worker thread's round trip (two GIL handoffs, a wake-up and a callback) costs.
# Measured on 2 cores, alternating both ways on one deployment: concurrency 1 doubled its
# QPS, 8 and 32 held or gained, and a 3-node cluster spent 7% less CPU a query.
INLINE_QUERIES = 8


async def _run_batch(shard: LocalShard, name: str, queries: np.ndarray, k: int,
                     params: SearchParams, threshold: float | None) -> list[list[Hit]]:
    """A batch of nearest queries on the shard: a small one on the loop, a big one in a
    worker thread."""
    # Inline only when the shard lock is free: the optimizer holds it while it writes a
    # snapshot, which must not stall the whole loop.
    if len(queries) <= INLINE_QUERIES and shard.lock.acquire(blocking=False):
        try:
            return query_shard_batch(shard, name, queries, k, params, threshold)
        finally:
            shard.lock.release()
    return await asyncio.to_thread(query_shard_batch, shard, name, queries, k, params,
                                   threshold)


def _batch_runner(shard: LocalShard):
    """Runs gathered queries on the shard; holds the shard weakly, as the gatherer lives as
    long as the shard and must not keep it alive."""
    ref = weakref.ref(shard)

    async def run(name, queries, k, params, threshold) -> list[list[Hit]]:
        target = ref()
        if target is None:
            raise Unavailable("the shard is closed")
        return await _run_batch(target, name, queries, k, params, threshold)

    return run


class LocalShardAccess:
    """This node's replica of a shard. `admit_write(kind)` may refuse a write ("upsert" or an
    update kind) before it starts; shard transfers write past it (node/engine/shard.py)."""

    def __init__(self, shard: LocalShard, admit_write: AdmitWrite | None = None) -> None:
        self.shard = shard
        self._admit_write = admit_write

    async def upsert(self, batch: PointBatch, sync: bool) -> int:
        if self._admit_write is not None:
            self._admit_write("upsert")
        return await asyncio.to_thread(self.shard.upsert, batch, sync=sync)

    async def update(self, kind, ids, point_filter, args, sync) -> int | None:
        if self._admit_write is not None:
            self._admit_write(kind)
        return await asyncio.to_thread(self.shard.update, kind, ids, point_filter, args,
                                       sync=sync)

    async def retrieve(self, ids: list[PointId]) -> list[Record]:
        return await asyncio.to_thread(self.shard.retrieve, ids)

    async def count(self, point_filter=None) -> int:
        return await asyncio.to_thread(self.shard.count, point_filter)

    async def existing(self, ids: list[PointId]) -> set[PointId]:
        return await asyncio.to_thread(self.shard.existing, ids)

    async def scroll(self, point_filter, start, limit) -> list[Record]:
        return await asyncio.to_thread(self.shard.scroll, point_filter, start, limit)

    async def scan(self, point_filter, restrict=None) -> list[Record]:
        return await asyncio.to_thread(scan_shard, self.shard, point_filter, restrict)

    async def query(self, query, k, params, point_filter, score_threshold, restrict) -> list[Hit]:
        if is_light(self.shard, query, point_filter, restrict):
            gatherer = coalescer_of(self.shard, None, lambda: _batch_runner(self.shard))
            return await gatherer.query(query, k, params, score_threshold)
        return await asyncio.to_thread(query_shard, self.shard, query, k, params, point_filter,
                                       score_threshold, restrict)

    async def query_batch(self, vector_name, queries, k, params, score_threshold
                          ) -> list[list[Hit]]:
        return await _run_batch(self.shard, vector_name, queries, k, params, score_threshold)

    async def sparse_statistics(self, name: str, indices: np.ndarray) -> tuple[int, np.ndarray]:
        return await asyncio.to_thread(sparse_statistics, self.shard, name, indices)

    async def info(self) -> ShardInfo:
        return await asyncio.to_thread(self.shard.info)

    async def indexed_points(self) -> dict[str, int]:
        return await asyncio.to_thread(self.shard.indexed_points)

    async def facet_counts(self, key: str, kind: str, point_filter) -> list[tuple]:
        return await asyncio.to_thread(shard_facet_counts, self.shard, key, kind, point_filter)

    async def matrix_sample(self, vector_name: str, point_filter, sample: int, seed: int
                            ) -> tuple[int, list[tuple[PointId, Vector]]]:
        return await asyncio.to_thread(sample_shard, self.shard, vector_name, point_filter,
                                       sample, seed)

    async def content_digest(self, only_if_writes: int | None = None) -> dict:
        """The replica's ContentDigest, as sent between nodes (anti-entropy)."""
        return (await asyncio.to_thread(shard_digest, self.shard, only_if_writes)).to_wire()

    async def point_hashes(self) -> list[list]:
        """[id, hash] of every point of the replica (anti-entropy, before a repair)."""
        return await asyncio.to_thread(point_hashes, self.shard)
