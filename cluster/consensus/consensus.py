"""The thin pysyncobj shell that replicates metadata ops (cluster/metadata/state.py) through Raft.

A single node is a Raft cluster of one and goes through the same code. Ops proposed on any node
are forwarded by pysyncobj to the leader, committed, and applied in log order on every node by
pysyncobj's own thread; `propose` hands the result back to the caller's asyncio loop.

Two rules keep the replicated log replayable:
- the machine has exactly one replicated method, `apply_op`. pysyncobj numbers replicated
  methods by sorted name and writes those numbers into the journal, so adding another method
  would change the meaning of old journals. New behaviour is a new op kind instead.
- nothing raised while applying escapes into pysyncobj: an exception there skips its
  `lastApplied` increment and the entry would be applied twice. Errors become return values.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

from pysyncobj import FAIL_REASON, HAS_CRYPTO, SyncObj, SyncObjConf, SyncObjConsumer, replicated

from cluster.consensus import raft_codec, raft_journal
from cluster.metadata.state import MetadataState, apply, from_dict, to_dict
from node.errors import Conflict, FlotillaError, NotFound, Unavailable

logger = logging.getLogger(__name__)

# Whatever reaches the Raft port is decoded into plain data only (cluster/consensus/raft_codec.py).
raft_codec.install()
# The Raft log fails a write on a full disk instead of the process
# (cluster/consensus/raft_journal.py).
raft_journal.install()

AppliedCallback = Callable[[dict, object, MetadataState], None]

# A no-op that goes through the log: once it is applied here, so is everything committed before.
BARRIER_OP = "barrier"
# The op that on_applied receives when the whole state was replaced from a Raft snapshot
# (the full dump at restart, or a snapshot sent by the leader to a lagging follower).
RESTORE_SNAPSHOT_OP = "restore_snapshot"

_ROLES = {0: "Follower", 1: "Candidate", 2: "Leader"}
_FAIL_REASONS = {
    value: name.lower()
    for name, value in vars(FAIL_REASON).items()
    if not name.startswith("_") and isinstance(value, int)
}
_CLOSED = -1  # our own fail reason for proposals still waiting when the node closes
# Fail reasons after which the command is certainly not in the log, so a retry is safe.
_NOT_IN_LOG = frozenset(
    {
        FAIL_REASON.QUEUE_FULL,
        FAIL_REASON.MISSING_LEADER,
        FAIL_REASON.NOT_LEADER,
        FAIL_REASON.DISCARDED,
    }
)
_RETRY_PAUSE = 0.02
# Election timeouts of a node that must not campaign (see `campaign` below): never reached.
_NO_ELECTIONS = 1e9
_PARTNER_STATUS_PREFIX = "partner_node_status_server_"


class _NotApplied(Unavailable):
    """Raft turned the command away before it entered the log: safe to send again."""


class _MetadataMachine(SyncObjConsumer):
    """Holds the replicated MetadataState; only that state goes into pysyncobj's full dump."""

    def __init__(self, on_applied: AppliedCallback | None,
                 before_apply: Callable[[dict], None] | None = None) -> None:
        super().__init__()
        self.state = MetadataState()
        self._on_applied = on_applied
        self._before_apply = before_apply
        # Times the whole state was replaced from a snapshot (the dump at start included).
        self.snapshots_installed = 0

    @replicated
    def apply_op(self, op: dict) -> object:
        # Runs on pysyncobj's thread, for new entries and for entries replayed from the journal.
        if op.get("op") == BARRIER_OP:
            return None
        if self._before_apply is not None:
            self._before_apply(op)  # a test's fault injection (node/fault_injection.py)
        try:
            result = apply(self.state, op)
        except FlotillaError as error:
            return error
        except Exception as error:  # a bug in apply: keep Raft alive, report it to the proposer
            logger.exception("metadata op %r failed unexpectedly", op.get("op"))
            return FlotillaError(f"metadata op `{op.get('op')}` failed: {error}")
        self._notify(op, result)
        return result

    def _notify(self, op: dict, result: object) -> None:
        if self._on_applied is None:
            return
        try:
            self._on_applied(op, result, self.state)
        except Exception:
            logger.exception("on_applied failed for metadata op %r", op.get("op"))

    # pysyncobj pickles what _serialize returns into its full dump; a plain dict of the state
    # keeps callbacks out of it and keeps old dumps readable when the dataclasses change.
    def _serialize(self) -> dict:
        return {"state": to_dict(self.state)}

    def _deserialize(self, data: dict) -> None:
        self.state = from_dict(data["state"])
        self.snapshots_installed += 1
        self._notify({"op": RESTORE_SNAPSHOT_OP}, None)


