"""Faults. A nemesis `start`s a fault and `stop`s (heals) it; the schedule decides when.

Targets chosen at random come from the run's fault generator (`ctx.rng`), so the same seed picks
the same nodes; targets named by role ("the leader") are looked up when the fault starts.
Add one: subclass `Nemesis`, give it a unique `name`, and list it in `NEMESES` (README,
"Chaos testing").
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from chaos.context import RunContext
from chaos.links import split
from chaos.nodes import ChaosNode, wait_until


class Nemesis:
    name = "nemesis"
    needs_network = False  # link faults need network namespaces
    needs_root = False

    def start(self, ctx: RunContext) -> dict:
        raise NotImplementedError

    def stop(self, ctx: RunContext) -> dict:
        return {}


def _pick(ctx: RunContext, target: str) -> ChaosNode:
    """`random`, `leader`, `follower`, or `node:K` (node index K)."""
    members = ctx.member_nodes()
    if target.startswith("node:"):
        return ctx.nodes[int(target[5:])]
    if target == "leader":
        leader = ctx.leader()
        if leader is not None:
            return leader
    if target == "follower":
        leader = ctx.leader()
        followers = [n for n in members if n is not leader]
        return followers[ctx.rng.randrange(len(followers))]
    return members[ctx.rng.randrange(len(members))]


class Kill(Nemesis):
    """SIGKILL a node (a random one, or the Raft leader); it restarts when the fault heals."""

    def __init__(self, target: str = "random") -> None:
        self.target = target
        self.name = f"kill-{target}"
        self.victim: ChaosNode | None = None

    def start(self, ctx: RunContext) -> dict:
        self.victim = _pick(ctx, self.target)
        self.victim.kill()
        return {"node": self.victim.index}

    def stop(self, ctx: RunContext) -> dict:
        back = ctx.restart(self.victim)
        return {"node": self.victim.index, "restarted": back}


class Pause(Nemesis):
    """SIGSTOP a node: it keeps its sockets open and answers nothing until SIGCONT."""

    def __init__(self, target: str = "random") -> None:
        self.target = target
        self.name = f"pause-{target}"
        self.victim: ChaosNode | None = None

    def start(self, ctx: RunContext) -> dict:
        self.victim = _pick(ctx, self.target)
        self.victim.pause()
        return {"node": self.victim.index}

    def stop(self, ctx: RunContext) -> dict:
        self.victim.resume()
        return {"node": self.victim.index}


class Restart(Nemesis):
    """Stop one node (SIGTERM, or SIGKILL when not graceful) and start it again at once."""

    def __init__(self, graceful: bool = True) -> None:
        self.graceful = graceful
        self.name = "restart-graceful" if graceful else "restart-crash"

    def start(self, ctx: RunContext) -> dict:
        node = _pick(ctx, "random")
        if self.graceful:
            node.stop()
        else:
            node.kill()
        began = time.monotonic()
        back = ctx.restart(node)
        return {"node": node.index, "ready": back, "down_s": round(time.monotonic() - began, 3)}


class RollingRestart(Nemesis):
    """Every member in turn: graceful stop, start, wait until it is ready and the cluster
    has a leader again, then the next."""

    name = "rolling-restart"

    def start(self, ctx: RunContext) -> dict:
        order = [n.index for n in ctx.member_nodes()]
        ctx.rng.shuffle(order)
        for index in order:
            node = ctx.nodes[index]
            node.stop()
            ctx.restart(node)
            wait_until(lambda: ctx.leader() is not None, 20.0)
        return {"order": order}


class Partition(Nemesis):
    """Cut links between groups of nodes.

    `isolate`: one node from the rest; `halves`: a minority from a majority; `leader`: the
    leader from the rest; `bridge`: two halves that cannot talk, and one node that talks to
    both; `flap`: one node cut and reconnected every `flap_period` seconds.
    """

    needs_network = True

    def __init__(self, kind: str = "isolate", flap_period: float = 1.0) -> None:
        self.kind = kind
        self.name = f"partition-{kind}"
        self.flap_period = flap_period
        self._flapping: threading.Event | None = None
        self._flapper: threading.Thread | None = None

    def groups(self, ctx: RunContext) -> list[list[int]]:
        members = [n.index for n in ctx.member_nodes()]
        ctx.rng.shuffle(members)
        if self.kind == "leader":
            leader = ctx.leader()
            alone = leader.index if leader is not None else members[0]
            return [[alone], [m for m in members if m != alone]]
        if self.kind in ("isolate", "flap"):
            return [members[:1], members[1:]]
        minority = len(members) // 2 if self.kind == "halves" else (len(members) - 1) // 2
        return [members[:minority], members[minority:]]

    def start(self, ctx: RunContext) -> dict:
        groups = self.groups(ctx)
        if self.kind == "bridge":
            # The last node of the majority is the bridge: it keeps its links to both sides.
            bridge = groups[1][-1]
            left, right = groups[0], groups[1][:-1]
            ctx.links.cut(split([left, right]))
            return {"groups": [left, right], "bridge": bridge}
        pairs = split(groups)
        if self.kind == "flap":
            self._flapping = threading.Event()
            self._flapper = threading.Thread(target=self._flap, args=(ctx, pairs), daemon=True)
            self._flapper.start()
        else:
            ctx.links.cut(pairs)
        return {"groups": groups}

    def _flap(self, ctx: RunContext, pairs: list[tuple[int, int]]) -> None:
        cut = False
        while not self._flapping.is_set():
            if cut:
                ctx.links.heal()
            else:
                ctx.links.cut(pairs)
            cut = not cut
            self._flapping.wait(self.flap_period)

    def stop(self, ctx: RunContext) -> dict:
        if self._flapping is not None:
            self._flapping.set()
            self._flapper.join(10)
            self._flapping = None
        ctx.links.heal()
        return {}


class PacketLoss(Nemesis):
    """Drop a share of the packets between one node and every other member, both ways."""

    needs_network = True

    def __init__(self, percent: int = 30) -> None:
        self.percent = percent
        self.name = f"loss-{percent}"

    def start(self, ctx: RunContext) -> dict:
        node = _pick(ctx, "random")
        others = [n.index for n in ctx.member_nodes() if n is not node]
        ctx.links.lose(node.index, others, self.percent)
        return {"node": node.index, "percent": self.percent}

    def stop(self, ctx: RunContext) -> dict:
        ctx.links.heal()
        return {}


class FillDisk(Nemesis):
    """Fill the small tmpfs that holds one node's storage (see `Scenario.tmpfs_node`) with a
    ballast file until writes there fail with ENOSPC; healing deletes the ballast."""

    name = "disk-full"
    needs_root = True

    def __init__(self, node: int = 0) -> None:
        self.node = node

    def ballast(self, ctx: RunContext) -> Path:
        return ctx.nodes[self.node].storage / "chaos-ballast"

    def start(self, ctx: RunContext) -> dict:
        path = self.ballast(ctx)
        chunk = b"\0" * (1 << 20)
        written = 0
        with contextlib.suppress(OSError), open(path, "wb") as out:
            while True:
                out.write(chunk)
                out.flush()
                written += len(chunk)
        return {"node": self.node, "ballast_mb": written >> 20}

    def stop(self, ctx: RunContext) -> dict:
        with contextlib.suppress(FileNotFoundError):
            os.remove(self.ballast(ctx))
        return {"node": self.node}


def mount_tmpfs(path: Path, size_mb: int) -> None:
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(path)],
                   check=True, capture_output=True, timeout=30)


def unmount(path: Path) -> None:
    subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


class RemoveAndRejoin(Nemesis):
    """Remove a peer from the cluster (`DELETE /cluster/peer/{id}`), stop it, wipe its storage
    and start it again as a new peer joining through `--bootstrap`."""

    name = "remove-rejoin"

    def start(self, ctx: RunContext) -> dict:
        node = _pick(ctx, "follower")
        coordinator = next(n for n in ctx.member_nodes() if n is not node)
        old_peer = node.peer_id
        response = ctx.post(coordinator, f"/cluster/peer/{old_peer}", method="DELETE",
                            timeout=30)
        detail = {"node": node.index, "old_peer": old_peer, "remove_status":
                  response.status_code}
        if response.status_code != 200:
            detail["remove_error"] = response.text[:300]
            return detail
        node.kill()
        subprocess.run(["rm", "-rf", str(node.storage)], check=False)
        node.join_args = ctx.bootstrap_args()
        detail["ready"] = ctx.restart(node)
        detail["new_peer"] = (node.get("/cluster") or {}).get("peer_id")
        return detail


class ShardTransfer(Nemesis):
    """`move_shard` or `replicate_shard` of a random shard of `collection` to a peer that does
    not hold it, while the workloads write; a replicated copy is dropped again on heal so the
    placement returns to its replication factor."""

    def __init__(self, collection: str, kind: str = "move_shard") -> None:
        self.collection = collection
        self.kind = kind
        self.name = kind.replace("_", "-")
        self.added: tuple[int, int] | None = None

    def start(self, ctx: RunContext) -> dict:
        placement = ctx.placement(self.collection)
        members = ctx.member_nodes()
        for node in members:
            node.get("/cluster")  # learn peer ids
        shard_ids = sorted(placement)
        ctx.rng.shuffle(shard_ids)
        for shard_id in shard_ids:
            holders = placement[shard_id]
            free = [n for n in members if n.peer_id not in holders]
            sources = [p for p, state in holders.items() if state == "Active"]
            if not free or not sources:
                continue
            target = free[ctx.rng.randrange(len(free))]
            source = sorted(sources)[ctx.rng.randrange(len(sources))]
            body = {self.kind: {"shard_id": shard_id, "from_peer_id": source,
                                "to_peer_id": target.peer_id}}
            response = ctx.post(members[0], f"/collections/{self.collection}/cluster", body,
                                timeout=30)
            if self.kind == "replicate_shard" and response.status_code == 200:
                self.added = (shard_id, target.peer_id)
            return {"shard": shard_id, "from": source, "to": target.peer_id,
                    "status": response.status_code}
        return {"skipped": "no shard with a free peer"}

    def stop(self, ctx: RunContext) -> dict:
        # Let the transfer finish before dropping the extra replica (or the fault window ends
        # with the copy still streaming: the checkers then wait for it).
        if self.added is None:
            return {}
        shard_id, peer = self.added
        self.added = None
        # An aborted transfer takes the new replica out of the placement: nothing to wait for.
        wait_until(lambda: ctx.placement(self.collection).get(shard_id, {}).get(peer)
                   in ("Active", None), 30.0, interval=0.2)
        body = {"drop_replica": {"shard_id": shard_id, "peer_id": peer}}
        response = ctx.post(ctx.member_nodes()[0], f"/collections/{self.collection}/cluster",
                            body, timeout=30)
        return {"dropped": [shard_id, peer], "status": response.status_code}


class Composite(Nemesis):
    """Several faults at once, started in order and healed in reverse."""

    def __init__(self, name: str, parts: list[Nemesis]) -> None:
        self.name = name
        self.parts = parts
        self.needs_network = any(p.needs_network for p in parts)
        self.needs_root = any(p.needs_root for p in parts)

    def start(self, ctx: RunContext) -> dict:
        return {p.name: p.start(ctx) for p in self.parts}

    def stop(self, ctx: RunContext) -> dict:
        return {p.name: p.stop(ctx) for p in reversed(self.parts)}


class KillSoleUpToDate(Nemesis):
    """Freeze one replica's node until the others mark it Dead, then SIGKILL a node holding
    the only Active (only up-to-date) replica of a shard, then let the frozen one run again:
    the shard has no Active replica until the killed node restarts and the other recovers
    from it. No acknowledged write may be lost on the way."""

    name = "kill-sole-up-to-date"

    def __init__(self, collection: str, dead_wait: float = 12.0) -> None:
        self.collection = collection
        self.dead_wait = dead_wait
        self.frozen: ChaosNode | None = None
        self.killed: ChaosNode | None = None

    def start(self, ctx: RunContext) -> dict:
        self.frozen = _pick(ctx, "follower")
        self.frozen.pause()
        frozen_peer = self.frozen.peer_id
        # Writes keep going; the frozen replicas get marked Dead when a write times out.
        deadline = time.monotonic() + self.dead_wait
        sole: tuple[int, int] | None = None
        while time.monotonic() < deadline and sole is None:
            for shard_id, replicas in sorted(ctx.placement(self.collection).items()):
                active = [p for p, s in replicas.items() if s == "Active"]
                if frozen_peer in replicas and replicas[frozen_peer] != "Active" and \
                        len(active) == 1:
                    sole = (shard_id, active[0])
                    break
            time.sleep(0.3)
        detail: dict = {"frozen": self.frozen.index}
        if sole is not None:
            self.killed = ctx.nodes.by_peer_id(sole[1])
        if self.killed is None or self.killed is self.frozen:
            detail["note"] = "no shard left with a single Active replica; killed a random node"
            self.killed = _pick(ctx, "follower")
            if self.killed is self.frozen:
                self.killed = next(n for n in ctx.member_nodes() if n is not self.frozen)
        self.killed.kill()
        detail["killed_at_s"] = round(ctx.history.now(), 3)  # failover counts from here
        self.frozen.resume()
        detail.update({"shard": sole[0] if sole else None, "killed": self.killed.index})
        return detail

    def stop(self, ctx: RunContext) -> dict:
        return {"restarted": ctx.restart(self.killed)}



class StaleCoordinatorRecovery(Nemesis):
    """Provoke the Partial-state race: kill a node C so that its replicas go Dead, cut another
    node D off from the Raft leader only (D still reaches every data replica and still takes
    client writes), restart C so that it recovers while D coordinates writes with the placement
    it had before. Every write D acknowledges must still reach C's recovered replica."""

    name = "stale-coordinator-recovery"
    needs_network = True

    def __init__(self, collection: str, dead_wait: float = 1.5, hold: float = 3.0) -> None:
        self.collection = collection
        self.dead_wait = dead_wait
        self.hold = hold  # how long D stays stale once C's recovery started
        self.recovering: ChaosNode | None = None

    def start(self, ctx: RunContext) -> dict:
        leader = ctx.leader()
        others = [n for n in ctx.member_nodes() if n is not leader]
        ctx.rng.shuffle(others)
        if leader is None or len(others) < 2:
            return {"skipped": "needs a leader and two other nodes"}
        self.recovering, coordinator = others[0], others[1]
        self.recovering.kill()
        time.sleep(self.dead_wait)  # writes meanwhile mark its replicas Dead
        ctx.links.cut([(coordinator.index, leader.index)])
        back = ctx.restart(self.recovering)
        peer = self.recovering.peer_id

        def recovering() -> bool:
            states = [r.get(peer) for r in ctx.placement(self.collection).values()]
            return "Dead" not in states

        began = time.monotonic()
        started = wait_until(recovering, 15.0, interval=0.1)
        detail = {"node": self.recovering.index, "stale_coordinator": coordinator.index,
                  "leader": leader.index, "restarted": back,
                  "recovery_started_after_s": round(time.monotonic() - began, 3)
                  if started else None}
        time.sleep(self.hold)
        return detail

    def stop(self, ctx: RunContext) -> dict:
        ctx.links.heal()
        return {}


