"""TOO_MANY_COLLECTIONS: many collections holding few points each.

Qdrant's rule, kept as it is so that both raise the same issue on the same data: more than 30
collections whose average size, divided by their number, is under 10,000 / 30 points. Such
schemes (a collection per user) scale worse than one collection partitioned by a payload field.
"""

from __future__ import annotations

from node.issues.board import IssueBoard

ISSUE_ID = "TOO_MANY_COLLECTIONS/"
MANY_COLLECTIONS = 30
FEW_POINTS = 10_000
DENSITY_THRESHOLD = FEW_POINTS / MANY_COLLECTIONS


def too_many(sizes: list[int]) -> bool:
    count = max(len(sizes), 1)
    density = (sum(sizes) // count) / count
    return len(sizes) > MANY_COLLECTIONS and density < DENSITY_THRESHOLD


def check(board: IssueBoard, sizes: list[int]) -> None:
    """Open or solve the issue for these collection sizes (points per collection)."""
    if too_many(sizes):
        board.submit(ISSUE_ID, (
            f"There are {len(sizes)} collections holding {sum(sizes)} points in all. A scheme "
            "that creates a collection per user or per tenant is better served by one "
            "collection whose points carry the tenant in a payload field with a keyword index "
            "(`is_tenant`), or by custom sharding with shard keys."),
            {"refactor": "Keep a fixed number of collections and partition the data inside "
                         "them by a payload field"})
    else:
        board.solve(ISSUE_ID)
