"""A write between nodes that arrives long after it was sent (its sender has given up on it)
is refused, whatever the offset between the two nodes' clocks. The end-to-end case, a strong
write given up on a frozen leader, is in tests/test_cluster.py."""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web

from cluster.replication.late_writes import (
    LATE_AFTER,
    SENT_AT_HEADER,
    WINDOW_SECONDS,
    ArrivalDelays,
    LateWrite,
)
from cluster.replication.peer_client import PeerClient
from cluster.replication.wire import CONTENT_TYPE, encode


@pytest.mark.parametrize("skew", [-3600.0, -2.5, 0.0, 2.5, 3600.0])
def test_only_how_much_later_than_usual_counts_not_the_clock_offset(skew: float) -> None:
    arrivals = ArrivalDelays()
    for step in range(5):  # usual calls: 2-4 ms on the wire, the sender's clock `skew` off
        sent = 1000.0 + step
        arrivals.check("a", str(sent + skew), now=sent + 0.002 + step * 0.0005)
    arrivals.check("a", str(1010.0 + skew), now=1010.0 + LATE_AFTER / 2)  # slow, still fine
    with pytest.raises(LateWrite, match="given up"):
        arrivals.check("a", str(1011.0 + skew), now=1011.0 + 4.0)  # waited out a freeze
    arrivals.check("a", str(1011.0 + skew), write=False, now=1011.0 + 4.0)  # a read: no harm
    arrivals.check("b", str(1011.0 + skew + 7), now=1011.0 + 4.0)  # another sender: own ref


def test_references_expire_and_headers_of_older_peers_pass() -> None:
    arrivals = ArrivalDelays()
    arrivals.check("a", "100.0", now=100.001)
    later = 100.0 + WINDOW_SECONDS + 1
    arrivals.check("a", str(later - 5), now=later)  # no reference left: passes, and is one
    with pytest.raises(LateWrite):
        arrivals.check("a", str(later), now=later + 6)
    for header in (None, "", "soon", "nan", "inf", "-inf"):
        arrivals.check("a", header, now=later + 7)


def test_a_call_is_stamped_when_it_is_sent_not_while_it_waits_for_a_connection() -> None:
    """With one connection per peer, the second of two calls waits for the first (0.3 s) before
    it is sent: its stamp is from when it went out, so the peer does not take it for late.
    (Short: the liveness probe of the waiting call needs that connection too.)"""

    async def scenario() -> None:
        seen: list[tuple[float, float]] = []  # (stamp, arrival)

        async def slow_write(request: web.Request) -> web.Response:
            seen.append((float(request.headers[SENT_AT_HEADER]), time.time()))
            await asyncio.sleep(0.3)
            return web.Response(body=encode(len(seen)), content_type=CONTENT_TYPE)

        async def live(request: web.Request) -> web.Response:
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/internal/v1/shards/{uuid}/{shard}/{method}", slow_write)
        app.router.add_get("/livez", live)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        try:
            async with PeerClient(connections_per_peer=1) as client:
                url = f"http://127.0.0.1:{port}"
                await asyncio.gather(*(client.call_shard(url, "c", 0, "upsert", None, True)
                                       for _ in range(2)))
        finally:
            await runner.cleanup()
        (first_stamp, first_arrival), (second_stamp, _) = seen
        # Stamped once the first call let go of the connection, not when it was made.
        assert second_stamp >= first_arrival + 0.25, (first_stamp, second_stamp)

    asyncio.run(scenario())
