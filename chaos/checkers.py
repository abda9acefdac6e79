"""Checkers: judge the recorded history against what the cluster holds once the faults healed.

Each checker is a function `(history, final) -> Check` listed in `CHECKERS`. A write whose
outcome is `failed` or `unknown` is indeterminate: it may be present or absent, and is never
counted as lost nor as a phantom. Add one: write the function, append it to `CHECKERS`
(README, "Chaos testing").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from chaos.final_state import FinalState
from chaos.history import OK, History, Op
from chaos.workload import ALIAS_TARGETS, http_status

MAX_DETAILS = 20


@dataclass
class Check:
    name: str
    ok: bool
    figures: dict = field(default_factory=dict)
    details: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.ok = False
        if len(self.details) < MAX_DETAILS:
            self.details.append(message)


def _ops(history: History, kind: str) -> list[Op]:
    return [op for op in history.ops if op.kind == kind]


def _written(history: History) -> dict[str, dict]:
    """Per collection: ids by how their upserts and deletes ended."""
    by_collection: dict[str, dict] = {}
    for op in history.ops:
        if op.kind not in ("upsert", "delete"):
            continue
        entry = by_collection.setdefault(op.args["collection"], {
            "acked": {}, "attempted": set(), "deletes": {}})
        for point_id in op.args["ids"]:
            if op.kind == "upsert":
                entry["attempted"].add(point_id)
                if op.outcome == OK:
                    entry["acked"][point_id] = op
            else:
                entry["deletes"].setdefault(point_id, []).append(op)
    return by_collection


def acknowledged_writes(history: History, final: FinalState) -> Check:
    """Every acknowledged upsert present on every replica of its shard and in a
    `consistency=all` scroll through every node; every acknowledged delete absent there."""
    check = Check("acknowledged-writes", True)
    lost_ids: set = set()
    missing_on_replica = 0
    resurrected = 0
    for name, entry in _written(history).items():
        cstate = final.collections.get(name)
        if cstate is None:
            continue
        scrolled_all = {node: set(ids) for node, ids in cstate.scrolls_all.items()}
        holders: dict = {}  # point id -> [(shard, peer)]
        for shard, replicas in cstate.replicas.items():
            for peer, content in replicas.items():
                for point_id in content:
                    holders.setdefault(point_id, []).append((shard, peer))
        for point_id, op in entry["acked"].items():
            deletes = entry["deletes"].get(point_id, [])
            if deletes:
                continue  # a delete was at least attempted: present or absent are both fine
            places = holders.get(point_id)
            if not places:
                lost_ids.add(point_id)
                check.fail(f"{name}: id {point_id} acknowledged at {op.end:.2f}s through "
                           f"node {op.node} is on no replica")
                continue
            shard = places[0][0]
            for peer, content in cstate.replicas[shard].items():
                if point_id not in content:
                    missing_on_replica += 1
                    check.fail(f"{name}: id {point_id} (shard {shard}) missing on peer {peer}")
            for node, ids in scrolled_all.items():
                if point_id not in ids:
                    check.fail(f"{name}: id {point_id} not in consistency=all scroll "
                               f"through node {node}")
        for point_id, deletes in entry["deletes"].items():
            upsert = entry["acked"].get(point_id)
            acked = [d for d in deletes if d.outcome == OK]
            # Absent for sure only when the upsert was acknowledged before the delete started
            # and the delete was acknowledged too.
            if upsert is None or not acked or upsert.end > acked[0].start:
                continue
            if point_id in holders:
                resurrected += 1
                check.fail(f"{name}: id {point_id} deleted (acknowledged at "
                           f"{acked[0].end:.2f}s) is still on {holders[point_id]}")
    check.figures = {"acked_upserts": sum(len(e["acked"]) for e in _written(history).values()),
                     "acked_writes_lost": len(lost_ids),
                     "missing_on_a_replica": missing_on_replica,
                     "acked_deletes_present": resurrected}
    return check


def no_phantoms_or_duplicates(history: History, final: FinalState) -> Check:
    """No id that no upsert ever tried to write; no id twice in a scroll."""
    check = Check("no-phantoms-or-duplicates", True)
    phantoms = duplicates = 0
    for name, entry in _written(history).items():
        cstate = final.collections.get(name)
        if cstate is None:
            continue
        for shard, replicas in cstate.replicas.items():
            for peer, content in replicas.items():
                for point_id in set(content) - entry["attempted"]:
                    phantoms += 1
                    check.fail(f"{name}: phantom id {point_id} on shard {shard} peer {peer}")
        for label, scrolls in (("scroll", cstate.scrolls), ("scroll all", cstate.scrolls_all)):
            for node, ids in scrolls.items():
                for point_id, n in Counter(ids).items():
                    if n > 1:
                        duplicates += 1
                        check.fail(f"{name}: id {point_id} {n} times in a {label} through "
                                   f"node {node}")
    check.figures = {"phantoms": phantoms, "duplicates": duplicates}
    return check


def replicas_identical(history: History, final: FinalState) -> Check:
    """Every replica of a shard holds the same points with the same payloads and vectors."""
    check = Check("replicas-identical", True)
    divergent = 0
    # Points that differ, split by whether an acknowledged write touched them: a difference
    # only on points that indeterminate writes touched is a write applied on some replicas
    # and never repaired on the others.
    acked_ids = {(op.args["collection"], i) for op in history.ops
                 if op.kind in ("upsert", "delete") and op.outcome == OK for i in op.args["ids"]}
    differing: set = set()
    for name, cstate in final.collections.items():
        for error in cstate.replica_errors:
            check.fail(f"{name}: {error}")
        for shard, replicas in cstate.replicas.items():
            digests = Counter(_content_digest(c) for c in replicas.values())
            if len(digests) > 1:
                common = digests.most_common(1)[0][0]
                for peer, content in replicas.items():
                    if _content_digest(content) != common:
                        divergent += 1
                        reference = next(c for c in replicas.values()
                                         if _content_digest(c) == common)
                        differing.update(
                            (name, k) for k in set(content) ^ set(reference))
                        differing.update((name, k) for k in set(content) & set(reference)
                                         if content[k] != reference[k])
                        only_here = len(set(content) - set(reference))
                        absent = len(set(reference) - set(content))
                        changed = sum(1 for k in set(content) & set(reference)
                                      if content[k] != reference[k])
                        check.fail(f"{name} shard {shard}: peer {peer} differs ({only_here} "
                                   f"extra, {absent} missing, {changed} changed points)")
    check.figures = {"divergent_replicas": divergent,
                     "differing_points_acked": len(differing & acked_ids),
                     "differing_points_indeterminate": len(differing - acked_ids)}
    return check


def _content_digest(content: dict) -> int:
    return hash(frozenset(content.items()))


def counts_agree(history: History, final: FinalState) -> Check:
    """Exact counts equal the number of scrolled ids through every node, and a count filtered
    on the indexed `tag` equals the same filter on the unindexed `tag_copy`."""
    check = Check("counts-agree", True)
    for name, cstate in final.collections.items():
        for node, count in cstate.counts.items():
            scrolled = len(cstate.scrolls.get(node, []))
            if count != scrolled:
                check.fail(f"{name} through node {node}: count {count}, scroll {scrolled}")
        for node, (indexed, unindexed) in cstate.filtered_counts.items():
            if indexed != unindexed:
                check.fail(f"{name} through node {node}: indexed filter counts {indexed}, "
                           f"unindexed {unindexed}")
        totals = set(cstate.counts.values())
        if len(totals) > 1:
            check.fail(f"{name}: nodes count differently: {cstate.counts}")
    return check


def metadata_agrees(history: History, final: FinalState) -> Check:
    """Every node lists the same collections, aliases, placement, replica states, peers and
    leader; every replica is Active and no transfer is left."""
    check = Check("metadata-agrees", True)
    for index in final.unreachable:
        check.fail(f"node {index} did not answer the metadata reads")
    views = list(final.metadata.items())
    disagreements = 0
    for key in ("collections", "aliases", "placement", "peers", "leader"):
        values = {repr(view[key]) for _, view in views}
        if len(values) > 1:
            disagreements += 1
            check.fail(f"nodes disagree on {key}: " + "; ".join(
                f"node {i}: {view[key]}" for i, view in views)[:600])
    not_active = 0
    for _, view in views[:1]:
        for name, placement in view["placement"].items():
            for shard, replicas in placement["shards"].items():
                for peer, state in replicas.items():
                    if state != "Active":
                        not_active += 1
                        check.fail(f"{name} shard {shard} on peer {peer} is {state}")
            if placement["transfers"]:
                check.fail(f"{name}: {placement['transfers']} transfers still running")
    check.figures = {"metadata_disagreements": disagreements, "replicas_not_active": not_active}
    return check


def alias_never_missing(history: History, final: FinalState) -> Check:
    """A read through the alias never answered 404 while the alias was being switched."""
    check = Check("alias-never-missing", True)
    reads = _ops(history, "alias_read")
    missing = [op for op in reads if http_status(op) == 404]
    for op in missing:
        check.fail(f"alias read through node {op.node} at {op.start:.2f}s: {op.error}")
    if reads or _ops(history, "alias_switch"):
        final_alias = {tuple(a) for view in final.metadata.values() for a in view["aliases"]
                       if a[0] == "live"}
        if len(final_alias) != 1 or next(iter(final_alias))[1] not in ALIAS_TARGETS:
            check.fail(f"alias `live` ends as {sorted(final_alias)}")
    check.figures = {"alias_reads": len(reads), "alias_missing": len(missing)}
    return check


def hot_points_in_order(history: History, final: FinalState) -> Check:
    """Per key (ordering=strong writes of 1, 2, 3, ...): a read asking enough replicas to meet
    the write quorum (r + wcf > rf) never returns a value older than one acknowledged before the
    read started, nor older than one another read returned before it started, nor a value no
    write had yet tried to write."""
    check = Check("hot-points-in-order", True)
    stale = future = 0
    keys = {op.args["key"] for op in history.ops if op.kind == "hot_write"}
    for key in sorted(keys):
        writes = [op for op in _ops(history, "hot_write") if op.args["key"] == key]
        reads = sorted((op for op in _ops(history, "hot_read")
                        if op.args["key"] == key and op.outcome == OK), key=lambda o: o.end)
        # Reads that need not see the last write (r + wcf <= rf) still bound the others.
        judged = [op for op in reads if op.args.get("overlap", True)]
        acked = sorted((op for op in writes if op.outcome == OK), key=lambda o: o.end)
        for read in judged:
            value = read.result if read.result is not None else 0
            floor_write = max((w.args["value"] for w in acked if w.end < read.start), default=0)
            floor_read = max((r.result or 0 for r in reads if r.end < read.start), default=0)
            ceiling = max((w.args["value"] for w in writes if w.start < read.end), default=0)
            if value < floor_write or value < floor_read:
                stale += 1
                check.fail(f"key {key}: read through node {read.node} at {read.start:.2f}s "
                           f"returned {value}, but {max(floor_write, floor_read)} was already "
                           f"{'acknowledged' if floor_write >= floor_read else 'read'}")
            if value > ceiling:
                future += 1
                check.fail(f"key {key}: read returned {value}, never written by then")
    check.figures = {"hot_reads": sum(1 for op in _ops(history, "hot_read") if op.outcome == OK),
                     "stale_reads": stale, "future_reads": future}
    return check


def collections_as_acknowledged(history: History, final: FinalState) -> Check:
    """A scratch collection whose last create or delete was acknowledged (and nothing
    indeterminate followed) exists, or not, on every node."""
    check = Check("collections-as-acknowledged", True)
    last: dict[str, list[Op]] = {}
    for op in history.ops:
        if op.kind in ("create_collection", "delete_collection"):
            last.setdefault(op.args["collection"], []).append(op)
    for name, ops in last.items():
        final_op = max(ops, key=lambda o: o.start)
        if final_op.outcome != OK:
            continue  # the last one is indeterminate: either way is fine
        should_exist = final_op.kind == "create_collection"
        for index, view in final.metadata.items():
            if (name in view["collections"]) != should_exist:
                check.fail(f"{name}: last acknowledged op {final_op.kind} at "
                           f"{final_op.end:.2f}s, but node {index} "
                           f"{'lacks' if should_exist else 'still lists'} it")
    return check


def repairs_on_indeterminate_points(history: History, final: FinalState) -> Check:
    """Anti-entropy found Active replicas different only on points that an indeterminate write
    touched. A point that only acknowledged writes touched cannot differ between Active replicas
    (each holds every acknowledged write); if it did, the repair would hide a replica that missed
    an acknowledged write."""
    check = Check("repairs-on-indeterminate-points", True)
    touched: dict[tuple[str, object], list[Op]] = {}
    for op in history.ops:
        if op.kind in ("upsert", "delete"):
            ids = op.args["ids"]
        elif op.kind == "hot_write":
            ids = [op.args["key"]]
        else:
            continue
        for point_id in ids:
            touched.setdefault((op.args["collection"], point_id), []).append(op)
    acked_only = points = 0
    for repair in final.repairs:
        for point_id in repair["points"] or []:
            points += 1
            ops = touched.get((repair["collection"], point_id), [])
            if ops and all(op.outcome == OK for op in ops):
                acked_only += 1
                check.fail(f"{repair['collection']} shard {repair['shard']}: point {point_id} "
                           f"differed between Active replicas (peer {repair['peer']} repaired) "
                           f"though all {len(ops)} writes to it were acknowledged")
    check.figures = {"repairs": len(final.repairs), "repaired_points": points,
                     "repaired_points_acked_only": acked_only,
                     "repairs_unlisted": sum(1 for r in final.repairs if r["points"] is None)}
    return check


def nodes_stay_up(history: History, final: FinalState) -> Check:
    """No node process exits unless the harness ends it (a full disk, say, must not kill it);
    answers with status 500 are counted too (a fault is no reason for an internal error)."""
    check = Check("nodes-stay-up", True)
    crashes = [n for n in history.notes if n.get("what") == "crash"]
    for crash in crashes:
        check.fail(f"node {crash['node']} exited by itself with code {crash['exit_code']} "
                   f"(noticed at {crash['time']:.2f}s)")
    check.figures = {"crashes": len(crashes),
                     "http_500": sum(1 for op in history.ops if http_status(op) == 500)}
    return check


CHECKERS: list[Callable[[History, FinalState], Check]] = [
    acknowledged_writes,
    no_phantoms_or_duplicates,
    replicas_identical,
    counts_agree,
    metadata_agrees,
    alias_never_missing,
    hot_points_in_order,
    collections_as_acknowledged,
    repairs_on_indeterminate_points,
    nodes_stay_up,
]


def run_checkers(history: History, final: FinalState) -> list[Check]:
    return [checker(history, final) for checker in CHECKERS]
