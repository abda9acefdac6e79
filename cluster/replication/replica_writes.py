"""One write to the replicas of one shard, coordinated by this node.

The write goes to every Active and Partial replica of the freshest placement this node holds,
in parallel, and is acknowledged once `write_consistency_factor` Active replicas applied it:

- Healthy replicas answer within milliseconds of each other, so the acknowledgement waits for
  all of them, but no longer than STRAGGLER_RATIO times what the factor took (STRAGGLER_MIN at
  least). A frozen replica therefore holds up the writes of a moment, not every write for the
  peer client's write timeout: it is marked Dead (below). The calls still running go on in
  the background.
- A replica that has not applied the write when it is acknowledged (failed: unreachable, timed
  out, its shard missing; or still running it) is marked Dead through consensus, or its transfer
  aborted, before the acknowledgement: a replica that missed an acknowledged write never stays
  Active, and one that applies it late cannot put it after a later write to the same point
  that another node coordinated. A shard transfer brings it back. When that change cannot
  commit (no quorum here) the write is answered 503, not acknowledged.
- A replica that refuses the routing as stale (cluster/replication/write_routing.py) makes the
write wait
  until this node applied the newer placement, then go to the targets that lack it.
- A replica still running an acknowledged write receives this node's later writes to the shard
  only once that write is settled on it, so it applies them in the order they were
  acknowledged; if it missed the earlier one, the later ones fail on it at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from cluster.metadata.state import ACTIVE, PARTIAL, CollectionMeta
from cluster.replication.shard_access import LocalShardAccess, ShardAccess
from cluster.replication.write_routing import (
    StalePlacement,
    begin_if_receiving,
    routed_version,
    transfer_into,
)
from node.errors import NotFound, StorageFailed, Unavailable

if TYPE_CHECKING:
    from cluster.replication.replica_set import ClusterLinks

log = logging.getLogger(__name__)

STRAGGLER_MIN = 0.5
STRAGGLER_RATIO = 3.0
# Re-routings after stale placements, and how long each waits for the newer metadata.
MAX_REROUTES = 5
CATCH_UP_SECONDS = 5.0

ReplicaKey = tuple[str, int, int]  # (collection uuid, shard id, peer id)


class LaggingWrites:
    """This node's writes still running on some replica after their acknowledgement, and the
    background work of writes (failure reports): what later writes wait for, and what a
    shutdown lets finish."""

    def __init__(self) -> None:
        # replica -> futures that settle (True: applied, False: missed) when earlier
        # acknowledged writes are done on it
        self._on_replica: dict[ReplicaKey, set[asyncio.Future]] = {}
        self._work: set[asyncio.Future] = set()

    def before(self, key: ReplicaKey) -> list[asyncio.Future]:
        return list(self._on_replica.get(key, ()))

    def lagging(self, key: ReplicaKey, settled: asyncio.Future) -> None:
        futures = self._on_replica.setdefault(key, set())
        futures.add(settled)

        def forget(done: asyncio.Future) -> None:
            futures.discard(done)
            if not futures and self._on_replica.get(key) is futures:
                del self._on_replica[key]

        settled.add_done_callback(forget)

    def keep(self, work: asyncio.Future) -> None:
        self._work.add(work)
        work.add_done_callback(self._work.discard)

    async def drain(self, timeout: float) -> None:
        """Let the background work finish (failure reports included), up to `timeout`."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._work and (left := deadline - asyncio.get_running_loop().time()) > 0:
            await asyncio.wait(list(self._work), timeout=left)


async def write_to_replicas(
    meta: CollectionMeta,
    shard_id: int,
    method: str,
    args: tuple,
    links: ClusterLinks,
    replicas_of: Callable[[CollectionMeta], dict[int, ShardAccess]],
) -> object:
    """Run ShardAccess `method` on the shard's replicas; the result once acknowledged."""
    write = _ShardWrite(meta, shard_id, method, args, links, replicas_of)
    links.lagging.keep(asyncio.ensure_future(write.run()))
    # Shielded: a client that goes away does not stop the write halfway through its replicas.
    return await asyncio.shield(write.acknowledged)


