"""One run of one scenario: topology, nodes, workloads and faults, then heal, check, report.

Order of a run:
1. namespaces (or loopback) and the nodes; the cluster forms (timed);
2. the workloads make their collections; their processes start, and the fault schedule runs;
3. at the end every fault is healed, every node is running again; the harness waits until the
   cluster agrees on a leader and every replica is Active (timed), then until the cluster's
   anti-entropy found the replicas of every shard equal (chaos/convergence.py), reads the
   final state from every node and replica, and runs the checkers;
4. `history.jsonl`, `verdict.json`, `report.md` and `timeline.png` go to the run directory.
"""

from __future__ import annotations

import atexit
import contextlib
import random
import shutil
import signal
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path

from qdrant_client import QdrantClient

from chaos import netns
from chaos.checkers import Check, run_checkers
from chaos.context import RunContext
from chaos.convergence import await_convergence, differences_logged, repairs_logged
from chaos.figures import summary
from chaos.final_state import collect, metadata_of
from chaos.final_state import save as save_final_state
from chaos.history import History
from chaos.links import Links
from chaos.nemesis import Nemesis, mount_tmpfs, unmount
from chaos.nodes import Nodes, wait_until
from chaos.report import write_report
from chaos.scenarios import Scenario
from chaos.schedule import plan
from chaos.workload import Clients, Upserts

FORMATION_LIMIT = 15.0  # give up forming after this long (the target is the scenario's own)
SETTLE_LIMIT = 90.0  # after healing: leader, every replica Active, metadata agreed
MONITOR_PERIOD = 0.2
# Replicas that differ are read again for this long (past a peer's 10 s write timeout).
QUIESCE_LIMIT = 11.0
QUIESCE_PAUSE = 3.0


class RunResult:
    def __init__(self, verdict: dict, run_dir: Path) -> None:
        self.verdict = verdict
        self.run_dir = run_dir

    @property
    def ok(self) -> bool:
        return self.verdict["status"] in ("pass", "skipped")


def _seeded(seed: int, stream: str) -> random.Random:
    return random.Random(f"{seed}:{stream}")


