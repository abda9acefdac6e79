"""Timing of filtered reads, for the UNINDEXED_FIELD issue (node/issues/unindexed_field.py)."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from typing import TypeVar

from node.runtime import Node

T = TypeVar("T")


async def timed_read(node: Node, collection: str, request: object, answer: Awaitable[T]) -> T:
    """`answer`'s result; a slow one has the filters of `request` looked at for missing
    payload indexes."""
    started = time.perf_counter()
    result = await answer
    node.note_read(collection, request, time.perf_counter() - started)
    return result
