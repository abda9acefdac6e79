"""What several serving processes on one port would give a node: a prototype, measured.

`python -m bench.procmodel` writes one sealed segment (ids and vectors as .npy files, an hnswlib
graph) and starts server sets of bench/procmodel_server.py on their own ports: one process, and
N processes sharing a port through SO_REUSEPORT, each loading the graph itself ("load") or
forked after one load ("fork", copy-on-write). Every set answers the same plain searches from
the load generator's process at the same concurrency, in alternating order round after round,
so a change of load on a shared machine hits all alike. Printed and written to
bench/results/procmodel.{json,md}: QPS, server CPU per query, p50/p99, recall, the spread of
CPU over a set's processes, and memory per process (RSS, USS, PSS) against the segment's size.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import hnswlib
import numpy as np
import psutil

from bench import dataset, nodes
from bench.loadgen import LoadGenerator, LoadSpec, encode
from bench.suite import Config, Runner

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
PATH = "/collections/bench/points/query"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.procmodel", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=20_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=512)
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construct", type=int, default=100)
    p.add_argument("--ef", type=int, default=64)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--sets", default="1:load,2:load,3:load,2:fork",
                   help="server sets to compare, processes:share, comma separated")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--duration", type=float, default=3.0, help="seconds per measurement")
    p.add_argument("--node", action="store_true",
                   help="also measure a real Flotilla node (one process) on the same data, "
                        "in the same rounds, as the reference for the prototype's own costs")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--cache-dir", type=Path, default=dataset.CACHE_DIR)
    return p.parse_args(argv)


def write_segment(ds: dataset.Dataset, directory: Path, m: int, ef_construct: int) -> int:
    """The sealed segment the servers read; returns the graph file's size in bytes."""
    np.save(directory / "ids.npy", np.arange(ds.size, dtype=np.uint64))
    np.save(directory / "vectors.npy", ds.vectors)
    graph = hnswlib.Index(space="cosine", dim=ds.dim)
    graph.init_index(max_elements=ds.size, M=m, ef_construction=ef_construct, random_seed=1)
    graph.add_items(ds.vectors, np.arange(ds.size), num_threads=os.cpu_count() or 1)
    graph.save_index(str(directory / "graph.bin"))
    return (directory / "graph.bin").stat().st_size


