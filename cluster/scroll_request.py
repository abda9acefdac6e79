"""A `/points/scroll` request body, validated."""

from __future__ import annotations

from dataclasses import dataclass

from cluster.query_request import read_order_by
from node.engine.filters import CompiledFilter, compile_filter
from node.engine.ids import PointId, normalize_point_id
from node.engine.records import select_payload, vector_names_selected
from node.errors import BadRequest
from node.model import decode
from node.model.filters import Filter

DEFAULT_LIMIT = 10


@dataclass
class ScrollRequest:
    filter: CompiledFilter | None
    limit: int
    offset: PointId | None
    with_payload: object
    with_vector: object
    order_by: dict | None = None


def parse_scroll(body: object) -> ScrollRequest:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    limit = body.get("limit")
    if limit is None:
        limit = DEFAULT_LIMIT
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise BadRequest(f"limit: expected a positive integer, got {limit!r}")
    offset = body.get("offset")
    with_payload = body.get("with_payload", True)
    with_vector = body.get("with_vector", False)
    select_payload({}, with_payload)  # the selectors are checked even when no point is found
    vector_names_selected(with_vector, [])
    return ScrollRequest(
        filter=compile_filter(decode(Filter | None, body.get("filter"), path="filter")),
        limit=limit,
        offset=normalize_point_id(offset) if offset is not None else None,
        with_payload=with_payload,
        order_by=read_order_by(body["order_by"], "order_by")
        if body.get("order_by") is not None else None,
        with_vector=with_vector,
    )
