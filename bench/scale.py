"""The scale run (`make bench-scale`): one node at growing sizes, up to a million points.

For each size: ingest over REST (batches of 256, wait=true), time to green, RSS against the
floor n*(4*dim + M*2*4), search QPS and recall at a few hnsw_ef, and qdrant-edge's
upsert+optimize on the same data. The closing table says how each figure grows from the
smallest size to the largest. `--ingest-only` and `--cluster` make it a quick A/B probe of
the write path; `--code-root` starts the nodes from another checkout (the "before" of an A/B).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from bench import anchors, dataset, grpc_suite, nodes
from bench.loadgen import LoadGenerator
from bench.suite import Config, Runner

RESULTS = Path(__file__).resolve().parent / "results"


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    p.add_argument("--sizes", default="100000,1000000",
                   help="comma-separated point counts, smallest first")
    p.add_argument("--dim", type=int, default=128)
    p.add_argument("--queries", type=int, default=1000)
    p.add_argument("--duration", type=float, default=5.0, help="seconds per search measurement")
    p.add_argument("--efs", default="32,64,128")
    p.add_argument("--m", type=int, default=16)
    p.add_argument("--ef-construct", type=int, default=100)
    p.add_argument("--no-edge", action="store_true", help="skip qdrant-edge's upsert+optimize")
    p.add_argument("--ingest-only", action="store_true",
                   help="ingest only: no time to green, search or edge")
    p.add_argument("--cluster", action="store_true",
                   help="also ingest into 3 nodes (3 shards, rf=2, wcf=2)")
    p.add_argument("--grpc", action="store_true",
                   help="also ingest over gRPC (into a second collection of the node)")
    p.add_argument("--repeat", type=int, default=1, help="ingest runs per deployment")
    p.add_argument("--code-root", type=Path, help="start the nodes from this checkout")
    p.add_argument("--out", type=Path, default=RESULTS)
    p.add_argument("--cache-dir", type=Path, default=dataset.CACHE_DIR)
    return p.parse_args(argv)


def one_node(ds: dataset.Dataset, cfg: Config, lg: LoadGenerator, efs: list[int],
             ingest_only: bool, repeat: int, grpc: bool, root: Path) -> dict:
    with nodes.start(1, repo_root=root) as dep:
        run = Runner(dep, ds, cfg, lg)
        idle = dep.rss()[0]
        ingests = []
        for i in range(repeat):
            if i:
                nodes.http_json("DELETE", run.base)
            run.create()
            ingests.append(_ingest(run, ingest_only))
        out: dict = {"ingest": ingests[-1], "ingest_pps_runs": [r["pps"] for r in ingests]}
        if ingest_only:
            del out["ingest"]["green_total_s"]  # not waited for
        rss = dep.rss()[0]
        floor = ds.size * (4 * ds.dim + cfg.m * 2 * 4)
        out["memory"] = {"rss": rss, "rss_idle": idle, "floor": floor,
                         "rss_vs_floor": rss / floor,
                         "above_idle_vs_floor": (rss - idle) / floor}
        if not ingest_only:
            out["search"] = [run.search(ef, 8) for ef in efs]
        if grpc:
            out["grpc_ingest"] = grpc_suite.ingest(run)
        return out


def cluster(ds: dataset.Dataset, cfg: Config, lg: LoadGenerator, repeat: int,
            root: Path) -> dict:
    with nodes.start(3, repo_root=root) as dep:
        run = Runner(dep, ds, cfg, lg)
        ingests = []
        for i in range(repeat):
            if i:
                nodes.http_json("DELETE", run.base)
            run.create(shards=3, rf=2, wcf=2)
            ingests.append(_ingest(run, True))
        return {"ingest": ingests[-1], "ingest_pps_runs": [r["pps"] for r in ingests],
                "rss": dep.rss()}


def _ingest(run: Runner, ingest_only: bool) -> dict:
    if ingest_only:
        run.wait_green = lambda: 0.0  # type: ignore[method-assign]
    return run.ingest()


def growth(rows: dict[int, dict]) -> list[str]:
    """Each figure at every size, and its ratio largest/smallest beside the size ratio."""
    sizes = sorted(rows)
    figures = {
        "ingest points/s": lambda r: r["node"]["ingest"]["pps"],
        "time to green s": lambda r: r["node"]["ingest"].get("green_total_s"),
        "RSS MiB": lambda r: r["node"]["memory"]["rss"] / 2**20,
        "RSS / floor": lambda r: r["node"]["memory"]["rss_vs_floor"],
        "gRPC ingest points/s": lambda r: r["node"]["grpc_ingest"]["pps"],
        "edge upsert+optimize s": lambda r: r["edge"]["upsert_s"] + r["edge"]["optimize_s"],
        "green / edge": lambda r: r["node"]["ingest"]["green_total_s"]
        / (r["edge"]["upsert_s"] + r["edge"]["optimize_s"]),
        "ingest / edge upsert": lambda r: r["node"]["ingest"]["pps"] / r["edge"]["upsert_pps"],
        "cluster ingest points/s": lambda r: r["cluster"]["ingest"]["pps"],
        "cluster / one node ingest": lambda r: r["cluster"]["ingest"]["pps"]
        / r["node"]["ingest"]["pps"],
    }
    for r in rows.values():
        for i, s in enumerate(r["node"].get("search", [])):
            figures[f"QPS ef={s['ef']}"] = lambda r, i=i: r["node"]["search"][i]["qps"]
            figures[f"recall ef={s['ef']}"] = lambda r, i=i: r["node"]["search"][i]["recall"]
        break
    head = "| figure | " + " | ".join(f"{n:,}" for n in sizes) + " | growth |"
    lines = [head, "|" + "---|" * (len(sizes) + 2)]
    for name, get in figures.items():
        vals = []
        for n in sizes:
            try:
                vals.append(get(rows[n]))
            except (KeyError, TypeError, ZeroDivisionError):
                vals.append(None)
        if all(v is None for v in vals):
            continue
        first, last = vals[0], vals[-1]
        grow = f"{last / first:.2f}x" if first and last is not None and len(vals) > 1 else "-"
        cells = " | ".join("-" if v is None else f"{v:,.3g}" if v < 10 else f"{v:,.0f}"
                           for v in vals)
        lines.append(f"| {name} | {cells} | {grow} |")
    if len(sizes) > 1:
        lines.append(f"\npoints grow {sizes[-1] / sizes[0]:.0f}x from {sizes[0]:,} "
                     f"to {sizes[-1]:,}")
    return lines


def _write(args: argparse.Namespace, rows: dict[int, dict], t0: float) -> str:
    """scale.json and scale.md of the sizes measured so far; the table's text."""
    text = "\n".join(growth(rows))
    args.out.mkdir(parents=True, exist_ok=True)
    rep = {"config": {k: str(v) for k, v in vars(args).items()}, "sizes": rows,
           "elapsed_s": time.perf_counter() - t0}
    (args.out / "scale.json").write_text(json.dumps(rep, indent=1, default=str))
    (args.out / "scale.md").write_text("# Scale run\n\n" + text + "\n")
    return text


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    root = args.code_root.resolve() if args.code_root else nodes.REPO_ROOT
    sizes = [int(s) for s in args.sizes.split(",")]
    efs = [int(e) for e in args.efs.split(",")]
    cfg = Config(m=args.m, ef_construct=args.ef_construct, efs=efs, duration=args.duration,
                 green_timeout=1800.0)
    rows: dict[int, dict] = {}
    t0 = time.perf_counter()
    lg = LoadGenerator()
    try:
        for n in sizes:
            print(f"{n:,} x {args.dim} Cosine ...", file=sys.stderr)
            ds = dataset.load(n, args.dim, "Cosine", args.queries, cache_dir=args.cache_dir)
            row: dict = {"node": one_node(ds, cfg, lg, efs, args.ingest_only, args.repeat,
                                          args.grpc, root)}
            if args.cluster:
                row["cluster"] = cluster(ds, cfg, lg, args.repeat, root)
            if not (args.no_edge or args.ingest_only):
                row["edge"] = anchors.edge_anchor(ds, args.m, args.ef_construct, efs[:1],
                                                  args.duration)
            rows[n] = row
            _write(args, rows, t0)  # each size as it ends: a long run keeps what it measured
            del ds
    finally:
        lg.close()
    text = _write(args, rows, t0)
    print(text)
    print(f"\nelapsed {time.perf_counter() - t0:.0f} s; wrote scale.json, scale.md to "
          f"{args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