class Run:
    def __init__(self, scenario: Scenario, seed: int, out_dir: Path, nodes: int | None = None,
                 duration: float | None = None, force_loopback: bool = False) -> None:
        self.scenario = scenario
        self.seed = seed
        self.n_nodes = nodes or scenario.nodes
        self.duration = duration or scenario.duration
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.run_dir = out_dir / f"{scenario.name}-seed{seed}-{stamp}"
        self.topology = netns.make_topology(force_loopback)
        self.history = History()
        self.nodes = Nodes(self.topology, self.run_dir)
        self.checks: list[Check] = []
        self.figures: dict = {"formation_s": []}
        self.errors: list[str] = []
        self.tmpfs: list[Path] = []
        self.data_collections: list[str] = []
        self._cleaned = False

    # --- the run ------------------------------------------------------------------------------

    def execute(self) -> RunResult:
        skip = self._why_skip()
        if skip:
            verdict = {"scenario": self.scenario.name, "seed": self.seed, "status": "skipped",
                       "reason": skip, "topology": self.topology.describe()}
            return RunResult(verdict, self.run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atexit.register(self.cleanup)
        previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        try:
            self._run()
        except Exception:  # noqa: BLE001 - a harness crash is reported, then cleaned up
            self.errors.append(traceback.format_exc())
        finally:
            verdict = self._verdict()
            self.history.save(self.run_dir / "history.jsonl")
            try:
                write_report(self.run_dir, verdict, self.history)
            except Exception:  # noqa: BLE001 - the verdict must still be written
                verdict["errors"].append("report: " + traceback.format_exc())
                write_report(self.run_dir, verdict, None)
            self.cleanup()
            signal.signal(signal.SIGTERM, previous)
        return RunResult(verdict, self.run_dir)

    def _why_skip(self) -> str | None:
        if self.scenario.needs_network and not self.topology.isolated:
            return ("needs network namespaces (root, iproute2, nft, iptables): "
                    + self.topology.describe())
        if self.scenario.needs_root and not self.topology.isolated:
            return "needs root (tmpfs mount)"
        return None

    def _on_sigterm(self, *_: object) -> None:
        self.cleanup()
        raise SystemExit(143)

    def _run(self) -> None:
        scenario = self.scenario
        self.topology.create()
        self.topology.enter_client()
        self.history.note("topology", what_=self.topology.describe())
        links = Links(self.topology)
        ctx = RunContext(self.topology, self.nodes, links, self.history, self.run_dir,
                         _seeded(self.seed, "faults"), members=list(range(self.n_nodes)))
        self.ctx = ctx
        for index in range(self.n_nodes):
            storage = None
            if scenario.tmpfs_node and scenario.tmpfs_node[0] == index:
                storage = netns.tmpfs_dir(self.run_dir, index)
                mount_tmpfs(storage, scenario.tmpfs_node[1])
                self.tmpfs.append(storage)
            node = self.nodes.add(index, storage)
            node.extra_env = dict(scenario.node_env.get(index, {}))
        formation = Check("cluster-forms", True)
        self.checks.append(formation)
        for attempt in range(scenario.formation_tries):
            if attempt:
                self.nodes.stop_all()
            formed, detail = self._form(ctx, wipe=attempt > 0)
            if not formed:
                formation.fail(f"try {attempt + 1}: {detail}")
        formation.figures = {"tries": scenario.formation_tries,
                             "formed": sum(1 for t in self.figures["formation_s"] if t)}
        if not formed:
            return  # nothing to run a workload on; the failed formation is the finding
        clients = Clients(ctx)
        workloads = scenario.workloads(scenario)
        admin = QdrantClient(url=self.nodes[0].url, timeout=30, check_compatibility=False)
        for workload in workloads:
            workload.setup(ctx, admin)
        self._settle(ctx, "setup")
        self.data_collections = sorted({w.collection for w in workloads
                                         if isinstance(w, Upserts)})
        nemeses = scenario.nemeses(scenario)
        schedule = plan(_seeded(self.seed, "schedule"), len(nemeses), self.duration,
                        scenario.warmup, scenario.fault_length, scenario.fault_gap)
        self.history.note("schedule", planned=[asdict(p) for p in schedule],
                          nemeses=[n.name for n in nemeses])
        stop = threading.Event()
        threads = [threading.Thread(target=self._monitor, args=(ctx, stop), daemon=True)]
        for workload in workloads:
            for process in workload.processes(ctx, clients):
                rng = _seeded(self.seed, process.name)
                threads.append(threading.Thread(target=self._guard, daemon=True,
                                                args=(process.name, process.run, rng, stop)))
        self.history.note("workload-start")
        for thread in threads:
            thread.start()
        self._faults(ctx, nemeses, schedule)
        remaining = self.duration - self.history.now() + self._workload_start
        if remaining > 0:
            time.sleep(remaining)
        stop.set()
        for thread in threads:
            thread.join(15)
        self.history.note("workload-end")
        healed_at = time.monotonic()
        self._heal_all(ctx)
        settled = self._settle(ctx, "final")
        self.figures["recovery_s"] = round(time.monotonic() - healed_at, 3) if settled else None
        data = sorted({w.collection for w in workloads if hasattr(w, "collection")})
        self._converge(ctx, data)
        final = self._final_state(ctx, data, clients)
        final.repairs = differences_logged(self.run_dir)
        save_final_state(final, self.run_dir / "final_state.json")
        self.checks += run_checkers(self.history, final)
        self.figures["anti_entropy_repairs"] = repairs_logged(self.run_dir)
        clients.close()
        self.figures["run_end_s"] = round(self.history.now(), 3)

    def _converge(self, ctx: RunContext, data: list[str]) -> None:
        """Until the cluster's anti-entropy found the replicas of every shard equal (it
        repairs replicas that differ on writes no client saw acknowledged), then until every
        replica is Active again."""
        seconds, pending = await_convergence(ctx, data)
        self.figures["anti_entropy_s"] = seconds
        self.history.note("anti-entropy", seconds=seconds, pending=pending)
        self._settle(ctx, "anti-entropy")

    def _final_state(self, ctx: RunContext, data: list[str], clients: Clients):
        """The final state, read again while replicas (or counts) differ or a replica cannot be
        read, for as long as a write the workload gave up on may still be on its way (a peer
        waits up to 10 s for a replica; one that then misses it is marked Dead and refilled, so
        it serves no reads for a moment): only a difference that outlasts that is a finding."""
        deadline = time.monotonic() + QUIESCE_LIMIT
        reads = 0
        while True:
            began = time.monotonic()
            final = collect(ctx, data, clients)
            self.history.note("final-read", seconds=round(time.monotonic() - began, 3))
            reads += 1
            if not _unsettled(final) or time.monotonic() >= deadline:
                self.history.note("final-reads", reads=reads,
                                  replicas_differ=_replicas_differ(final),
                                  read_errors=_read_errors(final))
                return final
            time.sleep(QUIESCE_PAUSE)
            self._settle(ctx, f"reread-{reads}")

    @property
    def _workload_start(self) -> float:
        return next(n["time"] for n in self.history.notes if n["what"] == "workload-start")

    def _guard(self, name: str, run, rng: random.Random, stop: threading.Event) -> None:
        try:
            run(rng, stop)
        except Exception:  # noqa: BLE001 - a broken workload is a harness error, reported
            self.errors.append(f"process {name}: {traceback.format_exc()}")

    # --- formation -----------------------------------------------------------------------------

    def _form(self, ctx: RunContext, wipe: bool) -> tuple[bool, str]:
        nodes = [self.nodes[i] for i in range(self.n_nodes)]
        if wipe:
            for node in nodes:
                shutil.rmtree(node.storage, ignore_errors=True)
                node.storage.mkdir(parents=True, exist_ok=True)
        began = time.monotonic()
        if self.scenario.formation == "concurrent":
            first, rest = nodes[0], nodes[1:]
            first.join_args = []
            first.start()
            if not wait_until(lambda: self.nodes.formed([first]), FORMATION_LIMIT):
                return False, "the first node never led its cluster of one"
            began = time.monotonic()  # the clock starts when the others start, back to back
            for node in rest:
                node.join_args = ["--bootstrap", first.raft_uri]
                node.start()
        else:
            peers = ",".join(n.raft_uri for n in nodes)
            for node in nodes:
                node.join_args = ["--peers", peers]
                node.start()
        formed = wait_until(lambda: self.nodes.formed(nodes), FORMATION_LIMIT, interval=0.1)
        took = round(time.monotonic() - began, 3)
        views = {i: {"peers": len(v.get("peers", {})), "leader": v["raft_info"].get("leader")}
                 for i, v in self.nodes.cluster_views(nodes).items()}
        self.history.note("formation", formed=formed, seconds=took, views=views)
        self.figures["formation_s"].append(took if formed else None)
        if formed:
            return True, f"formed in {took} s"
        # Which peers each node lists and which leader it names, by node index.
        named = {i: {"members": v["peers"], "leader": _index_of(self.nodes, v["leader"])}
                 for i, v in views.items()}
        return False, f"no single cluster after {FORMATION_LIMIT:.0f} s: {named}"

    # --- faults --------------------------------------------------------------------------------

    def _faults(self, ctx: RunContext, nemeses: list[Nemesis], schedule) -> None:
        origin = self._workload_start
        for planned in schedule:
            delay = origin + planned.at - self.history.now()
            if delay > 0:
                time.sleep(delay)
            nemesis = nemeses[planned.nemesis]
            fault = self.history.fault_started(nemesis.name)
            try:
                fault.detail.update(nemesis.start(ctx) or {})
            except Exception as exc:  # noqa: BLE001 - recorded, the run goes on
                fault.detail["start_error"] = repr(exc)
            time.sleep(max(0.0, fault.start + planned.length - self.history.now()))
            try:
                fault.detail.update(nemesis.stop(ctx) or {})
            except Exception as exc:  # noqa: BLE001
                fault.detail["stop_error"] = repr(exc)
            self.history.fault_healed(fault)

    def _monitor(self, ctx: RunContext, stop: threading.Event) -> None:
        """Every node's idea of the leader, a few times a second, for the failover figure."""
        while not stop.wait(MONITOR_PERIOD):
            self._note_crashes(ctx)
            leaders: dict[int, int | None] = {}
            for node in ctx.member_nodes():
                if not node.is_running() or node.paused:
                    continue
                view = node.get("/cluster", timeout=0.5)
                if view is None:
                    continue
                leader = self.nodes.by_peer_id(view["raft_info"].get("leader"))
                leaders[node.index] = leader.index if leader is not None else None
            self.history.sample(leaders, self._all_active(ctx, leaders))

    def _note_crashes(self, ctx: RunContext) -> None:
        for node in ctx.member_nodes():
            code = node.crashed()
            if code is not None:
                self.history.note("crash", node=node.index, exit_code=code)

    def _all_active(self, ctx: RunContext, leaders: dict[int, int | None]) -> bool | None:
        """Whether the leader named by most nodes sees every replica of the data collections
        Active (None when there is no such leader or it does not answer)."""
        named = [i for i in leaders.values() if i is not None]
        if not named:
            return None
        leader = self.nodes[max(set(named), key=named.count)]
        for name in self.data_collections:
            info = leader.get(f"/internal/v1/collections/{name}", timeout=0.5)
            if info is None:
                return None
            if any(state != "Active" for replicas in info["shards"].values()
                   for state in replicas.values()):
                return False
        return True

    # --- healing and settling ----------------------------------------------------------------

    def _heal_all(self, ctx: RunContext) -> None:
        self._note_crashes(ctx)
        if self.topology.isolated:
            ctx.links.heal()
        for node in ctx.member_nodes():
            if node.paused:
                node.resume()
            if not node.is_running():
                ctx.restart(node)
        for path in self.tmpfs:  # a leftover ballast would keep the disk full
            with contextlib.suppress(FileNotFoundError):
                (path / "chaos-ballast").unlink()

    def _settle(self, ctx: RunContext, stage: str) -> bool:
        """Until every member agrees on the metadata and every replica is Active."""
        last: list = []

        def settled() -> bool:
            views = [metadata_of(n) for n in ctx.member_nodes()]
            last[:] = views
            if any(v is None for v in views):
                return False
            if len({repr(v) for v in views}) != 1:
                return False
            placement = views[0]["placement"]
            return all(state == "Active" and not p["transfers"]
                       for p in placement.values() for reps in p["shards"].values()
                       for state in reps.values())

        ok = wait_until(settled, SETTLE_LIMIT, interval=0.25)
        self.history.note(f"settle-{stage}", settled=ok)
        if not ok:
            self.errors.append(f"{stage}: not settled within {SETTLE_LIMIT:.0f} s "
                               f"(the checkers report what differs)")
        return ok

    # --- verdict ---------------------------------------------------------------------------------

    def _verdict(self) -> dict:
        run_end = self.history.now()
        figures = {**summary(self.history, run_end), **self.figures}
        expectations = []
        for key, bound in self.scenario.expect.items():
            value = _expected_figure(figures, key)
            expectations.append({"figure": key, "bound": bound, "value": value,
                                 "ok": value is not None and value <= bound})
        invariants = [asdict(c) for c in self.checks]
        harness_ok = not self.errors and bool(self.checks)
        ok = (harness_ok and all(c.ok for c in self.checks)
              and all(e["ok"] for e in expectations))
        return {
            "scenario": self.scenario.name, "seed": self.seed, "nodes": self.n_nodes,
            "duration_s": self.duration, "status": "pass" if ok else "fail",
            "topology": self.topology.describe(),
            "description": self.scenario.description,
            "invariants": invariants, "expectations": expectations,
            "figures": figures, "errors": self.errors,
        }

    def cleanup(self) -> None:
        if self._cleaned:
            return
        self._cleaned = True
        with contextlib.suppress(Exception):
            self.nodes.stop_all()
        for path in self.tmpfs:
            unmount(path)
        with contextlib.suppress(Exception):
            self.topology.destroy()


def _unsettled(final) -> bool:
    return _replicas_differ(final) or _read_errors(final) > 0


def _read_errors(final) -> int:
    return sum(len(state.replica_errors) for state in final.collections.values())


def _replicas_differ(final) -> bool:
    """Whether replicas of a shard differ, or counts differ from scrolls or between nodes."""
    for state in final.collections.values():
        if any(len({frozenset(c.items()) for c in replicas.values()}) > 1
               for replicas in state.replicas.values()):
            return True
        if len(set(state.counts.values())) > 1 or any(
                count != len(state.scrolls.get(node, [])) for node, count in state.counts.items()):
            return True
    return False


def _index_of(nodes: Nodes, peer_id: int | None) -> int | None:
    node = nodes.by_peer_id(peer_id)
    return node.index if node is not None else None


def _expected_figure(figures: dict, key: str) -> float | None:
    if key == "formation_s":
        values = figures.get("formation_s") or []
        return None if not values or None in values else max(values)
    if key in ("write_p99_s", "read_p99_s"):
        kind = "write_latency" if key.startswith("write") else "read_latency"
        during = [f[kind]["p99_s"] for f in figures["faults"] if f[kind]["p99_s"] is not None]
        return max(during) if during else None
    return figures.get(key)


def run_scenario(scenario: Scenario, seed: int, out_dir: Path, **options) -> RunResult:
    return Run(scenario, seed, out_dir, **options).execute()
