"""Refuse a peer's write that reaches this node after its sender gave up on it.

A write a coordinator sends to a replica, or hands to the node that orders a shard's writes, can
arrive long after it was sent: the receiver was frozen (SIGSTOP, a stalled VM) with the request
waiting in its socket, or a partition held the packets until TCP resent them once it healed.
By then the sender has given up (cluster/replication/peer_liveness.py, after 0.95 s at the
earliest) and answered its client that the write failed; the client may have written the same
point again since. Applied now, the old write would land after the newer one, and for an
ordered write on every replica: a read would go back in time.

So every call between nodes carries the sender's clock when it was sent (SENT_AT_HEADER), and
the receiver refuses a write that took more than LATE_AFTER longer to arrive than the quickest
recent call from the same sender. Comparing with that quickest delay, not with zero, takes
the offset between the two nodes' clocks out (it is in every delay alike): only how much later
than usual the write came counts, so clocks need not agree, only run at nearly the same rate.
A sender that called this node not once in WINDOW_SECONDS has no reference yet: its first
write passes unchecked.
"""

from __future__ import annotations

import math
import time
from collections import deque

from node.errors import Unavailable

SENT_AT_HEADER = "X-Flotilla-Sent-At"
# Below the 0.95 s after which a sender gives up on a peer that stopped answering, well above
# how much the delay of a healthy link varies.
LATE_AFTER = 0.9
# How long a delay stays a reference: short enough that clock drift (100 ppm is 0.06 s over
# it) cannot add up to LATE_AFTER, long enough to span a partition.
WINDOW_SECONDS = 600.0


class LateWrite(Unavailable):
    """A write that arrived after its sender had given up on it."""


class ArrivalDelays:
    """Per sender, the delays (receiver clock minus sender clock) of its recent calls, kept as
    a sliding-window minimum: each entry is smaller than every later one."""

    def __init__(self) -> None:
        self._by_sender: dict[str, deque[tuple[float, float]]] = {}

    def lateness(self, sender: str, sent_at: float, now: float) -> float:
        """How much later than the quickest recent call from `sender` this one arrived
        (0 for the quickest); records its delay."""
        delay = now - sent_at
        recent = self._by_sender.setdefault(sender, deque())
        while recent and recent[0][0] < now - WINDOW_SECONDS:
            recent.popleft()
        while recent and recent[-1][1] >= delay:
            recent.pop()
        recent.append((now, delay))
        return delay - recent[0][1]

    def check(self, sender: str, header: str | None, write: bool = True,
              now: float | None = None) -> None:
        """Record the delay of a call from `sender`; raise LateWrite for a write that came too
        late. Reads are recorded too, as references only: a late read does no harm. A call
        without the header (an older peer) or with a garbled one passes."""
        try:
            sent_at = float(header) if header else None
        except ValueError:
            sent_at = None
        if sent_at is None or not math.isfinite(sent_at):
            return
        late = self.lateness(sender, sent_at, time.time() if now is None else now)
        if write and late > LATE_AFTER:
            raise LateWrite(f"this write arrived {late:.1f}s later than writes from {sender} "
                            "usually take: its sender has given up on it, so it is not applied")


def sent_now() -> str:
    """The header value for a call sent at this moment."""
    return f"{time.time():.6f}"
