"""Payload index schemas as collection info shows them (the request is decoded and checked by
node/model/payload_index.py)."""

from __future__ import annotations


def schema_info(schema: dict, points: int) -> dict:
    """One entry of `payload_schema` in collection info."""
    params = {k: v for k, v in schema.items() if k != "type"}
    info: dict = {"data_type": schema["type"], "points": points}
    if params:
        info["params"] = {"type": schema["type"], **params}
    return info
