"""What the quota costs a write: the admission check alone, in this process, and a small
upsert (`wait=true`) on a real node with the quota disabled and enabled (limits of 100%, which
never trip), alternating short slices of each so a change of load hits both alike.

Run: `python -m bench.quota_check`. Writes quota_check.json and quota_check.md to
bench/results/.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import timeit
from pathlib import Path

from bench import nodes
from node.quota.config import QuotaConfig
from node.quota.guard import QuotaGuard

RESULTS = Path(__file__).resolve().parent / "results"
DISABLED = {"enabled": False}
ENABLED = {"enabled": True, "max_disk_usage_percent": 100, "max_resident_memory_percent": 100}


def check_cost(storage: Path, checks: int) -> dict:
    """Microseconds one admission check takes, disabled and enabled."""
    out = {}
    for label, config in (("disabled", DISABLED), ("enabled", ENABLED)):
        guard = QuotaGuard(storage, QuotaConfig(**config), lambda: None)
        seconds = min(timeit.repeat(lambda guard=guard: guard.admit_write("upsert"),
                                    number=checks, repeat=5))
        out[label] = seconds / checks * 1e6
    return out


def upsert_latency(slices: int, per_slice: int, dim: int) -> dict:
    """Median milliseconds of an upsert of 16 points, quota disabled and enabled."""
    times: dict[str, list[float]] = {"disabled": [], "enabled": []}
    with nodes.start(1) as dep:
        url = dep.nodes[0].url
        nodes.http_json("PUT", f"{url}/collections/q", {"vectors": {"size": dim,
                                                                    "distance": "Dot"}})
        next_id = 0
        for _ in range(slices):
            for label, config in (("disabled", DISABLED), ("enabled", ENABLED)):
                nodes.http_json("PUT", f"{url}/quotas?wait=true", config)
                for _ in range(per_slice):
                    batch = [{"id": next_id + i, "vector": [float(i)] * dim} for i in range(16)]
                    next_id += 16
                    started = time.perf_counter()
                    nodes.http_json("PUT", f"{url}/collections/q/points?wait=true",
                                    {"points": batch})
                    times[label].append((time.perf_counter() - started) * 1000)
    return {label: statistics.median(values) for label, values in times.items()}


def markdown(report: dict) -> str:
    check, upsert = report["check_us"], report["upsert_ms"]
    return "\n".join([
        "# Quota admission cost", "",
        "| | disabled | enabled |", "|---|---|---|",
        f"| one check, us | {check['disabled']:.2f} | {check['enabled']:.2f} |",
        f"| upsert of 16 points (wait=true), median ms | {upsert['disabled']:.2f} | "
        f"{upsert['enabled']:.2f} |", ""])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.quota_check", description=__doc__)
    parser.add_argument("--checks", type=int, default=20_000)
    parser.add_argument("--slices", type=int, default=10)
    parser.add_argument("--per-slice", type=int, default=50)
    parser.add_argument("--dim", type=int, default=128)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as storage:
        check = check_cost(Path(storage), args.checks)
    report = {"check_us": check,
              "upsert_ms": upsert_latency(args.slices, args.per_slice, args.dim)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "quota_check.json").write_text(json.dumps(report, indent=2))
    text = markdown(report)
    (args.out / "quota_check.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
