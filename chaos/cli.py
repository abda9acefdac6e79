"""`flotilla chaos list` and `flotilla chaos run SCENARIO [--seed N] [--nodes N] [--duration S]`.

The run's exit code is 0 when every invariant held and every target was met (or the scenario was
skipped because it needs what this machine lacks), 1 otherwise.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_OUT = "chaos-runs"


def register(commands: argparse._SubParsersAction) -> None:
    chaos = commands.add_parser("chaos", help="run fault-injection scenarios against a cluster")
    sub = chaos.add_subparsers(dest="chaos_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="name and describe every scenario")
    listing.set_defaults(handler=_list)
    run = sub.add_parser("run", help="run one scenario and write its report")
    run.add_argument("scenario", metavar="SCENARIO")
    run.add_argument("--seed", type=int, default=1, help="same seed, same ops and faults")
    run.add_argument("--nodes", type=int, help="number of nodes (default: the scenario's)")
    run.add_argument("--duration", type=float, metavar="S", help="seconds of workload")
    run.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                     help=f"where run directories go (default ./{DEFAULT_OUT})")
    run.add_argument("--loopback", action="store_true",
                     help="no network namespaces even as root (process faults only)")
    run.set_defaults(handler=_run)


def _list(args: argparse.Namespace) -> int:
    from chaos.scenarios import SCENARIOS

    for scenario in SCENARIOS.values():
        marks = " [short set]" if scenario.short else ""
        print(f"{scenario.name} ({scenario.nodes} nodes, {scenario.duration:.0f} s){marks}")
        print(f"    {scenario.description}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from chaos.runner import run_scenario
    from chaos.scenarios import SCENARIOS

    scenario = SCENARIOS.get(args.scenario)
    if scenario is None:
        print(f"flotilla chaos: unknown scenario {args.scenario!r}; "
              f"known: {', '.join(SCENARIOS)}", file=sys.stderr)
        return 2
    result = run_scenario(scenario, args.seed, Path(args.out), nodes=args.nodes,
                          duration=args.duration, force_loopback=args.loopback)
    print(one_line(result.verdict))
    if result.verdict["status"] != "skipped":
        print(f"report: {result.run_dir / 'report.md'}")
    return 0 if result.ok else 1


def one_line(verdict: dict) -> str:
    if verdict["status"] == "skipped":
        return f"{verdict['scenario']} seed {verdict['seed']}: SKIPPED ({verdict['reason']})"
    figures = verdict["figures"]
    broken = [c["name"] for c in verdict["invariants"] if not c["ok"]]
    missed = [e["figure"] for e in verdict["expectations"] if not e["ok"]]
    total = figures["operations"]["total"]
    return (f"{verdict['scenario']} seed {verdict['seed']}: {verdict['status'].upper()} "
            f"ops ok/failed/unknown {total['ok']}/{total['failed']}/{total['unknown']}"
            + (f"; violated: {', '.join(broken)}" if broken else "")
            + (f"; targets missed: {', '.join(missed)}" if missed else "")
            + (f"; harness errors: {len(verdict['errors'])}" if verdict["errors"] else ""))