class Latency(Nemesis):
    """Delay (and, with jitter, reorder) every packet one node sends to the other members:
    iptables hands them to a netfilter queue that `chaos.delayer` releases after
    `delay_ms` +- `jitter_ms`. The kernel here has no `tc netem`, so this stands in for it."""

    needs_network = True

    def __init__(self, delay_ms: int = 150, jitter_ms: int = 100) -> None:
        self.delay_ms, self.jitter_ms = delay_ms, jitter_ms
        self.name = f"latency-{delay_ms}ms" + (f"-jitter-{jitter_ms}ms" if jitter_ms else "")
        self.node: ChaosNode | None = None
        self.delayer: subprocess.Popen | None = None

    def start(self, ctx: RunContext) -> dict:
        self.node = _pick(ctx, "random")
        self.delayer = subprocess.Popen(
            [*ctx.topology.exec_prefix(self.node.index), sys.executable, "-m", "chaos.delayer",
             "--delay-ms", str(self.delay_ms), "--jitter-ms", str(self.jitter_ms),
             "--seed", str(ctx.rng.randrange(1 << 30))],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # bound to its queue before packets go there
        for other in ctx.member_nodes():
            if other is not self.node:
                ctx.topology.run_in_node(self.node.index, "iptables", "-A", "OUTPUT", "-d",
                                         other.host, "-j", "NFQUEUE", "--queue-num", "0",
                                         "--queue-bypass")
        return {"node": self.node.index, "delay_ms": self.delay_ms,
                "jitter_ms": self.jitter_ms}

    def stop(self, ctx: RunContext) -> dict:
        ctx.topology.run_in_node(self.node.index, "iptables", "-F", "OUTPUT")
        self.delayer.terminate()
        try:
            self.delayer.wait(5)
        except subprocess.TimeoutExpired:
            self.delayer.kill()
        return {"node": self.node.index}
