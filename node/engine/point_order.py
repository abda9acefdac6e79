"""The order of point ids in a scroll: integers first, by value, then UUIDs, as text.

This is qdrant-client local mode's order (and Qdrant's: numeric ids sort before UUIDs).
"""

from __future__ import annotations

from node.engine.ids import PointId


def point_id_order(pid: PointId) -> tuple[int, int, str]:
    if isinstance(pid, int):
        return (0, pid, "")
    return (1, 0, pid)
