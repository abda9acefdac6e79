"""One fuzzing run: a node, its seeds, schemathesis against it, and what came out."""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from nodeproc import LOOPBACK, HttpSession, NodeProcess, free_port, wait_for
from schemathesis.cli import schemathesis as schemathesis_cli

from fuzz import hooks, seed, spec

# not_a_server_error is the point; the envelope of every error and the shape of every result
# are checked against the spec's response schemas.
CHECKS = ("not_a_server_error", "response_schema_conformance", "content_type_conformance")
# schemathesis's phases; `examples` spends most of a minute generating around the spec's few
# examples, so a short run leaves it out.
ALL_PHASES = ("examples", "coverage", "fuzzing", "stateful")
SHORT_PHASES = ("coverage", "fuzzing", "stateful")
REQUEST_TIMEOUT = 30
SETTLE_TIMEOUT = 60.0
MAX_FAILURES_SHOWN = 20
# How much more the node may hold once the fuzzer's collections are gone and the seeds are
# back as they were. Python keeps freed arenas and glibc's heap stays fragmented, so RSS does
# not come back to the byte: 2 to 4 MiB above the start after a 35 s run, 8 MiB after the
# 50,000 requests of `make fuzz`. Lenient on purpose, so that allocator noise never fails CI;
# what it catches is a leak that keeps about 10 KiB a request in the short run (a kept body,
# a forgotten collection's arrays) or 1 KiB a request in the long one.
RSS_SLACK_BYTES = 32 * 2**20


@dataclass
class FuzzReport:
    seconds: float
    served: list[str]
    unserved: list[str]
    requests: int
    statuses: dict[int, int]
    failures: list[str] = field(default_factory=list)
    crashed: bool = False
    rss_before: int = 0
    rss_after: int = 0
    housekeeping_requests: int = 0
    parser_refusals: int = 0
    schemathesis_exit: int | None = None
    slowest: dict[str, float] = field(default_factory=dict)

    @property
    def memory_came_back(self) -> bool:
        return not self.crashed and self.rss_after - self.rss_before <= RSS_SLACK_BYTES

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    def lines(self) -> list[str]:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        out = [
            f"fuzzed {len(self.served)} operations of the spec for {self.seconds:.0f} s "
            f"({len(self.unserved)} operations of the spec are not served and were not fuzzed)",
            f"requests sent: {self.requests} (and {self.housekeeping_requests} to restore seeds)",
            f"statuses: {statuses}",
            f"server errors (5xx): {self.server_errors}",
            f"request lines or headers over aiohttp's 8,190 bytes, refused by its parser in "
            f"plain text (not Qdrant's envelope): {self.parser_refusals}",
            f"node crashed: {'yes' if self.crashed else 'no'}",
            f"node RSS: {self.rss_before / 2**20:.1f} MiB before, "
            f"{self.rss_after / 2**20:.1f} MiB after (at most {RSS_SLACK_BYTES / 2**20:.0f} MiB "
            f"more allowed: {'ok' if self.memory_came_back else 'NOT BACK NEAR THE START'})",
            f"failures: {len(self.failures)}",
        ]
        out += [f"  - {failure}" for failure in self.failures[:MAX_FAILURES_SHOWN]]
        if len(self.failures) > MAX_FAILURES_SHOWN:
            out.append(f"  ... and {len(self.failures) - MAX_FAILURES_SHOWN} more")
        out.append("not served, answered 404 in Qdrant's envelope: " + ", ".join(self.unserved))
        slow = sorted(self.slowest.items(), key=lambda item: -item[1])[:5]
        out.append("slowest answers: " + ", ".join(f"{label} {s:.2f} s" for label, s in slow))
        return out


