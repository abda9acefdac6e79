"""Give up on a call to a peer that stopped answering at all, long before the call's timeout.

A frozen peer (SIGSTOP, a stalled VM) keeps its TCP connections open: a call to it neither
fails nor ends until the peer client's timeout (seconds), and everything waiting on the call
waits as long. A call that has run for PROBE_AFTER seconds is therefore watched: the peer's
`/livez` is asked every PROBE_EVERY seconds, and once none of those probes has been answered
for GIVE_UP_AFTER seconds the call is abandoned as if the peer were unreachable. A peer that is
only busy answers `/livez` at once, so its slow calls run to their own end.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

PROBE_AFTER = 0.15
PROBE_EVERY = 0.1
GIVE_UP_AFTER = 0.8

T = TypeVar("T")


class PeerSilent(Exception):
    """The peer answered no liveness probe for GIVE_UP_AFTER seconds."""


async def while_alive(call: Awaitable[T], probe: Callable[[float], Awaitable[bool]]) -> T:
    """The result of `call`, unless the peer stops answering `probe(timeout)` first (then
    PeerSilent, with the call cancelled)."""
    task = asyncio.ensure_future(call)
    try:
        done, _ = await asyncio.wait({task}, timeout=PROBE_AFTER)
        if done:
            return task.result()
        loop = asyncio.get_running_loop()
        last_answer = next_probe = loop.time()
        probes: set[asyncio.Future] = set()
        try:
            while True:
                if loop.time() >= next_probe:
                    probes.add(asyncio.ensure_future(probe(GIVE_UP_AFTER)))
                    next_probe = loop.time() + PROBE_EVERY
                done, _ = await asyncio.wait({task, *probes},
                                             timeout=max(next_probe - loop.time(), 0.001),
                                             return_when=asyncio.FIRST_COMPLETED)
                if task in done:
                    return task.result()
                for finished in [p for p in probes if p.done()]:
                    probes.discard(finished)
                    if not finished.cancelled() and finished.exception() is None \
                            and finished.result():
                        last_answer = loop.time()
                if loop.time() - last_answer >= GIVE_UP_AFTER:
                    raise PeerSilent(f"no answer to a liveness probe for {GIVE_UP_AFTER:g}s")
        finally:
            for pending in probes:
                pending.cancel()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
