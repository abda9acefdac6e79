"""Which of `total` disjoint slices a point id falls into (Qdrant's `slice` condition).

Qdrant hashes the id's canonical bytes (8 little-endian bytes of a numeric id, the 16 RFC 4122
bytes of a UUID) with SipHash-2-4 under a zero key and takes the hash modulo `total`. The hash
has to agree bit for bit, or a slice here would hold other points than on Qdrant.
"""

from __future__ import annotations

import uuid

from node.engine.ids import PointId

_U64 = (1 << 64) - 1
# SipHash's initial state, the ASCII of "somepseudorandomlygeneratedbytes" in four words.
_INITIAL_STATE = (0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573)


def _rotate(word: int, bits: int) -> int:
    return ((word << bits) | (word >> (64 - bits))) & _U64


def _sip_rounds(state: list[int], rounds: int) -> None:
    v0, v1, v2, v3 = state
    for _ in range(rounds):
        v0 = (v0 + v1) & _U64
        v2 = (v2 + v3) & _U64
        v1 = _rotate(v1, 13) ^ v0
        v3 = _rotate(v3, 16) ^ v2
        v0 = _rotate(v0, 32)
        v2 = (v2 + v1) & _U64
        v0 = (v0 + v3) & _U64
        v1 = _rotate(v1, 17) ^ v2
        v3 = _rotate(v3, 21) ^ v0
        v2 = _rotate(v2, 32)
    state[:] = v0, v1, v2, v3


def siphash24(data: bytes) -> int:
    """SipHash-2-4 of `data` under the all-zero 128-bit key."""
    state = list(_INITIAL_STATE)  # the key is zero, so XOR-ing it in changes nothing
    whole = len(data) // 8 * 8
    # The final word holds the leftover bytes, and the length's low byte in its top byte.
    last = int.from_bytes(data[whole:], "little") | ((len(data) & 0xFF) << 56)
    words = [int.from_bytes(data[i : i + 8], "little") for i in range(0, whole, 8)]
    for word in [*words, last]:
        state[3] ^= word
        _sip_rounds(state, 2)
        state[0] ^= word
    state[2] ^= 0xFF
    _sip_rounds(state, 4)
    v0, v1, v2, v3 = state
    return v0 ^ v1 ^ v2 ^ v3


def id_bytes(point_id: PointId) -> bytes:
    if isinstance(point_id, int):
        return point_id.to_bytes(8, "little")
    return uuid.UUID(point_id).bytes


def slice_of(point_id: PointId, total: int) -> int:
    """The slice, in 0..total, that `point_id` belongs to."""
    return siphash24(id_bytes(point_id)) % total
