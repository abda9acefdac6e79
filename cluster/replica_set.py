"""A shard's replicas across peers, offered as one ShardAccess.

Writes go to every Active and Partial (recovering) replica in parallel and are acknowledged once
`write_consistency_factor` Active replicas applied them; a replica that could not be reached is
reported (and marked Dead through consensus). With fewer Active replicas than the factor, the
write is refused before it reaches any replica. Reads go to one Active replica, this node's own
first, and to the next one when a replica fails; a read `consistency` above one asks several
and answers with what most of them returned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass

from cluster.shard_access import ShardAccess
from cluster.state import ACTIVE, PARTIAL, CollectionMeta
from node.errors import BadRequest, FlotillaError, NotFound, Unavailable

# The read consistency of the request being served (set by the API from `?consistency=`).
READ_CONSISTENCY: ContextVar[object] = ContextVar("read_consistency", default=1)
# The write ordering of the request being served (`?ordering=`): weak, medium, strong; or
# "leader" on the node that coordinates a shard's ordered writes.
WRITE_ORDERING: ContextVar[str] = ContextVar("write_ordering", default="weak")
ORDERINGS = ("weak", "medium", "strong")
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

_READS = ("retrieve", "count", "existing", "scroll", "scan", "query", "query_batch",
          "sparse_statistics",
          "info", "indexed_points")


class ReplicaSet:
    def __init__(
        self,
        meta: CollectionMeta,
        shard_id: int,
        replicas: dict[int, ShardAccess],
        links: ClusterLinks,
    ) -> None:
        self.meta = meta
        self.shard_id = shard_id
        self.states = meta.shards.get(shard_id, {})
        self._replicas = replicas  # peer id -> access, for the peers known to the cluster
        self._links = links
        self._self_peer = links.peer_id
        params = meta.config.get("params") or {}
        self.write_consistency_factor = int(params.get("write_consistency_factor", 1))

    def _active(self) -> list[int]:
        peers = [p for p, s in self.states.items() if s == ACTIVE and p in self._replicas]
        # This node's own replica first: no network hop.
        return sorted(peers, key=lambda p: (p != self._self_peer, p))

    # ---- reads ----------------------------------------------------------------------------

    def __getattr__(self, name: str):
        if name not in _READS:
            raise AttributeError(name)

        async def read(*args, **kwargs):
            return await self._read(name, args, kwargs)

        return read

    async def _read(self, method: str, args: tuple, kwargs: dict) -> object:
        candidates = self._active()
        if not candidates:
            raise Unavailable(
                f"no active replica of shard {self.shard_id} of `{self.meta.name}`"
            )
        wanted, need_all = _replicas_to_ask(READ_CONSISTENCY.get(), len(candidates))
        results: list[object] = []
        errors: list[str] = []
        for peer in candidates:
            try:
                results.append(await getattr(self._replicas[peer], method)(*args, **kwargs))
            except (Unavailable, NotFound) as exc:  # down, or not holding it: try the next one
                errors.append(f"peer {peer}: {exc}")
                continue
            if len(results) >= wanted:
                return _majority(results)
        if results and not need_all and wanted == 1:
            return results[0]
        raise Unavailable(
            f"shard {self.shard_id} of `{self.meta.name}`: {len(results)} of {wanted} replicas "
            f"answered ({'; '.join(errors)})"
        )

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
        active = self._active()
        factor = self.write_consistency_factor
        if len(active) < factor:
            self._links.quorum_failure(self.meta.name)
            raise Unavailable(
                f"shard {self.shard_id} of `{self.meta.name}` has {len(active)} active "
                f"replica(s), fewer than write_consistency_factor {factor}: nothing was written"
            )
        recovering = [p for p, s in self.states.items() if s == PARTIAL and p in self._replicas]
        targets = active + recovering
        results = await asyncio.gather(
            *(getattr(self._replicas[p], method)(*args) for p in targets),
            return_exceptions=True,
        )
        applied: list[object] = []
        for peer, result in zip(targets, results, strict=True):
            if isinstance(result, (Unavailable, NotFound)):  # down, or the replica is missing
                log.warning("replica of %s/%s on peer %s failed a write: %s",
                            self.meta.name, self.shard_id, peer, result)
                await self._links.report_failure(self.meta, self.shard_id, peer)
            elif isinstance(result, FlotillaError):
                raise result  # bad input fails the same way on every replica
            elif isinstance(result, BaseException):
                raise result
            elif peer in active:
                applied.append(result)
        if len(applied) < factor:
            self._links.quorum_failure(self.meta.name)
            raise Unavailable(
                f"shard {self.shard_id} of `{self.meta.name}`: the write reached "
                f"{len(applied)} of the {factor} replicas write_consistency_factor asks for; "
                "it is not acknowledged"
            )
        seqs = [r for r in applied if isinstance(r, int)]
        return max(seqs) if seqs else None


def parse_ordering(raw: str | None) -> str:
    if raw is None or raw == "":
        return "weak"
    if raw not in ORDERINGS:
        raise BadRequest(f"ordering: expected weak, medium or strong, got {raw!r}")
    return raw


def parse_read_consistency(raw: str | None) -> object:
    """The `consistency` query parameter: a number of replicas, majority, quorum or all."""
    if raw is None or raw == "":
        return 1
    if raw in ("majority", "quorum", "all"):
        return raw
    if raw.isdigit() and int(raw) >= 1:
        return int(raw)
    raise BadRequest(
        f"consistency: expected a positive number, majority, quorum or all; got {raw!r}"
    )


def _replicas_to_ask(consistency: object, active: int) -> tuple[int, bool]:
    """(how many replicas must answer, whether every one of them must)."""
    if consistency == "all":
        return active, True
    if consistency == "majority":
        return active, False  # ask all, answer with what most agree on
    if consistency == "quorum":
        return active // 2 + 1, False
    return min(int(consistency), active), False


def _majority(results: list[object]) -> object:
    """The answer most replicas gave (the first one on a tie)."""
    if len(results) == 1:
        return results[0]
    best, best_votes = results[0], 0
    for candidate in results:
        votes = sum(1 for other in results if _same(other, candidate))
        if votes > best_votes:
            best, best_votes = candidate, votes
    return best


def _same(a: object, b: object) -> bool:
    try:
        return bool(a == b)
    except ValueError:  # numpy arrays inside: compare their ids and scores only
        return repr(a) == repr(b)
