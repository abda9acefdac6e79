"""One running Flotilla node: consensus, local shards and routers wired together.

The node is a Raft member from its first start (a cluster of one unless configured otherwise),
so every metadata change takes the same path: propose, commit, apply, reconcile local shards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import uuid
from datetime import datetime, timezone
from pathlib import Path

from cluster.consensus.consensus import BARRIER_OP, MetadataConsensus
from cluster.consensus.membership import (
    join_cluster,
    members_of,
    remember_members,
    remembered_members,
)
from cluster.metadata.catalog import Catalog
from cluster.metadata.collection_info import collection_info, worst_status
from cluster.metadata.state import ACTIVE, DEAD, PARTIAL, CollectionMeta, MetadataState
from cluster.replication.anti_entropy import AntiEntropy
from cluster.replication.local_shards import LocalShards
from cluster.replication.replica_set import ClusterLinks
from cluster.replication.shard_access import LocalShardAccess
from cluster.replication.shard_transfer import ShardTransfers
from cluster.replication.write_routing import (
    ReplicaWritesIn,
    WritesInFlight,
    routed_version,
    transfer_into,
)
from cluster.routing.collection_view import CollectionViews
from cluster.routing.point_router import PointRouter
from cluster.routing.query_router import QueryRouter
from cluster.routing.strict_mode import RateLimiter
from node import QDRANT_API_VERSION
from node.api.metrics import NodeMetrics
from node.api.quota_metrics import QuotaMetrics
from node.engine.durable_files import write_atomic
from node.errors import FlotillaError, NotFound, Unavailable
from node.fault_injection import delayed_apply, metadata_delays, slow_read_seconds
from node.issues import too_many_collections, unindexed_field
from node.issues.board import IssueBoard
from node.memory import release_free_memory
from node.model.collections import CreateCollection
from node.quota.guard import QuotaGuard, settings_quota
from node.settings import Settings, internal_credential, parse_uri
from node.snapshots.service import Snapshots
from node.tls import NodeTls

log = logging.getLogger(__name__)

FLUSH_CHECK_SECONDS = 1.0
WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", ""})
RECONCILE_SECONDS = 2.0
REMOVE_MEMBER_RETRY_SECONDS = 300.0
# How long a failed replica is retried to be marked Dead while there is no quorum.
REPORT_RETRY_SECONDS = 120.0
# A write that skipped a replica is acknowledged only once that replica is out of the metadata
# (Dead, or its transfer aborted): each proposal gets EXCLUDE_ATTEMPT_SECONDS, all of them
# EXCLUDE_SECONDS.
EXCLUDE_ATTEMPT_SECONDS = 1.0
EXCLUDE_SECONDS = 5.0
# How long a starting node keeps trying to record its addresses in the metadata.
REGISTER_SECONDS = 60.0
# How long a graceful stop waits for writes still running on slow replicas.
LAGGING_WRITES_SECONDS = 12.0


def load_or_create_peer_id(storage: Path) -> int:
    """The stable numeric id of this peer, kept in its storage."""
    path = storage / "peer_id"
    if path.exists():
        return int(path.read_text().strip())
    peer_id = secrets.randbits(63) or 1
    storage.mkdir(parents=True, exist_ok=True)
    write_atomic(path, str(peer_id).encode())
    return peer_id


class Node:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Telemetry names a process by a random id, as Qdrant does, and tells when it started.
        self.telemetry_id = str(uuid.uuid4())
        self.started_at = datetime.now(timezone.utc)
        self.issues = IssueBoard()
        self.slow_read_seconds = slow_read_seconds(unindexed_field.SLOW_READ_SECONDS)
        self._collections_checked: int | None = None
        # First: a certificate that does not load stops the start before anything is opened.
        self.tls = NodeTls.from_settings(settings)
        storage = Path(settings.storage.storage_path)
        self.peer_id = load_or_create_peer_id(storage)
        self.metrics = NodeMetrics()
        # Before the shards: a quota in the settings that cannot be enforced stops the start.
        self.quota = QuotaGuard(storage, settings_quota(settings), lambda: self._state().quota)
        quota_metrics = QuotaMetrics()
        quota_metrics.source = self.quota.exceeded
        self.metrics.registry.register(quota_metrics)
        self.shards = LocalShards(
            storage / "collections", self.peer_id, on_optimizer_run=self.metrics.optimizer_run
        )
        self.api_address = self._api_address(settings)
        self.raft_address = self._raft_address(settings)
        self.ready = False
        # (collection, shard id) -> progress of a transfer into this node, for /metrics
        self.transfer_progress: dict[tuple[str, int], float] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reconcile_lock = asyncio.Lock()
        self._reconcile_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.consensus: MetadataConsensus | None = None
        self.catalog = Catalog(self._propose, self._state, self._after_metadata_change,
                               default_shard_number=self._default_shard_number)
        self.peer_client = None
        self.links = links = None
        self.writes_in: ReplicaWritesIn | None = None
        # replica -> None, or the routing of a failure reported while its report ran
        self._failures_reported: dict[tuple[str, int, int], CollectionMeta | None] = {}
        if settings.cluster.enabled:
            self.links = links = ClusterLinks(
                peer_id=self.peer_id, peers=lambda: self._state().peers,
                remote=self._remote_shard, report_failure=self._report_replica_failure,
                quorum_failure=lambda c: self.metrics.cluster.quorum_failures.labels(
                    collection=c).inc(),
                forward_write=self._forward_write,
                current=self._current_meta, wait_version=self._applied_version,
                exclude_replica=self._exclude_replica,
            )
            self.writes_in = ReplicaWritesIn(self.peer_id, self._state, self.shards.get,
                                             self._applied_version, links.in_flight)
        self.views = views = CollectionViews(self.catalog, self.shards, links,
                                             admit_write=self.quota.admit_write)
        self.transfers = None
        self.anti_entropy: AntiEntropy | None = None
        if settings.cluster.enabled:
            self.anti_entropy = AntiEntropy(
                self.peer_id, self._state, self._replica_access, self._mark_divergent_dead,
                on_repair=lambda c: self.metrics.cluster.anti_entropy_repairs.labels(
                    collection=c).inc())
            self.transfers = ShardTransfers(self.peer_id, self._state, self._propose,
                                            self.shards, self._remote_shard,
                                            self.transfer_progress, self._source_caught_up,
                                            has_room=self.quota.has_room)
        self.rate_limiter = RateLimiter()
        self.snapshots = Snapshots(self)
        self.points = PointRouter(self.catalog, views, self.rate_limiter)
        self.queries = QueryRouter(views, self.rate_limiter)
        self.metrics.set_stats_source(self._points_per_collection)
        self.metrics.cluster.set_source(self._cluster_metrics)
        self.metrics.add_qdrant_names(version=QDRANT_API_VERSION,
                                      clustered=settings.cluster.enabled,
                                      stats=self._points_per_collection,
                                      cluster=self._cluster_metrics)

    @staticmethod
    def _api_address(settings: Settings) -> str:
        """Where peers reach this node's API. A node bound to every interface (0.0.0.0, as in
        a container) is reached at the host of its Raft address, which its peers resolve."""
        host = settings.service.host
        if host in WILDCARD_HOSTS and settings.cluster.enabled and settings.cluster.uri:
            host = parse_uri(settings.cluster.uri, settings.cluster.p2p.port)[0]
        scheme = "https" if settings.service.enable_tls else "http"
        return f"{scheme}://{host}:{settings.service.http_port}"

    @staticmethod
    def _raft_address(settings: Settings) -> str:
        if settings.cluster.enabled and settings.cluster.uri:
            host, port = parse_uri(settings.cluster.uri, settings.cluster.p2p.port)
            return f"{host}:{port}"
        # A cluster of one listens for Raft on loopback only.
        return f"127.0.0.1:{settings.cluster.p2p.port}"

    async def _start_consensus(self) -> MetadataConsensus:
        """This node's Raft member, ready: started with the members it remembers, else the
        static list, else joined through `--bootstrap`; a cluster of one otherwise."""
        settings = self.settings
        raft_dir = Path(settings.storage.storage_path) / "raft"
        members: list[str] = []
        if settings.cluster.enabled:
            port = settings.cluster.p2p.port
            remembered = remembered_members(raft_dir)
            bootstrap = ("{}:{}".format(*parse_uri(settings.cluster.bootstrap, port))
                         if settings.cluster.bootstrap else None)
            if remembered is not None:
                members = remembered
            elif settings.cluster.peers:
                members = ["{}:{}".format(*parse_uri(uri, port)) for uri in settings.cluster.peers]
            elif bootstrap is not None and bootstrap != self.raft_address:
                consensus = await join_cluster(bootstrap, self.raft_address,
                                               settings.cluster.secret, self._open_consensus)
                remember_members(raft_dir, members_of(consensus))
                return consensus
            if remembered is None:
                remember_members(raft_dir, [*members, self.raft_address])
        consensus = self._open_consensus([m for m in members if m != self.raft_address], True)
        await consensus.wait_ready()
        return consensus

    def _open_consensus(self, partners: list[str], campaign: bool) -> MetadataConsensus:
        settings = self.settings
        delays = metadata_delays()
        return MetadataConsensus(
            self_address=self.raft_address,
            partners=partners,
            data_dir=Path(settings.storage.storage_path) / "raft",
            secret=settings.cluster.secret,
            tick_period_ms=settings.cluster.consensus.tick_period_ms,
            on_applied=self._on_applied,
            campaign=campaign and not delays,
            before_apply=delayed_apply(delays),
        )

    def _default_shard_number(self) -> int:
        """Qdrant's default: one shard per node in a cluster, one on a single node."""
        return max(1, len(self._state().peers)) if self.settings.cluster.enabled else 1

    def _remote_shard(self, peer_id: int, api: str, meta, shard_id: int):
        from cluster.replication.remote_shard import RemoteShardAccess

        return RemoteShardAccess(self.peer_client, peer_id, api, meta.uuid, shard_id,
                                 routed_at=routed_version(meta, shard_id))

    def _current_meta(self, meta: CollectionMeta) -> CollectionMeta:
        latest = self._state().collections.get(meta.name)
        return latest if latest is not None and latest.uuid == meta.uuid else meta

    async def _source_caught_up(self, api: str, version: int) -> bool:
        """Whether a transfer's source applied metadata `version` and the writes it had
        accepted before (see cluster/replication/write_routing.py)."""
        result = await self.peer_client.get_json(
            api, f"/internal/v1/metadata/version?at_least={version}", timeout=5.0)
        return isinstance(result, dict) and bool(result.get("reached"))

    async def _forward_write(self, peer_id: int, meta, shard_id: int, method: str,
                             args: tuple) -> object:
        peers = self._state().peers
        if peer_id not in peers:
            raise Unavailable(f"peer {peer_id} ordering writes of {meta.name}/{shard_id} is gone")
        return await self.peer_client.coordinate_write(peers[peer_id]["api"], meta.uuid,
                                                       shard_id, method, *args)

    async def _report_replica_failure(self, meta: CollectionMeta, shard_id: int,
                                      peer_id: int) -> None:
        """A replica missed a write: through consensus an Active one turns Dead and a Partial
        one's transfer is aborted, so it serves nothing until a transfer restores it. Tried
        again while there is no quorum. One report runs at a time per replica; a failure
        reported meanwhile (a write routed to a newer transfer, say) is handled once more after
        it, with the newest routing, rather than dropped."""
        key = (meta.uuid, shard_id, peer_id)
        if key in self._failures_reported:
            self._failures_reported[key] = meta  # the running report goes round once more
            return
        self._failures_reported[key] = None
        try:
            while True:
                await self._report_once(meta, shard_id, peer_id)
                again = self._failures_reported.get(key)
                if again is None:
                    return
                meta, self._failures_reported[key] = again, None
        finally:
            self._failures_reported.pop(key, None)

    async def _report_once(self, meta: CollectionMeta, shard_id: int, peer_id: int) -> None:
        deadline = asyncio.get_running_loop().time() + REPORT_RETRY_SECONDS
        changed = 0
        while True:
            try:
                await self._mark_replica_failed(meta, shard_id, peer_id)
                return
            except Unavailable as exc:  # no quorum here now: the change must still happen
                if asyncio.get_running_loop().time() > deadline:
                    log.error("replica %s/%s on peer %s missed a write but could not be "
                              "marked Dead: %s", meta.name, shard_id, peer_id, exc)
                    return
                await asyncio.sleep(0.5)
            except FlotillaError as exc:  # changed meanwhile, or the last Active copy
                # The transfer to abort may have finished first: the replica is Active now
                # and still lacks the write, so look at it again.
                changed += 1
                if changed > 2:
                    log.info("replica %s/%s on peer %s stays: %s", meta.name, shard_id,
                             peer_id, exc)
                    return

    async def _exclude_replica(self, meta: CollectionMeta, shard_id: int,
                               peer_id: int) -> bool:
        """Whether the replica that missed a write routed with `meta` is out of the metadata
        this node applied (Dead, gone, or receiving through a transfer that started later),
        proposing that within EXCLUDE_SECONDS: until then the write may not be acknowledged,
        as a later read or transfer source could miss it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + EXCLUDE_SECONDS
        if self._replica_excluded(meta, shard_id, peer_id):
            # Out in this node's metadata already, which may trail the log (a node cut off from
            # the leader): a barrier brings what was committed before it, such as this node's
            # own replicas marked Dead meanwhile, which the caller looks at next.
            return await self._metadata_barrier(deadline)
        while not self._replica_excluded(meta, shard_id, peer_id):
            left = deadline - loop.time()
            if left <= 0:
                log.warning("replica %s/%s on peer %s missed a write and could not be marked "
                            "Dead in %gs", meta.name, shard_id, peer_id, EXCLUDE_SECONDS)
                return False
            try:
                await self._mark_replica_failed(meta, shard_id, peer_id,
                                                timeout=min(EXCLUDE_ATTEMPT_SECONDS, left))
            except Unavailable:  # no quorum now, or the outcome is unknown: look and retry
                await asyncio.sleep(0.05)
            except FlotillaError as exc:  # changed meanwhile (looked at again), or the last one
                if not self._replica_excluded(meta, shard_id, peer_id):
                    log.warning("replica %s/%s on peer %s missed a write and stays: %s",
                                meta.name, shard_id, peer_id, exc)
                    return False
        return True

    async def _metadata_barrier(self, deadline: float) -> bool:
        """Whether this node applied everything committed before `deadline` (roughly)."""
        assert self.consensus is not None, "the node is not started"
        loop = asyncio.get_running_loop()
        while (left := deadline - loop.time()) > 0:
            try:
                await self.consensus.propose({"op": BARRIER_OP},
                                             timeout=min(EXCLUDE_ATTEMPT_SECONDS, left))
                return True
            except Unavailable:
                await asyncio.sleep(0.05)
        return False

    def _replica_excluded(self, meta: CollectionMeta, shard_id: int, peer_id: int) -> bool:
        current = self._state().collections.get(meta.name)
        if current is None or current.uuid != meta.uuid:
            return True  # the collection is gone
        state = current.shards.get(shard_id, {}).get(peer_id)
        if state == ACTIVE:
            return False
        if state == PARTIAL:
            # A transfer that started after the write was routed streams the write in.
            record = transfer_into(current, shard_id, peer_id)
            return record is not None and record.get("id", 0) > routed_version(meta, shard_id)
        return True  # Dead, or no longer placed there

    async def _mark_replica_failed(self, meta: CollectionMeta, shard_id: int,
                                   peer_id: int, timeout: float = 10.0) -> None:
        current = self._state().collections.get(meta.name)
        if current is None or current.uuid != meta.uuid:
            return  # the collection is gone
        state = current.shards.get(shard_id, {}).get(peer_id)
        assert self.consensus is not None, "the node is not started"
        if state == ACTIVE:
            await self.consensus.propose(_mark_dead_op(meta, shard_id, peer_id), timeout)
            self.metrics.cluster.replicas_marked_dead.labels(collection=meta.name).inc()
            log.warning("replica %s/%s on peer %s marked Dead: it missed a write",
                        meta.name, shard_id, peer_id)
            return
        record = transfer_into(current, shard_id, peer_id)
        # A transfer that started after the write was routed streams it in anyway.
        if state == PARTIAL and record is not None and \
                record.get("id", 0) <= routed_version(meta, shard_id):
            await self.consensus.propose({"op": "abort_transfer", "collection": meta.name,
                                          "shard_id": shard_id, "to": peer_id,
                                          "id": record.get("id", 0)}, timeout)
            log.warning("transfer of %s/%s to peer %s aborted: the replica missed a write",
                        meta.name, shard_id, peer_id)

    def _replica_access(self, meta: CollectionMeta, shard_id: int, peer_id: int):
        """A replica of the shard, this node's or a peer's, by itself (anti-entropy)."""
        if peer_id == self.peer_id:
            shard = self.shards.get(meta, shard_id)
            if shard is None:
                raise NotFound(f"shard {shard_id} of `{meta.name}` is not open here")
            return LocalShardAccess(shard)
        peers = self._state().peers
        if peer_id not in peers:
            raise NotFound(f"peer {peer_id} is not a member of the cluster")
        return self._remote_shard(peer_id, peers[peer_id]["api"], meta, shard_id)

    async def _mark_divergent_dead(self, meta: CollectionMeta, shard_id: int,
                                   peer_id: int) -> bool:
        """Anti-entropy: have an Active replica that differs from the others marked Dead,
        so that the recovery transfer refills it. Whether that committed."""
        assert self.consensus is not None, "the node is not started"
        try:
            await self.consensus.propose(_mark_dead_op(meta, shard_id, peer_id), EXCLUDE_SECONDS)
            return True
        except FlotillaError as exc:  # changed meanwhile, the last Active one, or no quorum
            log.info("anti-entropy: replica %s/%s on peer %s not marked Dead: %s", meta.name,
                     shard_id, peer_id, exc)
            return False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        settings = self.settings
        if settings.cluster.enabled:
            from cluster.replication.peer_client import PeerClient

            requests = self.metrics.cluster.peer_requests
            self.peer_client = PeerClient(
                secret=internal_credential(settings),
                ssl_context=self.tls.client_context if self.tls is not None else None,
                on_call=lambda op, outcome: requests.labels(operation=op, outcome=outcome).inc(),
                stream=settings.cluster.p2p.stream,
            )
            await self.peer_client.start()
        self.consensus = await self._start_consensus()
        await self._register_peer()
        await self.reconcile()
        self.snapshots.start()  # after the first reconcile installed any committed recovery
        self.ready = True
        self._tasks = [
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._reconcile_loop()),
        ]
        if self.tls is not None:
            self._tasks.append(asyncio.create_task(self.tls.keep_fresh()))
        if self.transfers is not None:
            self._tasks.append(asyncio.create_task(self._periodic_reconcile()))
            self._reconcile_wanted.set()
        if self.anti_entropy is not None:
            period = settings.cluster.anti_entropy_period_ms / 1000
            self._tasks.append(asyncio.create_task(self.anti_entropy.run(period)))
        log.info("node %s ready: api %s, raft %s", self.peer_id, self.api_address,
                 self.raft_address)

    async def _register_peer(self) -> None:
        """Record this peer's addresses in the metadata. A Raft leader change meanwhile (the
        node that let this one join may restart) leaves the outcome unknown: check, retry."""
        assert self.consensus is not None
        wanted = {"uri": self.raft_address, "api": self.api_address}
        loop = asyncio.get_running_loop()
        deadline = loop.time() + REGISTER_SECONDS
        while self._state().peers.get(self.peer_id) != wanted:
            try:
                await self._propose({"op": "add_peer", "peer_id": self.peer_id, **wanted})
            except Unavailable as exc:
                if loop.time() > deadline:
                    raise
                log.info("registering this peer: %s; retrying", exc)
                with contextlib.suppress(Unavailable):
                    await self.consensus.wait_ready(timeout=5.0)  # caught up: did it commit?

    # ---- metadata -----------------------------------------------------------------------

    def _state(self) -> MetadataState:
        if self.consensus is None:
            return MetadataState()
        return self.consensus.state

    async def _propose(self, op: dict) -> object:
        assert self.consensus is not None, "the node is not started"
        return await self.consensus.propose(op)

    def _on_applied(self, op: dict, result: object, state: MetadataState) -> None:
        # pysyncobj's thread: changes made elsewhere reach local shards through the loop.
        if self.ready and self._loop is not None:
            self._loop.call_soon_threadsafe(self._reconcile_wanted.set)

    async def reconcile(self) -> None:
        async with self._reconcile_lock:
            await asyncio.to_thread(self.shards.reconcile, self._state())
        if self.transfers is not None and self.ready:
            await self.transfers.reconcile()
        await self._check_collection_count()
        state = self._state()
        unindexed_field.solve_indexed(self.issues, {
            name: meta.payload_indexes for name, meta in state.collections.items()})

    def note_read(self, collection: str, request: object, seconds: float) -> None:
        """A filtered read that was slow opens an UNINDEXED_FIELD issue for each field its
        filters test without an index."""
        if seconds < self.slow_read_seconds:
            return
        try:
            meta = self.catalog.resolve(collection)
        except NotFound:
            return
        unindexed_field.report_slow_read(self.issues, meta.name, meta.payload_indexes,
                                         unindexed_field.filters_of(request), seconds)

    async def _check_collection_count(self) -> None:
        """The TOO_MANY_COLLECTIONS issue, looked at again when collections come or go."""
        count = len(self._state().collections)
        if count == self._collections_checked:
            return
        self._collections_checked = count
        sizes = await asyncio.to_thread(self._points_per_collection)
        too_many_collections.check(self.issues, list(sizes.values()))

    async def _after_metadata_change(self) -> None:
        """A change made through this node is answered once local shards follow it and the
        other live peers applied it too, so the next request on any node sees it. A frozen
        peer is not waited for beyond its liveness probe (a second, not the whole timeout)."""
        await self.reconcile()
        if self.peer_client is None:
            return
        version = self._state().version
        peers = [info["api"] for pid, info in self._state().peers.items()
                 if pid != self.peer_id]
        await asyncio.gather(
            *(self.peer_client.get_json(api, f"/internal/v1/metadata/version?at_least={version}",
                                        timeout=3.0, while_answering=True) for api in peers),
            return_exceptions=True,  # a peer that is down catches up when it returns
        )

    async def wait_metadata_version(self, version: int, timeout: float) -> bool:
        """Wait (briefly) until this node has applied metadata `version`, shards included,
        and has applied the writes to its replicas that were routed before it had."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if not await self._applied_version(version, timeout):
            return False
        running = self.links.in_flight.snapshot() if self.links is not None else []
        return await WritesInFlight.drain(running, max(deadline - loop.time(), 0.01))

    async def _applied_version(self, version: int, timeout: float) -> bool:
        """Wait (briefly) until this node has applied metadata `version`, shards included."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self._state().version < version:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.005)
        await self.reconcile()
        return True

    async def _periodic_reconcile(self) -> None:
        """Recoveries that could not start (no active source yet) are tried again."""
        while True:
            await asyncio.sleep(RECONCILE_SECONDS)
            self._reconcile_wanted.set()

    async def _reconcile_loop(self) -> None:
        while True:
            await self._reconcile_wanted.wait()
            self._reconcile_wanted.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling local shards failed")

    # ---- collections --------------------------------------------------------------------

    async def remove_peer(self, peer_id: int, *, force: bool = False) -> None:
        """Remove a peer from the metadata and from the Raft group."""
        peers = self._state().peers
        if peer_id not in peers:
            raise NotFound(f"Peer {peer_id} is not a member of the cluster")
        address = peers[peer_id]["uri"]
        await self._propose({"op": "remove_peer", "peer_id": peer_id, "force": force})
        if self.consensus is not None and address != self.raft_address:
            try:
                await self.consensus.remove_member(address)
            except FlotillaError as exc:
                # pysyncobj's leader refuses to remove itself, and any leader refuses while
                # another membership change is pending: a member left behind would still count
                # in the quorum, so keep trying (once the removed node stops, another leads).
                log.warning("peer %s left the metadata but not yet the Raft group (%s); "
                            "retrying until it does (stop that node)", peer_id, exc)
                self._tasks.append(asyncio.create_task(self._remove_member_later(address)))
        await self.reconcile()

    async def _remove_member_later(self, address: str) -> None:
        assert self.consensus is not None
        deadline = asyncio.get_running_loop().time() + REMOVE_MEMBER_RETRY_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(1.0)
            if address not in self.consensus.raft_info()["partners_connected"]:
                return  # gone already (removed through another node)
            if any(info["uri"] == address for info in self._state().peers.values()):
                return  # it joined again meanwhile
            try:
                await self.consensus.remove_member(address)
                log.info("%s removed from the Raft group", address)
                return
            except FlotillaError as exc:
                log.debug("removing %s from the Raft group: %s", address, exc)
        log.error("%s is still a Raft member: remove it with syncobj_admin", address)

    async def create_collection(self, name: str, request: CreateCollection) -> None:
        self.quota.check_update()  # a new collection's shards take memory and disk here
        meta = await self.catalog.create(name, request)
        if meta.init_from is not None:
            source = self.catalog.resolve(meta.init_from)
            await self.points.copy_points(source, meta)

    async def collection_info(self, name: str) -> dict:
        meta = self.catalog.resolve(name)
        infos = await self.points.shard_infos(meta)
        indexed: dict[str, int] = {}
        for shard in self.views.of(meta).shards:
            for field, points in (await shard.indexed_points()).items():
                indexed[field] = indexed.get(field, 0) + points
        return collection_info(meta, infos, indexed)

    def _cluster_metrics(self) -> dict:
        replicas: dict[tuple[str, str], int] = {}
        for meta in list(self._state().collections.values()):
            for states in meta.shards.values():
                for state in states.values():
                    key = (meta.name, state)
                    replicas[key] = replicas.get(key, 0) + 1
        raft = self.consensus.raft_info() if self.consensus is not None else {}
        statuses = {}
        for meta in list(self._state().collections.values()):
            statuses[meta.name] = worst_status(
                [s.info() for s in self.shards.of_collection(meta).values()])
            # A counter is shown from 0 before its first failure, so that rate() and
            # increase() see that failure too.
            self.metrics.cluster.quorum_failures.labels(collection=meta.name)
        return {"raft": raft, "replicas": replicas, "transfers": dict(self.transfer_progress),
                "peers": len(self._state().peers), "collection_status": statuses}

    def _points_per_collection(self) -> dict[str, int]:
        out = {}
        for meta in list(self._state().collections.values()):
            out[meta.name] = sum(s.count() for s in self.shards.of_collection(meta).values())
        return out

    # ---- background ---------------------------------------------------------------------

    async def _flush_loop(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_CHECK_SECONDS)
            try:
                await asyncio.to_thread(self.shards.flush_all)
            except Exception:
                log.exception("periodic flush failed")
            release_free_memory()

    async def close(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.links is not None:
            # Writes acknowledged while a replica still ran them: let them end, and failures
            # be reported, so no replica that missed one stays Active.
            await self.links.lagging.drain(LAGGING_WRITES_SECONDS)
        async with self._reconcile_lock:
            await asyncio.to_thread(self.shards.close)
        if self.consensus is not None:
            self.consensus.close()
        if self.peer_client is not None:
            await self.peer_client.close()


def _mark_dead_op(meta: CollectionMeta, shard_id: int, peer_id: int) -> dict:
    """The op that marks an Active replica of the collection `meta` names Dead: refused if the
    replica is no longer Active or the name now holds another collection (another uuid)."""
    return {"op": "set_replica_state", "collection": meta.name, "uuid": meta.uuid,
            "shard_id": shard_id, "peer_id": peer_id, "state": DEAD, "from_state": ACTIVE}
