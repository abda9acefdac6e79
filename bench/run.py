"""Entry point: `python -m bench` runs the suite and writes bench/results/."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from bench import anchors, dataset, decode_cost, grpc_suite, nodes, report, targets
from bench.loadgen import LoadGenerator
from bench.suite import Config, Runner

RESULTS = Path(__file__).resolve().parent / "results"

# Presets: the default suite (<15 min on 2 cores), quick (<2 min), smoke (seconds, for tests).
PRESETS: dict[str, dict] = {
    "full": {"size": 100_000, "queries": 1000, "duration": 5.0,
             "efs": [16, 32, 64, 128, 256], "local_size": 10_000},
    "quick": {"size": 20_000, "queries": 500, "duration": 1.5,
              "efs": [16, 32, 64, 128], "local_size": 2_000},
    "smoke": {"size": 1_000, "queries": 50, "duration": 0.3,
              "efs": [16, 64], "local_size": 200},
}


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--mode", choices=sorted(PRESETS), default="full")
    p.add_argument("--size", type=int, help="points (default by mode: 100000 / 20000 / 1000)")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--distance", choices=["Cosine", "Dot", "Euclid"], default="Cosine")
    p.add_argument("--queries", type=int)
    p.add_argument("--duration", type=float, help="seconds per throughput measurement")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construct", type=int, default=100)
    p.add_argument("--no-cluster", action="store_true", help="skip the 3-node cluster")
    p.add_argument("--no-anchors", action="store_true", help="skip the in-process anchors")
    p.add_argument("--no-quantized", action="store_true")
    p.add_argument("--no-decode-cost", action="store_true",
                   help="skip the request decode cost (typed vs hand-written)")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--cache-dir", type=Path, default=dataset.CACHE_DIR)
    return p.parse_args(argv)


def node_suite(run: Runner, cfg: Config, quantized: bool) -> dict:
    idle = run.dep.rss()[0]  # the interpreter and its imports, before any data
    run.create()
    out: dict = {"ingest": run.ingest()}
    rss = run.dep.rss()[0]
    floor = run.ds.size * (4 * run.ds.dim + cfg.m * 2 * 4)
    out["memory"] = {"rss": rss, "rss_idle": idle, "floor": floor,
                     "bytes_per_vector": rss / run.ds.size,
                     "data_bytes_per_vector": (rss - idle) / run.ds.size}
    sweep_c = 8
    out["sweep_concurrency"] = sweep_c
    out["ef_sweep"] = [run.search(ef, sweep_c) for ef in _bar(cfg.efs, "ef sweep")]
    good = [r["ef"] for r in out["ef_sweep"] if r["recall"] >= cfg.target_recall]
    ef = min(good) if good else max(cfg.efs)
    out["chosen_ef"] = ef
    out["concurrency"] = [run.search(ef, c) for c in _bar(cfg.concurrencies, "concurrency")]
    out["batch"] = run.batch_search(ef)
    out["filtered"] = run.filtered(ef, sweep_c)
    # The same search, batch search and ingest over gRPC, before quantization changes the index.
    out["grpc"] = {"search": grpc_suite.search(run, ef, sweep_c),
                   "batch": grpc_suite.batch_search(run, ef),
                   "ingest": grpc_suite.ingest(run)}
    if quantized:
        out["quantized"] = run.quantized(ef, sweep_c)
    return out


def cluster_suite(run: Runner, ef: int, cfg: Config) -> dict:
    shards = 3
    run.create(shards=shards, rf=2, wcf=2)
    out: dict = {"shards": shards, "ingest": run.ingest(), "rss": run.dep.rss()}
    out["search"] = [run.search(ef, c) for c in _bar([8, 32], "cluster search")]
    return out


def _bar(items: list, desc: str) -> list:
    from tqdm import tqdm

    return list(tqdm(items, desc=desc, leave=False))


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    preset = PRESETS[args.mode]
    size = args.size or preset["size"]
    queries = args.queries or preset["queries"]
    cfg = Config(m=args.m, ef_construct=args.ef_construct, efs=preset["efs"],
                 duration=args.duration or preset["duration"])
    if args.mode == "smoke":
        cfg.concurrencies, cfg.filtered_queries, cfg.green_timeout = [1, 8], 20, 60.0
    conf = {"mode": args.mode, "size": size, "dim": args.dim, "distance": args.distance,
            "queries": queries, "m": cfg.m, "ef_construct": cfg.ef_construct,
            "duration": cfg.duration, "target_recall": cfg.target_recall,
            "cores": os.cpu_count()}
    rep: dict = {"config": conf, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    t0 = time.perf_counter()
    print(f"data: {size:,} x {args.dim} {args.distance}, {queries} queries", file=sys.stderr)
    ds = dataset.load(size, args.dim, args.distance, queries, cache_dir=args.cache_dir)
    lg = LoadGenerator()
    try:
        print("one node ...", file=sys.stderr)
        with nodes.start(1) as dep:
            rep["node"] = node_suite(Runner(dep, ds, cfg, lg), cfg, not args.no_quantized)
            rep["node"]["pid_note"] = "RSS of the node process after the index was green"
        if not args.no_cluster:
            print("3-node cluster ...", file=sys.stderr)
            with nodes.start(3) as dep:
                rep["cluster"] = cluster_suite(Runner(dep, ds, cfg, lg),
                                               rep["node"]["chosen_ef"], cfg)
    finally:
        lg.close()
    # Anchors run after the nodes are gone, so nothing else competes for the two cores.
    if not args.no_anchors:
        print("anchors ...", file=sys.stderr)
        rep["anchors"] = {
            "hnswlib": anchors.hnswlib_anchor(ds, cfg.m, cfg.ef_construct, cfg.efs,
                                              cfg.duration),
            "edge": anchors.edge_anchor(ds, cfg.m, cfg.ef_construct, cfg.efs, cfg.duration),
            "local_client": anchors.local_client_anchor(ds, preset["local_size"],
                                                        cfg.duration),
        }
    # The smoke run (a test) skips it: it checks out a git worktree of the old code.
    if not args.no_decode_cost and args.mode != "smoke":
        print("request decode cost ...", file=sys.stderr)
        rep["decode_cost"] = decode_cost.measure()
    rep["targets"] = targets.evaluate(rep)
    rep["elapsed_s"] = time.perf_counter() - t0
    files = report.write(rep, args.out, with_plots=args.mode != "smoke")
    print(report.markdown(rep))
    print(f"\nelapsed {rep['elapsed_s']:.0f} s; wrote " + ", ".join(f.name for f in files)
          + f" to {args.out}", file=sys.stderr)
    return 0
