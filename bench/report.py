"""Terminal table, JSON, markdown and PNG plots of one run."""

from __future__ import annotations

import json
from pathlib import Path

from bench import decode_cost


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 10 else f"{v:,.0f}"
    return "-" if v is None else str(v)


def _table(headers: list[str], rows: list[list[object]]) -> list[str]:
    cells = [[_fmt(c) for c in r] for r in rows]
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(r) + " |" for r in cells]
    return lines


def markdown(rep: dict) -> str:
    c, node = rep["config"], rep.get("node", {})
    out = [f"# Flotilla benchmark ({c['mode']})", "",
           f"{c['size']:,} x {c['dim']} {c['distance']}, M={c['m']}, "
           f"ef_construct={c['ef_construct']}, {c['queries']} queries, "
           f"{c['duration']} s per throughput point, {c['cores']} cores.", ""]
    if node:
        ing = node["ingest"]
        out += ["## One node", "", *_table(
            ["ingest pts/s", "batch p50 ms", "green after ingest s", "ingest+green s",
             "client CPU s", "server CPU s"],
            [[ing["pps"], ing["batch_p50_ms"], ing["green_after_ingest_s"],
              ing["green_total_s"], ing["client_cpu_s"], ing["server_cpu_s"]]]), ""]
        out += [f"Search across hnsw_ef (concurrency {node['sweep_concurrency']}):", "",
                *_search_table(node["ef_sweep"]), ""]
        out += [f"Search across concurrency (ef={node['chosen_ef']}):", "",
                *_search_table(node["concurrency"]), ""]
        b = node.get("batch")
        if b:
            out += ["Batch search (64 queries a request):", "", *_table(
                ["ef", "concurrency", "QPS", "recall@10", "p50 ms/request", "client CPU s",
                 "server CPU s"],
                [[b["ef"], b["concurrency"], b["qps"], b["recall"], b["p50_ms"],
                  b["client_cpu_s"], b["server_cpu_s"]]]), ""]
        g = node.get("grpc")
        if g:
            rest_search = next(r for r in node["ef_sweep"] if r["ef"] == g["search"]["ef"])
            b = node["batch"]
            ing = node["ingest"]
            out += ["REST vs gRPC (same node, queries and batches; ingest into a second "
                    "collection):", "", *_table(
                ["measure", "face", "QPS or pts/s", "recall@10", "p50 ms", "client CPU s",
                 "server CPU s"],
                [["search", "REST", rest_search["qps"], rest_search["recall"],
                  rest_search["p50_ms"], rest_search["client_cpu_s"],
                  rest_search["server_cpu_s"]],
                 ["search", "gRPC", g["search"]["qps"], g["search"]["recall"],
                  g["search"]["p50_ms"], g["search"]["client_cpu_s"],
                  g["search"]["server_cpu_s"]],
                 ["batch search", "REST", b["qps"], b["recall"], b["p50_ms"],
                  b["client_cpu_s"], b["server_cpu_s"]],
                 ["batch search", "gRPC", g["batch"]["qps"], g["batch"]["recall"],
                  g["batch"]["p50_ms"], g["batch"]["client_cpu_s"], g["batch"]["server_cpu_s"]],
                 ["ingest", "REST", ing["pps"], None, ing["batch_p50_ms"],
                  ing["client_cpu_s"], ing["server_cpu_s"]],
                 ["ingest", "gRPC", g["ingest"]["pps"], None, g["ingest"]["batch_p50_ms"],
                  g["ingest"]["client_cpu_s"], g["ingest"]["server_cpu_s"]]]), ""]
        if node.get("filtered"):
            out += ["Filtered search (keyword index):", "",
                    *_search_table(list(node["filtered"].values()),
                                   list(node["filtered"].keys())), ""]
        mem = node["memory"]
        out += ["Memory:", "", *_table(
            ["RSS MiB", "idle RSS MiB", "floor MiB", "RSS/floor", "(RSS-idle)/floor",
             "bytes/vector", "(RSS-idle)/vector", "floor bytes/vector"],
            [[mem["rss"] / 2**20, mem["rss_idle"] / 2**20, mem["floor"] / 2**20,
              mem["rss"] / mem["floor"], (mem["rss"] - mem["rss_idle"]) / mem["floor"],
              mem["rss"] / c["size"], mem["data_bytes_per_vector"],
              mem["floor"] / c["size"]]]), ""]
        q = node.get("quantized")
        if q:
            out += ["Scalar int8 quantization (added by PATCH after the build):", "",
                    *_search_table([q["rescore_false"], q["rescore_true"]],
                                   ["no rescore", "rescore"]),
                    "", f"rebuild {q['rebuild_s']:.1f} s, RSS {q['rss_before'] / 2**20:.0f} -> "
                    f"{q['rss_after'] / 2**20:.0f} MiB", ""]
    cl = rep.get("cluster")
    if cl:
        ing = cl["ingest"]
        out += [f"## 3-node cluster (rf=2, wcf=2, {cl['shards']} shards)", "", *_table(
            ["ingest pts/s", "ingest+green s", "RSS MiB (all nodes)", "client CPU s",
             "server CPU s (all nodes)"],
            [[ing["pps"], ing["green_total_s"], sum(cl["rss"]) / 2**20, ing["client_cpu_s"],
              ing["server_cpu_s"]]]), "", *_search_table(cl["search"]), ""]
    an = rep.get("anchors", {})
    if an:
        out += ["## Anchors (in process, same run)", ""]
        h = an.get("hnswlib")
        if h:
            out += [f"raw hnswlib: build {h['build_s']:.1f} s on {h['build_threads']} threads",
                    "", *_table(["ef", "QPS 1 thread", "batch QPS", "recall@10"],
                                [[ef, r["qps_1thread"], r["batch_qps"], r["recall"]]
                                 for ef, r in h["ef"].items()]), ""]
        e = an.get("edge")
        if e and "error" not in e:
            out += [f"qdrant-edge: upsert {e['upsert_pps']:,.0f} pts/s ({e['upsert_s']:.1f} s), "
                    f"optimize {e['optimize_s']:.1f} s", "",
                    *_table(["ef", "QPS 1 thread", "recall@10"],
                            [[ef, r["qps_1thread"], r["recall"]] for ef, r in e["ef"].items()]),
                    ""]
        elif e:
            out += [f"qdrant-edge: {e['error']}", ""]
        lc = an.get("local_client")
        if lc and "error" not in lc:
            out += [f"qdrant-client local mode ({lc['size']:,} points, exact): upsert "
                    f"{lc['upsert_pps']:,.0f} pts/s, search {lc['qps_1thread']:,.0f} QPS", ""]
    if rep.get("targets"):
        out += ["## Targets", "", *_table(
            ["target", "Flotilla", "anchor", "ratio", "goal", "holds", "note"],
            [[t["target"], t["value"], t["reference"], t["ratio"],
              ("<= " if "lower" in t["note"] or "floor" in t["note"] else ">= ") + str(t["goal"]),
              {True: "yes", False: "NO", None: "-"}[t["holds"]], t["note"]]
             for t in rep["targets"]]), ""]
    if rep.get("decode_cost"):
        out += ["", decode_cost.markdown(rep["decode_cost"])]
    return "\n".join(out)


