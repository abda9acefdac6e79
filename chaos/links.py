"""Link faults inside the nodes' namespaces, through nftables.

Each node's namespace holds one table, `inet chaos`: a set of addresses whose packets it drops
both ways (a cut link) and, for packet loss, rules that drop a share of what goes to chosen
peers. A cut between nodes a and b is written on both sides, so it is symmetric and touches no
other link; the harness's own client namespace is never cut (it plays the clients, which can
still reach every node, as in Jepsen). Healing replaces every node's table with an empty one.
"""

from __future__ import annotations

from collections.abc import Iterable

from chaos.netns import Topology

BASE_TABLE = """
table inet chaos {
  set blocked { type ipv4_addr; }
  chain output { type filter hook output priority 0; policy accept; ip daddr @blocked drop; }
  chain input { type filter hook input priority 0; policy accept; ip saddr @blocked drop; }
}
"""


class Links:
    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.prepared: set[int] = set()

    def _prepare(self, index: int) -> None:
        if index not in self.prepared:
            self.topology.run_in_node(index, "nft", "-f", "-", stdin=BASE_TABLE)
            self.prepared.add(index)

    def cut(self, pairs: Iterable[tuple[int, int]]) -> None:
        """Drop every packet between each pair of nodes, both ways."""
        blocked: dict[int, set[str]] = {}
        for a, b in pairs:
            blocked.setdefault(a, set()).add(self.topology.host(b))
            blocked.setdefault(b, set()).add(self.topology.host(a))
        for index, addresses in blocked.items():
            self._prepare(index)
            self.topology.run_in_node(index, "nft", "add", "element", "inet", "chaos",
                                      "blocked", "{ " + ", ".join(sorted(addresses)) + " }")

    def lose(self, index: int, peers: Iterable[int], percent: int) -> None:
        """Drop `percent`% of the packets node `index` sends to and receives from `peers`."""
        self._prepare(index)
        addresses = ", ".join(sorted(self.topology.host(p) for p in peers))
        for chain, field in (("output", "daddr"), ("input", "saddr")):
            self.topology.run_in_node(
                index, "nft", "add", "rule", "inet", "chaos", chain, "ip", field,
                "{ " + addresses + " }", "numgen", "random", "mod", "100", "<", str(percent),
                "drop")

    def heal(self) -> None:
        for index in sorted(self.prepared):
            self.topology.run_in_node(index, "nft", "delete", "table", "inet", "chaos")
        self.prepared.clear()


def split(groups: list[list[int]]) -> list[tuple[int, int]]:
    """The links to cut so that nodes talk only within their own group."""
    return [(a, b) for i, left in enumerate(groups) for right in groups[i + 1:]
            for a in left for b in right]
