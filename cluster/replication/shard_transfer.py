"""Shard transfers into this node: recovery of its Dead replicas, and new replicas
(replicate_shard, move_shard).

The receiving node runs the transfer: it starts it through consensus (its replica becomes
Partial, so writes reach it while reads do not), drops what it held, streams the points page by
page from an Active replica (another one if that fails), applies again the live writes it
received since the transfer began, and finishes through consensus (Active). A node that
restarts mid-transfer starts the stream again.

A write routed before a coordinator saw the Partial replica does not reach it; such a write
cannot be missed (cluster/replication/write_routing.py): before the first page, the source must have
applied this node's metadata version and every write it accepted before, so every write it
applies later was routed with the Partial replica among the targets, or is refused as stale
and routed again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from cluster.metadata.state import ACTIVE, DEAD, CollectionMeta, MetadataState
from cluster.replication.local_shards import LocalShards
from cluster.replication.shard_access import ShardAccess
from cluster.replication.write_routing import transfer_into
from node.engine.point_batch import batch_from_records
from node.errors import FlotillaError, Unavailable

log = logging.getLogger(__name__)

PAGE = 256
RETRY_SECONDS = 1.0

RemoteFactory = Callable[[int, str, CollectionMeta, int], ShardAccess]
# (source API address, metadata version) -> whether the source applied it and the writes it
# had accepted before
SourceCaughtUp = Callable[[str, int], Awaitable[bool]]


class ShardTransfers:
    def __init__(
        self,
        peer_id: int,
        state: Callable[[], MetadataState],
        propose: Callable[[dict], Awaitable[object]],
        shards: LocalShards,
        remote: RemoteFactory,
        progress: dict[tuple[str, int], float],
        source_caught_up: SourceCaughtUp,
        has_room: Callable[[], bool] = lambda: True,
    ) -> None:
        self._peer_id = peer_id
        self._state = state
        self._propose = propose
        self._shards = shards
        self._remote = remote
        self._progress = progress
        self._source_caught_up = source_caught_up
        # Whether this node may pull a Dead replica's data again (its quota, node/quota).
        self._has_room = has_room
        self._running: dict[tuple[str, int], asyncio.Task] = {}

    async def reconcile(self) -> None:
        """Start recoveries of this node's Dead replicas and run transfers aimed at it."""
        state = self._state()
        for meta in list(state.collections.values()):
            for shard_id, replicas in meta.shards.items():
                if replicas.get(self._peer_id) == DEAD and \
                        transfer_into(meta, shard_id, self._peer_id) is None:
                    await self._start_recovery(meta, shard_id, replicas)
            for record in meta.transfers:
                key = (meta.uuid, record["shard_id"])
                if record["to"] == self._peer_id and key not in self._running:
                    task = asyncio.create_task(self._run(meta.name, dict(record)))
                    self._running[key] = task
                    task.add_done_callback(lambda _t, key=key: self._running.pop(key, None))

    async def _start_recovery(self, meta: CollectionMeta, shard_id: int, replicas: dict) -> None:
        sources = sorted(p for p, s in replicas.items() if s == ACTIVE and p != self._peer_id)
        if not sources:
            return  # nothing to recover from until another replica is Active
        if not self._has_room():
            return  # over its quota: the replica stays Dead until this node has room again
        try:
            await self._propose({"op": "start_transfer", "collection": meta.name,
                                 "shard_id": shard_id, "from": sources[0],
                                 "to": self._peer_id, "kind": "recovery"})
            log.info("recovering shard %s of %s from peer %s", shard_id, meta.name, sources[0])
        except FlotillaError as exc:  # someone else changed it first: next reconcile decides
            log.info("recovery of %s/%s not started: %s", meta.name, shard_id, exc)

    async def _run(self, name: str, record: dict) -> None:
        shard_id = record["shard_id"]
        while True:
            meta = self._state().collections.get(name)
            if meta is None or not _transfer_to(meta, shard_id, self._peer_id,
                                                record.get("id", 0)):
                return  # finished, aborted (maybe started again) or the collection is gone
            try:
                await self._stream(meta, shard_id, record)
                await self._propose({"op": "finish_transfer", "collection": name,
                                     "shard_id": shard_id, "to": self._peer_id,
                                     "id": record.get("id", 0)})
                log.info("transfer of shard %s of %s finished", shard_id, name)
                return
            except (Unavailable, FlotillaError) as exc:
                log.warning("transfer of %s/%s interrupted (%s); retrying", name, shard_id, exc)
                await asyncio.sleep(RETRY_SECONDS)
            finally:
                self._progress.pop((name, shard_id), None)

    async def _stream(self, meta: CollectionMeta, shard_id: int, record: dict) -> None:
        local = self._shards.get(meta, shard_id)
        if local is None:
            raise Unavailable(f"the receiving replica of {meta.name}/{shard_id} is not open yet")
        await asyncio.to_thread(local.restart_transfer_stream, record.get("id", 0))
        start = None
        copied = 0
        checked: set[int] = set()  # sources known to have caught up with this node
        while True:
            peer, source = self._source(meta, shard_id, record["from"])
            if peer not in checked:
                await self._wait_source(meta, shard_id, peer)
                checked.add(peer)
            total = max(await source.count(), 1)
            records = await source.scroll(None, start, PAGE + 1)
            page = records[:PAGE]
            if page:
                await asyncio.to_thread(local.apply_transfer_batch, batch_from_records(page))
                copied += len(page)
                self._progress[(meta.name, shard_id)] = min(copied / total, 1.0)
            if len(records) <= PAGE:
                break
            start = records[PAGE][0]
        await asyncio.to_thread(local.replay_transfer_queue)

    async def _wait_source(self, meta: CollectionMeta, shard_id: int, peer: int) -> None:
        """The source has applied the metadata this node has (this transfer's start among
        it) and the writes it accepted before: see the module docstring."""
        version = self._state().version
        api = self._state().peers[peer]["api"]
        if not await self._source_caught_up(api, version):
            raise Unavailable(f"the source of {meta.name}/{shard_id} (peer {peer}) has not "
                              f"applied metadata version {version} yet")

    def _source(self, meta: CollectionMeta, shard_id: int,
                preferred: int) -> tuple[int, ShardAccess]:
        """The preferred source while it is Active, else another Active replica."""
        current = self._state().collections.get(meta.name, meta)
        replicas = current.shards.get(shard_id, {})
        peers = self._state().peers
        candidates = [preferred] + sorted(p for p in replicas if p != preferred)
        for peer in candidates:
            if replicas.get(peer) == ACTIVE and peer != self._peer_id and peer in peers:
                return peer, self._remote(peer, peers[peer]["api"], current, shard_id)
        raise Unavailable(f"no active replica of {meta.name}/{shard_id} to copy from")


def _transfer_to(meta: CollectionMeta, shard_id: int, peer: int,
                 transfer_id: int | None = None) -> bool:
    """Whether a transfer of the shard into `peer` runs (the one named `transfer_id`)."""
    return any(t["shard_id"] == shard_id and t["to"] == peer
               and (transfer_id is None or t.get("id", 0) == transfer_id)
               for t in meta.transfers)
