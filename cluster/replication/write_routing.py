"""Writes carry the placement they were routed with; a replica refuses a stale one.

A coordinator picks a shard's write targets (Active and Partial replicas) from its own copy of
the metadata, which may trail the Raft log. Right after a replica turns Partial (a transfer
starts), a coordinator that has not applied that yet would skip it, and the receiver would miss
the write if its copy of the point had already been streamed. So:

- every write sent to a replica carries the shard version it was routed with
  (`CollectionMeta.shard_versions`: the metadata version of the last change of the shard's
  replicas), in the `X-Flotilla-Routed-At` header;
- a replica that knows a newer version of the shard refuses the write (StalePlacement, HTTP
  412) before applying it; the coordinator waits until it has applied that version, routes the
  write again and sends it to the targets that lack it (the Partial receiver now among them);
- a replica that knows an older version than the coordinator catches up first, so a receiver
  always knows it is receiving (and queues the live write) before it applies one;
- the source of a transfer answers the receiver's "have you applied version V" only once it has,
  and once the writes it accepted before that are applied (`WritesInFlight.drain`): every write
  it applies after the receiver's first page is routed with V or later, so it reaches the
  receiver too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager

from cluster.metadata.state import PARTIAL, CollectionMeta, MetadataState
from node.ascii_digits import parse_ascii_uint
from node.engine.shard import LocalShard
from node.errors import FlotillaError, NotFound, Unavailable

ROUTED_AT_HEADER = "X-Flotilla-Routed-At"
CATCH_UP_SECONDS = 5.0
_NEEDED = re.compile(r"changed at metadata version (\d+)")


class StalePlacement(FlotillaError):
    """A replica knows a newer placement of the shard than the write was routed with."""

    status = 412

    def __init__(self, message: str, needed: int) -> None:
        super().__init__(message)
        self.needed = needed

    @classmethod
    def of(cls, name: str, shard_id: int, routed_at: int, needed: int,
           what: str = "write") -> StalePlacement:
        return cls(f"{what} to shard {shard_id} of `{name}` routed at metadata version "
                   f"{routed_at}, but the shard's replicas changed at metadata version {needed}",
                   needed)

    @classmethod
    def from_message(cls, message: str) -> StalePlacement:
        """Rebuild the error a peer answered with (its message names the version needed)."""
        match = _NEEDED.search(message)
        return cls(message, int(match.group(1)) if match else 0)


def routed_version(meta: CollectionMeta, shard_id: int) -> int:
    return meta.shard_versions.get(shard_id, 0)


def check_read_routing(meta: CollectionMeta, shard_id: int,
                       routed_at_header: str | None) -> None:
    """A read asked of several replicas (read consistency above one) carries the shard version
    its coordinator picked them with. A replica that knows a newer one refuses it: the
    coordinator's metadata trails (a node frozen until a moment ago), and may still count as
    Active a replica that missed acknowledged writes, its own among them, which could outvote
    the up-to-date ones. The coordinator catches up and asks again."""
    routed_at = parse_ascii_uint(routed_at_header)
    if routed_at is not None and routed_version(meta, shard_id) > routed_at:
        raise StalePlacement.of(meta.name, shard_id, routed_at, routed_version(meta, shard_id),
                                what="read")


def transfer_into(meta: CollectionMeta, shard_id: int, peer: int) -> dict | None:
    """The transfer that `peer` receives shard `shard_id` by, if one runs."""
    return next((t for t in meta.transfers if t["shard_id"] == shard_id and t["to"] == peer),
                None)


async def begin_if_receiving(meta: CollectionMeta, shard_id: int, peer: int,
                             shard: LocalShard) -> None:
    """A Partial replica queues live writes from the first one on (see LocalShard)."""
    record = transfer_into(meta, shard_id, peer)
    if record is None or meta.shards.get(shard_id, {}).get(peer) != PARTIAL:
        return
    if not shard.receiving(record.get("id", 0)):
        await asyncio.to_thread(shard.begin_transfer, record.get("id", 0))


class WritesInFlight:
    """Writes this node applies to its replicas, as a coordinator or for a peer, from the
    moment their routing was decided (no pause in between) until applied."""

    def __init__(self) -> None:
        self._next = 0
        self._running: dict[int, asyncio.Event] = {}

    def enter(self) -> int:
        token, self._next = self._next, self._next + 1
        self._running[token] = asyncio.Event()
        return token

    def leave(self, token: int) -> None:
        done = self._running.pop(token, None)
        if done is not None:
            done.set()

    @contextmanager
    def tracking(self) -> Iterator[None]:
        token = self.enter()
        try:
            yield
        finally:
            self.leave(token)

    def snapshot(self) -> list[asyncio.Event]:
        """The writes running now; `drain` waits for exactly these."""
        return list(self._running.values())

    @staticmethod
    async def drain(running: list[asyncio.Event], timeout: float) -> bool:
        if not running:
            return True
        try:
            await asyncio.wait_for(asyncio.gather(*(e.wait() for e in running)), timeout)
        except asyncio.TimeoutError:
            return False
        return True


class ReplicaWritesIn:
    """Accepts the writes peers send to this node's replicas (node/api/internal.py)."""

    def __init__(
        self,
        peer_id: int,
        state: Callable[[], MetadataState],
        local_shard: Callable[[CollectionMeta, int], LocalShard | None],
        wait_version: Callable[[int, float], Awaitable[bool]],
        in_flight: WritesInFlight,
    ) -> None:
        self._peer_id = peer_id
        self._state = state
        self._local_shard = local_shard
        self._wait_version = wait_version
        self._in_flight = in_flight

    @asynccontextmanager
    async def accept(self, collection_uuid: str, shard_id: int,
                     routed_at_header: str | None) -> AsyncIterator[LocalShard]:
        """The local replica to apply a peer's write to, once the write's routing checks out."""
        routed_at = parse_ascii_uint(routed_at_header)
        meta = self._meta(collection_uuid)
        if routed_at is not None and (meta is None or routed_version(meta, shard_id) < routed_at):
            # The coordinator knows a newer placement: apply it here first (this replica may
            # have just turned Partial, or been created).
            if not await self._wait_version(routed_at, CATCH_UP_SECONDS):
                raise Unavailable(f"this node has not applied metadata version {routed_at} "
                                  f"after {CATCH_UP_SECONDS:g}s")
            meta = self._meta(collection_uuid)
        # From the check to the write's end, with no pause before tracking starts: see drain.
        shard = self._local_shard(meta, shard_id) if meta is not None else None
        if meta is None or shard is None:
            raise NotFound(f"shard {shard_id} of collection {collection_uuid} is not on this "
                           f"node (peer {self._peer_id})")
        if routed_at is not None and routed_version(meta, shard_id) > routed_at:
            raise StalePlacement.of(meta.name, shard_id, routed_at,
                                    routed_version(meta, shard_id))
        with self._in_flight.tracking():
            await begin_if_receiving(meta, shard_id, self._peer_id, shard)
            yield shard

    def _meta(self, collection_uuid: str) -> CollectionMeta | None:
        return next((m for m in list(self._state().collections.values())
                     if m.uuid == collection_uuid), None)
