"""Point ids: unsigned 64-bit integers or UUIDs, as Qdrant accepts them."""

from __future__ import annotations

import uuid

from node.errors import BadRequest

PointId = int | str

_MAX_U64 = 2**64 - 1


def normalize_point_id(raw: object) -> PointId:
    """Return the canonical form of a point id: an int, or a lower-case hyphenated UUID string."""
    if isinstance(raw, bool):
        raise BadRequest(f"point id must be an unsigned integer or a UUID, got {raw!r}")
    if isinstance(raw, int):
        if 0 <= raw <= _MAX_U64:
            return raw
        raise BadRequest(f"point id must be an unsigned 64-bit integer or a UUID, got {raw}")
    if isinstance(raw, str):
        try:
            return str(uuid.UUID(raw))
        except ValueError:
            raise BadRequest(
                f"point id must be an unsigned integer or a UUID, got {raw!r}"
            ) from None
    raise BadRequest(f"point id must be an unsigned integer or a UUID, got {raw!r}")
