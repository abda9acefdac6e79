"""A write between nodes that arrives long after it was sent (its sender has given up on it)
is refused, whatever the offset between the two nodes' clocks. The end-to-end case, a strong
write given up on a frozen leader, is in tests/test_cluster.py."""

from __future__ import annotations

import pytest

from cluster.replication.late_writes import LATE_AFTER, WINDOW_SECONDS, ArrivalDelays, LateWrite


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
