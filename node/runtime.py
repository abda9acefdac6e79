"""One running Flotilla node: consensus, local shards and routers wired together.

The node is a Raft member from its first start (a cluster of one unless configured otherwise),
so every metadata change takes the same path: propose, commit, apply, reconcile local shards.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from pathlib import Path

from cluster.catalog import Catalog
from cluster.collection_info import collection_info
from cluster.collection_view import CollectionViews
from cluster.consensus import MetadataConsensus
from cluster.local_shards import LocalShards
from cluster.point_router import PointRouter
from cluster.query_router import QueryRouter
from cluster.state import MetadataState
from cluster.strict_mode import RateLimiter
from node.api.metrics import NodeMetrics
from node.engine.durable_files import write_atomic
from node.settings import Settings, parse_uri

log = logging.getLogger(__name__)

FLUSH_CHECK_SECONDS = 1.0


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
        storage = Path(settings.storage.storage_path)
        self.peer_id = load_or_create_peer_id(storage)
        self.metrics = NodeMetrics()
        self.shards = LocalShards(
            storage / "collections", self.peer_id, on_optimizer_run=self.metrics.optimizer_run
        )
        self.api_address = f"http://{settings.service.host}:{settings.service.http_port}"
        self.raft_address = self._raft_address(settings)
        self.ready = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._reconcile_lock = asyncio.Lock()
        self._reconcile_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.consensus: MetadataConsensus | None = None
        self.catalog = Catalog(self._propose, self._state, self.reconcile)
        self.views = views = CollectionViews(self.catalog, self.shards)
        self.rate_limiter = RateLimiter()
        self.points = PointRouter(self.catalog, views, self.rate_limiter)
        self.queries = QueryRouter(views, self.rate_limiter)
        self.metrics.set_stats_source(self._points_per_collection)

    @staticmethod
    def _raft_address(settings: Settings) -> str:
        if settings.cluster.enabled and settings.cluster.uri:
            host, port = parse_uri(settings.cluster.uri, settings.cluster.p2p.port)
            return f"{host}:{port}"
        # A cluster of one listens for Raft on loopback only.
        return f"127.0.0.1:{settings.cluster.p2p.port}"

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        settings = self.settings
        partners = []
        if settings.cluster.enabled:
            partners = [
                "{}:{}".format(*parse_uri(uri, settings.cluster.p2p.port))
                for uri in settings.cluster.peers
            ]
        self.consensus = MetadataConsensus(
            self_address=self.raft_address,
            partners=partners,
            data_dir=Path(settings.storage.storage_path) / "raft",
            secret=settings.cluster.secret,
            tick_period_ms=settings.cluster.consensus.tick_period_ms,
            on_applied=self._on_applied,
        )
        await self.consensus.wait_ready()
        if self.peer_id not in self._state().peers:
            await self._propose(
                {"op": "add_peer", "peer_id": self.peer_id, "uri": self.raft_address,
                 "api": self.api_address}
            )
        await self.reconcile()
        self.ready = True
        self._tasks = [
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._reconcile_loop()),
        ]
        log.info("node %s ready: api %s, raft %s", self.peer_id, self.api_address,
                 self.raft_address)

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

    async def _reconcile_loop(self) -> None:
        while True:
            await self._reconcile_wanted.wait()
            self._reconcile_wanted.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("reconciling local shards failed")

    # ---- collections --------------------------------------------------------------------

    async def create_collection(self, name: str, body: dict) -> None:
        meta = await self.catalog.create(name, body)
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

    async def close(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        async with self._reconcile_lock:
            await asyncio.to_thread(self.shards.close)
        if self.consensus is not None:
            self.consensus.close()