def run_fuzz(seconds: float, workdir: Path, *, workers: int = 1, seed_value: int | None = None,
             phases: tuple[str, ...] = ALL_PHASES, cluster: bool = False) -> FuzzReport:
    """Fuzz a fresh node for `seconds`; its storage and logs go under `workdir`. With `cluster`
    the node runs with clustering on, as a cluster of one (Raft, the cluster API's shard
    operations)."""
    openapi = spec.load_spec()  # before anything starts: a missing spec is the first thing to say
    raft_port = free_port()
    raft_uri = f"http://{LOOPBACK}:{raft_port}"
    cluster_args = ["--cluster-enabled", "--uri", raft_uri, "--peers", raft_uri] if cluster else []
    node = NodeProcess(workdir / "storage", name="fuzz-node", p2p_port=raft_port,
                       extra_args=cluster_args)
    node.start_and_wait()
    try:
        with HttpSession(node.url, timeout=REQUEST_TIMEOUT) as http:
            probes = spec.probe_operations(http, openapi)
            served_spec = workdir / "served-openapi.json"
            served_spec.write_text(json.dumps(spec.restrict(openapi, probes)))
            seed.create_seeds(http)
            rss_before = _settled_rss(node, http)
            session = hooks.Session(http=HttpSession(node.url, timeout=REQUEST_TIMEOUT))
            hooks.activate(session)
            started = time.monotonic()
            try:
                exit_code = _schemathesis(served_spec, node.url, seconds, workdir, workers,
                                          seed_value, phases)
            finally:
                hooks.activate(None)
            elapsed = time.monotonic() - started
            (workdir / "statuses.json").write_text(json.dumps({
                "by_operation": {label: dict(counts)
                                 for label, counts in sorted(session.by_operation.items())},
                "common_errors": dict(session.errors.most_common(200)),
            }, indent=1))
            report = FuzzReport(
                seconds=elapsed,
                served=[p.label for p in probes if p.served],
                unserved=[p.label for p in probes if not p.served],
                requests=session.requests,
                statuses=dict(session.statuses),
                housekeeping_requests=session.housekeeping_requests,
                parser_refusals=session.parser_refusals,
                schemathesis_exit=exit_code,
                slowest=session.slowest,
                rss_before=rss_before,
            )
            report.failures += [p.unserved_problem for p in probes
                                if not p.served and p.unserved_problem]
            report.failures += session.server_errors
            report.failures += _schemathesis_failures(workdir / "schemathesis.json")
            if exit_code and not report.failures:
                report.failures.append(f"schemathesis exited with code {exit_code}")
            report.crashed = not node.is_running()
            if report.crashed:
                report.failures.append(f"the node exited with code {node.returncode}")
            else:
                seed.drop_all_but_seeds(http)
                seed.create_seeds(http)
                report.rss_after = _settled_rss(node, http)
            return report
    finally:
        node.stop()


def _schemathesis(spec_path: Path, url: str, seconds: float, workdir: Path, workers: int,
                  seed_value: int | None, phases: tuple[str, ...]) -> int | None:
    config = workdir / "schemathesis.toml"
    # Its cache (failures kept for `st replay`) goes with the run, not into the working directory.
    config.write_text(f'[cache]\ndirectory = "{workdir / "schemathesis-cache"}"\n')
    args = [
        "--config-file", str(config),
        "run", str(spec_path), "--url", url,
        "--max-time", str(int(seconds)),
        "--workers", str(workers),
        "--checks", ",".join(CHECKS),
        "--phases", ",".join(phases),
        "--continue-on-failure",
        "--request-timeout", str(REQUEST_TIMEOUT),
        "--suppress-health-check", "all",
        "--warnings", "off",
        "--report", "json", "--report-json-path", str(workdir / "schemathesis.json"),
    ]
    if seed_value is not None:
        args += ["--seed", str(seed_value)]
    try:
        schemathesis_cli.main(args=args, prog_name="st", standalone_mode=False)
    except SystemExit as exc:  # the CLI ends with sys.exit, its code telling if checks failed
        return exc.code if isinstance(exc.code, int) else 1
    return 0


def _schemathesis_failures(report_path: Path) -> list[str]:
    if not report_path.exists():
        return [f"schemathesis wrote no report at {report_path}"]
    report = json.loads(report_path.read_text())
    # Failures come grouped by kind there; their requests are in schemathesis's output above.
    out = [f"{f.get('title')} ({f.get('code')}), {f.get('count')} times: "
           f"{', '.join(f.get('operations', []))}" for f in report.get("failures", [])]
    out += ["schemathesis error: " + json.dumps(e)[:1000] for e in report.get("errors", [])]
    return out


def _settled_rss(node: NodeProcess, http: HttpSession) -> int:
    """The node's RSS once every seed is green (no optimizer still building)."""
    def all_green() -> bool:
        for name in (s.name for s in seed.SEEDS):
            with contextlib.suppress(ValueError, KeyError):
                if http.get(f"/collections/{name}").json()["result"]["status"] != "green":
                    return False
        return True

    wait_for(all_green, SETTLE_TIMEOUT, "the seed collections to turn green", interval=0.5)
    assert node.pid is not None
    return psutil.Process(node.pid).memory_info().rss
