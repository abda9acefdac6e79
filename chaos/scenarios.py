"""The scenarios: which nodes, which workloads, which faults, and what must hold.

A scenario's faults run one at a time on a schedule drawn from the seed (which fault, when, how
long, which node). `expect` holds targets beyond the invariants every run checks: a figure
above its bound fails the run like a violated invariant.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from chaos import nemesis as nem
from chaos.workload import AliasSwitch, CollectionChurn, HotPoints, Upserts, Workload

MAIN = "chaos-main"


@dataclass
class Scenario:
    name: str
    description: str
    workloads: Callable[[Scenario], list[Workload]]
    nemeses: Callable[[Scenario], list[nem.Nemesis]]
    nodes: int = 3
    duration: float = 12.0  # seconds of workload; faults stop a little before its end
    fault_length: float = 3.5
    fault_gap: float = 2.0
    warmup: float = 1.5
    formation: str = "static"  # static (--peers), or concurrent (--bootstrap, all at once)
    formation_tries: int = 1
    tmpfs_node: tuple[int, int] | None = None  # (node index, size in MB) for disk-full
    # Environment of chosen nodes, by index: faults injected from the start (node/fault_injection)
    node_env: dict[int, dict[str, str]] = field(default_factory=dict)
    expect: dict[str, float] = field(default_factory=dict)
    short: bool = False  # in the short set that `make test` runs

    @property
    def needs_network(self) -> bool:
        return any(n.needs_network for n in self.nemeses(self))

    @property
    def needs_root(self) -> bool:
        return self.tmpfs_node is not None or any(n.needs_root for n in self.nemeses(self))


def _standard(rf: int = 2, wcf: int = 1, avoid: tuple[int, ...] = ()) -> Callable:
    def build(s: Scenario) -> list[Workload]:
        return [Upserts(MAIN, rf=rf, wcf=wcf, avoid=avoid),
                HotPoints("chaos-hot", rf=min(3, s.nodes), wcf=2, avoid=avoid),
                AliasSwitch(avoid=avoid), CollectionChurn(avoid=avoid)]
    return build


def _upserts_only(rf: int, wcf: int, avoid: tuple[int, ...] = (), processes: int = 2):
    return lambda s: [Upserts(MAIN, rf=rf, wcf=wcf, avoid=avoid, processes=processes)]


SCENARIOS: dict[str, Scenario] = {s.name: s for s in [
    Scenario(
        "formation-concurrent",
        "5 nodes: the first starts alone and leads, the other four join at once through "
        "--bootstrap (4 tries per run, 12 with `make chaos`'s 3 seeds); each try must form one "
        "cluster of 5 with one leader within 10 s. Then writes and reads on the formed "
        "cluster, no faults.",
        _upserts_only(rf=2, wcf=1), lambda s: [], nodes=5, duration=6.0,
        formation="concurrent", formation_tries=4, expect={"formation_s": 10.0}),
    Scenario(
        "pause-replica",
        "rf=2, wcf=1: one node frozen with SIGSTOP (then SIGCONT) again and again while "
        "writes, alias switches and reads go through the two healthy nodes; a write one "
        "healthy replica acknowledged must not wait for the frozen one, nor a read that "
        "another Active replica can answer, nor a metadata change that a Raft majority "
        "committed: p99 under 1.5 s. Paced at about 10 operations a second per process, so "
        "that a stall of the few operations in flight shows in the p99.",
        lambda s: [Upserts(MAIN, rf=2, wcf=1, avoid=(2,), processes=3, pace=0.1),
                   HotPoints("chaos-hot", rf=2, wcf=1, avoid=(2,), read_consistency=1,
                             pace=0.1),
                   AliasSwitch(avoid=(2,))],
        lambda s: [nem.Pause("node:2")], duration=16.0, fault_length=5.0,
        expect={"write_p99_s": 1.5, "read_p99_s": 1.5}),
    Scenario(
        "replica-recovery",
        "4 nodes, rf=2, wcf=1: replicas recover while writes arrive through every node (a "
        "killed node restarts while another node is cut off from the Raft leader only, "
        "replicate_shard, move_shard): a write coordinated by a node that has not yet seen the "
        "recovering replica's Partial state must still reach it.",
        _upserts_only(rf=2, wcf=1, processes=3),
        lambda s: [nem.StaleCoordinatorRecovery(MAIN), nem.StaleCoordinatorRecovery(MAIN),
                   nem.ShardTransfer(MAIN, "replicate_shard"),
                   nem.ShardTransfer(MAIN, "move_shard")], nodes=4, duration=17.0,
        fault_length=3.5),
    Scenario(
        "recovery-lagging-coordinator",
        "4 nodes, rf=2, wcf=1: node 3 applies every start_transfer 2.5 s late (its Raft lags, "
        "through FLOTILLA_TEST_DELAY_METADATA) while replicas recover (replicate_shard, "
        "move_shard, a killed node restarting) and writes arrive through every node: the "
        "writes node 3 coordinates in that window must still reach the recovering replica.",
        _upserts_only(rf=2, wcf=1, processes=3),
        lambda s: [nem.ShardTransfer(MAIN, "replicate_shard"),
                   nem.ShardTransfer(MAIN, "move_shard"), nem.Kill("node:1")],
        nodes=4, duration=17.0, fault_length=4.0,
        node_env={3: {"FLOTILLA_TEST_DELAY_METADATA": "start_transfer=2.5"}}),
    Scenario(
        "kill-random",
        "kill -9 of a random node, restarted when the fault heals; rf=2 wcf=1, hot points "
        "(rf=3, wcf=2, ordering=strong, majority reads), alias switches, collection churn.",
        _standard(rf=2, wcf=1), lambda s: [nem.Kill("random")], short=True),
    Scenario(
        "kill-leader",
        "kill -9 of the Raft leader; rf=3 wcf=2. A new leader within 2 s.",
        _standard(rf=3, wcf=2), lambda s: [nem.Kill("leader")],
        expect={"leader_failover_s": 2.0}),
    Scenario(
        "pause-random",
        "SIGSTOP of a random node for a few seconds, then SIGCONT; rf=2 wcf=2.",
        _standard(rf=2, wcf=2), lambda s: [nem.Pause("random")], short=True),
    Scenario(
        "restarts",
        "graceful restarts, crash restarts and a rolling restart of every node; rf=1 and "
        "rf=2 wcf=1.",
        lambda s: [Upserts(MAIN, rf=2, wcf=1), Upserts("chaos-rf1", rf=1, wcf=1, processes=1),
                   AliasSwitch()],
        lambda s: [nem.Restart(graceful=True), nem.Restart(graceful=False),
                   nem.RollingRestart()], duration=16.0),
    Scenario(
        "partition-isolate",
        "one node cut off from the others (clients still reach it), and one node's links "
        "flapping every second; rf=2 wcf=1.",
        _standard(rf=2, wcf=1), lambda s: [nem.Partition("isolate"), nem.Partition("flap")]),
    Scenario(
        "partition-majority",
        "5 nodes: a minority cut from a majority, the leader cut from the rest, and a bridge "
        "(two sides that cannot talk and one node that talks to both); rf=3 wcf=2.",
        _standard(rf=3, wcf=2),
        lambda s: [nem.Partition("halves"), nem.Partition("leader"), nem.Partition("bridge")],
        nodes=5, duration=16.0),
    Scenario(
        "packet-loss",
        "30% of the packets between one node and the others dropped, both ways; rf=3 wcf=2.",
        _standard(rf=3, wcf=2), lambda s: [nem.PacketLoss(30)]),
    Scenario(
        "latency",
        "every packet one node sends to the others delayed 150 ms +- 100 ms (so reordered "
        "too); rf=3 wcf=2.",
        _standard(rf=3, wcf=2), lambda s: [nem.Latency(150, 100)], short=True),
    Scenario(
        "disk-full",
        "node 0 keeps its storage on a 96 MB tmpfs that a ballast file fills up; rf=2 wcf=1.",
        _upserts_only(rf=2, wcf=1), lambda s: [nem.FillDisk(0)], tmpfs_node=(0, 96),
        fault_length=5.0),
    Scenario(
        "membership",
        "4 nodes: a peer removed and joined again with empty storage, move_shard and "
        "replicate_shard during writes; rf=2 wcf=1.",
        _upserts_only(rf=2, wcf=1),
        lambda s: [nem.RemoveAndRejoin(), nem.ShardTransfer(MAIN, "move_shard"),
                   nem.ShardTransfer(MAIN, "replicate_shard")], nodes=4, duration=16.0,
        fault_length=4.0),
    Scenario(
        "kill-sole-up-to-date",
        "rf=2 wcf=1: a node frozen until its replicas are marked Dead, then the node with the "
        "only up-to-date replica killed and restarted: no acknowledged write may be lost.",
        _upserts_only(rf=2, wcf=1),
        lambda s: [nem.KillSoleUpToDate(MAIN)], duration=16.0, fault_length=3.0,
        fault_gap=4.0),
    Scenario(
        "mixed",
        "5 nodes, every kind of fault on one schedule: kill, pause, restart, partitions, "
        "packet loss, shard moves; rf=3 wcf=2.",
        _standard(rf=3, wcf=2),
        lambda s: [nem.Kill("random"), nem.Kill("leader"), nem.Pause("random"),
                   nem.Restart(graceful=True), nem.Partition("isolate"),
                   nem.Partition("halves"), nem.Partition("bridge"), nem.PacketLoss(30),
                   nem.Latency(150, 100),
                   nem.ShardTransfer(MAIN, "move_shard")], nodes=5, duration=18.0,
        fault_length=3.0, fault_gap=2.0),
]}
