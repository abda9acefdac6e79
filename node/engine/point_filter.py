"""Which points of a segment a filter lets through, as a boolean mask over its offsets."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from node.engine.ids import PointId
from node.engine.segment import Segment


class PointFilter(Protocol):
    def matches(self, point_id: PointId, payload: dict | None, has_vector) -> bool: ...


def filter_mask(segment: Segment, point_filter: PointFilter) -> np.ndarray:
    count = segment.total
    mask = np.zeros(count, dtype=bool)
    for pid, offset in segment.id_to_offset.items():
        def has_vector(name: str, offset: int = offset) -> bool:
            return segment.has_vector(offset, name)

        mask[offset] = point_filter.matches(pid, segment.payload(offset), has_vector)
    return mask
