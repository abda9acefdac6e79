"""Query parameters every face reads (REST from the query string, gRPC from the message's
fields): `consistency` of reads, `ordering` of writes, `timeout` in seconds. The cluster layer
takes the values these return."""

from __future__ import annotations

from node.ascii_digits import parse_ascii_uint
from node.errors import BadRequest

ORDERINGS = ("weak", "medium", "strong")


def parse_ordering(raw: str | None) -> str:
    if raw is None or raw == "":
        return "weak"
    if raw not in ORDERINGS:
        raise BadRequest(f"ordering: expected weak, medium or strong, got {raw!r}")
    return raw


def parse_read_consistency(raw: str | None) -> object:
    """The `consistency` query parameter: a number of replicas, majority, quorum or all."""
    if raw is None or raw == "":
        return 1
    if raw in ("majority", "quorum", "all"):
        return raw
    replicas = parse_ascii_uint(raw)
    if replicas is not None and replicas >= 1:
        return replicas
    raise BadRequest(
        f"consistency: expected a positive number, majority, quorum or all; got {raw!r}"
    )


def parse_timeout(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    seconds = parse_ascii_uint(raw)
    if seconds is None or seconds < 1:
        raise BadRequest(f"timeout: expected a positive number of seconds, got {raw!r}")
    return seconds
