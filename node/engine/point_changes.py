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

    def move_point(self, segment: Segment, pid: PointId, point: PointBatch, seq: int) -> None: ...


Change = Callable[[PointMover, Segment, PointId, tuple, int], None]


def _payload_copy(segment: Segment, pid: PointId) -> dict:
    return segment.payload(segment.offset_of(pid)) or {}  # storage reads are fresh copies


def _delete(shard: PointMover, segment: Segment, pid: PointId, args: tuple, seq: int) -> None:
    segment.delete(pid, seq)


def _set_payload(shard: PointMover, segment: Segment, pid: PointId, args: tuple, seq: int) -> None:
    values, key = args
    payload = _payload_copy(segment, pid)
    if key is None:
        payload.update(copy.deepcopy(values))
    else:
        payload = set_at(payload, parse_key(key), values)
    segment.set_payload(pid, payload, seq)


def _overwrite_payload(
    shard: PointMover, segment: Segment, pid: PointId, args: tuple, seq: int
) -> None:
    segment.set_payload(pid, copy.deepcopy(args[0]), seq)


def _delete_payload(
    shard: PointMover, segment: Segment, pid: PointId, args: tuple, seq: int
) -> None:
    payload = _payload_copy(segment, pid)
    for key in args[0]:
        delete_at(payload, parse_key(key))
    segment.set_payload(pid, payload, seq)


def _clear_payload(
    shard: PointMover, segment: Segment, pid: PointId, args: tuple, seq: int
) -> None:
    segment.set_payload(pid, None, seq)


def _point(segment: Segment, pid: PointId) -> PointBatch:
    return segment.as_batch(np.array([segment.offset_of(pid)], dtype=np.int64))


def _update_vectors(
    shard: PointMover, segment: Segment, pid: PointId, args: tuple, seq: int
) -> None:
    new_vectors = args[0][pid]
    shard.move_point(segment, pid, replace_vectors(_point(segment, pid), new_vectors), seq)


def _delete_vectors(
    shard: PointMover, segment: Segment, pid: PointId, args: tuple, seq: int
) -> None:
    shard.move_point(segment, pid, replace_vectors(_point(segment, pid), {}, args[0]), seq)


POINT_CHANGES: dict[str, Change] = {
    "delete": _delete,
    "set_payload": _set_payload,
    "overwrite_payload": _overwrite_payload,
    "delete_payload": _delete_payload,
    "clear_payload": _clear_payload,
    "update_vectors": _update_vectors,
    "delete_vectors": _delete_vectors,
}
