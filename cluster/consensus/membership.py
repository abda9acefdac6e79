"""Who this node forms a Raft group with: a static member list, a bootstrap peer to join, or
the members remembered from an earlier run (a restarted node ignores `--bootstrap`).

Joining through `--bootstrap` (pysyncobj's utility protocol on a member's Raft port) follows one
rule: a node whose log is empty never stands for election. Before, a joiner asked to be added,
waited for the change to commit and only then started Raft, with the members a status call had
listed. Two things went wrong when several nodes joined at once:

- the change counts the new member in the quorum as soon as the leader appends it, so a leader
  of one that added a node not yet running lost its quorum, stepped down, and every other add
  waited in its queue until the joiners' calls timed out;
- joiners then started with member lists taken while changes were in flight and empty logs.
  They voted for each other, and one of them won a term the first node had also led: two
  leaders of one term wrote different entries at the same indexes, so the nodes ended with two
  metadata states (or two clusters) for good.

Now a joiner starts its Raft member first, unable to campaign, with the members the leader
lists; then asks to be added. The leader sends it the log (and with it every membership change),
the change commits with the new node answering, and only once this node has applied the log up
to a barrier after its own addition may it stand for election.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cluster.consensus.consensus import MetadataConsensus
from node.engine.durable_files import write_atomic
from node.errors import Unavailable

log = logging.getLogger(__name__)

MEMBERS_FILE = "members.json"
# How long a node keeps trying to join before it gives up (its bootstrap peer may start later).
JOIN_TIMEOUT = 120.0
# One utility call (status, add); an add answers once the change committed.
UTILITY_TIMEOUT = 3.0
# How long a joiner waits for the leader's log before it asks again.
CATCH_UP_SECONDS = 5.0
# Pause between attempts, drawn at random so that joiners refused at once do not collide again.
RETRY_PAUSE = (0.05, 0.3)
_PARTNER_PREFIX = "partner_node_status_server_"

# Starts this node's Raft member with the given partners; campaign=False while it joins.
StartConsensus = Callable[[list[str], bool], MetadataConsensus]


def remembered_members(raft_dir: Path) -> list[str] | None:
    try:
        return json.loads((raft_dir / MEMBERS_FILE).read_text())
    except FileNotFoundError:
        return None


def remember_members(raft_dir: Path, members: list[str]) -> None:
    raft_dir.mkdir(parents=True, exist_ok=True)
    write_atomic(raft_dir / MEMBERS_FILE, json.dumps(sorted(set(members))).encode())


@dataclass(frozen=True)
class GroupView:
    """A member's view of the Raft group, from pysyncobj's `status` utility command."""

    members: frozenset[str]
    leader: str | None


async def join_cluster(
    bootstrap: str, self_address: str, secret: str | None, start: StartConsensus
) -> MetadataConsensus:
    """Join the group `bootstrap` (a member's Raft address) belongs to; return this node's
    running consensus, caught up with the leader's log and allowed to stand for election."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + JOIN_TIMEOUT
    consensus: MetadataConsensus | None = None
    partners: frozenset[str] = frozenset()
    last_error = "no answer"
    try:
        while loop.time() < deadline:
            try:
                view = await asyncio.to_thread(_current_view, bootstrap, secret)
                known = view.members | {bootstrap}
                if consensus is None or (view.leader is not None and view.leader not in partners):
                    # No Raft member yet, or one that cannot hear the current leader (a node
                    # added after it started): a member without a log may start over safely.
                    if consensus is not None:
                        consensus.close()
                    partners = known - {self_address}
                    consensus = start(sorted(partners), False)
                if self_address not in view.members:
                    if view.leader is None:  # a group without a leader adds nobody
                        raise Unavailable(f"{bootstrap} knows no Raft leader yet")
                    await asyncio.to_thread(_ask_to_add, view.leader, self_address, secret)
                await consensus.wait_ready(timeout=CATCH_UP_SECONDS)
            except Unavailable as exc:
                last_error = str(exc)
                log.info("joining through %s: %s; retrying", bootstrap, exc)
                await asyncio.sleep(random.uniform(*RETRY_PAUSE))
                continue
            # The barrier wait_ready applied came after this node's addition: its log holds
            # the group's membership now. A second barrier makes sure a heartbeat arrives after
            # the switch, which sets the first election deadline with the normal timeouts.
            consensus.allow_elections()
            await consensus.wait_ready()
            log.info("joined the Raft group through %s (leader %s)", bootstrap,
                     consensus.raft_info()["leader"])
            return consensus
    except BaseException:
        if consensus is not None:
            consensus.close()
        raise
    if consensus is not None:
        consensus.close()
    raise Unavailable(f"could not join the cluster through {bootstrap} within "
                      f"{JOIN_TIMEOUT:g}s: {last_error}")


def members_of(consensus: MetadataConsensus) -> list[str]:
    """This node and its Raft partners, as its own pysyncobj sees them."""
    info = consensus.raft_info()
    return sorted({info["address"], *info["partners_connected"]})


def _current_view(bootstrap: str, secret: str | None) -> GroupView:
    """The group as its leader sees it (appended changes included), else as `bootstrap` does."""
    view = _view_of(bootstrap, secret)
    if view.leader is not None and view.leader != bootstrap:
        try:
            return _view_of(view.leader, secret)
        except Unavailable:
            pass  # the leader changed or is down: the bootstrap's view will do this round
    return view


def _view_of(address: str, secret: str | None) -> GroupView:
    status = _utility(address, ["status"], secret)
    if not isinstance(status, dict):
        raise Unavailable(f"{address} answered status with {status!r}")
    members = {key[len(_PARTNER_PREFIX):] for key in status if key.startswith(_PARTNER_PREFIX)}
    own, leader = status.get("self"), status.get("leader")
    members.add(str(own) if own is not None else address)
    return GroupView(frozenset(members), str(leader) if leader is not None else None)


def _ask_to_add(address: str, self_address: str, secret: str | None) -> None:
    """Ask a member to add this node; raises Unavailable unless the change committed."""
    result = _utility(address, ["add", self_address], secret)
    if not str(result).startswith("SUCCESS"):
        # Refused: another membership change is still committing, a new leader has not
        # committed its first entry yet, or this node is a member already.
        raise Unavailable(f"{address} did not add {self_address}: {result}")


def _utility(address: str, command: list[str], secret: str | None) -> object:
    from pysyncobj.utility import TcpUtility, UtilityException

    started = time.monotonic()
    try:
        return TcpUtility(password=secret, timeout=UTILITY_TIMEOUT).executeCommand(
            address, command)
    except UtilityException as exc:
        raise Unavailable(f"{command[0]} on {address} failed after "
                          f"{time.monotonic() - started:.1f}s ({exc})") from None
