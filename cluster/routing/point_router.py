"""Routing point operations of a collection to its shards and merging what they return.

Points go to shards by a stable hash of their id (cluster/metadata/placement.py), the same on every
node.
"""

from __future__ import annotations

import asyncio

import msgspec
import numpy as np

from cluster.metadata.catalog import Catalog
from cluster.metadata.placement import shard_for_point, shards_for_points
from cluster.metadata.state import CollectionMeta
from cluster.routing import strict_mode
from cluster.routing.collection_view import CollectionViews
from cluster.routing.order_by import order_points, require_ordered_index
from cluster.routing.point_update import (
    NEEDS_EXISTING,
    PointUpdate,
    plan_batch,
    plan_update,
    plan_upsert,
)
from cluster.routing.read_checks import check_read
from cluster.routing.scroll_request import plan_scroll
from cluster.routing.strict_mode import RateLimiter
from node.ascii_digits import parse_ascii_uint
from node.engine.filters import compile_filter
from node.engine.ids import PointId, normalize_point_id
from node.engine.point_batch import PointBatch, batch_from_records, subset
from node.engine.point_order import point_id_order
from node.engine.records import record_json
from node.engine.shard import LocalShard, ShardInfo
from node.engine.shard_config import ShardConfig
from node.errors import NotFound
from node.model.points import BatchRequest, UpsertRequest
from node.model.queries import CountRequest
from node.model.queries import ScrollRequest as ScrollBody

COPY_PAGE = 512


def written_multivectors(update: PointUpdate):
    """(name, sub-vector count) of each multivector an upsert or update_vectors writes."""
    if update.batch is not None:
        for name, values in update.batch.multi.items():
            for value in values.values():
                yield name, len(value)
    for values in update.vectors.values():
        for name, value in values.items():
            if isinstance(value, np.ndarray) and value.ndim == 2:
                yield name, len(value)


