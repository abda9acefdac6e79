"""MetadataConsensus over real pysyncobj on loopback: one node, restarts, three nodes, secrets."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from nodeproc import free_port

from cluster.consensus.consensus import RESTORE_SNAPSHOT_OP, MetadataConsensus
from cluster.metadata.state import MetadataState, to_dict
from node.errors import Conflict, NotFound, Unavailable

pytestmark = pytest.mark.timeout(30)

NodeFactory = Callable[..., MetadataConsensus]


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[NodeFactory]:
    """Start MetadataConsensus instances; every one still open is closed after the test."""
    started: list[MetadataConsensus] = []

    def start(
        address: str, partners: Sequence[str] = (), name: str | None = None, **kwargs: object
    ) -> MetadataConsensus:
        data_dir = tmp_path / (name or address.replace(":", "_"))
        node = MetadataConsensus(
            self_address=address, partners=list(partners), data_dir=data_dir, **kwargs
        )
        started.append(node)
        return node

    yield start
    for node in started:
        node.close()


class Recorder:
    """An on_applied callback that remembers which ops it saw."""

    def __init__(self) -> None:
        self.ops: list[dict] = []

    def __call__(self, op: dict, result: object, state: MetadataState) -> None:
        self.ops.append(op)


def address() -> str:
    return f"127.0.0.1:{free_port()}"


def add_peer(peer_id: int, uri: str) -> dict:
    return {"op": "add_peer", "peer_id": peer_id, "uri": uri, "api": f"http://127.0.0.1:{peer_id}"}


def create_collection(name: str, shards: int = 1, rf: int = 1) -> dict:
    config = {"params": {"shard_number": shards, "replication_factor": rf}}
    return {"op": "create_collection", "name": name, "uuid": f"uuid-{name}", "config": config}


async def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def test_single_node_commits_in_milliseconds(make_node: NodeFactory) -> None:
    addr = address()
    node = make_node(addr)
    await node.wait_ready(timeout=10)
    assert await node.propose(add_peer(1, addr)) is True
    latencies = []
    for index in range(30):
        started = time.perf_counter()
        assert await node.propose(create_collection(f"c{index}", shards=2)) is True
        latencies.append(time.perf_counter() - started)
    median_ms = statistics.median(latencies) * 1000
    print(f"single-node commit latency: median {median_ms:.1f} ms, max {max(latencies) * 1000:.1f}")
    assert median_ms < 100
    assert len(node.state.collections) == 30
    assert node.state.collections["c0"].shards == {0: {1: "Active"}, 1: {1: "Active"}}
    info = node.raft_info()
    assert info["role"] == "Leader" and info["leader"] == addr and info["is_voter"]
    assert info["pending_operations"] == 0

    # pysyncobj runs an entry's callback before it counts the entry applied, so for a moment
    # after the last proposal returns, last_applied may trail commit_index by one.
    def caught_up() -> bool:
        info = node.raft_info()
        return info["last_applied"] == info["commit_index"]

    await wait_until(caught_up, timeout=2.0)


async def test_apply_errors_reach_the_proposer_and_change_nothing(make_node: NodeFactory) -> None:
    addr = address()
    seen = Recorder()
    node = make_node(addr, on_applied=seen)
    await node.wait_ready(timeout=10)
    await node.propose(add_peer(1, addr))
    await node.propose(create_collection("a"))
    before = to_dict(node.state)
    with pytest.raises(Conflict, match="`a` already exists"):
        await node.propose(create_collection("a"))
    actions = [
        {"create_alias": {"collection_name": "a", "alias_name": "x"}},
        {"delete_alias": {"alias_name": "missing"}},
    ]
    with pytest.raises(NotFound):
        await node.propose({"op": "change_aliases", "actions": actions})
    assert to_dict(node.state) == before
    assert [op["op"] for op in seen.ops] == ["add_peer", "create_collection"]
    # A failed op does not poison the log: the next one still applies.
    assert await node.propose({"op": "delete_collection", "name": "a"}) is True
    with pytest.raises(TypeError):
        await node.propose({"no": "op"})


async def test_propose_without_quorum_is_unavailable(make_node: NodeFactory) -> None:
    # Two partners that never start: no leader can be elected.
    node = make_node(address(), [address(), address()])
    started = time.monotonic()
    with pytest.raises(Unavailable):
        await node.propose(create_collection("a"), timeout=0.5)
    assert time.monotonic() - started < 2
    with pytest.raises(Unavailable):
        await node.wait_ready(timeout=0.5)
    assert node.raft_info()["leader"] is None


async def test_restart_replays_the_journal(make_node: NodeFactory) -> None:
    addr = address()
    node = make_node(addr, name="n")
    await node.wait_ready(timeout=10)
    ops = [add_peer(1, addr), create_collection("a", shards=2), create_collection("b")]
    ops.append(
        {
            "op": "change_aliases",
            "actions": [{"create_alias": {"collection_name": "a", "alias_name": "al"}}],
        }
    )
    for op in ops:
        await node.propose(op)
    with pytest.raises(Conflict):
        await node.propose(create_collection("b"))
    expected = to_dict(node.state)
    node.close()

    seen = Recorder()
    restarted = make_node(addr, name="n", on_applied=seen)
    await restarted.wait_ready(timeout=10)
    assert to_dict(restarted.state) == expected
    assert seen.ops == ops  # the failed op is replayed too, and fails again silently
    await restarted.propose({"op": "delete_collection", "name": "b"})
    assert set(restarted.state.collections) == {"a"}


async def test_restart_from_full_dump_then_journal(make_node: NodeFactory, tmp_path: Path) -> None:
    addr = address()
    node = make_node(addr, name="n")
    await node.wait_ready(timeout=10)
    await node.propose(add_peer(1, addr))
    await node.propose(create_collection("before_dump"))
    await node.propose({"op": "barrier"})
    # Compaction writes the full dump from pysyncobj's thread; force it instead of waiting.
    node._sync.forceLogCompaction()
    await wait_until(lambda: (tmp_path / "n" / "raft.dump").exists())
    await node.propose(create_collection("after_dump"))
    expected = to_dict(node.state)
    node.close()

    seen = Recorder()
    restarted = make_node(addr, name="n", on_applied=seen)
    await restarted.wait_ready(timeout=10)
    assert to_dict(restarted.state) == expected
    names = [op["op"] if op["op"] != "create_collection" else op["name"] for op in seen.ops]
    assert names[0] == RESTORE_SNAPSHOT_OP
    assert names[-1] == "after_dump" and "before_dump" not in names


async def test_three_nodes_agree_with_a_secret(make_node: NodeFactory) -> None:
    addrs = [address() for _ in range(3)]
    nodes = [make_node(addr, addrs, secret="s3cret") for addr in addrs]
    await asyncio.gather(*(node.wait_ready(timeout=15) for node in nodes))
    roles = sorted(node.raft_info()["role"] for node in nodes)
    assert roles == ["Follower", "Follower", "Leader"]
    leader_addr = nodes[0].raft_info()["leader"]
    assert all(node.raft_info()["leader"] == leader_addr for node in nodes)
    follower = next(node for node in nodes if node.self_address != leader_addr)

    for peer_id, addr in enumerate(addrs, start=1):
        await nodes[peer_id - 1].propose(add_peer(peer_id, addr))
    latencies = []
    for index in range(10):
        started = time.perf_counter()
        # Proposed on a follower: pysyncobj forwards it to the leader.
        await follower.propose(create_collection(f"c{index}", shards=3, rf=2))
        latencies.append(time.perf_counter() - started)
        # Read-your-writes on the proposing node.
        assert f"c{index}" in follower.state.collections
    median_ms = statistics.median(latencies) * 1000
    print(f"three-node commit latency from a follower: median {median_ms:.1f} ms")
    assert median_ms < 200
    with pytest.raises(Conflict):
        await follower.propose(create_collection("c0"))

    target = to_dict(follower.state)
    await wait_until(lambda: all(to_dict(node.state) == target for node in nodes))
    assert target["collections"]["c0"]["shards"] == {
        "0": {"1": "Active", "2": "Active"},
        "1": {"3": "Active", "1": "Active"},
        "2": {"2": "Active", "3": "Active"},
    }

    # The leader goes away: the other two elect a new one and keep committing.
    leader = next(node for node in nodes if node.self_address == leader_addr)
    leader.close()
    survivors = [node for node in nodes if node is not leader]
    deadline = time.monotonic() + 10
    while True:
        try:
            await survivors[0].propose(create_collection("after_failover"), timeout=2)
            break
        except Unavailable:
            # The op may have been in flight to the dead leader; its outcome is unknown.
            assert time.monotonic() < deadline
        except Conflict:
            break  # an earlier attempt did commit
    await wait_until(lambda: all("after_failover" in n.state.collections for n in survivors))
    assert survivors[0].raft_info()["leader"] != leader_addr


async def test_a_node_with_the_wrong_secret_is_shut_out(make_node: NodeFactory) -> None:
    addrs = [address() for _ in range(3)]
    good = [make_node(addr, addrs, secret="right") for addr in addrs[:2]]
    bad = make_node(addrs[2], addrs, secret="wrong")
    await asyncio.gather(*(node.wait_ready(timeout=15) for node in good))
    await good[0].propose(add_peer(1, addrs[0]), timeout=5)
    with pytest.raises(Unavailable):
        await bad.wait_ready(timeout=1.0)
    assert bad.state.version == 0


async def test_membership_add_then_remove(make_node: NodeFactory) -> None:
    first_addr, second_addr = address(), address()
    first = make_node(first_addr)
    await first.wait_ready(timeout=10)
    await first.propose(add_peer(1, first_addr))

    # The change needs the new node's vote (two voters), so start it while the change waits.
    adding = asyncio.create_task(first.add_member(second_addr))
    await asyncio.sleep(0.05)
    second = make_node(second_addr, [first_addr])
    await adding
    await second.wait_ready(timeout=10)
    await second.propose(add_peer(2, second_addr))
    await wait_until(lambda: to_dict(first.state) == to_dict(second.state))
    assert set(first.state.peers) == {1, 2}
    assert first.raft_info()["partners_connected"] == {second_addr: True}
    with pytest.raises(Conflict):
        await first.add_member(second_addr)

    leader = first if first.raft_info()["role"] == "Leader" else second
    other = second if leader is first else first
    await leader.remove_member(other.self_address)
    other.close()
    # Alone again, the remaining node commits by itself.
    await leader.propose(create_collection("solo"), timeout=5)
    assert leader.raft_info()["partners_connected"] == {}