class MetadataConsensus:
    """Replicates metadata ops over Raft; addresses are pysyncobj's "host:port".

    `on_applied(op, result, state)` is called on pysyncobj's thread after every successful
    apply, including ops replayed from the journal at restart, and with
    {"op": "restore_snapshot"} when the state was replaced from a snapshot. It must be cheap
    and thread-safe (hand work to the asyncio loop with call_soon_threadsafe) and may be called
    before the constructor returns.

    Restart a node on the same Raft address: pysyncobj stores the member set in its full dump
    and journal, and a node back on another address counts its old one as a missing partner.
    The Raft port carries pickles, decoded by an unpickler that admits only plain data
    (cluster/consensus/raft_codec.py); set `secret` (encrypts and authenticates) wherever others
    can reach it.
    """

    def __init__(
        self,
        *,
        self_address: str,
        partners: list[str],
        data_dir: Path,
        secret: str | None = None,
        tick_period_ms: int = 50,
        on_applied: AppliedCallback | None = None,
        election_timeout: tuple[float, float] = (0.3, 0.7),
        campaign: bool = True,
        before_apply: Callable[[dict], None] | None = None,
    ) -> None:
        if secret is not None and not HAS_CRYPTO:
            raise RuntimeError("a Raft secret needs the `cryptography` package installed")
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        self._self_address = self_address
        self._pending: set[asyncio.Future] = set()
        self._machine = _MetadataMachine(on_applied, before_apply)
        conf = _raft_conf(data_dir, secret, tick_period_ms / 1000, election_timeout)
        self._election_timeouts = (conf.raftMinTimeout, conf.raftMaxTimeout)
        if not campaign:
            # A node joining a running cluster starts with an empty log and a member list it
            # was told: it must not win an election before the leader sent it the log. The
            # conf is checked here with the normal timeouts; SyncObj must not check it again,
            # as the connection timeout (which must stay short) has to exceed the election's.
            conf.validate()
            conf.raftMinTimeout, conf.raftMaxTimeout = _NO_ELECTIONS, 2 * _NO_ELECTIONS
            conf.validate = _already_validated
        self._sync = SyncObj(
            self_address,
            [partner for partner in partners if partner != self_address],
            conf=conf,
            consumers=[self._machine],
        )

    @property
    def state(self) -> MetadataState:
        """The local state; it may trail the leader by the ops not yet applied here."""
        return self._machine.state

    @property
    def self_address(self) -> str:
        return self._self_address

    async def propose(self, op: dict, timeout: float = 10.0) -> object:
        """Replicate `op`; return apply's result once it is applied on this node.

        Re-raises apply's FlotillaError. Raises Unavailable when there is no leader or quorum
        within `timeout`, or when the leader changed while the op was in flight: then the op
        may still be applied later (its outcome is unknown).
        """
        if not isinstance(op, dict) or not isinstance(op.get("op"), str):
            raise TypeError("a metadata op is a dict with an `op` name")
        result = await self._submit(lambda cb: self._machine.apply_op(op, callback=cb), timeout)
        if isinstance(result, FlotillaError):
            raise result
        return result

    async def wait_ready(self, timeout: float = 30.0) -> None:
        """Return once a leader is known and this node has applied everything committed.

        A barrier op goes through the log: when it is applied here, every entry committed before
        it is applied too, journal replay after a restart included.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while (remaining := deadline - loop.time()) > 0:
            if self._sync._getLeader() is None:
                await asyncio.sleep(0.01)
                continue
            try:
                await self.propose({"op": BARRIER_OP}, timeout=min(remaining, 2.0))
                return
            except Unavailable:
                await asyncio.sleep(0.01)
        raise Unavailable(
            f"metadata consensus on {self._self_address} not ready after {timeout:g}s "
            f"(leader: {self.raft_info()['leader']})"
        )

    @property
    def snapshots_installed(self) -> int:
        """Times this node's state was replaced whole from a Raft snapshot: its own dump at
        start, or one the leader sent (a lagging follower, `send_snapshot`)."""
        return self._machine.snapshots_installed

    async def send_snapshot(self, address: str, timeout: float = 10.0) -> None:
        """As the leader, have the follower at `address` replace its state and log with a
        snapshot of this node's: what Qdrant's `POST /cluster/recover` asks of its leader.

        A barrier op puts an entry past the last dump, a forced log compaction writes a fresh
        dump and drops the log up to it, and the follower's next index is then set below the
        log's start, so pysyncobj's next append_entries to it carries the dump instead of
        entries. pysyncobj has no public call for that last step: the index is set in its
        table, an item assignment its thread reads on every send.
        """
        if self.raft_info()["role"] != "Leader":
            raise Conflict(f"{self._self_address} is not the Raft leader")
        target = next((node for node in self._raft("otherNodes") if node.id == address), None)
        if target is None:
            raise NotFound(f"{address} is not a member of this Raft group")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        log_start = self._raft("raftLog")[0][1]
        await self.propose({"op": BARRIER_OP}, timeout=timeout)
        self._sync.forceLogCompaction()
        while self._raft("raftLog")[0][1] == log_start:
            if loop.time() > deadline:
                raise Unavailable(f"no fresh Raft snapshot was written within {timeout:g}s")
            await asyncio.sleep(0.02)
        self._raft("raftNextIndex")[target] = 0

    def _raft(self, name: str):
        """One of pysyncobj's private tables (see send_snapshot)."""
        return getattr(self._sync, f"_SyncObj__{name}")

    def allow_elections(self) -> None:
        """Let a node started with `campaign=False` stand for election, once it holds the log.

        pysyncobj reads the timeouts from its conf whenever it sets an election deadline, so
        the normal ones apply from the next message of the leader on.
        """
        conf = self._sync.conf
        conf.raftMinTimeout, conf.raftMaxTimeout = self._election_timeouts

    def raft_info(self) -> dict:
        """Raft status of this node, from pysyncobj's getStatus()."""
        status = _status(self._sync)
        leader = status["leader"]
        partners = {
            key[len(_PARTNER_STATUS_PREFIX) :]: value == 2
            for key, value in status.items()
            if key.startswith(_PARTNER_STATUS_PREFIX)
        }
        return {
            "address": self._self_address,
            "term": status["raft_term"],
            "commit_index": status["commit_idx"],
            "last_applied": status["last_applied"],
            "leader": leader.id if leader is not None else None,
            "role": _ROLES.get(status["state"], str(status["state"])),
            "is_voter": status["self"] is not None,
            "has_quorum": status["has_quorum"],
            "pending_operations": len(self._pending),
            "log_length": status["log_len"],
            "partners_connected": partners,
        }

    async def add_member(self, address: str, timeout: float = 10.0) -> None:
        """Add a voter through consensus, before the new node starts with the member list.

        The change counts the new node in the quorum at once: in a cluster of one, it commits
        only when the new node is up and answers.
        """
        await self._submit(lambda cb: self._sync.addNodeToCluster(address, callback=cb), timeout)

    async def remove_member(self, address: str, timeout: float = 10.0) -> None:
        """Remove a voter through consensus."""
        await self._submit(
            lambda cb: self._sync.removeNodeFromCluster(address, callback=cb), timeout
        )

    def close(self) -> None:
        """Stop pysyncobj's thread, release the port and flush the journal."""
        for future in list(self._pending):
            _settle_threadsafe(future, None, _CLOSED)
        self._sync.destroy_synchronous()

    async def _submit(self, send: Callable[[Callable], None], timeout: float) -> object:
        """Send a command through pysyncobj and await its outcome on this loop.

        Failures after which the command is certainly not in the log (no leader yet, the
        contacted node was not the leader, the entry was overwritten) are retried until
        `timeout`; a lost leader with the command in flight is not, as it may still commit.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            try:
                return await self._submit_once(send, max(deadline - loop.time(), 0.001))
            except _NotApplied as error:
                if loop.time() + _RETRY_PAUSE >= deadline:
                    raise Unavailable(str(error)) from None
                await asyncio.sleep(_RETRY_PAUSE)

    async def _submit_once(self, send: Callable[[Callable], None], timeout: float) -> object:
        loop = asyncio.get_running_loop()
        future: asyncio.Future = loop.create_future()

        def on_done(result: object, error: int) -> None:
            # pysyncobj's thread: never raise here (see the module docstring).
            _settle_threadsafe(future, result, error)

        self._pending.add(future)
        try:
            send(on_done)
            return await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            raise Unavailable(
                f"metadata operation not committed within {timeout:g}s: no leader or no quorum"
            ) from None
        finally:
            self._pending.discard(future)


def _raft_conf(
    data_dir: Path, secret: str | None, period: float, election_timeout: tuple[float, float]
) -> SyncObjConf:
    # pysyncobj asserts raftMinTimeout > 3 heartbeats and raftMaxTimeout > raftMinTimeout.
    min_timeout = max(election_timeout[0], 4 * period)
    max_timeout = max(election_timeout[1], min_timeout * 1.5)
    return SyncObjConf(
        # Heartbeats every `period`. New entries and commit indexes go out at once instead of
        # with the next heartbeat, so the period does not add to a commit's latency. Sockets
        # and new commands wake pysyncobj's thread; its timers (heartbeats, elections) are
        # checked every fifth of a period. An idle 3-node cluster spent 0.21 cores with 10 ms
        # heartbeats and 2 ms ticks, 0.08 with these at 50 ms.
        appendEntriesPeriod=period,
        appendEntriesUseBatch=False,
        autoTickPeriod=period / 5,
        raftMinTimeout=min_timeout,
        raftMaxTimeout=max_timeout,
        connectionTimeout=max(3.5, max_timeout),
        # Reconnect to a restarted peer within half a second instead of 5 s.
        connectionRetryTime=0.5,
        # A leader cut off from the majority steps down after 2 s instead of 30 s, so a
        # partitioned node stops claiming leadership (and readiness) soon.
        leaderFallbackTimeout=max(2.0, 2 * max_timeout),
        dynamicMembershipChange=True,
        commandsWaitLeader=True,
        journalFile=str(data_dir / "raft.journal"),
        fullDumpFile=str(data_dir / "raft.dump"),
        logCompactionMinEntries=1000,
        logCompactionMinTime=300,
        # Forking a threaded asyncio process to write the dump is unsafe; metadata is small
        # enough to dump inline on pysyncobj's thread.
        useFork=False,
        password=secret,
    )


def _already_validated() -> None:
    """Stands in for SyncObjConf.validate on a conf checked before its timeouts changed."""


def _status(sync: SyncObj) -> dict:
    # getStatus iterates sets that pysyncobj's thread may change; retry on that race.
    for _ in range(10):
        try:
            return sync.getStatus()
        except RuntimeError:
            continue
    return sync.getStatus()


def _settle_threadsafe(future: asyncio.Future, result: object, error: int) -> None:
    # A closed loop raises RuntimeError: nobody waits for this result any more.
    with contextlib.suppress(RuntimeError):
        future.get_loop().call_soon_threadsafe(_settle, future, result, error)


def _settle(future: asyncio.Future, result: object, error: int) -> None:
    if future.done():
        return
    if error == FAIL_REASON.SUCCESS:
        future.set_result(result)
    elif error == FAIL_REASON.REQUEST_DENIED:
        future.set_exception(
            Conflict("request denied by Raft: already a member, or another change in progress")
        )
    elif error == _CLOSED:
        future.set_exception(Unavailable("metadata consensus closed"))
    elif error in _NOT_IN_LOG:
        future.set_exception(_NotApplied(f"metadata operation not applied: {_reason(error)}"))
    else:
        future.set_exception(
            Unavailable(f"metadata operation outcome unknown: {_reason(error)}; check and retry")
        )


def _reason(error: int) -> str:
    return _FAIL_REASONS.get(error, str(error))
