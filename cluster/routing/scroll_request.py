"""A `/points/scroll` request, decoded at the edge, as the router runs it."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.routing.query_request import order_by
from node.engine.filters import CompiledFilter, compile_filter
from node.engine.ids import PointId
from node.model import queries as q
from node.model.selectors import payload_selector

DEFAULT_LIMIT = 10


@dataclass
class ScrollRequest:
    filter: CompiledFilter | None
    limit: int
    offset: PointId | None
    with_payload: object
    with_vector: object
    order_by: dict | None = None


def plan_scroll(request: q.ScrollRequest) -> ScrollRequest:
    return ScrollRequest(
        filter=compile_filter(request.filter),
        limit=DEFAULT_LIMIT if request.limit is None else request.limit,
        offset=request.offset,  # normalised by the decode
        with_payload=payload_selector(True if request.with_payload is None
                                      else request.with_payload),
        order_by=order_by(request.order_by) if request.order_by is not None else None,
        with_vector=request.with_vector or False,
    )
