"""Snapshots of one node: create (collection, shard, full storage) and recover.

Creating captures each local shard at a point in time (capture.py) and streams the archive to a
hidden partial file, renamed once complete. Recovering checks the archive's sha256 when given,
extracts and verifies every member before anything else is touched, stages the shard data on
disk, and then proposes `recover_collection` through consensus, so config and placement agree
on every node; this peer swaps the staged data in when it applies the op. A failure before the
op commits leaves the existing collection as it was.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import aiohttp
from prometheus_client import Counter, Gauge

from cluster.metadata.collection_config import check_stored_config, validate_collection_name
from cluster.metadata.state import ACTIVE, SNAPSHOT_PRIORITIES, CollectionMeta
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.errors import BadRequest, FlotillaError, NotFound
from node.model import decode
from node.model.aliases import ChangeAliasesRequest
from node.model.payload_index import CreateIndexRequest
from node.snapshots.archive import (
    ArchivedCollection,
    DamagedSnapshot,
    ExtractedCollection,
    extract_archive,
    file_sha256,
    write_archive,
)
from node.snapshots.capture import CapturedFile, capture_shard
from node.snapshots.store import SnapshotStore, check_name

log = logging.getLogger(__name__)

FETCH_TIMEOUT_SECONDS = 3600
_CHUNK = 1 << 20


class SnapshotTooLarge(FlotillaError):
    status = 413


class SnapshotMetrics:
    def __init__(self, registry) -> None:
        self.created = Counter("flotilla_snapshots_created", "Snapshots created, by kind",
                               ["kind"], registry=registry)
        self.creating = Gauge("flotilla_snapshot_creation_running",
                              "Snapshot creations running", registry=registry)
        self.recovering = Gauge("flotilla_snapshot_recovery_running",
                                "Snapshot recoveries running", registry=registry)


def collection_folder_name(name: str) -> str:
    """A collection's folder in the snapshots directory (names outside the safe set are
    written in hex)."""
    try:
        return check_name(name)
    except BadRequest:
        return "x-" + name.encode().hex()


class Snapshots:
    def __init__(self, node) -> None:
        self.node = node
        settings = node.settings.storage
        self.store = SnapshotStore(settings.snapshots_dir)
        self.max_bytes = settings.snapshot_max_size_mb * 1024 * 1024
        self.work = node.shards.restores.work
        self.metrics = SnapshotMetrics(node.metrics.registry)
        self._background: set[asyncio.Task] = set()

    def in_background(self, task: asyncio.Task) -> None:
        """Keep a task of a `wait=false` request alive until it ends; its outcome is logged."""
        self._background.add(task)
        task.add_done_callback(self._ended)

    def _ended(self, task: asyncio.Task) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("snapshot operation failed: %s", task.exception())

    def start(self) -> None:
        """Remove what an interrupted create, upload or recovery left behind."""
        self.store.root.mkdir(parents=True, exist_ok=True)
        self.store.remove_partials()
        state = self.node.catalog.state
        wanted = {r for meta in state.collections.values() for r in meta.restored.values()}
        self.node.shards.restores.discard_unwanted(wanted)

    # ---- where ----------------------------------------------------------------------------

    def folder(self, collection: str | None, shard_id: int | None = None) -> Path:
        if collection is None:
            return self.store.folder()
        return self.store.folder(collection_folder_name(collection), shard_id)

    def list(self, collection: str | None, shard_id: int | None = None) -> list[dict]:
        return self.store.list(self.folder(collection, shard_id))

    def path(self, collection: str | None, name: str, shard_id: int | None = None) -> Path:
        return self.store.path_of(self.folder(collection, shard_id), name)

    def delete(self, collection: str | None, name: str, shard_id: int | None = None) -> None:
        self.store.delete(self.path(collection, name, shard_id))

    # ---- create ---------------------------------------------------------------------------

    async def create(self, collection: str | None, shard_id: int | None = None) -> dict:
        """Snapshot a collection's local shards (or one of them), or, with no collection, every
        collection this node holds. Returns the snapshot's description."""
        node = self.node
        if collection is None:
            metas = [node.catalog.state.collections[n] for n in node.catalog.list_names()]
            kind, prefix = "full", f"full-snapshot-{node.peer_id}"
        else:
            metas = [node.catalog.resolve(collection)]
            kind = "collection" if shard_id is None else "shard"
            prefix = f"{collection_folder_name(metas[0].name)}-{node.peer_id}"
            if shard_id is not None:
                prefix += f"-shard-{shard_id}"
        folder = self.folder(None if collection is None else metas[0].name, shard_id)
        name = self.store.new_name(prefix)
        partial = self.store.partial_path(folder, name)
        try:
            checksum = await self._build(metas, kind, shard_id, partial)
            final = folder / name
            self.store.commit(partial, final, checksum)
        finally:
            partial.unlink(missing_ok=True)
        self.metrics.created.labels(kind=kind).inc()
        return self.store.describe(final)

    async def stream_shard(self, collection: str, shard_id: int) -> Path:
        """A shard snapshot written to a temporary file (the caller sends and removes it)."""
        meta = self.node.catalog.resolve(collection)
        path = self._download_path()
        try:
            await self._build([meta], "shard", shard_id, path)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    async def _build(self, metas: list[CollectionMeta], kind: str, shard_id: int | None,
                     target: Path) -> str:
        """Capture the local shards and write the archive to `target`; its sha256."""
        work = self.work / f"capture-{secrets.token_hex(6)}"
        self.metrics.creating.inc()
        try:
            archived = [await asyncio.to_thread(self._capture, meta, shard_id, work / meta.uuid)
                        for meta in metas]
            extra = {"aliases": self._aliases(metas)} if kind == "full" else {}
            return await asyncio.to_thread(self._write, target, kind, archived, extra)
        finally:
            self.metrics.creating.dec()
            shutil.rmtree(work, ignore_errors=True)

    def _capture(self, meta: CollectionMeta, shard_id: int | None, work: Path
                 ) -> ArchivedCollection:
        peer = self.node.peer_id
        # A replica that is not Active (Dead, or still receiving a transfer) holds no image
        # of the shard worth keeping.
        local = {sid: shard for sid, shard in self.node.shards.of_collection(meta).items()
                 if meta.shards.get(sid, {}).get(peer) == ACTIVE}
        if shard_id is not None:
            if shard_id not in meta.shards:
                raise NotFound(f"Shard {shard_id} not found in collection {meta.name}")
            if shard_id not in local:
                raise NotFound(f"Shard {shard_id} of collection {meta.name} has no Active "
                               "replica on this peer")
            local = {shard_id: local[shard_id]}
        shards: dict[int, list[CapturedFile]] = {}
        for sid, shard in sorted(local.items()):
            shards[sid] = capture_shard(shard, work / str(sid))
        return ArchivedCollection(
            meta.name, meta.config, meta.payload_indexes,
            {sid: [(f.relative, f.path, f.size) for f in files] for sid, files in shards.items()},
        )

    def _aliases(self, metas: list[CollectionMeta]) -> dict[str, str]:
        names = {m.name for m in metas}
        return {a: c for a, c in self.node.catalog.state.aliases.items() if c in names}

    @staticmethod
    def _write(partial: Path, kind: str, archived: list[ArchivedCollection], extra: dict) -> str:
        with open(partial, "wb") as out:
            checksum = write_archive(out, kind, archived, extra)
            out.flush()
            os.fsync(out.fileno())
        return checksum

    # ---- bring an archive here ------------------------------------------------------------

    def _download_path(self) -> Path:
        return self.store.partial_path(self.store.root / ".incoming", secrets.token_hex(8))

    async def receive(self, chunks: AsyncIterator[bytes]) -> Path:
        """Stream an uploaded archive to a partial file (removed by the caller), size-limited;
        refused (507) while this node is over its quota."""
        self.node.quota.check_update()
        path = self._download_path()
        written = 0
        try:
            with open(path, "wb") as out:
                async for chunk in chunks:
                    written += len(chunk)
                    if written > self.max_bytes:
                        raise SnapshotTooLarge(
                            f"the snapshot is larger than storage.snapshot_max_size_mb "
                            f"({self.max_bytes // (1024 * 1024)} MB)")
                    await asyncio.to_thread(out.write, chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return path

    async def locate(self, location: object, api_key: object = None) -> tuple[Path, bool]:
        """The archive a recover request names: (path, whether it is a temporary download)."""
        if not isinstance(location, str) or not location:
            raise BadRequest("location must be a file:// path or an http(s) URL")
        parts = urlsplit(location)
        if parts.scheme == "file":
            return self.store.inside(Path(unquote(parts.path))), False
        if parts.scheme in ("http", "https") and parts.netloc:
            return await self._fetch(location, api_key), True
        raise BadRequest("location must be a file:// path inside the snapshots directory or an "
                         "http(s) URL")

    async def _fetch(self, url: str, api_key: object) -> Path:
        headers = {"api-key": api_key} if isinstance(api_key, str) and api_key else {}
        timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS, sock_connect=10)
        ssl = self.node.tls.client_context if self.node.tls is not None else None
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session, \
                    session.get(url, headers=headers, ssl=ssl) as response:
                if response.status != 200:
                    raise BadRequest(f"fetching the snapshot from {url} failed: HTTP "
                                     f"{response.status}")
                return await self.receive(response.content.iter_chunked(_CHUNK))
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            raise BadRequest(f"fetching the snapshot from {url} failed: {exc}") from None

    # ---- recover --------------------------------------------------------------------------

    async def recover(self, archive: Path, collection: str | None, *,
                      priority: object = None, checksum: object = None,
                      shard_id: int | None = None) -> bool:
        """Recover `collection` (or, with None, every collection of a full snapshot) from the
        archive; the archive is not removed. Refused (507) while this node is over its
        quota: a recovery stores the archive's data here."""
        self.node.quota.check_update()
        priority = priority or "replica"
        if priority not in SNAPSHOT_PRIORITIES:
            raise BadRequest(f"priority must be one of {', '.join(SNAPSHOT_PRIORITIES)}")
        self.metrics.recovering.inc()
        extract = self.work / f"extract-{secrets.token_hex(6)}"
        try:
            if checksum is not None:
                if not isinstance(checksum, str):
                    raise BadRequest("checksum must be a sha256 hex string")
                actual = await asyncio.to_thread(file_sha256, archive)
                if actual != checksum.strip().lower():
                    raise BadRequest(f"checksum mismatch: the snapshot's sha256 is {actual}")
            extracted = await asyncio.to_thread(extract_archive, archive, extract)
            if collection is None:
                if extracted.kind != "full":
                    raise BadRequest("this is not a full-storage snapshot")
                for item in extracted.collections:
                    await self._recover_one(item, item.name, priority, None, extract)
                await self._restore_aliases(extracted.manifest.get("aliases") or {})
                return True
            if extracted.kind == "full" or len(extracted.collections) != 1:
                raise BadRequest("a full-storage snapshot is recovered through PUT "
                                 "/snapshots/recover, not into one collection")
            item = extracted.collections[0]
            if shard_id is not None:
                if extracted.kind != "shard" or list(item.shards) != [shard_id]:
                    raise BadRequest(f"this snapshot does not hold shard {shard_id} alone")
                current = self.node.catalog.resolve(collection)
                item.config = current.config  # a shard recovery keeps the collection's config
                item.payload_indexes = current.payload_indexes
            await self._recover_one(item, collection, priority, shard_id, extract)
            return True
        finally:
            self.metrics.recovering.dec()
            shutil.rmtree(extract, ignore_errors=True)

    async def _recover_one(self, item: ExtractedCollection, name: str, priority: str,
                           shard_id: int | None, extract: Path) -> None:
        node = self.node
        validate_collection_name(name)
        # The archive's checksums prove it is whole, not that it is Flotilla's: what goes into
        # consensus is checked as strictly as a create request.
        try:
            check_stored_config(item.config)
            if not isinstance(item.payload_indexes, dict):
                raise BadRequest("payload indexes must be an object")
            for field_name, schema in item.payload_indexes.items():
                decode(CreateIndexRequest, {"field_name": field_name, "field_schema": schema})
        except BadRequest as exc:
            raise BadRequest(f"the snapshot's collection is malformed: {exc}") from None
        await asyncio.to_thread(_check_shards_open, item)
        recovery = secrets.token_hex(8)
        staged = node.shards.restores.folder(recovery)
        staged.mkdir(parents=True, exist_ok=True)
        for sid, directory in item.shards.items():
            directory.mkdir(parents=True, exist_ok=True)
            directory.rename(staged / str(sid))
        op = {"op": "recover_collection", "name": name, "uuid": uuid.uuid4().hex,
              "config": item.config, "payload_indexes": item.payload_indexes,
              "peer": node.peer_id, "shards": sorted(item.shards), "priority": priority,
              "recovery": recovery}
        try:
            await node.catalog.propose(op)
        finally:
            node.shards.restores.discard(recovery)  # installed by now, or never wanted

    async def _restore_aliases(self, aliases: dict) -> None:
        state = self.node.catalog.state
        actions = [{"create_alias": {"alias_name": a, "collection_name": c}}
                   for a, c in aliases.items()
                   if isinstance(a, str) and c in state.collections and a not in state.aliases]
        if actions:
            request = decode(ChangeAliasesRequest, {"actions": actions}, path="aliases")
            await self.node.catalog.change_aliases(request)


def _check_shards_open(item: ExtractedCollection) -> None:
    """Open and close every shard of an extracted collection before it reaches consensus: a
    shard that cannot be opened (files the engine does not accept, records naming code) is a
    400 here rather than a shard that fails on every node that applies the recovery."""
    config = ShardConfig.from_collection_config(item.config)
    for sid, directory in item.shards.items():
        if not directory.exists():
            continue  # a shard the snapshot does not hold starts empty
        try:
            LocalShard(directory, config).close()
        except Exception as exc:  # whatever the files hold, the answer is a refusal
            raise DamagedSnapshot(
                f"shard {sid} of the snapshot cannot be opened: {type(exc).__name__}: {exc}"
            ) from None
