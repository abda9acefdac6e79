"""After healing: wait until the cluster's anti-entropy found every replicated shard's replicas
equal (cluster/replication/anti_entropy.py), and count the repairs it made during the run.

A shard counts as converged once a node reports it `equal` in an anti-entropy pass that began
after the wait did; a shard with one replica has nothing to compare. A repair (a replica marked
Dead for differing) turns the shard `single` or `transfer` until the refilled replica is
Active, then `equal` again, so the wait covers the repair too. The checkers still compare the
replicas themselves afterwards: this wait only gives the repair its time, it hides nothing.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import orjson

from chaos.context import RunContext
from chaos.final_state import metadata_of

CONVERGENCE_LIMIT = 60.0
POLL_SECONDS = 0.25
# The line a node logs for each replica it marked Dead for differing (node logs survive
# restarts of their node, unlike its counters), and the one before it that names the points.
REPAIR_LOG_LINE = b"marked Dead for repair"
DIFFERS_LINE = re.compile(
    rb"anti-entropy: replica (?P<shard>\S+) on peer (?P<peer>\d+) differs from the others .*"
    rb"differing points (?:not listed|(?P<count>\d+): (?P<ids>\[.*\]))$", re.MULTILINE)


def anti_entropy_views(ctx: RunContext) -> dict[int, dict]:
    """node index -> that node's anti-entropy telemetry, for the nodes that answer."""
    views = {}
    for node in ctx.member_nodes():
        telemetry = node.get("/telemetry?details_level=1", timeout=3)
        checks = ((telemetry or {}).get("cluster") or {}).get("anti_entropy")
        if checks is not None:
            views[node.index] = checks
    return views


def pending_shards(ctx: RunContext, collections: list[str],
                   passes_before: dict[int, int]) -> list[str]:
    """`collection/shard` of the replicated shards no node has reported equal in a pass that
    began after `passes_before` (node index -> passes done then)."""
    replicated: set[tuple[str, int]] = set()
    for node in ctx.member_nodes():
        meta = metadata_of(node)
        if meta is None:
            continue
        for name in collections:
            shards = meta["placement"].get(name, {}).get("shards", {})
            replicated |= {(name, int(s)) for s, peers in shards.items() if len(peers) > 1}
        break
    equal: set[tuple[str, int]] = set()
    for index, checks in anti_entropy_views(ctx).items():
        before = passes_before.get(index, 0)
        for shard in checks["shards"]:
            # The pass running when the wait began may have read a replica before it.
            if shard["status"] == "equal" and shard["pass"] > before + 1:
                equal.add((shard["collection"], shard["shard_id"]))
    return sorted(f"{name}/{shard}" for name, shard in replicated - equal)


def await_convergence(ctx: RunContext, collections: list[str]) -> tuple[float | None, list]:
    """(seconds until every replicated shard was found equal, or None; the shards not found
    equal by then)."""
    began = time.monotonic()
    passes_before = {i: v["passes"] for i, v in anti_entropy_views(ctx).items()}
    pending: list[str] = []
    while time.monotonic() - began < CONVERGENCE_LIMIT:
        pending = pending_shards(ctx, collections, passes_before)
        if not pending:
            return round(time.monotonic() - began, 3), []
        time.sleep(POLL_SECONDS)
    return None, pending


def repairs_logged(run_dir: Path) -> int:
    """Replicas the nodes marked Dead for differing, over the whole run."""
    return sum(path.read_bytes().count(REPAIR_LOG_LINE) for path in run_dir.glob("node-*.log"))


def differences_logged(run_dir: Path) -> list[dict]:
    """Each replica anti-entropy found different while idle, over the whole run: collection,
    shard, peer, and the ids of the points the replicas differed on (the first ones; None when
    the node could not list them)."""
    found = []
    for path in sorted(run_dir.glob("node-*.log")):
        for match in DIFFERS_LINE.finditer(path.read_bytes()):
            collection, _, shard = match["shard"].decode().rpartition("/")
            found.append({"collection": collection, "shard": int(shard),
                          "peer": int(match["peer"]),
                          "differing": int(match["count"]) if match["count"] else None,
                          "points": orjson.loads(match["ids"]) if match["ids"] else None})
    return found
