"""Light queries on one local shard, gathered while the previous batch runs, then run as one
batch in a worker thread.

A light query (an unfiltered graph search) costs less in hnswlib than in the Python around
it. Run on the event loop, its graph search holds up the loop, which does everything else;
run each in its own worker thread, the threads queue for the GIL. Gathered, the queries that
arrive while a batch runs go to the graphs together as one multi-threaded call, off the loop,
which meanwhile parses and answers other requests.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

import numpy as np

from node.engine.query_scoring import VectorQuery
from node.engine.search import SearchParams
from node.engine.shard import LocalShard
from node.engine.shard_query import Hit, query_shard, query_shard_batch


@dataclass
class _Waiting:
    query: VectorQuery
    k: int
    params: SearchParams
    threshold: float | None
    future: asyncio.Future


class QueryCoalescer:
    """The gatherer of one shard; every caller on the loop shares it (see `coalescer_of`)."""

    def __init__(self, shard: LocalShard) -> None:
        self._shard = shard
        self._waiting: list[_Waiting] = []
        self._busy = False

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
        task = asyncio.ensure_future(asyncio.to_thread(_run_batch, self._shard, batch))
        task.add_done_callback(lambda done: self._finish(batch, done))

    def _finish(self, batch: list[_Waiting], done: asyncio.Future) -> None:
        error = done.exception()
        for item, result in zip(batch, [None] * len(batch) if error else done.result(),
                                strict=True):
            if item.future.done():  # its request was cancelled meanwhile
                continue
            if error is not None:
                item.future.set_exception(error)
            elif isinstance(result, BaseException):
                item.future.set_exception(result)
            else:
                item.future.set_result(result)
        if self._waiting:
            self._dispatch()
        else:
            self._busy = False


def _run_batch(shard: LocalShard, batch: list[_Waiting]) -> list[list[Hit] | BaseException]:
    """Each query's hits (or its error); queries alike in all but the vector run together."""
    results: list[list[Hit] | BaseException | None] = [None] * len(batch)
    groups: dict[tuple, list[int]] = {}
    for i, item in enumerate(batch):
        key = (item.query.vector_name, item.k, repr(item.params), item.threshold)
        groups.setdefault(key, []).append(i)
    for members in groups.values():
        first = batch[members[0]]
        k, params, threshold = first.k, first.params, first.threshold
        try:
            if len(members) == 1:
                results[members[0]] = query_shard(shard, first.query, k, params, None, threshold)
                continue
            vectors = np.stack([batch[i].query.nearest for i in members])
            for i, hits in zip(members, query_shard_batch(shard, first.query.vector_name,
                                                          vectors, k, params, threshold),
                               strict=True):
                results[i] = hits
        except Exception as exc:  # noqa: BLE001 - handed to the waiting requests
            for i in members:
                results[i] = exc
    return results  # type: ignore[return-value]


_COALESCERS: weakref.WeakKeyDictionary[LocalShard, QueryCoalescer] = (
    weakref.WeakKeyDictionary()
)


def coalescer_of(shard: LocalShard) -> QueryCoalescer:
    """The shard's gatherer, made on first use and gone with the shard."""
    found = _COALESCERS.get(shard)
    if found is None:
        found = _COALESCERS[shard] = QueryCoalescer(shard)
    return found
