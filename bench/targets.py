"""The issue's targets as ratios of same-run figures; each says whether it holds."""

from __future__ import annotations


def _first_at_recall(by_ef: dict, key: str, recall: float) -> tuple[int, float] | None:
    """(ef, figure) at the lowest ef whose recall reaches `recall`."""
    for ef in sorted(by_ef, key=int):
        if by_ef[ef]["recall"] >= recall:
            return int(ef), by_ef[ef][key]
    return None


def evaluate(report: dict) -> list[dict]:
    node, anchors, cluster = report.get("node", {}), report.get("anchors", {}), \
        report.get("cluster")
    edge, hnsw = anchors.get("edge", {}), anchors.get("hnswlib", {})
    goal_recall = report["config"]["target_recall"]
    rows: list[dict] = []

    def add(name: str, value: float | None, ref: float | None, goal: float, higher: bool,
            note: str) -> None:
        if value is None or ref is None or ref == 0:
            rows.append({"target": name, "value": value, "reference": ref, "ratio": None,
                         "goal": goal, "holds": None, "note": note + " (not measured)"})
            return
        ratio = value / ref
        holds = ratio >= goal if higher else ratio <= goal
        rows.append({"target": name, "value": value, "reference": ref, "ratio": ratio,
                     "goal": goal, "holds": holds, "note": note})

    ef = node.get("chosen_ef")
    http = max((r["qps"] for r in node.get("concurrency", [])), default=None)
    edge_pt = _first_at_recall(edge.get("ef", {}), "qps_1thread", goal_recall) \
        if "ef" in edge else None
    add(f"HTTP search QPS at recall>={goal_recall:.2f} vs qdrant-edge 1 thread", http,
        edge_pt[1] if edge_pt else None, 0.5, True,
        f"Flotilla ef={ef} best over concurrency; edge ef={edge_pt[0] if edge_pt else '-'}")
    batch = node.get("batch", {}).get("qps")
    hb = hnsw.get("ef", {}).get(ef, {}).get("batch_qps") if ef is not None else None
    add("batch search QPS vs raw hnswlib batch", batch, hb, 0.7, True,
        f"64 queries a request, ef={ef}")
    ingest = node.get("ingest", {})
    add("ingest points/s vs qdrant-edge upsert", ingest.get("pps"), edge.get("upsert_pps"),
        0.5, True, "batches of 256, wait=true")
    edge_green = (edge["upsert_s"] + edge["optimize_s"]) if "upsert_s" in edge else None
    add("time to green vs qdrant-edge upsert+optimize", ingest.get("green_total_s"),
        edge_green, 1.0, False, "seconds, lower is better")
    mem = node.get("memory", {})
    add("resident memory vs floor", mem.get("rss"), mem.get("floor"), 1.5, False,
        "floor = n*(4*dim + M*2*4) bytes")
    if mem:
        add("resident memory above idle vs floor", mem["rss"] - mem["rss_idle"], mem["floor"],
            1.5, False, "RSS less the empty node's, against the floor")
    if cluster:
        add("cluster ingest vs one node", cluster["ingest"]["pps"], ingest.get("pps"), 0.5,
            True, "3 nodes, rf=2, wcf=2")
        best = max(cluster.get("search", []), key=lambda r: r["qps"], default=None)
        add("cluster search QPS vs one node", best["qps"] if best else None, http, 0.8, True,
            f"ef={ef}" + _cpu_note(best, node.get("concurrency", [])))
    return rows


def _cpu_note(cluster_row: dict | None, node_rows: list[dict]) -> str:
    """Server CPU per query of the cluster's best row beside one node's at that concurrency:
    3 processes on few cores share them, so QPS alone hides what each query costs."""
    if cluster_row is None:
        return ""
    c = cluster_row["concurrency"]
    node_row = next((r for r in node_rows if r["concurrency"] == c), None)
    note = f"; concurrency {c}, server CPU/query: cluster {_cpu_ms(cluster_row):.3f} ms"
    if node_row is not None:
        note += f", one node {_cpu_ms(node_row):.3f} ms"
    return note


def _cpu_ms(row: dict) -> float:
    return row["server_cpu_s"] / max(row["requests"], 1) * 1000
