"""Before and after in one run: the same load on nodes of two source trees, taken in turns.

`python -m bench.ab --baseline REF` checks REF out in a temporary git worktree, starts a
deployment of it (A) and one of this tree (B), loads both with the same data, then measures
the chosen scenario on A and B in alternating order, round after round, so a change of load on a
shared machine hits both alike. Each round prints QPS and the server CPU per query; the summary
gives the median of each side and B/A. The batch scenario also times raw hnswlib's batch
(same data, M, ef_construct, ef and threads) in the same rounds, for the batch target's ratio.

Scenarios: `batch` (64 searches a request to /points/query/batch, one node), `search` (single
searches at a concurrency, one node), `cluster` (single searches on 3 nodes, 3 shards, rf 2,
spread over every node), `cluster-batch` (batches on that cluster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

from bench import dataset, nodes
from bench.loadgen import LoadGenerator
from bench.suite import QUERY_BATCH, Config, Runner

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ("batch", "search", "cluster", "cluster-batch")


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.ab", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", default="main", help="git ref of side A (default: main)")
    p.add_argument("--scenario", choices=SCENARIOS, default="batch")
    p.add_argument("--size", type=int, default=20_000)
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=512)
    p.add_argument("--ef", type=int, default=64)
    p.add_argument("--concurrency", type=int,
                   help="requests in flight (default: 2 for batches, as `make bench`; else 8)")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--duration", type=float, default=2.0, help="seconds per measurement")
    p.add_argument("--one-node-a", action="store_true",
                   help="side A is one node (one shard) of the baseline: with a cluster "
                        "scenario, B/A is the cluster's ratio to one node")
    return p.parse_args(argv)


class _Tree:
    """A temporary git worktree of `ref`."""

    def __init__(self, ref: str) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="flotilla-ab-")
        self.path = Path(self._tmp.name) / "tree"
        made = subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach",
                               str(self.path), ref], capture_output=True, text=True)
        if made.returncode != 0:
            raise RuntimeError(f"git worktree add {ref}: {made.stderr.strip()}")

    def close(self) -> None:
        subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force",
                        str(self.path)], capture_output=True)
        self._tmp.cleanup()


def _measure(run: Runner, scenario: str, ef: int, concurrency: int) -> tuple[float, float, float]:
    """(QPS, server CPU ms per query, recall) of one measurement."""
    if scenario.endswith("batch"):
        r = run.batch_search(ef, concurrency)
        queries = r["qps"] * run.cfg.duration
    else:
        r = run.search(ef, concurrency)
        queries = r["requests"]
    return r["qps"], r["server_cpu_s"] / max(queries, 1) * 1000, r["recall"]


def _hnswlib(ds: dataset.Dataset, cfg: Config):
    """Raw hnswlib on the same data: a function timing one batch slice at an ef."""
    import hnswlib

    space = {"Cosine": "cosine", "Dot": "ip", "Euclid": "l2"}[ds.distance]
    index = hnswlib.Index(space=space, dim=ds.dim)
    index.init_index(max_elements=ds.size, M=cfg.m, ef_construction=cfg.ef_construct,
                     random_seed=1)
    index.add_items(ds.vectors, np.arange(ds.size), num_threads=os.cpu_count() or 1)
    index.set_num_threads(os.cpu_count() or 1)
    batches = [ds.queries[i:i + QUERY_BATCH] for i in range(0, len(ds.queries), QUERY_BATCH)]

    def slice_qps(ef: int) -> float:
        index.set_ef(ef)
        t0, done = time.perf_counter(), 0
        while time.perf_counter() - t0 < cfg.duration:
            for b in batches:
                index.knn_query(b, k=dataset.K)
                done += len(b)
        return done / (time.perf_counter() - t0)

    return slice_qps


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.concurrency is None:
        args.concurrency = 2 if args.scenario.endswith("batch") else 8
    cluster = args.scenario.startswith("cluster")
    # One ingest client: loading is not measured here, and a loaded shared machine made the
    # cluster refuse writes of four at once (a replica missing the write, under 2 s).
    cfg = Config(duration=args.duration, ingest_clients=1)
    ds = dataset.load(args.size, args.dim, "Cosine", args.queries)
    tree = _Tree(args.baseline)
    lg = LoadGenerator()
    count = 3 if cluster else 1
    shards, rf = (3, 2) if cluster else (1, 1)
    layout = {"A": (1, 1, 1) if args.one_node_a else (count, shards, rf),
              "B": (count, shards, rf)}  # nodes, shards, replication factor
    rows: dict[str, list[tuple[float, float, float]]] = {"A": [], "B": [], "hnswlib": []}
    try:
        with nodes.start(layout["A"][0], repo_root=tree.path) as dep_a, \
                nodes.start(layout["B"][0]) as dep_b:
            runs = {"A": Runner(dep_a, ds, cfg, lg), "B": Runner(dep_b, ds, cfg, lg)}
            for side, run in runs.items():
                print(f"loading {side} ...", flush=True)
                _, shards, rf = layout[side]
                run.create(shards=shards, rf=rf, wcf=rf)
                run.ingest()
            anchor = _hnswlib(ds, cfg) if args.scenario == "batch" else None
            for side in ("A", "B"):  # warm-up, not counted
                _measure(runs[side], args.scenario, args.ef, args.concurrency)
            for i in range(args.rounds):
                order = ("A", "B") if i % 2 == 0 else ("B", "A")
                for side in order:
                    rows[side].append(_measure(runs[side], args.scenario, args.ef,
                                               args.concurrency))
                if anchor is not None:
                    rows["hnswlib"].append((anchor(args.ef), 0.0, 0.0))
                line = "  ".join(f"{s} {rows[s][-1][0]:8.0f} qps {rows[s][-1][1]:6.3f} ms cpu/q"
                                 for s in ("A", "B"))
                extra = f"  hnswlib {rows['hnswlib'][-1][0]:8.0f} qps" if anchor else ""
                print(f"round {i + 1}: {line}{extra}", flush=True)
    finally:
        lg.close()
        tree.close()
    _summary(args, rows, layout)
    return 0


def _summary(args: argparse.Namespace, rows: dict, layout: dict) -> None:
    med = {s: (statistics.median(r[0] for r in v), statistics.median(r[1] for r in v),
               statistics.median(r[2] for r in v)) for s, v in rows.items() if v}
    a, b = med["A"], med["B"]
    print(f"\n{args.scenario}: size {args.size}, ef {args.ef}, concurrency {args.concurrency}, "
          f"{args.rounds} rounds of {args.duration}s, medians")
    shape = {side: f"{n} node(s), {s} shard(s), rf {r}" for side, (n, s, r) in layout.items()}
    for name, (qps, cpu, rec) in ((f"A ({args.baseline}, {shape['A']})", a),
                                  (f"B (this tree, {shape['B']})", b)):
        print(f"{name}: {qps:.0f} qps, {cpu:.3f} ms CPU/query, recall {rec:.3f}")
    print(f"B/A: qps {b[0] / a[0]:.2f}x, CPU/query {b[1] / a[1]:.2f}x")
    if "hnswlib" in med:
        h = med["hnswlib"][0]
        print(f"raw hnswlib batch: {h:.0f} qps; A/hnswlib {a[0] / h:.2f}x, "
              f"B/hnswlib {b[0] / h:.2f}x (target >= 0.7x)")


if __name__ == "__main__":
    raise SystemExit(main())
