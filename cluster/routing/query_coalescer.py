"""Plain nearest queries on one shard replica, gathered while the previous batch runs, then
sent to it as one batch.

A plain query (an unfiltered nearest search) costs less in hnswlib than in the Python and
the messages around it. On a local replica, each in its own worker thread, the threads queue
for the GIL; on a remote replica each query is a request of its own. Gathered, the queries
that arrive while a batch runs go together: to the graphs as one call (a big batch
multi-threaded off the loop, a small one on it: see cluster/replication/shard_access.py), or to the
peer as one request.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import numpy as np

from node.engine.query_scoring import VectorQuery
from node.engine.search import SearchParams
from node.engine.shard_query import Hit

# Runs one group of alike queries: (vector name, queries, k, params, threshold) -> hits each.
BatchRunner = Callable[[str, np.ndarray, int, SearchParams, float | None],
                       Awaitable[list[list[Hit]]]]


@dataclass
class _Waiting:
    query: VectorQuery
    k: int
    params: SearchParams
    threshold: float | None
    future: asyncio.Future


class QueryCoalescer:
    """The gatherer of one replica; every caller on the loop shares it."""

    def __init__(self, run: BatchRunner) -> None:
        self._run = run
        self._waiting: list[_Waiting] = []
        self._busy = False

    @property
    def idle(self) -> bool:
        return not self._busy and not self._waiting

    async def query(self, query: VectorQuery, k: int, params: SearchParams,
                    threshold: float | None) -> list[Hit]:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append(_Waiting(query, k, params, threshold, future))
        if not self._busy:
            self._busy = True
            # At the end of this loop turn, so requests read in the same turn join the batch.
            loop.call_soon(self._dispatch)
        return await future

    def _dispatch(self) -> None:
        batch, self._waiting = self._waiting, []
        task = asyncio.ensure_future(self._run_all(batch))
        task.add_done_callback(self._finished)

    def _finished(self, _: asyncio.Future) -> None:
        if self._waiting:
            self._dispatch()
        else:
            self._busy = False

    async def _run_all(self, batch: list[_Waiting]) -> None:
        groups: dict[tuple, list[_Waiting]] = {}
        for item in batch:  # alike in all but the vector: one call
            key = (item.query.vector_name, item.k, repr(item.params), item.threshold)
            groups.setdefault(key, []).append(item)
        if len(groups) == 1:  # the usual case: no task per group to schedule
            await self._run_group(batch)
        else:
            await asyncio.gather(*(self._run_group(members) for members in groups.values()))

    async def _run_group(self, members: list[_Waiting]) -> None:
        first = members[0]
        try:
            vectors = np.stack([item.query.nearest for item in members])
            answers = await self._run(first.query.vector_name, vectors, first.k, first.params,
                                      first.threshold)
        except Exception as exc:  # noqa: BLE001 - each waiting request gets the error
            for item in members:
                if not item.future.done():  # done: its request was cancelled meanwhile
                    item.future.set_exception(exc)
            return
        for item, hits in zip(members, answers, strict=True):
            if not item.future.done():
                item.future.set_result(hits)


MAX_IDLE_KEPT = 1024  # gatherers an owner keeps before it forgets the idle ones
_COALESCERS: weakref.WeakKeyDictionary[object, dict[object, QueryCoalescer]] = (
    weakref.WeakKeyDictionary()
)


def coalescer_of(owner: object, key: object, make_run: Callable[[], BatchRunner]
                 ) -> QueryCoalescer:
    """The gatherer for `key` (a replica), kept as long as `owner` (a shard, or the client
    that reaches peers) lives; made on first use with the runner `make_run` returns."""
    table = _COALESCERS.setdefault(owner, {})
    found = table.get(key)
    if found is None:
        if len(table) >= MAX_IDLE_KEPT:  # replicas of dropped collections: forget idle ones
            for stale in [k for k, c in table.items() if c.idle]:
                del table[stale]
        found = table[key] = QueryCoalescer(make_run())
    return found
