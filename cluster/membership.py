"""Who this node forms a Raft group with: a static member list, a bootstrap peer to join, or
the members remembered from an earlier run (a restarted node ignores `--bootstrap`)."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

from node.engine.durable_files import write_atomic
from node.errors import Unavailable

log = logging.getLogger(__name__)

MEMBERS_FILE = "members.json"
JOIN_ATTEMPTS = 30


def remembered_members(raft_dir: Path) -> list[str] | None:
    try:
        return json.loads((raft_dir / MEMBERS_FILE).read_text())
    except FileNotFoundError:
        return None


def remember_members(raft_dir: Path, members: list[str]) -> None:
    raft_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(raft_dir / MEMBERS_FILE, json.dumps(sorted(set(members))).encode())


def join_through(bootstrap: str, self_address: str, secret: str | None) -> list[str]:
    """Ask a running member (its Raft address) to add this node; return the members to start
    with. pysyncobj's utility protocol commits the change through consensus."""
    from pysyncobj.utility import TcpUtility, UtilityException

    last_error = "no answer"
    for _ in range(JOIN_ATTEMPTS):
        utility = TcpUtility(password=secret, timeout=5.0)
        try:
            status = utility.executeCommand(bootstrap, ["status"])
            members = _members_of(status, bootstrap)
            if self_address not in members:
                result = utility.executeCommand(bootstrap, ["add", self_address])
                if not str(result).startswith("SUCCESS"):
                    raise UtilityException(f"add refused: {result}")
                members.append(self_address)
            return [m for m in members if m != self_address]
        except UtilityException as exc:
            last_error = str(exc)
            log.info("joining through %s failed (%s); retrying", bootstrap, exc)
            time.sleep(1.0)
    raise Unavailable(f"could not join the cluster through {bootstrap}: {last_error}")


def _members_of(status: object, bootstrap: str) -> list[str]:
    if not isinstance(status, dict):
        return [bootstrap]
    prefix = "partner_node_status_server_"
    members = [key[len(prefix):] for key in status if key.startswith(prefix)]
    own = status.get("self")
    members.append(str(own) if own is not None else bootstrap)
    return sorted(set(members))