def _search_table(rows: list[dict], labels: list[str] | None = None) -> list[str]:
    head = ["ef", "concurrency", "QPS", "recall@10", "p50 ms", "p95 ms", "p99 ms",
            "client CPU s", "server CPU s"]
    body = [[r["ef"], r["concurrency"], r["qps"], r["recall"], r["p50_ms"], r["p95_ms"],
             r["p99_ms"], r["client_cpu_s"], r["server_cpu_s"]] for r in rows]
    if labels:
        head = ["case", *head]
        body = [[lab, *b] for lab, b in zip(labels, body, strict=True)]
    return _table(head, body)


def plots(rep: dict, out_dir: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written: list[Path] = []
    node, an = rep.get("node", {}), rep.get("anchors", {})
    fig, ax = plt.subplots(figsize=(7, 4.5))
    if node.get("ef_sweep"):
        s = node["ef_sweep"]
        ax.plot([r["recall"] for r in s], [r["qps"] for r in s], "o-",
                label=f"Flotilla HTTP (concurrency {node['sweep_concurrency']})")
    for name, key, label in (("edge", "qps_1thread", "qdrant-edge 1 thread"),
                             ("hnswlib", "qps_1thread", "hnswlib 1 thread"),
                             ("hnswlib", "batch_qps", "hnswlib batch")):
        pts = an.get(name, {}).get("ef", {})
        if pts:
            ax.plot([p["recall"] for p in pts.values()], [p[key] for p in pts.values()],
                    "s--", label=label)
    ax.set(xlabel="recall@10", ylabel="queries/s", yscale="log",
           title="Throughput against recall across hnsw_ef")
    ax.grid(True, alpha=0.3)
    ax.legend()
    path = out_dir / "recall_qps.png"
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    written.append(path)
    if node.get("concurrency"):
        fig, ax = plt.subplots(figsize=(7, 4.5))
        rows = node["concurrency"]
        xs = [r["concurrency"] for r in rows]
        for key in ("p50_ms", "p95_ms", "p99_ms"):
            ax.plot(xs, [r[key] for r in rows], "o-", label=f"one node {key[:3]}")
        for r in rep.get("cluster", {}) and rep["cluster"]["search"] or []:
            ax.plot([r["concurrency"]], [r["p50_ms"]], "k^")
        ax.set(xlabel="concurrent clients", ylabel="latency ms", xscale="log",
               title=f"Search latency against concurrency (ef={node['chosen_ef']}; "
                     "triangles: cluster p50)")
        ax.grid(True, alpha=0.3)
        ax.legend()
        path = out_dir / "latency_concurrency.png"
        fig.tight_layout()
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def write(rep: dict, out_dir: Path, with_plots: bool = True) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "report.json").write_text(json.dumps(rep, indent=2, default=str))
    md = markdown(rep)
    (out_dir / "report.md").write_text(md)
    files = [out_dir / "report.json", out_dir / "report.md"]
    if with_plots:
        files += plots(rep, out_dir)
    return files
