"""Which points of a segment a filter lets through, as a boolean mask over its offsets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

import numpy as np

from node.engine.ids import PointId
from node.engine.segment import Segment


class PointFilter(Protocol):
    def matches(self, point_id: PointId, payload: dict | None, has_vector) -> bool: ...


def with_text_indexes(point_filter: PointFilter, segment: Segment) -> PointFilter:
    """The filter with its full-text conditions reading through the segment's text indexes."""
    bind = getattr(point_filter, "with_text_indexes", None)
    return point_filter if bind is None else bind(segment.text_analyzers)


def _indexed_candidates(
    segment: Segment, point_filter: PointFilter
) -> tuple[np.ndarray | None, bool]:
    """(offsets that payload indexes allow for the filter's `must` conditions, or None when
    no index helps; whether those offsets are exactly the filter's matches)."""
    hints = getattr(point_filter, "index_hints", None)
    if hints is None or not segment.payload_indexes:
        return None, False
    candidates = None
    exact = point_filter.only_index_hints()
    for key, hint in hints():
        index = segment.payload_indexes.get(key)
        found = index.lookup(hint) if index is not None else None
        if found is None:
            exact = False
            continue
        exact = exact and not index.stale
        candidates = found if candidates is None else np.intersect1d(candidates, found)
    return candidates, exact and candidates is not None


def filter_mask(segment: Segment, point_filter: PointFilter) -> np.ndarray:
    """Which offsets pass the filter. Indexed conditions narrow the candidates first, so a
    selective filter on an indexed field checks only the points it can match."""
    count = segment.total
    mask = np.zeros(count, dtype=bool)
    point_filter = with_text_indexes(point_filter, segment)
    candidates, exact = _indexed_candidates(segment, point_filter)
    if candidates is not None and exact:
        # Exact indexes decide the filter alone: no per-point check.
        live = candidates[~segment.deleted[candidates]] if len(candidates) else candidates
        mask[live] = True
        return mask
    if candidates is None:
        pairs = segment.ids.live_items()
    else:
        live = candidates[~segment.deleted[candidates]] if len(candidates) else candidates
        pairs = zip(segment.ids.ids_at(live), live.tolist(), strict=True)
    for pid, offset in pairs:
        def has_vector(name: str, offset: int = offset) -> bool:
            return segment.has_vector(offset, name)

        mask[offset] = point_filter.matches(pid, segment.payload(offset), has_vector)
    return mask


def matching_points(segments: Iterable[Segment], point_filter: PointFilter | None
                    ) -> Iterator[tuple[Segment, int]]:
    """(segment, offset) of every live point the filter (or no filter) lets through; the
    caller holds the shard's lock while it iterates."""
    for segment in segments:
        mask = ~segment.deleted[: segment.total]
        if point_filter is not None:
            mask &= filter_mask(segment, point_filter)
        for offset in np.flatnonzero(mask):
            yield segment, int(offset)