@dataclass
class ServerSet:
    """One launcher and its serving processes on one port."""

    workers: int
    share: str
    port: int
    proc: subprocess.Popen
    servers: list[psutil.Process] = field(default_factory=list)
    open_s: list[float] = field(default_factory=list)  # each server's time to open the segment

    @property
    def name(self) -> str:
        return f"{self.workers} proc ({self.share})"

    @property
    def url(self) -> str:
        return f"http://{nodes.LOOPBACK}:{self.port}"

    def everyone(self) -> list[psutil.Process]:
        return [psutil.Process(self.proc.pid), *self.servers]

    def cpu(self) -> list[float]:
        """CPU seconds of the launcher and of each server."""
        return [sum(p.cpu_times()[:2]) for p in self.everyone()]

    def memory(self) -> list[dict]:
        rows = []
        for role, p in zip(["launcher"] + ["server"] * self.workers, self.everyone(), strict=True):
            m = p.memory_full_info()
            rows.append({"role": role, "rss": m.rss, "uss": m.uss, "pss": m.pss})
        return rows

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def start_set(directory: Path, workers: int, share: str, timeout: float = 120.0) -> ServerSet:
    for old in directory.glob("ready-*"):
        old.unlink()
    port = nodes.free_port()
    cmd = [sys.executable, "-m", "bench.procmodel_server", "--dir", str(directory),
           "--port", str(port), "--workers", str(workers), "--share", share]
    proc = subprocess.Popen(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    s = ServerSet(workers, share, port, proc)
    deadline = time.monotonic() + timeout
    while len(list(directory.glob("ready-*"))) < workers:
        if proc.poll() is not None or time.monotonic() > deadline:
            s.stop()
            raise RuntimeError(f"server set {s.name} did not start")
        time.sleep(0.05)
    s.servers = psutil.Process(proc.pid).children()
    s.open_s = [float(f.read_text()) for f in directory.glob("ready-*")]
    return s


def measure(lg: LoadGenerator, s: ServerSet, bodies: list[bytes], concurrency: int,
            duration: float, truth: np.ndarray) -> dict:
    cpu0 = s.cpu()
    r = lg.run(LoadSpec([s.url], PATH, bodies, concurrency, duration, parse="query"))
    spent = [b - a for a, b in zip(cpu0, s.cpu(), strict=True)]
    if r.errors:
        raise RuntimeError(f"{s.name}: {r.errors} errors, first: {r.first_error}")
    found = [r.ids[i] for i in range(len(bodies)) if i in r.ids]
    rows = [i for i in range(len(bodies)) if i in r.ids]
    server = spent[1:]
    return {"qps": r.rps, "cpu_ms_per_query": sum(spent) / max(r.requests, 1) * 1000,
            "p50_ms": r.pct(50), "p99_ms": r.pct(99),
            "recall": dataset.recall(found, truth[rows]),
            "client_cpu_ms_per_query": r.client_cpu / max(r.requests, 1) * 1000,
            "busiest_share": max(server) / sum(server) if sum(server) else 0.0}


class NodeSet:
    """A real Flotilla node loaded with the same data, measured like a server set."""

    name = "node (1 proc)"
    open_s: tuple[float, ...] = ()  # the node opens its data as it starts: not timed here

    def __init__(self, ds: dataset.Dataset, lg: LoadGenerator, m: int, ef_construct: int,
                 duration: float) -> None:
        self.dep = nodes.start(1)
        self.run = Runner(self.dep, ds, Config(m=m, ef_construct=ef_construct, duration=duration,
                                               ingest_clients=1), lg)
        self.run.create()
        self.run.ingest()

    def measure(self, ef: int, concurrency: int, duration: float) -> dict:
        self.run.cfg.duration = duration
        r = self.run.search(ef, concurrency)
        return {"qps": r["qps"], "cpu_ms_per_query": r["server_cpu_s"] / max(r["requests"], 1)
                * 1000, "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "recall": r["recall"],
                "client_cpu_ms_per_query": r["client_cpu_s"] / max(r["requests"], 1) * 1000,
                "busiest_share": 1.0}

    def memory(self) -> list[dict]:
        m = self.dep.nodes[0].ps().memory_full_info()
        return [{"role": "node", "rss": m.rss, "uss": m.uss, "pss": m.pss}]

    def stop(self) -> None:
        self.dep.stop()


def _median(rows: list[dict]) -> dict:
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    wanted = [(int(w), share) for w, share in (x.split(":") for x in args.sets.split(","))]
    ds = dataset.load(args.size, args.dim, "Cosine", args.queries, cache_dir=args.cache_dir)
    bodies = [encode({"query": q.tolist(), "limit": dataset.K, "params": {"hnsw_ef": args.ef}})
              for q in ds.queries]
    floor = args.size * (4 * args.dim + args.m * 2 * 4)
    with tempfile.TemporaryDirectory(prefix="flotilla-procmodel-") as tmp:
        directory = Path(tmp)
        graph_bytes = write_segment(ds, directory, args.m, args.ef_construct)
        lg = LoadGenerator()
        sets: list[ServerSet | NodeSet] = []
        try:
            for w, share in wanted:
                sets.append(start_set(directory, w, share))
            if args.node:
                print("loading the node ...", flush=True)
                sets.append(NodeSet(ds, lg, args.m, args.ef_construct, args.duration))

            def one(s: ServerSet | NodeSet, duration: float) -> dict:
                if isinstance(s, NodeSet):
                    return s.measure(args.ef, args.concurrency, duration)
                return measure(lg, s, bodies, args.concurrency, duration, ds.truth)

            for s in sets:  # warm-up, not counted
                one(s, 1.0)
            rows: dict[str, list[dict]] = {s.name: [] for s in sets}
            for i in range(args.rounds):
                order = sets[i % len(sets):] + sets[:i % len(sets)]
                for s in order:
                    rows[s.name].append(one(s, args.duration))
                print(f"round {i + 1}: " + "  ".join(
                    f"{s.name} {rows[s.name][-1]['qps']:6.0f} qps "
                    f"{rows[s.name][-1]['cpu_ms_per_query']:.3f} ms cpu/q" for s in sets),
                    flush=True)
            memory = {s.name: s.memory() for s in sets}
            opened = {s.name: list(s.open_s) for s in sets}
        finally:
            lg.close()
            for s in sets:
                s.stop()
    report = {"config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "cpus": os.cpu_count(), "segment": {"floor_bytes": floor, "graph_bytes": graph_bytes,
                                                  "vectors_bytes": ds.vectors.nbytes},
              "sets": {name: {"median": _median(r), "rounds": r, "memory": memory[name],
                              "open_s": opened[name]}
                       for name, r in rows.items()}}
    text = markdown(report)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "procmodel.json").write_text(json.dumps(report, indent=2))
    (args.out / "procmodel.md").write_text(text)
    print("\n" + text)
    return 0


