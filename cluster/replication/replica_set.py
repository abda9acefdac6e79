"""A shard's replicas across peers, offered as one ShardAccess.

Writes go to every Active and Partial (recovering) replica in parallel and are acknowledged once
`write_consistency_factor` Active replicas applied them, without waiting long for a replica that
lags; a replica that fails is marked Dead through consensus
(cluster/replication/replica_writes.py). With
fewer Active replicas than the factor, the write is refused before it reaches any replica.
Reads go to one Active replica, this node's own first and peers that were slow or failing lately
last; when it fails, or has not answered within the hedge delay (the collection's
`read_fan_out_delay_ms`, HEDGE_SECONDS when unset), the next one is asked too and the first answer
wins; `read_fan_out_factor` asks that many more replicas from the start. A read `consistency`
above one asks several and answers with what most of them returned; points read by id are
answered each as a majority of the Active replicas hold it (asked again for up to
AGREEMENT_SECONDS while no majority does, then 503). It carries the placement it was routed
with, and when a replica knows a newer one this node catches up and asks again
(cluster/replication/write_routing.py), so a stale replica of its own cannot outvote them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

from cluster.metadata.state import ACTIVE, CollectionMeta
from cluster.replication.peer_health import PeerHealth
from cluster.replication.replica_writes import LaggingWrites, write_to_replicas
from cluster.replication.shard_access import ShardAccess
from cluster.replication.write_routing import StalePlacement, WritesInFlight
from node.errors import NotFound, Unavailable

# The read consistency of the request being served (set by the API from `?consistency=`).
READ_CONSISTENCY: ContextVar[object] = ContextVar("read_consistency", default=1)
# The write ordering of the request being served (`?ordering=`): weak, medium, strong; or
# "leader" on the node that coordinates a shard's ordered writes.
WRITE_ORDERING: ContextVar[str] = ContextVar("write_ordering", default="weak")
_ordered_write_locks: dict[tuple[str, int], asyncio.Lock] = {}

log = logging.getLogger(__name__)

ReportFailure = Callable[[CollectionMeta, int, int], Awaitable[None]]


@dataclass
class ClusterLinks:
    """How this node reaches the replicas other peers hold, and whom it tells of failures."""

    peer_id: int
    peers: Callable[[], dict[int, dict]]  # peer id -> {"uri", "api"}, from the metadata
    remote: Callable[[int, str, CollectionMeta, int], ShardAccess]  # (peer, api, meta, shard)
    report_failure: ReportFailure  # a replica failed a write
    quorum_failure: Callable[[str], None] = lambda collection: None
    # Hand a write to the node coordinating the shard's ordered writes:
    # (peer id, meta, shard id, method, args) -> result
    forward_write: Callable[..., Awaitable[object]] | None = None
    # The freshest metadata of a collection this node holds (the same one if it is gone).
    current: Callable[[CollectionMeta], CollectionMeta] = lambda meta: meta
    # Wait until this node applied a metadata version: (version, timeout) -> reached
    wait_version: Callable[[int, float], Awaitable[bool]] | None = None
    # Have a replica that missed a write marked Dead (or its transfer aborted) through
    # consensus: (meta the write was routed with, shard id, peer) -> done in time
    exclude_replica: Callable[[CollectionMeta, int, int], Awaitable[bool]] | None = None
    health: PeerHealth = field(default_factory=PeerHealth)
    lagging: LaggingWrites = field(default_factory=LaggingWrites)
    in_flight: WritesInFlight = field(default_factory=WritesInFlight)

# A read that has not answered by then is asked of the next Active replica too, unless the
# collection sets its own `read_fan_out_delay_ms`.
HEDGE_SECONDS = 0.5
# A read refused as routed with a stale placement: how often it is routed again, and how long
# this node waits each time to apply the newer metadata.
READ_REROUTES = 2
READ_CATCH_UP_SECONDS = 1.0
# Points read by id from several replicas must each be held alike by a majority of the Active
# replicas (below); while they are not (a write still on its way), the replicas are asked again,
# the pause doubling from the first to the last, for at most AGREEMENT_SECONDS, then 503.
AGREEMENT_SECONDS = 1.0
AGREEMENT_PAUSES = (0.02, 0.2)

_READS = ("retrieve", "count", "existing", "scroll", "scan", "query", "query_batch",
          "sparse_statistics",
          "info", "indexed_points", "facet_counts", "matrix_sample")


class ReplicaSet:
    def __init__(
        self,
        meta: CollectionMeta,
        shard_id: int,
        replicas_of: Callable[[CollectionMeta], dict[int, ShardAccess]],
        links: ClusterLinks,
    ) -> None:
        self.meta = meta
        self.shard_id = shard_id
        self.states = meta.shards.get(shard_id, {})
        # peer id -> access, for the peers known to the cluster; rebuilt for newer metadata
        self._replicas_of = replicas_of
        self._replicas = replicas_of(meta)
        self._links = links
        self._self_peer = links.peer_id

    def _active(self) -> list[int]:
        peers = [p for p, s in self.states.items() if s == ACTIVE and p in self._replicas]
        # This node's own replica first (no network hop), peers slow or failing lately last.
        suspect = self._links.health.suspect
        return sorted(peers, key=lambda p: (p != self._self_peer, suspect(p), p))

    # ---- reads ----------------------------------------------------------------------------

    def __getattr__(self, name: str):
        if name not in _READS:
            raise AttributeError(name)

        async def read(*args, **kwargs):
            return await self._read(name, args, kwargs)

        return read

    async def _read(self, method: str, args: tuple, kwargs: dict) -> object:
        replicas: ReplicaSet = self
        for _ in range(READ_REROUTES):
            try:
                return await replicas._read_once(method, args, kwargs)
            except StalePlacement as stale:
                # A replica knows a newer placement than this node (frozen until a moment
                # ago, say): catch up and pick the replicas again.
                wait = self._links.wait_version
                if wait is None or not await wait(stale.needed, READ_CATCH_UP_SECONDS):
                    break
                replicas = ReplicaSet(self._links.current(self.meta), self.shard_id,
                                      self._replicas_of, self._links)
        raise Unavailable(f"shard {self.shard_id} of `{self.meta.name}`: this node has not "
                          "applied the placement its replicas know in time")

    async def _read_once(self, method: str, args: tuple, kwargs: dict) -> object:
        candidates = self._active()
        if not candidates:
            raise Unavailable(
                f"no active replica of shard {self.shard_id} of `{self.meta.name}`"
            )
        wanted, _ = _replicas_to_ask(READ_CONSISTENCY.get(), len(candidates))
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + AGREEMENT_SECONDS, AGREEMENT_PAUSES[0]
        while True:
            results, errors = await self._ask(candidates, wanted, method, args, kwargs)
            if len(results) < wanted:
                raise Unavailable(
                    f"shard {self.shard_id} of `{self.meta.name}`: {len(results)} of {wanted} "
                    f"replicas answered ({'; '.join(errors)})"
                )
            if method != "retrieve" or len(results) == 1:
                return _majority(results)
            # A majority of the Active replicas, or every answer when fewer were asked.
            needed = min(len(results), len(candidates) // 2 + 1)
            records, disputed = _agreed_points(results, needed)
            if not disputed:
                return records
            if loop.time() + pause > deadline:
                raise Unavailable(
                    f"shard {self.shard_id} of `{self.meta.name}`: no {needed} of its replicas "
                    f"hold the same version of point(s) {disputed[:5]} (a write to them is still "
                    "on its way); try again"
                )
            await asyncio.sleep(pause)
            pause = min(2 * pause, AGREEMENT_PAUSES[1])

    async def _ask(self, candidates: list[int], wanted: int, method: str, args: tuple,
                   kwargs: dict) -> tuple[list[object], list[str]]:
        """Ask `wanted` replicas, in order; the next one too whenever one fails or none has
        answered for HEDGE_SECONDS. The first `wanted` answers win; the rest are cancelled."""
        waiting = list(candidates)
        running: dict[asyncio.Task, int] = {}
        results: list[object] = []
        errors: list[str] = []
        health = self._links.health

        def ask_next() -> None:
            peer = waiting.pop(0)
            call = getattr(self._replicas[peer], method)(*args, **kwargs)
            running[asyncio.ensure_future(call)] = peer

        extra, hedge_seconds = _read_fan_out(self.meta)
        for _ in range(min(wanted + extra, len(waiting))):
            ask_next()
        try:
            while running and len(results) < wanted:
                done, _ = await asyncio.wait(running, timeout=hedge_seconds if waiting else None,
                                             return_when=asyncio.FIRST_COMPLETED)
                if not done:  # every call running has taken the hedge delay already
                    for peer in running.values():
                        if peer != self._self_peer:
                            health.slow(peer)
                    ask_next()
                    continue
                for task in done:
                    peer = running.pop(task)
                    error = task.exception()
                    if error is None:
                        results.append(task.result())
                        if peer != self._self_peer:
                            health.answered(peer)
                    elif isinstance(error, (Unavailable, NotFound)):  # down, or not holding it
                        errors.append(f"peer {peer}: {error}")
                        if isinstance(error, Unavailable) and peer != self._self_peer:
                            health.slow(peer)
                        if waiting and len(running) + len(results) < wanted:
                            ask_next()
                    else:
                        raise error
        finally:
            for task in running:
                task.cancel()
        return results, errors

    # ---- writes ---------------------------------------------------------------------------

    async def upsert(self, batch, sync: bool) -> int:
        return await self._write("upsert", (batch, sync))

    async def update(self, kind, ids, point_filter, args, sync) -> int | None:
        return await self._write("update", (kind, ids, point_filter, args, sync))

    async def _write(self, method: str, args: tuple) -> object:
        """Ordered writes (medium, strong) of a shard are coordinated by one replica's node,
        which applies them one at a time, so every replica sees them in the same order."""
        ordering = WRITE_ORDERING.get()
        if ordering in ("medium", "strong"):
            leader = self._ordering_leader(ordering)
            if leader != self._self_peer and self._links.forward_write is not None:
                return await self._links.forward_write(leader, self.meta, self.shard_id,
                                                       method, args)
            ordering = "leader"
        if ordering == "leader":
            key = (self.meta.uuid, self.shard_id)
            lock = _ordered_write_locks.setdefault(key, asyncio.Lock())
            async with lock:
                return await self._fan_out(method, args)
        return await self._fan_out(method, args)

    def _ordering_leader(self, ordering: str) -> int:
        """strong: the shard's first placed replica, which must be Active; medium: the first
        Active one (a new leader when that one fails)."""
        placed = list(self.states)
        if ordering == "strong":
            if not placed or self.states[placed[0]] != ACTIVE:
                raise Unavailable(
                    f"the leader replica of shard {self.shard_id} of `{self.meta.name}` is not "
                    "active: ordering=strong writes wait for it"
                )
            return placed[0]
        for peer in placed:
            if self.states[peer] == ACTIVE:
                return peer
        raise Unavailable(f"no active replica of shard {self.shard_id} of `{self.meta.name}`")

    async def _fan_out(self, method: str, args: tuple) -> object:
        return await write_to_replicas(self.meta, self.shard_id, method, args, self._links,
                                       self._replicas_for)

    def _replicas_for(self, meta: CollectionMeta) -> dict[int, ShardAccess]:
        local_missing = (self._self_peer in meta.shards.get(self.shard_id, {})
                         and self._self_peer not in self._replicas)
        if meta is self.meta and not local_missing:
            return self._replicas
        return self._replicas_of(meta)


def _read_fan_out(meta: CollectionMeta) -> tuple[int, float]:
    """(replicas asked beyond the needed ones at once, seconds before asking one more)."""
    params = meta.config.get("params", {})
    delay_ms = params.get("read_fan_out_delay_ms") or 0
    return params.get("read_fan_out_factor") or 0, delay_ms / 1000 if delay_ms else HEDGE_SECONDS


def _replicas_to_ask(consistency: object, active: int) -> tuple[int, bool]:
    """(how many replicas must answer, whether every one of them must)."""
    if consistency == "all":
        return active, True
    if consistency == "majority":
        return active, False  # ask all, answer with what most agree on
    if consistency == "quorum":
        return active // 2 + 1, False
    return min(int(consistency), active), False


def _agreed_points(answers: list[list[tuple]], needed: int) -> tuple[list[tuple], list]:
    """(each point as at least `needed` replicas returned it, leaving out the points at least
    `needed` replicas lack; the ids of the points no `needed` replicas agree on).

    Why a majority of the Active replicas rather than the most common answer: a point's
    versions only move forward on each replica (ordered writes), and any two majorities share a
    replica, so a version a majority held is never followed by an older one a majority holds:
    a read never returns a point older than one an earlier read returned. The most common of
    three different answers (three replicas, each a write behind the next) was whichever
    answered first, and two reads in a row could go back in time."""
    by_replica = [{record[0]: record for record in answer} for answer in answers]
    agreed, disputed = [], []
    for point_id in dict.fromkeys(pid for replica in by_replica for pid in replica):
        versions = [replica.get(point_id) for replica in by_replica]
        held = next((v for v in versions
                     if sum(1 for other in versions if _same(other, v)) >= needed), _NONE_HELD)
        if held is _NONE_HELD:
            disputed.append(point_id)
        elif held is not None:
            agreed.append(held)
    return agreed, disputed


_NONE_HELD = object()


def _majority(results: list[object]) -> object:
    """The answer most replicas gave (the first one on a tie)."""
    best, best_votes = results[0], 0
    for i, candidate in enumerate(results):
        votes = 1 + sum(1 for j, other in enumerate(results) if j != i and _same(other, candidate))
        if votes > best_votes:
            best, best_votes = candidate, votes
        if 2 * best_votes > len(results):  # no other answer can gather more votes
            break
    return best


def _same(a: object, b: object) -> bool:
    """Whether two replicas' answers are equal, arrays compared by value. (Not by `repr`,
    which costs ~0.5 ms an array and abbreviates long ones, so that two different vectors
    of more than 1,000 dimensions printed the same.)"""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)
                and a.shape == b.shape and bool(np.array_equal(a, b)))
    if isinstance(a, list | tuple):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b, strict=True)))
    if isinstance(a, dict):
        return (isinstance(b, dict) and a.keys() == b.keys()
                and all(_same(value, b[key]) for key, value in a.items()))
    try:
        return bool(a == b)
    except ValueError:  # an object holding arrays, compared field by field
        return hasattr(a, "__dict__") and type(a) is type(b) and _same(vars(a), vars(b))