class PointRouter:
    def __init__(self, catalog: Catalog, views: CollectionViews, limiter: RateLimiter) -> None:
        self._catalog = catalog
        self._views = views
        self._limiter = limiter

    async def _check_writes(self, meta: CollectionMeta, updates: list[PointUpdate]) -> None:
        """Strict mode's limits on writes and the node's quota, before anything is written."""
        await self._check_strict_mode(meta, updates)
        self._views.admit_request(update.kind for update in updates)

    async def _check_strict_mode(self, meta: CollectionMeta, updates: list[PointUpdate]
                                 ) -> None:
        strict = strict_mode.active(meta.config)
        if strict is None:
            return
        strict_mode.check_timeout(strict)
        for update in updates:
            strict_mode.check_filter(strict, update.filter, meta.payload_indexes, for_update=True)
            strict_mode.check_multivectors(strict, written_multivectors(update))
            if update.batch is not None:
                strict_mode.check_filter(strict, update.batch.update_filter,
                                         meta.payload_indexes, for_update=True)
                points_now = sum(await asyncio.gather(
                    *(s.count() for s in self._shards_of(meta))
                ))
                strict_mode.check_upsert(strict, len(update.batch), points_now)
        self._limiter.take(strict, meta.name, "write")

    def _check_read(self, meta: CollectionMeta, point_filter, limit: int | None = None) -> None:
        check_read(self._limiter, meta, point_filter, limit)

    def _shard_config(self, meta: CollectionMeta) -> ShardConfig:
        return self._views.config_of(meta)

    def _shard(self, meta: CollectionMeta, shard_id: int) -> LocalShard:
        return self._views.shard(meta, shard_id)

    def _shards_of(self, meta: CollectionMeta) -> list[LocalShard]:
        return self._views.of(meta).shards

    # ---- writes -------------------------------------------------------------------------

    async def upsert(self, name: str, body: UpsertRequest, *, wait: bool) -> int:
        meta = self._catalog.resolve(name)
        config = self._shard_config(meta)
        update = await asyncio.to_thread(plan_upsert, config, body)
        await self._check_writes(meta, [update])
        return await self.upsert_batch(meta, update.batch, wait=wait)

    async def upsert_batch(self, meta: CollectionMeta, batch: PointBatch, *, wait: bool) -> int:
        if not len(batch):
            return 0
        parts = self._split(meta, batch)
        seqs = await asyncio.gather(
            *(self._shard(meta, sid).upsert(part, sync=wait)
              for sid, part in parts)
        )
        return max(seqs)

    async def update(self, name: str, kind: str, body: msgspec.Struct, *, wait: bool) -> int:
        """One decoded update request (`delete`, `set_payload`, `update_vectors`, ...)."""
        meta = self._catalog.resolve(name)
        config = self._shard_config(meta)
        update = await asyncio.to_thread(plan_update, config, kind, body)
        return (await self._apply_all(meta, [update], wait=wait))[0]

    async def batch(self, name: str, body: BatchRequest, *, wait: bool) -> list[int]:
        """`/points/batch`: every operation planned first, then applied in order."""
        meta = self._catalog.resolve(name)
        updates = await asyncio.to_thread(plan_batch, self._shard_config(meta), body)
        return await self._apply_all(meta, updates, wait=wait)

    async def _apply_all(
        self, meta: CollectionMeta, updates: list[PointUpdate], *, wait: bool
    ) -> list[int]:
        await self._check_writes(meta, updates)
        await self._check_points_exist(meta, updates)
        return [await self._apply(meta, update, wait=wait) for update in updates]

    async def _check_points_exist(self, meta: CollectionMeta, updates: list[PointUpdate]) -> None:
        """A 404, before anything is written, for an op naming a point that will not exist
        when it applies (earlier upserts and deletes of the same batch count)."""
        if not any(u.kind in NEEDS_EXISTING and u.ids for u in updates):
            return
        named = list(dict.fromkeys(pid for u in updates if u.ids for pid in u.ids))
        present = await self._existing(meta, named)
        for update in updates:
            if update.kind == "upsert":
                present.update(update.ids or ())
            elif update.kind == "delete":
                present.difference_update(update.ids or ())
            elif update.kind in NEEDS_EXISTING:
                for pid in update.ids or ():
                    if pid not in present:
                        raise NotFound(f"No point with id {pid} found")

    async def _existing(self, meta: CollectionMeta, ids: list[PointId]) -> set[PointId]:
        found = await asyncio.gather(
            *(self._shard(meta, sid).existing(shard_ids)
              for sid, shard_ids in self._ids_by_shard(meta, ids).items())
        )
        return set().union(*found)

    def _ids_by_shard(self, meta: CollectionMeta, ids: list[PointId]) -> dict[int, list[PointId]]:
        shard_number = len(meta.shards)
        if shard_number == 1:
            return {next(iter(meta.shards)): list(ids)}
        by_shard: dict[int, list[PointId]] = {}
        for pid in ids:
            by_shard.setdefault(shard_for_point(pid, shard_number), []).append(pid)
        return by_shard

    async def _apply(self, meta: CollectionMeta, update: PointUpdate, *, wait: bool) -> int:
        if update.batch is not None:
            return await self.upsert_batch(meta, update.batch, wait=wait)
        if update.ids is None:  # a filter: each shard resolves it when it writes
            writes = [
                s.update(update.kind, None, update.filter, update.args,
                                  sync=wait)
                for s in self._shards_of(meta)
            ]
        else:
            writes = []
            for sid, ids in self._ids_by_shard(meta, update.ids).items():
                args = update.args
                if update.kind == "update_vectors":
                    args = ({pid: update.vectors[pid] for pid in ids},)
                # A filter beside ids (update_vectors' update_filter) narrows them per shard.
                writes.append(self._shard(meta, sid).update(update.kind, ids, update.filter, args,
                                                            sync=wait))
        seqs = await asyncio.gather(*writes)
        return max((seq for seq in seqs if seq is not None), default=0)

    def _split(self, meta: CollectionMeta, batch: PointBatch) -> list[tuple[int, PointBatch]]:
        shard_number = len(meta.shards)
        if shard_number == 1:
            return [(next(iter(meta.shards)), batch)]
        owners = shards_for_points(batch.ids, shard_number)
        return [
            (int(sid), subset(batch, np.flatnonzero(owners == sid)))
            for sid in np.unique(owners)
        ]

    # ---- reads --------------------------------------------------------------------------

    async def retrieve(
        self, name: str, ids: list[PointId], *, with_payload: object = True,
        with_vector: object = False,
    ) -> list[dict]:
        """Points by id (normalised ids: decoded at the edge, or parsed from a URL)."""
        meta = self._catalog.resolve(name)
        shard_number = len(meta.shards)
        by_shard: dict[int, list[PointId]] = {}
        for pid in dict.fromkeys(ids):
            by_shard.setdefault(shard_for_point(pid, shard_number), []).append(pid)
        found: dict[PointId, tuple] = {}
        for sid, shard_ids in by_shard.items():
            for pid, payload, vectors in await self._shard(meta, sid).retrieve(shard_ids
            ):
                found[pid] = (payload, vectors)
        unnamed = "size" in (meta.config["params"].get("vectors") or {})
        return [
            record_json(pid, *found[pid], with_payload=with_payload, with_vector=with_vector,
                        unnamed=unnamed)
            for pid in dict.fromkeys(ids) if pid in found
        ]

    async def get_point(self, name: str, raw_id: str) -> dict:
        number = parse_ascii_uint(raw_id)
        pid = normalize_point_id(raw_id if number is None else number)
        records = await self.retrieve(name, [pid], with_payload=True, with_vector=True)
        if not records:
            raise NotFound(f"No point with id {raw_id} found")
        return records[0]

    async def count(self, name: str, request: CountRequest) -> int:
        meta = self._catalog.resolve(name)
        point_filter = compile_filter(request.filter)
        self._check_read(meta, point_filter)
        counts = await asyncio.gather(
            *(s.count(point_filter) for s in self._shards_of(meta))
        )
        return sum(counts)

    async def scroll(self, name: str, body: ScrollBody) -> dict:
        """Points in id order (integers, then UUIDs) from `offset`, merged across shards."""
        meta = self._catalog.resolve(name)
        request = plan_scroll(body)
        self._check_read(meta, request.filter, request.limit)
        if request.order_by is not None:
            return await self._scroll_ordered(meta, request)
        # One point past the page tells where the next page starts.
        per_shard = await asyncio.gather(
            *(s.scroll(request.filter, request.offset, request.limit + 1)
              for s in self._shards_of(meta))
        )
        merged = sorted(
            (hit for hits in per_shard for hit in hits), key=lambda hit: point_id_order(hit[0])
        )
        unnamed = "size" in (meta.config["params"].get("vectors") or {})
        points = [
            record_json(pid, payload, vectors, with_payload=request.with_payload,
                        with_vector=request.with_vector, unnamed=unnamed)
            for pid, payload, vectors in merged[: request.limit]
        ]
        following = merged[request.limit][0] if len(merged) > request.limit else None
        return {"points": points, "next_page_offset": following}

    async def _scroll_ordered(self, meta: CollectionMeta, request) -> dict:
        """A page in payload order; like Qdrant, no next offset (continue with start_from)."""
        require_ordered_index(meta.payload_indexes, request.order_by["key"])
        parts = await asyncio.gather(
            *(s.scan(request.filter) for s in self._shards_of(meta))
        )
        ordered = order_points([p for part in parts for p in part], request.order_by,
                               request.limit)
        unnamed = "size" in (meta.config["params"].get("vectors") or {})
        points = []
        for value, pid, payload, vectors in ordered:
            record = record_json(pid, payload, vectors, with_payload=request.with_payload,
                                 with_vector=request.with_vector, unnamed=unnamed)
            points.append({**record, "order_value": value})
        return {"points": points, "next_page_offset": None}

    async def copy_points(self, source: CollectionMeta, target: CollectionMeta) -> None:
        """Copy every point of `source` into `target` (init_from), a page at a time."""
        for shard in self._shards_of(source):
            start: PointId | None = None
            while True:
                records = await shard.scroll(None, start, COPY_PAGE + 1)
                page = records[:COPY_PAGE]
                if page:
                    await self.upsert_batch(target, batch_from_records(page), wait=True)
                if len(records) <= COPY_PAGE:
                    break
                start = records[COPY_PAGE][0]

    async def shard_infos(self, meta: CollectionMeta) -> list[ShardInfo]:
        return list(await asyncio.gather(*(s.info() for s in self._shards_of(meta))))
