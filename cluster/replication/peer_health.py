"""Which peers answered slowly or not at all lately, as this node saw its calls to them.

A frozen or overloaded peer still holds Active replicas until a write it missed has them marked
Dead through consensus. Meanwhile the replica sets use this to ask it last for reads: a peer is
suspect from a call that was too slow or failed until a call to it succeeds, or for
SUSPECT_SECONDS at most, after which it is tried again. (Writes wait for a suspect peer as for
any other, briefly: one that misses a write is marked Dead, which a moment's lag must not cost.)
"""

from __future__ import annotations

import time

SUSPECT_SECONDS = 10.0


class PeerHealth:
    def __init__(self) -> None:
        self._suspect_until: dict[int, float] = {}

    def slow(self, peer: int) -> None:
        """A call to `peer` took too long or failed."""
        self._suspect_until[peer] = time.monotonic() + SUSPECT_SECONDS

    def answered(self, peer: int) -> None:
        """A call to `peer` succeeded."""
        self._suspect_until.pop(peer, None)

    def suspect(self, peer: int) -> bool:
        until = self._suspect_until.get(peer)
        if until is None:
            return False
        if time.monotonic() >= until:
            del self._suspect_until[peer]
            return False
        return True