def markdown(report: dict) -> str:
    c, seg = report["config"], report["segment"]
    mb = 1 / 2**20
    base_name = next(iter(report["sets"]))
    base = report["sets"][base_name]["median"]
    lines = [f"# Process model prototype: {c['size']} x {c['dim']} Cosine, ef {c['ef']}, "
             f"concurrency {c['concurrency']}, {report['cpus']} CPUs",
             "", f"{c['rounds']} alternating rounds of {c['duration']} s, medians. Segment: "
             f"graph file {seg['graph_bytes'] * mb:.1f} MB, vectors {seg['vectors_bytes'] * mb:.1f}"
             f" MB, floor n*(4*dim + M*2*4) {seg['floor_bytes'] * mb:.1f} MB. Server cores used = "
             "QPS x CPU per query: on a shared machine, how much CPU the set was given.", "",
             f"| set | QPS | x {base_name} | server CPU ms/query | server cores used | p50 ms | "
             "p99 ms | recall | busiest server's CPU share | loadgen CPU ms/query |",
             "|" + "---|" * 10]
    for name, s in report["sets"].items():
        m = s["median"]
        cores = m["qps"] * m["cpu_ms_per_query"] / 1000
        lines.append(f"| {name} | {m['qps']:.0f} | {m['qps'] / base['qps']:.2f} | "
                     f"{m['cpu_ms_per_query']:.3f} | {cores:.2f} | "
                     f"{m['p50_ms']:.2f} | {m['p99_ms']:.2f} | "
                     f"{m['recall']:.3f} | {m['busiest_share']:.2f} | "
                     f"{m['client_cpu_ms_per_query']:.3f} |")
    lines += ["", "| set | process | RSS MB | USS MB | PSS MB |", "|---|---|---|---|---|"]
    for name, s in report["sets"].items():
        for n, p in enumerate(s["memory"]):
            lines.append(f"| {name} | {p['role']} {n} | {p['rss'] * mb:.1f} | "
                         f"{p['uss'] * mb:.1f} | {p['pss'] * mb:.1f} |")
        total = sum(p["pss"] for p in s["memory"])
        lines.append(f"| {name} | all (sum of PSS) | | | {total * mb:.1f} |")
    lines.append("")
    for name, s in report["sets"].items():
        if s.get("open_s"):
            lines.append(f"- {name}: opening the segment (graph load, maps) took "
                         f"{max(s['open_s']):.3f} s in the slowest server")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
