"""Routes of the Snapshots API: collection, shard and full-storage snapshots (Qdrant's paths).

Every route needs the manage right (node/api/access.py's default). `PUT /snapshots/recover`
is Flotilla's own: Qdrant restores a full snapshot only when a node starts.
"""

from __future__ import annotations

import asyncio
import time

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from node.api.envelope import ok, query_flag, read_body
from node.ascii_digits import parse_ascii_uint
from node.errors import BadRequest
from node.model import decode
from node.model.snapshots import RecoverOptions, SnapshotRecover
from node.runtime import Node
from node.snapshots.service import Snapshots

_COLLECTION = "/collections/{collection_name}"
_SHARD = _COLLECTION + "/shards/{shard_id}"


def routes(node: Node) -> list[web.RouteDef]:
    snapshots: Snapshots = node.snapshots

    def where(request: web.Request) -> tuple[str | None, int | None]:
        name = request.match_info.get("collection_name")
        if name is not None:
            name = node.catalog.resolve(name).name
        shard = request.match_info.get("shard_id")
        if shard is None:
            return name, None
        shard_id = parse_ascii_uint(shard)
        if shard_id is None:
            raise BadRequest(f"shard_id must be a non-negative integer, got {shard!r}")
        return name, shard_id

    async def create(request: web.Request) -> web.Response:
        collection, shard_id = where(request)
        return await answer_when_asked(request, snapshots.create(collection, shard_id))

    async def list_snapshots(request: web.Request) -> web.Response:
        collection, shard_id = where(request)
        return ok(request, snapshots.list(collection, shard_id))

    async def download(request: web.Request) -> web.StreamResponse:
        collection, shard_id = where(request)
        path = snapshots.path(collection, request.match_info["snapshot_name"], shard_id)
        return web.FileResponse(path, headers={
            "Content-Type": "application/octet-stream",
            "Content-Disposition": f'attachment; filename="{path.name}"',
        })

    async def delete(request: web.Request) -> web.Response:
        collection, shard_id = where(request)
        snapshots.delete(collection, request.match_info["snapshot_name"], shard_id)
        return ok(request, True)

    async def recover(request: web.Request) -> web.Response:
        collection, shard_id = where_for_recovery(request)
        body = await read_body(request, SnapshotRecover)
        path, temporary = await snapshots.locate(body)
        return await finish_recovery(request, path, temporary, collection, shard_id, body)

    async def upload(request: web.Request) -> web.Response:
        collection, shard_id = where_for_recovery(request)
        # The options are checked before the archive is received.
        options = decode(RecoverOptions, {key: request.query[key]
                                          for key in ("priority", "checksum")
                                          if request.query.get(key)})
        path = await snapshots.receive(_uploaded_chunks(request))
        return await finish_recovery(request, path, True, collection, shard_id, options)

    def where_for_recovery(request: web.Request) -> tuple[str | None, int | None]:
        # The collection may not exist yet: its name is taken as given.
        name = request.match_info.get("collection_name")
        if name is not None:
            real = node.catalog.state.aliases.get(name)
            name = real or name
        if request.match_info.get("shard_id") is None:
            return name, None
        return name, where(request)[1]

    async def finish_recovery(request: web.Request, path, temporary: bool,
                              collection: str | None, shard_id: int | None,
                              options: RecoverOptions) -> web.Response:
        async def run() -> bool:
            try:
                return await snapshots.recover(path, collection, options, shard_id=shard_id)
            finally:
                if temporary:
                    path.unlink(missing_ok=True)

        return await answer_when_asked(request, run())

    async def answer_when_asked(request: web.Request, work) -> web.Response:
        """The work's result with `wait=true` (the default); else 202 at once, the work going
        on in the background."""
        task = asyncio.ensure_future(work)
        if not query_flag(request, "wait", default=True):
            snapshots.in_background(task)
            return accepted(request)
        return ok(request, await task)

    async def stream_shard(request: web.Request) -> web.StreamResponse:
        collection, shard_id = where(request)
        path = await snapshots.stream_shard(collection, shard_id)
        try:
            response = web.StreamResponse(headers={
                "Content-Type": "application/octet-stream",
                "Content-Disposition": f'attachment; filename="{collection}-shard-{shard_id}'
                                       '.snapshot"',
            })
            response.content_length = path.stat().st_size
            await response.prepare(request)
            with open(path, "rb") as archive:
                while chunk := await asyncio.to_thread(archive.read, 1 << 20):
                    await response.write(chunk)
            await response.write_eof()
            return response
        finally:
            path.unlink(missing_ok=True)

    return [
        web.get(f"{_SHARD}/snapshot", stream_shard),
        web.post(f"{_COLLECTION}/snapshots/upload", upload),
        web.put(f"{_COLLECTION}/snapshots/recover", recover),
        web.post(f"{_COLLECTION}/snapshots", create),
        web.get(f"{_COLLECTION}/snapshots", list_snapshots),
        web.get(f"{_COLLECTION}/snapshots/{{snapshot_name}}", download),
        web.delete(f"{_COLLECTION}/snapshots/{{snapshot_name}}", delete),
        web.post(f"{_SHARD}/snapshots/upload", upload),
        web.put(f"{_SHARD}/snapshots/recover", recover),
        web.post(f"{_SHARD}/snapshots", create),
        web.get(f"{_SHARD}/snapshots", list_snapshots),
        web.get(f"{_SHARD}/snapshots/{{snapshot_name}}", download),
        web.delete(f"{_SHARD}/snapshots/{{snapshot_name}}", delete),
        web.put("/snapshots/recover", recover),
        web.post("/snapshots", create),
        web.get("/snapshots", list_snapshots),
        web.get("/snapshots/{snapshot_name}", download),
        web.delete("/snapshots/{snapshot_name}", delete),
    ]


def accepted(request: web.Request) -> web.Response:
    """Qdrant's 202 for an operation left to run in the background (`wait=false`)."""
    elapsed = time.perf_counter() - request.get("started", time.perf_counter())
    return web.json_response({"status": "accepted", "time": elapsed}, status=202)


async def _uploaded_chunks(request: web.Request):
    """The bytes of the multipart field `snapshot` (Qdrant's upload form), or of a raw body."""
    if not request.content_type.startswith("multipart/"):
        async for chunk in request.content.iter_chunked(1 << 20):
            yield chunk
        return
    try:
        reader = await request.multipart()
        async for part in reader:
            if isinstance(part, BodyPartReader) and part.name == "snapshot":
                while chunk := await part.read_chunk(1 << 20):
                    yield chunk
                return
    except (HttpProcessingError, ValueError) as exc:
        raise BadRequest(f"malformed multipart upload: {exc}") from None
    raise BadRequest("the upload has no `snapshot` field")
