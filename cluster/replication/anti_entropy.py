"""Anti-entropy: the Active replicas of a shard are made to hold the same content again.

Why replicas can differ at all: a write that a replica missed is acknowledged only once that
replica is out of the metadata (cluster/replication/replica_writes.py), so Active replicas hold
every acknowledged write. A write that was *not* acknowledged (its client got a 503 or no
answer) may still have landed on some Active replicas only: a coordinator killed or frozen
halfway, or one that resumed with a write queued and routed it from stale metadata while a
transfer refilled its own replica. Either content is a valid outcome of such a write; the
replicas only have to agree.

How: every `cluster.anti_entropy_period_ms` (2 s by default) the node holding a shard's first
Active replica (placement order) asks each Active replica for its write counter and content digest
(node/engine/content_digest.py), the digest only if the counter has not moved since the previous
pass: a replica taking writes is not read whole every pass, and an idle one answers from its
cache. Replicas that differ are left alone while anything moves: a transfer of the shard, a
change of its replica states, or a write counter that changed since the previous pass (a write
on its way reaches the others a moment later). When two passes in a row see the same counters,
the same placement and the same digests, and the digests differ, the replicas outside the
largest group of equal digests (on a tie: outside the group holding the earliest-placed
replica) are marked Dead through the usual Raft op, and the usual recovery transfer refills
them from an Active one: the one path already correct against concurrent, later writes. A
repair never costs an acknowledged write, since every Active replica holds all of them and the
op refuses to mark the last Active one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import orjson

from cluster.metadata.state import ACTIVE, CollectionMeta, MetadataState
from cluster.replication.write_routing import routed_version
from node.engine.content_digest import ContentDigest

log = logging.getLogger(__name__)

# Shards of one pass compared at once (each asks its replicas in parallel too).
CONCURRENT_CHECKS = 8

ShardKey = tuple[str, int]  # (collection uuid, shard id)
# Ids logged per repair, of the points the replicas differ on.
LOGGED_IDS = 50
# (meta, shard id, peer) -> whether the replica was marked Dead
MarkDead = Callable[[CollectionMeta, int, int], Awaitable[bool]]



class ReplicaContent(Protocol):
    """What anti-entropy asks of one replica (LocalShardAccess, RemoteShardAccess)."""

    async def content_digest(self, only_if_writes: int | None = None) -> dict: ...
    async def point_hashes(self) -> list[list]: ...


# What the last pass found for a shard this node checks.
EQUAL = "equal"  # every Active replica holds the same content
CHANGING = "changing"  # writes or placement moved since the last pass
REPAIRED = "repaired"  # they differed while idle: the minority was marked Dead
SINGLE = "single"  # fewer than two Active replicas: nothing to compare
TRANSFER = "transfer"  # a transfer of the shard runs
UNREACHABLE = "unreachable"  # a replica did not answer


@dataclass(frozen=True)
class _Probe:
    version: int  # the shard's routing version when the replicas were asked
    digests: dict[int, ContentDigest]


class AntiEntropy:
    def __init__(self, peer_id: int, state: Callable[[], MetadataState],
                 replica: Callable[[CollectionMeta, int, int], ReplicaContent],
                 mark_dead: MarkDead,
                 on_repair: Callable[[str], None] = lambda collection: None) -> None:
        self._peer_id = peer_id
        self._state = state
        self._replica = replica
        self._mark_dead = mark_dead
        self._on_repair = on_repair
        self._probes: dict[ShardKey, _Probe] = {}
        self.passes = 0
        self.repairs = 0
        # shard -> (collection name, status, pass number) of the shards this node checks
        self.verdicts: dict[ShardKey, tuple[str, str, int]] = {}

    async def run(self, period: float) -> None:
        """A pass every `period` seconds, for ever."""
        while True:
            await asyncio.sleep(period)
            try:
                await self.check_all()
            except Exception:  # noqa: BLE001 - the next pass tries again
                log.exception("anti-entropy pass failed")

    async def check_all(self) -> None:
        """One pass over the shards whose first Active replica is this node's."""
        checked: set[ShardKey] = set()
        number = self.passes + 1
        limit = asyncio.Semaphore(CONCURRENT_CHECKS)

        async def check(meta: CollectionMeta, shard_id: int) -> None:
            async with limit:
                status = await self._check(meta, shard_id)
            self.verdicts[(meta.uuid, shard_id)] = (meta.name, status, number)

        checks = []
        for meta in list(self._state().collections.values()):
            for shard_id, states in list(meta.shards.items()):
                first = next((p for p, s in states.items() if s == ACTIVE), None)
                if first == self._peer_id:
                    checked.add((meta.uuid, shard_id))
                    checks.append(check(meta, shard_id))
        await asyncio.gather(*checks)
        for key in [k for k in self.verdicts if k not in checked]:
            del self.verdicts[key]
        for key in [k for k in self._probes if k not in checked]:
            del self._probes[key]
        self.passes = number

    def telemetry(self) -> dict:
        """Passes, repairs and the last verdict per shard this node checks."""
        return {
            "passes": self.passes,
            "repairs": self.repairs,
            "shards": [{"collection": name, "shard_id": shard_id, "status": status,
                        "pass": number}
                       for (_, shard_id), (name, status, number) in list(self.verdicts.items())],
        }

    async def _check(self, meta: CollectionMeta, shard_id: int) -> str:
        key = (meta.uuid, shard_id)
        states = meta.shards[shard_id]
        if any(t["shard_id"] == shard_id for t in meta.transfers):
            self._probes.pop(key, None)
            return TRANSFER
        active = [p for p, s in states.items() if s == ACTIVE]
        if len(active) < 2:
            self._probes.pop(key, None)
            return SINGLE
        previous = self._probes.get(key)
        seen = previous.digests if previous is not None else {}
        answers = await asyncio.gather(
            *(self._digest(meta, shard_id, p, seen[p].writes if p in seen else -1)
              for p in active), return_exceptions=True)
        digests: dict[int, ContentDigest] = {}
        for peer, answer in zip(active, answers, strict=True):
            try:
                if isinstance(answer, BaseException):
                    raise answer
                digests[peer] = ContentDigest.from_wire(answer)
            except Exception as exc:  # noqa: BLE001 - unreachable, not Active there, garbage
                log.debug("anti-entropy: %s/%s on peer %s not compared: %s", meta.name,
                          shard_id, peer, exc)
                self._probes.pop(key, None)
                return UNREACHABLE
        probe = _Probe(routed_version(meta, shard_id), digests)
        self._probes[key] = probe
        if any(d.digest is None for d in digests.values()):
            return CHANGING
        if len({d.digest for d in digests.values()}) == 1:
            return EQUAL
        if previous != probe or not self._placement_unchanged(meta, shard_id, probe.version):
            return CHANGING
        await self._repair(meta, shard_id, digests)
        self._probes.pop(key, None)
        return REPAIRED

    async def _digest(self, meta: CollectionMeta, shard_id: int, peer: int,
                      only_if_writes: int) -> object:
        return await self._replica(meta, shard_id, peer).content_digest(only_if_writes)

    async def _differing_points(self, meta: CollectionMeta, shard_id: int,
                                peers: list[int]) -> list | None:
        """The ids whose content is not the same on every replica (None when a replica did not
        list its points): logged with the repair, so that a repair of a point an acknowledged
        write left different (a bug of its own) shows."""
        try:
            listed = await asyncio.gather(
                *(self._replica(meta, shard_id, p).point_hashes() for p in peers))
            contents = [{point_id: h for point_id, h in pairs} for pairs in listed]
        except Exception as exc:  # noqa: BLE001 - the repair goes on without the list
            log.info("anti-entropy: points of %s/%s not listed: %s", meta.name, shard_id, exc)
            return None
        ids = set().union(*contents)
        return sorted((i for i in ids if len({c.get(i) for c in contents}) > 1), key=str)

    def _placement_unchanged(self, meta: CollectionMeta, shard_id: int, version: int) -> bool:
        current = self._state().collections.get(meta.name)
        return (current is not None and current.uuid == meta.uuid
                and routed_version(current, shard_id) == version)

    async def _repair(self, meta: CollectionMeta, shard_id: int,
                      digests: dict[int, ContentDigest]) -> None:
        differing = await self._differing_points(meta, shard_id, list(digests))
        shown = "not listed" if differing is None else (
            f"{len(differing)}: {orjson.dumps(differing[:LOGGED_IDS]).decode()}")
        for peer in replicas_to_refill(list(meta.shards[shard_id]), digests):
            log.warning("anti-entropy: replica %s/%s on peer %s differs from the others while "
                        "idle (%s); marking it Dead to refill it; differing points %s",
                        meta.name, shard_id, peer,
                        ", ".join(f"peer {p}: {d.points} points {d.digest[:12]}"
                                  for p, d in digests.items() if d.digest), shown)
            if await self._mark_dead(meta, shard_id, peer):
                self.repairs += 1
                self._on_repair(meta.name)
                log.warning("anti-entropy: replica %s/%s on peer %s marked Dead for repair",
                            meta.name, shard_id, peer)


def replicas_to_refill(placement: list[int], digests: dict[int, ContentDigest]) -> list[int]:
    """The replicas outside the largest group of equal digests; on a tie, the group holding
    the replica placed first stays. `placement` lists the shard's peers in placement order."""
    groups: dict[str, list[int]] = {}
    for peer in sorted(digests, key=placement.index):
        groups.setdefault(digests[peer].digest, []).append(peer)
    keep = max(groups.values(), key=lambda group: (len(group), -placement.index(group[0])))
    return [peer for peer in sorted(digests, key=placement.index) if peer not in keep]
