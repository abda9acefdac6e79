"""How each change to existing points applies to one stored point, on apply and on WAL replay.

Payload changes are made in place (`Segment.set_payload`); vector changes move the point to the
appendable segment with a full copy of its row. Each works on a copy of the stored payload, so
a payload read earlier by someone else never changes under them.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Protocol

import numpy as np

from node.engine.ids import PointId
from node.engine.payload_path import parse_key
from node.engine.payload_update import delete_at, set_at
from node.engine.point_batch import PointBatch
from node.engine.segment import Segment
from node.engine.vector_update import replace_vectors


class PointMover(Protocol):
    """What a change needs of the shard: moving a changed point to its appendable segment
    (the shard implements it; naming the protocol here keeps this module below the shard)."""

    def move_point(self, segment: Segment, offset: int, point: PointBatch, seq: int) -> None: ...


# (shard, segment, offset of the point's live row there, its id, the op's arguments, seq)
Change = Callable[[PointMover, Segment, int, PointId, tuple, int], None]


def _payload_copy(segment: Segment, offset: int) -> dict:
    return segment.payload(offset) or {}  # storage reads are fresh copies


def _delete(shard: PointMover, segment: Segment, offset: int, pid: PointId, args: tuple,
            seq: int) -> None:
    segment.delete_row(offset, seq)


def _set_payload(shard: PointMover, segment: Segment, offset: int, pid: PointId, args: tuple,
                 seq: int) -> None:
    values, key = args
    payload = _payload_copy(segment, offset)
    if key is None:
        payload.update(copy.deepcopy(values))
    else:
        payload = set_at(payload, parse_key(key), values)
    segment.set_payload_at(offset, payload, seq)


def _overwrite_payload(
    shard: PointMover, segment: Segment, offset: int, pid: PointId, args: tuple, seq: int
) -> None:
    segment.set_payload_at(offset, copy.deepcopy(args[0]), seq)


def _delete_payload(
    shard: PointMover, segment: Segment, offset: int, pid: PointId, args: tuple, seq: int
) -> None:
    payload = _payload_copy(segment, offset)
    for key in args[0]:
        delete_at(payload, parse_key(key))
    segment.set_payload_at(offset, payload, seq)


def _clear_payload(
    shard: PointMover, segment: Segment, offset: int, pid: PointId, args: tuple, seq: int
) -> None:
    segment.set_payload_at(offset, None, seq)


def _point(segment: Segment, offset: int) -> PointBatch:
    return segment.as_batch(np.array([offset], dtype=np.int64))


def _update_vectors(
    shard: PointMover, segment: Segment, offset: int, pid: PointId, args: tuple, seq: int
) -> None:
    new_vectors = args[0][pid]
    shard.move_point(segment, offset, replace_vectors(_point(segment, offset), new_vectors), seq)


def _delete_vectors(
    shard: PointMover, segment: Segment, offset: int, pid: PointId, args: tuple, seq: int
) -> None:
    shard.move_point(segment, offset, replace_vectors(_point(segment, offset), {}, args[0]), seq)


POINT_CHANGES: dict[str, Change] = {
    "delete": _delete,
    "set_payload": _set_payload,
    "overwrite_payload": _overwrite_payload,
    "delete_payload": _delete_payload,
    "clear_payload": _clear_payload,
    "update_vectors": _update_vectors,
    "delete_vectors": _delete_vectors,
}
