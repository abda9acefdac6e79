"""`make chaos`: every scenario with several seeds, each run as its own `flotilla chaos run`
process (a run that crashes cannot take the next one down), then one summary.

    python -m chaos.suite [--seeds 3] [--first-seed 1] [--scenarios a,b] [--out chaos-runs]

Writes `summary.md` and `summary.json` into the output directory; exits 1 when any run failed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import orjson

from chaos.scenarios import SCENARIOS

RUN_TIMEOUT = 300.0


def _latest_verdict(out: Path, scenario: str, seed: int) -> dict | None:
    runs = sorted(out.glob(f"{scenario}-seed{seed}-*"), key=lambda p: p.stat().st_mtime)
    if not runs or not (runs[-1] / "verdict.json").exists():
        return None
    verdict = orjson.loads((runs[-1] / "verdict.json").read_bytes())
    verdict["run_dir"] = str(runs[-1])
    return verdict


def _row(verdict: dict | None, scenario: str, seed: int, code: int, took: float) -> dict:
    if verdict is None:
        return {"scenario": scenario, "seed": seed, "status": f"crashed (exit {code})",
                "seconds": round(took, 1)}
    row = {"scenario": scenario, "seed": seed, "status": verdict["status"],
           "seconds": round(took, 1), "run_dir": verdict.get("run_dir")}
    if verdict["status"] == "skipped":
        row["reason"] = verdict["reason"]
        return row
    figures = verdict["figures"]
    checks = {c["name"]: c for c in verdict["invariants"]}
    lost = checks.get("acknowledged-writes", {}).get("figures", {})
    row.update({
        "violated": [c["name"] for c in verdict["invariants"] if not c["ok"]],
        "targets_missed": [f"{e['figure']} {e['value']} > {e['bound']}"
                           for e in verdict["expectations"] if not e["ok"]],
        "ops": figures["operations"]["total"],
        "acked_writes_lost": lost.get("acked_writes_lost"),
        "divergent_replicas": checks.get("replicas-identical", {}).get("figures", {})
        .get("divergent_replicas"),
        "anti_entropy_repairs": figures.get("anti_entropy_repairs"),
        "metadata_disagreements": checks.get("metadata-agrees", {}).get("figures", {})
        .get("metadata_disagreements"),
        "longest_without_write_s": figures.get("longest_without_write_s"),
        "longest_without_read_s": figures.get("longest_without_read_s"),
        "leader_failover_s": figures.get("leader_failover_s"),
        "recovery_s": figures.get("recovery_s"),
        "all_active_after_heal_s": figures.get("all_active_after_heal_s"),
        "formation_s": figures.get("formation_s"),
        "write_p99_s": figures["write_latency"]["p99_s"],
        "read_p99_s": figures["read_latency"]["p99_s"],
        "errors": len(verdict["errors"]),
    })
    return row


def summary_markdown(rows: list[dict], total_s: float) -> str:
    lines = ["# Chaos suite", "",
             f"{len(rows)} runs in {total_s:.0f} s; "
             f"{sum(r['status'] == 'pass' for r in rows)} passed, "
             f"{sum(r['status'] == 'skipped' for r in rows)} skipped.", "",
             "| scenario | seed | status | ok/failed/unknown ops | acked lost | divergent | "
             "repairs | no write s | no read s | failover s | all Active s | write p99 s | "
             "read p99 s | what failed |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | "
             "--- |"]
    for r in rows:
        ops = r.get("ops") or {}
        failed = ", ".join([*r.get("violated", []), *r.get("targets_missed", [])]
                           + ([f"{r['errors']} harness errors"] if r.get("errors") else []))
        lines.append(
            f"| {r['scenario']} | {r['seed']} | {r['status']} | "
            f"{ops.get('ok', '-')}/{ops.get('failed', '-')}/{ops.get('unknown', '-')} | "
            f"{r.get('acked_writes_lost', '-')} | {r.get('divergent_replicas', '-')} | "
            f"{r.get('anti_entropy_repairs', '-')} | "
            f"{r.get('longest_without_write_s', '-')} | {r.get('longest_without_read_s', '-')} | "
            f"{r.get('leader_failover_s', '-')} | {r.get('all_active_after_heal_s', '-')} | "
            f"{r.get('write_p99_s', '-')} | {r.get('read_p99_s', '-')} | "
            f"{failed or r.get('reason', '')} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos.suite", description=__doc__)
    parser.add_argument("--seeds", type=int, default=3, help="seeds a scenario (default 3)")
    parser.add_argument("--first-seed", type=int, default=1,
                        help="the first of them (default 1): other seeds, other schedules")
    parser.add_argument("--scenarios", help="comma-separated names (default: all)")
    parser.add_argument("--out", default="chaos-runs")
    args = parser.parse_args(argv)
    names = args.scenarios.split(",") if args.scenarios else list(SCENARIOS)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, began = [], time.monotonic()
    for name in names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            started = time.monotonic()
            command = [sys.executable, "-m", "node.cli", "chaos", "run", name, "--seed",
                       str(seed), "--out", str(out)]
            try:
                code = subprocess.run(command, timeout=RUN_TIMEOUT).returncode
            except subprocess.TimeoutExpired:
                code = -1
            rows.append(_row(_latest_verdict(out, name, seed), name, seed, code,
                             time.monotonic() - started))
            (out / "summary.json").write_bytes(orjson.dumps(rows, option=orjson.OPT_INDENT_2))
    total = time.monotonic() - began
    (out / "summary.md").write_text(summary_markdown(rows, total))
    print(summary_markdown(rows, total))
    return 0 if all(r["status"] in ("pass", "skipped") for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
