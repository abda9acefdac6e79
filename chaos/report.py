"""The outputs of a run: `verdict.json` (everything, for machines), `report.md` (for people)
and `timeline.png` (operations over time coloured by outcome, fault windows shaded, latency)."""

from __future__ import annotations

from pathlib import Path

import orjson

from chaos.history import FAILED, OK, UNKNOWN, History

COLOURS = {OK: "#2a9d4b", FAILED: "#d62828", UNKNOWN: "#f4a100"}


def write_report(run_dir: Path, verdict: dict, history: History | None) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "verdict.json").write_bytes(
        orjson.dumps(verdict, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS))
    (run_dir / "report.md").write_text(markdown(verdict))
    if history is not None:
        timeline(run_dir / "timeline.png", verdict, history)


def _fmt(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _elsewhere(fault: dict) -> str:
    """p99 of writes and reads sent to nodes the fault left alone; older verdicts lack it."""
    writes, reads = fault.get("write_latency_elsewhere"), fault.get("read_latency_elsewhere")
    if writes is None or reads is None:
        return "-"
    return f"{_fmt(writes['p99_s'])} / {_fmt(reads['p99_s'])}"


def markdown(verdict: dict) -> str:
    lines = [f"# Chaos run: {verdict['scenario']}, seed {verdict['seed']}: "
             f"**{verdict['status'].upper()}**", ""]
    if verdict["status"] == "skipped":
        return "\n".join([*lines, f"Skipped: {verdict['reason']}", ""])
    figures = verdict["figures"]
    lines += [verdict.get("description", ""), "",
              f"{verdict['nodes']} nodes, {verdict['duration_s']} s of workload; "
              f"{verdict['topology']}.", "", "## Invariants", "",
              "| invariant | holds | figures |", "| --- | --- | --- |"]
    for check in verdict["invariants"]:
        shown = ", ".join(f"{k} {v}" for k, v in check["figures"].items())
        lines.append(f"| {check['name']} | {'yes' if check['ok'] else '**NO**'} | {shown} |")
    if verdict["expectations"]:
        lines += ["", "## Targets", "", "| figure | bound | value | met |",
                  "| --- | --- | --- | --- |"]
        for e in verdict["expectations"]:
            lines.append(f"| {e['figure']} | {e['bound']} | {_fmt(e['value'])} | "
                         f"{'yes' if e['ok'] else '**NO**'} |")
    ops = figures["operations"]
    lines += ["", "## Operations", "", "| kind | ok | failed | unknown |",
              "| --- | --- | --- | --- |"]
    for kind, counts in [*ops["by_kind"].items(), ("**all**", ops["total"])]:
        lines.append(f"| {kind} | {counts['ok']} | {counts['failed']} | {counts['unknown']} |")
    wl, rl = figures["write_latency"], figures["read_latency"]
    lines += ["", f"Latency, writes: p50 {_fmt(wl['p50_s'])} s, p99 {_fmt(wl['p99_s'])} s, max "
              f"{_fmt(wl['max_s'])} s; reads: p50 {_fmt(rl['p50_s'])} s, p99 "
              f"{_fmt(rl['p99_s'])} s, max {_fmt(rl['max_s'])} s.",
              f"Cluster formed in {figures.get('formation_s')} s; every replica Active and "
              f"metadata agreed {_fmt(figures.get('recovery_s'))} s after the faults healed; "
              f"longest leader failover {_fmt(figures.get('leader_failover_s'))} s.",
              f"Anti-entropy found every shard's replicas equal "
              f"{_fmt(figures.get('anti_entropy_s'))} s later; replicas it marked Dead to "
              f"refill them (repairs) during the run: {figures.get('anti_entropy_repairs')}.",
              "", "## Faults", "",
              "| fault | start s | end s | no write s | no read s | write p99 s | "
              "read p99 s | p99 via other nodes s (write/read) | failover s | all Active s | "
              "detail |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for f in figures["faults"]:
        detail = orjson.dumps(f["detail"]).decode()[:160]
        lines.append(
            f"| {f['fault']} | {f['start_s']} | {f['end_s']} | {f['longest_without_write_s']} | "
            f"{f['longest_without_read_s']} | {_fmt(f['write_latency']['p99_s'])} | "
            f"{_fmt(f['read_latency']['p99_s'])} | {_elsewhere(f)} | "
            f"{_fmt(f.get('leader_failover_s'))} | "
            f"{_fmt(f.get('all_active_after_heal_s'))} | `{detail}` |")
    failing = [c for c in verdict["invariants"] if not c["ok"]]
    if failing or verdict["errors"]:
        lines += ["", "## What went wrong", ""]
        for check in failing:
            lines.append(f"- **{check['name']}**")
            lines += [f"  - {d}" for d in check["details"]]
        lines += [f"- harness: `{e.strip().splitlines()[-1]}`" for e in verdict["errors"]]
    lines += ["", "Files: `history.jsonl` (every operation, fault and leader sample), "
              "`verdict.json`, `timeline.png`, `node-*.log`.", ""]
    return "\n".join(lines)


def timeline(path: Path, verdict: dict, history: History) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    processes = sorted({op.process for op in history.ops})
    row = {name: i for i, name in enumerate(processes)}
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(12, 3 + 0.3 * len(processes)),
                                      sharex=True, gridspec_kw={"height_ratios": [2, 1]})
    for fault in history.faults:
        end = fault.end if fault.end is not None else history.now()
        for axis in (top, bottom):
            axis.axvspan(fault.start, end, color="#999999", alpha=0.18, lw=0)
        top.text(fault.start, len(processes) - 0.4, fault.name, fontsize=7, rotation=0,
                 va="bottom")
    for outcome, colour in COLOURS.items():
        ops = [op for op in history.ops if op.outcome == outcome and op.end]
        top.hlines([row[op.process] for op in ops], [op.start for op in ops],
                   [max(op.end, op.start + 0.02) for op in ops], colors=colour, lw=4,
                   label=f"{outcome} ({len(ops)})")
        bottom.scatter([op.start for op in ops], [op.latency for op in ops], s=3, c=colour)
    top.set_yticks(range(len(processes)), processes, fontsize=7)
    top.set_ylim(-0.5, len(processes) + 0.2)
    top.legend(loc="upper right", fontsize=7, ncols=3)
    top.set_title(f"{verdict['scenario']} seed {verdict['seed']}: {verdict['status']}")
    if any(op.latency > 0 for op in history.ops if op.end):
        bottom.set_yscale("log")
    bottom.set_ylabel("latency (s)")
    bottom.set_xlabel("seconds since start")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