class _ShardWrite:
    def __init__(self, meta: CollectionMeta, shard_id: int, method: str, args: tuple,
                 links: ClusterLinks,
                 replicas_of: Callable[[CollectionMeta], dict[int, ShardAccess]]) -> None:
        self.meta, self.shard_id, self.method, self.args = meta, shard_id, method, args
        self.links = links
        self.replicas_of = replicas_of
        self.loop = asyncio.get_running_loop()
        self.acknowledged: asyncio.Future = self.loop.create_future()
        # Retrieved even when the caller went away, so asyncio does not log it as lost.
        self.acknowledged.add_done_callback(lambda f: f.cancelled() or f.exception())
        self.factor = int((meta.config.get("params") or {}).get("write_consistency_factor", 1))
        self.applied: dict[int, object] = {}  # peer -> the replica's result
        self.failed: set[int] = set()
        self.calls: dict[asyncio.Task, int] = {}  # running call -> peer
        self.settled: dict[int, asyncio.Future] = {}  # peer -> True applied / False missed
        self.sent_at: dict[int, int] = {}  # peer -> the shard version it was last sent with
        self.earlier: dict[int, list[asyncio.Future]] = {}  # peer -> what the call waits for
        self.storage_failed: StorageFailed | None = None  # this node's disk refused it
        # This node's replica and its points_dropped count when the write was applied to it.
        self.local_copy: tuple[object, int] | None = None

    # ---- the write's life -------------------------------------------------------------------

    async def run(self) -> None:
        try:
            await self._run()
        except Exception as exc:  # noqa: BLE001 - the caller gets it; the log keeps the rest
            if not self._refuse(exc):
                log.exception("write to %s/%s failed after its acknowledgement",
                              self.meta.name, self.shard_id)
        finally:
            for task in self.calls:
                task.cancel()
            for settled in self.settled.values():
                if not settled.done():
                    settled.set_result(False)
            self._refuse(Unavailable("the write was interrupted"))

    async def _run(self) -> None:
        meta = self.links.current(self.meta)
        replicas = self.replicas_of(meta)
        active = self._active(meta, replicas)
        if len(active) < self.factor:
            self.links.quorum_failure(meta.name)
            raise Unavailable(
                f"shard {self.shard_id} of `{meta.name}` has {len(active)} active "
                f"replica(s), fewer than write_consistency_factor {self.factor}: nothing was "
                "written")
        self._send(meta, replicas)
        started = self.loop.time()
        factor_reached: float | None = None
        reroutes = 0
        while self.calls:
            timeout = None
            if not self.acknowledged.done() and self._factor_met(meta, replicas):
                if factor_reached is None:
                    factor_reached = self.loop.time()
                timeout = self._straggler_wait(started, factor_reached)
                if timeout <= 0:
                    await self._acknowledge(meta, replicas)
                    timeout = None
            done, _ = await asyncio.wait(self.calls, timeout=timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            stale: dict[int, int] = {}  # peer -> metadata version it knows the shard at
            for task in done:
                peer = self.calls.pop(task)
                needed = self._settle(meta, peer, task)
                if needed:
                    stale[peer] = needed
            if not stale:
                continue
            reroutes += 1
            needed = max(stale.values())
            if reroutes <= MAX_REROUTES and await self._catch_up(needed):
                meta = self.links.current(self.meta)
                replicas = self.replicas_of(meta)
                self._send(meta, replicas)
                # The targets sent to now get their own straggler wait.
                started, factor_reached = self.loop.time(), None
                continue
            # This node cannot follow the placement its replicas know: the write is not
            # acknowledged, and the replicas that refused it count as failed.
            self._refuse(Unavailable(
                f"shard {self.shard_id} of `{meta.name}`: this node has not applied the "
                f"placement its replicas know (metadata version {needed}) in time"))
            for peer in stale:
                self._fail(meta, peer, Unavailable("the coordinator's placement is stale"))
        if not self.acknowledged.done():
            if not self._factor_met(meta, replicas):
                self.links.quorum_failure(meta.name)
                self._restart_partial_copies(meta)
                if self.storage_failed is not None and not self.applied:
                    raise self.storage_failed  # answered 500 with the disk's reason, as Qdrant
                raise Unavailable(
                    f"shard {self.shard_id} of `{meta.name}`: the write reached "
                    f"{self._applied_active(meta, replicas)} of the {self.factor} replicas "
                    "write_consistency_factor asks for; it is not acknowledged")
            await self._acknowledge(meta, replicas)

    # ---- steps --------------------------------------------------------------------------------

    def _send(self, meta: CollectionMeta, replicas: dict[int, ShardAccess]) -> None:
        """Start the call to every target of `meta` that has not had this write yet. Runs
        without a pause from reading the placement on: see write_routing.WritesInFlight."""
        running = set(self.calls.values())
        states = meta.shards.get(self.shard_id, {})
        for peer in list(self.applied):
            # Applied under an older routing, before a transfer into it began: the transfer's
            # first stream drops the points the replica held, this write among them, and only
            # writes from the transfer's start on are queued for it. Send it again.
            record = transfer_into(meta, self.shard_id, peer)
            if (states.get(peer) == PARTIAL and record is not None
                    and record.get("id", 0) > self.sent_at.get(peer, 0)):
                del self.applied[peer], self.settled[peer]
        for peer, state in states.items():
            local = peer == self.links.peer_id
            if (state not in (ACTIVE, PARTIAL) or (peer not in replicas and not local)
                    or peer in self.applied or peer in self.failed or peer in running):
                continue
            if peer not in self.settled:
                self.settled[peer] = self.loop.create_future()
                if self.acknowledged.done():  # a re-routing after the acknowledgement
                    self.links.lagging.lagging(self._key(meta, peer), self.settled[peer])
            self.sent_at[peer] = routed_version(meta, self.shard_id)
            task = asyncio.ensure_future(self._call(meta, peer, replicas.get(peer)))
            self.calls[task] = peer

    async def _call(self, meta: CollectionMeta, peer: int, access: ShardAccess | None
                    ) -> object:
        local = peer == self.links.peer_id
        token = self.links.in_flight.enter() if local else None
        try:
            # The writes acknowledged before this one first reached the replica: taken once,
            # so a call again after a stale placement waits neither for this write itself
            # (registered at its acknowledgement) nor for the later writes waiting for it.
            earlier = self.earlier.get(peer)
            if earlier is None:
                earlier = self.earlier[peer] = self.links.lagging.before(self._key(meta, peer))
            earlier = [f for f in earlier if f is not self.settled.get(peer)]
            if earlier:
                await asyncio.wait(earlier)
                if not all(f.result() for f in earlier):
                    raise Unavailable(f"the replica on peer {peer} missed an earlier write")
            if access is None:  # a replica placed here a moment ago: open it first
                await self._catch_up(routed_version(meta, self.shard_id))
                access = self.replicas_of(meta).get(peer)
                if access is None:
                    raise NotFound(f"shard {self.shard_id} of `{meta.name}` is not open here")
            if local:
                # This node's own replica is held to the routing check peers apply
                # (write_routing.ReplicaWritesIn): its metadata may have moved on since the
                # write was routed, to a transfer into it that drops what it applies now.
                known = routed_version(self.links.current(meta), self.shard_id)
                if known > routed_version(meta, self.shard_id):
                    raise StalePlacement.of(meta.name, self.shard_id,
                                            routed_version(meta, self.shard_id), known)
            if local and isinstance(access, LocalShardAccess):
                await begin_if_receiving(meta, self.shard_id, peer, access.shard)
                self.local_copy = (access.shard, access.shard.points_dropped)
            return await getattr(access, self.method)(*self.args)
        finally:
            if token is not None:
                self.links.in_flight.leave(token)

    def _settle(self, meta: CollectionMeta, peer: int, task: asyncio.Task) -> int:
        """Record one replica's outcome; the metadata version to catch up with, if the
        replica refused the write as routed with a stale placement (else 0)."""
        error = task.exception() if not task.cancelled() else Unavailable("cancelled")
        if error is None:
            self.applied[peer] = task.result()
            self.settled[peer].set_result(True)
            if peer != self.links.peer_id:
                self.links.health.answered(peer)
            return 0
        if isinstance(error, StalePlacement):
            return max(error.needed, 1)
        # Down, the replica missing, or this node's own disk full: the replica missed a
        # write others may take, so it must be marked Dead like an unreachable one.
        if isinstance(error, (Unavailable, NotFound, StorageFailed)):
            if isinstance(error, StorageFailed):
                self.storage_failed = error
            self._fail(meta, peer, error)
        else:
            # Bad input fails the same way on every replica.
            self.failed.add(peer)
            self.settled[peer].set_result(False)
            if not self._refuse(error):
                log.error("replica of %s/%s on peer %s refused an acknowledged write: %s",
                          meta.name, self.shard_id, peer, error)
        return 0

    def _fail(self, meta: CollectionMeta, peer: int, error: Exception) -> None:
        """The replica did not apply the write: have it marked Dead (or its transfer
        aborted) in the background."""
        self.failed.add(peer)
        if not self.settled[peer].done():
            self.settled[peer].set_result(False)
        if peer != self.links.peer_id:
            self.links.health.slow(peer)
        log.warning("replica of %s/%s on peer %s failed a write: %s",
                    meta.name, self.shard_id, peer, error)
        self.links.lagging.keep(asyncio.ensure_future(
            self.links.report_failure(meta, self.shard_id, peer)))

    def _restart_partial_copies(self, meta: CollectionMeta) -> None:
        """A write that is not acknowledged may stay on the replicas it reached while one that
        missed it stays Active (the last one cannot be marked Dead). A Partial replica would
        then turn Active with a point its source lacks: its transfer is aborted (and starts
        again), in the background."""
        states = meta.shards.get(self.shard_id, {})
        if not any(states.get(peer) == ACTIVE for peer in self.settled
                   if peer not in self.applied):
            return
        for peer in self.applied:
            if states.get(peer) == PARTIAL:
                self.links.lagging.keep(asyncio.ensure_future(
                    self.links.report_failure(meta, self.shard_id, peer)))

    def _refuse(self, error: Exception) -> bool:
        """Answer the caller with `error`, unless the write was answered already."""
        if self.acknowledged.done():
            return False
        self.acknowledged.set_exception(error)
        return True

    async def _acknowledge(self, meta: CollectionMeta, replicas: dict[int, ShardAccess]) -> None:
        """Answer the caller with success once every target that has not applied the write
        (failed, or still running it) is out of the metadata: a replica that stayed Active
        could serve a read or a transfer without the write, or apply it after a later write
        to the same point that another node coordinated. Only replicas still Active in the
        freshest metadata, and not refilled by a transfer since they applied the write, count
        toward the factor."""
        for task, peer in self.calls.items():
            if peer != self.links.peer_id and not task.done():
                self.links.health.slow(peer)
            self.links.lagging.lagging(self._key(meta, peer), self.settled[peer])
        excluded: set[int] = set()
        while True:
            # Looked at again after every exclusion: while it waited for consensus, this node
            # may have applied a transfer into a replica that applied the write (marked Dead by
            # another coordinator, refilled from a source that lacked the write, Active again).
            self._forget_wiped_local_copy(meta)
            self._forget_refilled(meta)
            missed = [peer for peer in self.settled
                      if peer not in self.applied and peer not in excluded]
            exclude = self.links.exclude_replica
            if not missed or exclude is None:
                break
            if excluded and len(self._counted(meta)) < self.factor:
                break  # not acknowledged (below): a replica that missed it may stay Active
            done = await asyncio.gather(*(exclude(meta, self.shard_id, p) for p in missed))
            if not all(done):
                self._restart_partial_copies(meta)
                self._refuse(Unavailable(
                    f"shard {self.shard_id} of `{meta.name}`: a replica missed the write and "
                    "could not be marked Dead through consensus; it is not acknowledged"))
                return
            excluded.update(missed)
        counted = self._counted(meta)
        if len(counted) < self.factor:
            self.links.quorum_failure(meta.name)
            self._refuse(Unavailable(
                f"shard {self.shard_id} of `{meta.name}`: {len(counted)} of the replicas that "
                f"applied the write are still Active and hold it, fewer than "
                f"write_consistency_factor {self.factor}; it is not acknowledged"))
            return
        seqs = [r for p, r in self.applied.items() if p in counted and isinstance(r, int)]
        if not self.acknowledged.done():
            self.acknowledged.set_result(max(seqs) if seqs else None)

    def _counted(self, meta: CollectionMeta) -> list[int]:
        """The replicas that applied the write and are Active in the freshest metadata."""
        current = self.links.current(meta).shards.get(self.shard_id, {})
        return [p for p in self.applied if current.get(p) == ACTIVE]

    def _forget_wiped_local_copy(self, meta: CollectionMeta) -> None:
        """A transfer into this node's replica that began after the write was applied there
        dropped every point and streamed from a source that may lack the write (its own
        replica missed it and is being marked Dead meanwhile): the replica no longer counts as
        having applied it, and is excluded like one that missed it."""
        peer = self.links.peer_id
        if peer not in self.applied or self.local_copy is None:
            return
        shard, dropped = self.local_copy
        if getattr(shard, "points_dropped", dropped) == dropped:
            return
        del self.applied[peer]
        self.failed.add(peer)
        log.warning("replica of %s/%s on this node received a transfer after it applied a "
                    "write: it no longer counts for that write", meta.name, self.shard_id)

    def _forget_refilled(self, meta: CollectionMeta) -> None:
        """A replica that applied the write as sent with an older shard version, and into
        which a transfer began since (dropping its points, streaming from a source that may
        have missed the write), no longer counts as having applied it."""
        refilled = self.links.current(meta).refilled.get(self.shard_id, {})
        for peer in list(self.applied):
            if refilled.get(peer, 0) > self.sent_at.get(peer, 0):
                del self.applied[peer]
                self.failed.add(peer)
                log.warning("replica of %s/%s on peer %s received a transfer after it applied "
                            "a write: it no longer counts for that write", meta.name,
                            self.shard_id, peer)

    # ---- helpers ------------------------------------------------------------------------------

    async def _catch_up(self, version: int) -> bool:
        wait = self.links.wait_version
        return wait is not None and await wait(version, CATCH_UP_SECONDS)

    def _straggler_wait(self, started: float, factor_reached: float) -> float:
        """How much longer to wait for the replicas still running (0: acknowledge now). Not
        cut short for a peer that was slow lately: a replica still running the write at the
        acknowledgement is marked Dead, which a moment's lag must not cost."""
        limit = max(STRAGGLER_MIN, STRAGGLER_RATIO * (factor_reached - started))
        return factor_reached + limit - self.loop.time()

    def _active(self, meta: CollectionMeta, replicas: dict[int, ShardAccess]) -> set[int]:
        states = meta.shards.get(self.shard_id, {})
        return {p for p, s in states.items() if s == ACTIVE and p in replicas}

    def _applied_active(self, meta: CollectionMeta, replicas: dict[int, ShardAccess]) -> int:
        return len(self._active(meta, replicas) & set(self.applied))

    def _factor_met(self, meta: CollectionMeta, replicas: dict[int, ShardAccess]) -> bool:
        return self._applied_active(meta, replicas) >= self.factor

    def _key(self, meta: CollectionMeta, peer: int) -> ReplicaKey:
        return (meta.uuid, self.shard_id, peer)

