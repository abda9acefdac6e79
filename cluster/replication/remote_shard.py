"""A replica of a shard held by another peer, used exactly like a local one (ShardAccess)."""

from __future__ import annotations

import numpy as np

from cluster.replication import hit_columns
from cluster.replication.peer_client import PeerClient, PeerUnavailable
from cluster.replication.replica_set import READ_CONSISTENCY
from cluster.replication.shard_access import Record
from cluster.routing.query_coalescer import coalescer_of
from node.engine.distance_matrix import Vector
from node.engine.ids import PointId
from node.engine.point_batch import PointBatch
from node.engine.query_scoring import VectorQuery
from node.engine.search import SearchParams
from node.engine.shard import ShardInfo
from node.engine.shard_query import Hit, is_plain

DIGEST_TIMEOUT = 30.0


class RemoteShardAccess:
    def __init__(
        self, peer_client: PeerClient, peer_id: int, api_url: str, collection_uuid: str,
        shard_id: int, routed_at: int | None = None,
    ) -> None:
        self.peer_client = peer_client
        self.peer_id = peer_id
        self.api_url = api_url
        self.collection_uuid = collection_uuid
        self.shard_id = shard_id
        # The shard version of the placement this replica was picked from, sent with writes
        # and with reads asked of several replicas (cluster/replication/write_routing.py).
        self.routed_at = routed_at

    def __repr__(self) -> str:
        return (f"RemoteShardAccess(peer={self.peer_id}, {self.api_url}, "
                f"{self.collection_uuid}/{self.shard_id})")

    async def _call(self, method: str, *args: object) -> object:
        # A read asked of several replicas is held to the placement it was routed with too
        # (write_routing.check_read_routing).
        several = READ_CONSISTENCY.get() != 1
        return await self.peer_client.call_shard(
            self.api_url, self.collection_uuid, self.shard_id, method, *args,
            routed_at=self.routed_at if several else None,
        )

    async def _write(self, method: str, *args: object) -> object:
        return await self.peer_client.call_shard(
            self.api_url, self.collection_uuid, self.shard_id, method, *args,
            routed_at=self.routed_at,
        )

    async def upsert(self, batch: PointBatch, sync: bool) -> int:
        return await self._write("upsert", batch, sync)

    async def update(self, kind: str, ids: list[PointId] | None, point_filter, args: tuple,
                     sync: bool) -> int | None:
        return await self._write("update", kind, ids, point_filter, tuple(args), sync)

    async def retrieve(self, ids: list[PointId]) -> list[Record]:
        return await self._call("retrieve", list(ids))

    async def count(self, point_filter=None) -> int:
        return await self._call("count", point_filter)

    async def existing(self, ids: list[PointId]) -> set[PointId]:
        return await self._call("existing", list(ids))

    async def scroll(self, point_filter, start: PointId | None, limit: int) -> list[Record]:
        return await self._call("scroll", point_filter, start, limit)

    async def scan(self, point_filter, restrict: set[PointId] | None = None) -> list[Record]:
        return await self._call("scan", point_filter, restrict)

    async def query(self, query: VectorQuery, k: int, params: SearchParams, point_filter,
                    score_threshold: float | None, restrict: set[PointId] | None) -> list[Hit]:
        if is_plain(query, point_filter, restrict):  # gathered: one request for many queries
            key = (self.api_url, self.collection_uuid, self.shard_id)
            gatherer = coalescer_of(self.peer_client, key, lambda: self.query_batch)
            return await gatherer.query(query, k, params, score_threshold)
        return await self._call("query", query, k, params, point_filter, score_threshold,
                                restrict)

    async def query_batch(self, vector_name: str, queries: np.ndarray, k: int,
                          params: SearchParams, score_threshold: float | None) -> list[list[Hit]]:
        answer = await self._call("query_batch", vector_name, queries, k, params,
                                  score_threshold)
        try:
            return hit_columns.unpack(answer)
        except (ValueError, TypeError, KeyError) as exc:
            raise PeerUnavailable(f"peer {self.api_url} answered query_batch with garbage: "
                                  f"{exc}") from None

    async def sparse_statistics(self, name: str, indices: np.ndarray) -> tuple[int, np.ndarray]:
        return await self._call("sparse_statistics", name, indices)

    async def info(self) -> ShardInfo:
        return await self._call("info")

    async def indexed_points(self) -> dict[str, int]:
        return await self._call("indexed_points")

    async def facet_counts(self, key: str, kind: str, point_filter) -> list[tuple]:
        return await self._call("facet_counts", key, kind, point_filter)

    async def matrix_sample(self, vector_name: str, point_filter, sample: int, seed: int
                            ) -> tuple[int, list[tuple[PointId, Vector]]]:
        return await self._call("matrix_sample", vector_name, point_filter, sample, seed)

    async def content_digest(self, only_if_writes: int | None = None) -> dict:
        # A digest not cached yet reads the whole replica: more than a read's timeout.
        return await self.peer_client.call_shard(
            self.api_url, self.collection_uuid, self.shard_id, "content_digest", only_if_writes,
            timeout=DIGEST_TIMEOUT, routed_at=self.routed_at)

    async def point_hashes(self) -> list[list]:
        return await self.peer_client.call_shard(
            self.api_url, self.collection_uuid, self.shard_id, "point_hashes",
            timeout=DIGEST_TIMEOUT, routed_at=self.routed_at)
