"""Figures of one run, from its history: operations by outcome, latencies, and for each fault
the longest stretch without a successful write and without a successful read, and how long the
cluster went without an agreed Raft leader."""

from __future__ import annotations

from collections import Counter

from chaos.history import OK, OUTCOMES, History, Op

# After a fault heals, the cluster may still take a moment to serve again: the window in which
# a fault's unavailability is measured runs this long past its end (or to the next fault).
AFTER_HEAL = 10.0
# Faults that take a node away (so a leader among their victims must be replaced); a leader that
# only sees loss or latency may rightly stay leader, and has no failover time.
LEADER_LOSING = ("kill", "pause", "partition", "restart", "rolling", "remove", "stale")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[rank], 4)


def outcomes(history: History) -> dict:
    by_kind: dict[str, Counter] = {}
    for op in history.ops:
        by_kind.setdefault(op.kind, Counter())[op.outcome] += 1
    total = Counter(op.outcome for op in history.ops)
    return {"total": {o: total.get(o, 0) for o in OUTCOMES},
            "by_kind": {k: {o: c.get(o, 0) for o in OUTCOMES} for k, c in sorted(by_kind.items())}}


def latencies(ops: list[Op]) -> dict:
    """p50/p99/max of every operation that ended (a timeout counts with its full wait)."""
    values = [op.latency for op in ops if op.end]
    return {"count": len(values), "p50_s": percentile(values, 50),
            "p99_s": percentile(values, 99), "max_s": round(max(values), 4) if values else None}


def longest_gap(ops: list[Op], start: float, end: float) -> float:
    """The longest stretch in [start, end] in which no operation of `ops` ended successfully."""
    times = sorted(op.end for op in ops if op.outcome == OK and start <= op.end <= end)
    edges = [start, *times, end]
    return round(max(b - a for a, b in zip(edges, edges[1:], strict=False)), 3)


def _leaderless(history: History, start: float, end: float, old_leader: int | None) -> float:
    """From `start`, how long until the polled nodes agreed on a leader other than
    `old_leader` (or on any leader, when None): the failover time."""
    for sample in history.samples:
        if sample.time < start or sample.time > end:
            continue
        named = [leader for leader in sample.leaders.values() if leader is not None]
        answering = len(sample.leaders)
        if not named:
            continue
        leader, votes = Counter(named).most_common(1)[0]
        if votes * 2 > answering and leader != old_leader:
            return round(sample.time - start, 3)
    return round(end - start, 3)


def _all_active_after(history: History, healed: float, end: float) -> float | None:
    """From the heal, how long until the leader saw every replica Active (None: not seen)."""
    for sample in history.samples:
        if healed <= sample.time <= end and sample.all_active:
            return round(sample.time - healed, 3)
    return None


def _leader_at(history: History, time: float) -> int | None:
    before = [s for s in history.samples if s.time <= time]
    if not before:
        return None
    named = [leader for leader in before[-1].leaders.values() if leader is not None]
    return Counter(named).most_common(1)[0][0] if named else None


def workload_end(history: History) -> float:
    """When the workload stopped (the end of the run's history when it never started)."""
    ends = [n["time"] for n in history.notes if n.get("what") == "workload-end"]
    return ends[0] if ends else history.now()


def per_fault(history: History, run_end: float) -> list[dict]:
    writes = [op for op in history.ops if op.is_write]
    reads = [op for op in history.ops if not op.is_write]
    faults = sorted(history.faults, key=lambda f: f.start)
    rows = []
    for i, fault in enumerate(faults):
        healed = fault.end if fault.end is not None else run_end
        limit = max(fault.start, min(healed + AFTER_HEAL, run_end, workload_end(history)))
        if i + 1 < len(faults):
            limit = min(limit, max(faults[i + 1].start, healed))
        leader = _leader_at(history, fault.start)
        victims = {fault.detail.get("node"), fault.detail.get("killed")}
        if "killed_at_s" in fault.detail:
            leader = _leader_at(history, fault.detail["killed_at_s"])
        groups = fault.detail.get("groups") or []
        if groups and len(groups[0]) <= len(groups[-1]):
            victims.update(groups[0])
        during = [op for op in history.ops if fault.start <= op.start < healed]
        elsewhere = [op for op in during if op.node not in victims]
        row = {
            "fault": fault.name, "start_s": round(fault.start, 3),
            "end_s": round(healed, 3), "detail": fault.detail,
            "longest_without_write_s": longest_gap(writes, fault.start, limit),
            "longest_without_read_s": longest_gap(reads, fault.start, limit),
            "write_latency": latencies([op for op in writes if fault.start <= op.start < healed]),
            "read_latency": latencies([op for op in reads if fault.start <= op.start < healed]),
            # Through the nodes the fault left alone: what a client that avoids the faulted
            # node sees (a frozen replica must not hold these up).
            "write_latency_elsewhere": latencies([op for op in elsewhere if op.is_write]),
            "read_latency_elsewhere": latencies([op for op in elsewhere if not op.is_write]),
        }
        if leader is not None and leader in victims and fault.name.startswith(LEADER_LOSING):
            lost_at = fault.detail.get("killed_at_s", fault.start)
            row["leader_failover_s"] = _leaderless(history, lost_at, limit, leader)
        row["all_active_after_heal_s"] = _all_active_after(history, healed, run_end)
        rows.append(row)
    return rows


def summary(history: History, run_end: float) -> dict:
    writes = [op for op in history.ops if op.is_write]
    reads = [op for op in history.ops if not op.is_write]
    faults = per_fault(history, run_end)
    failovers = [f["leader_failover_s"] for f in faults if "leader_failover_s" in f]
    return {
        "operations": outcomes(history),
        "write_latency": latencies(writes),
        "read_latency": latencies(reads),
        "faults": faults,
        "longest_without_write_s": max((f["longest_without_write_s"] for f in faults),
                                       default=None),
        "longest_without_read_s": max((f["longest_without_read_s"] for f in faults),
                                      default=None),
        "leader_failover_s": max(failovers) if failovers else None,
        # None for a fault after whose heal the leader never saw every replica Active in time
        "all_active_after_heal_s": max(
            (f["all_active_after_heal_s"] for f in faults), default=None,
            key=lambda v: float("inf") if v is None else v),
    }
