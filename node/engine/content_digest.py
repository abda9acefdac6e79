"""A digest of what a shard replica holds, for comparing replicas of one shard (anti-entropy).

Each live point hashes its id, payload (JSON with sorted keys) and vectors (name, dtype, shape
and raw bytes: replicas hold the very bytes the coordinator converted, and transfers copy them
as stored) to 128 bits; the shard's digest is the sum of those, modulo 2**128, so it does not
depend on segment layout or on the order points were written in. Two replicas with the same
points, payloads and vectors have the same digest whatever the optimizer did to either.

A digest is kept per shard with the write counter (`applied_seq`) it was computed at: asking an
idle shard again costs nothing. Computing one reads every live point, holding the shard lock
for one block of points at a time (see docs/chaos.md for what it costs), so a caller can ask
for it only while the shard stays idle: with `only_if_writes`, a shard whose counter moved on
from that value answers its counter alone.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import orjson

from node.engine.ids import PointId
from node.engine.point_batch import SparseVector
from node.engine.shard import LocalShard

_MODULUS = 1 << 128
_MASK64 = (1 << 64) - 1
# Points hashed under one hold of the shard lock (~20-40 ms of hashing).
_BLOCK = 2048


@dataclass(frozen=True)
class ContentDigest:
    digest: str | None  # 32 hex digits; None: not computed, the shard was taking writes
    points: int
    writes: int  # the shard's write counter when it was computed (or asked)

    def to_wire(self) -> dict:
        return {"digest": self.digest, "points": self.points, "writes": self.writes}

    @staticmethod
    def from_wire(raw: object) -> ContentDigest:
        """Built from what a peer answered; ValueError when it is not a digest."""
        if not isinstance(raw, dict):
            raise ValueError("a content digest is an object")
        digest, points, writes = raw.get("digest"), raw.get("points"), raw.get("writes")
        if not isinstance(digest, str | None) or not isinstance(points, int) or \
                not isinstance(writes, int):
            raise ValueError(f"not a content digest: {raw!r}")
        return ContentDigest(digest, points, writes)


_cache: weakref.WeakKeyDictionary[LocalShard, ContentDigest] = weakref.WeakKeyDictionary()


def shard_digest(shard: LocalShard, only_if_writes: int | None = None) -> ContentDigest:
    """The digest of the shard's live points, as of its current write counter. With
    `only_if_writes`, a digest not cached is computed only if the counter is still that value
    (the shard took no write since the caller saw it); else the digest is None. Blocking."""
    with shard.lock:
        cached = _cache.get(shard)
        if cached is not None and cached.writes == shard.applied_seq:
            return cached
        writes = shard.applied_seq
        if only_if_writes is not None and only_if_writes != writes:
            return ContentDigest(None, 0, writes)
    total = points = 0
    try:
        for _, full in _hashed_points(shard, writes):
            total += full
            points += 1
    except _Changed:
        return ContentDigest(None, 0, shard.applied_seq)
    digest = ContentDigest(f"{total % _MODULUS:032x}", points, writes)
    with shard.lock:
        if shard.applied_seq == writes:
            _cache[shard] = digest
    return digest


def point_hashes(shard: LocalShard) -> list[list]:
    """[id, 16 hex digits of its point hash] of every live point: what anti-entropy lists the
    points replicas differ on from, before a repair (rare: the whole shard travels). Blocking;
    ValueError when the shard changed meanwhile (the list would mix two states)."""
    with shard.lock:
        writes = shard.applied_seq
    try:
        return [[point_id, f"{full & _MASK64:016x}"]
                for point_id, full in _hashed_points(shard, writes)]
    except _Changed:
        raise ValueError("the shard took a write while its points were listed") from None


class _Changed(Exception):
    """A write or an optimizer swap happened between two blocks of a scan."""


def _hashed_points(shard: LocalShard, writes: int) -> Iterator[tuple[PointId, int]]:
    """(id, 128-bit hash) of every live point as of write counter `writes`. The shard lock is
    held for one block of points at a time, not the whole scan: reads and writes of a large
    shard go on meanwhile (a million points take seconds to hash); _Changed when one happened
    between two blocks."""
    with shard.lock:
        segments = list(shard.segments)

    def check() -> None:
        if shard.applied_seq != writes or len(shard.segments) != len(segments) or any(
                a is not b for a, b in zip(shard.segments, segments, strict=True)):
            raise _Changed

    for segment in segments:
        with shard.lock:
            check()
            live = np.flatnonzero(~segment.deleted[: segment.total])
        for start in range(0, len(live), _BLOCK):
            with shard.lock:
                check()
                hashed = []
                for offset in live[start:start + _BLOCK].tolist():
                    point_id = segment.ids.id_at(offset)
                    hashed.append((point_id, point_hash(point_id, segment.payload(offset),
                                                        segment.vectors_of(offset))))
            yield from hashed


def point_hash(point_id: PointId, payload: dict | None, vectors: dict) -> int:
    """128 bits of one point's id, payload and vectors."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(point_id).encode())
    h.update(b"\x00")
    h.update(_payload_bytes(payload))
    for name in sorted(vectors):
        h.update(b"\x00" + name.encode() + b"\x00")
        vector = vectors[name]
        if isinstance(vector, SparseVector):
            _array(h, vector.indices)
            _array(h, vector.values)
        else:
            _array(h, vector)
    return int.from_bytes(h.digest(), "little")


def _payload_bytes(payload: dict | None) -> bytes:
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits: the slower encoder takes it
        return json.dumps(payload, sort_keys=True, default=str).encode()


def _array(h: hashlib._Hash, values: np.ndarray) -> None:
    arr = np.ascontiguousarray(values)
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes())
