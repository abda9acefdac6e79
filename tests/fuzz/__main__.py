"""`python -m fuzz [--seconds N]` from tests/: one fuzzing run, its figures, exit 1 on failure."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from fuzz.run import ALL_PHASES, run_fuzz
from fuzz.spec import SpecMissing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fuzz", description=__doc__)
    parser.add_argument("--seconds", type=float, default=600.0, help="time budget of the run")
    parser.add_argument("--workers", type=int, default=1, help="schemathesis workers")
    parser.add_argument("--seed", type=int, default=None, help="schemathesis seed")
    parser.add_argument("--phases", default=",".join(ALL_PHASES),
                        help="schemathesis phases, comma-separated")
    parser.add_argument("--cluster", action="store_true",
                        help="fuzz a node with clustering on (a cluster of one)")
    parser.add_argument("--min-requests", type=int, default=0,
                        help="fail when fewer requests were sent")
    parser.add_argument("--keep", type=Path, default=None,
                        help="directory for the node's storage, its log and the reports")
    args = parser.parse_args(argv)
    workdir = args.keep or Path(tempfile.mkdtemp(prefix="flotilla-fuzz-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        report = run_fuzz(args.seconds, workdir, workers=args.workers, seed_value=args.seed,
                          phases=tuple(args.phases.split(",")), cluster=args.cluster)
    except SpecMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(["", "===== fuzzing summary =====", *report.lines(),
                     f"node log and reports: {workdir}"]))
    failed = (report.failures or report.server_errors or report.crashed
              or not report.memory_came_back)
    if not failed and args.keep is None:
        shutil.rmtree(workdir / "storage", ignore_errors=True)  # the log and reports stay
    if report.requests < args.min_requests:
        print(f"too few requests: {report.requests} < {args.min_requests}")
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
