"""The serving side of the process-model prototype (bench/procmodel.py): N processes, one port.

A launcher starts `--workers` serving processes that each bind the same port with SO_REUSEPORT,
so the kernel spreads incoming connections over them. Each one answers a plain search
(`POST /collections/bench/points/query`, a dense vector, a limit, `params.hnsw_ef`) over one
sealed segment written by the driver: `ids.npy` and `vectors.npy` opened with mmap (shared page
cache across processes) and `graph.bin`, an hnswlib index. hnswlib cannot map its graph from a
file, so either every process loads its own copy (`--share load`, what a reader picking up a
newly published generation would do) or the launcher loads it once and forks the servers
(`--share fork`, pages shared copy-on-write, which searches never write).

Each server writes `ready-<pid>` into the segment directory once it listens, holding the seconds
it took to open the segment (what a reader would spend on each new generation). Not the node: a
measurement of what the process model would give, on the same aiohttp + uvloop stack.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

import hnswlib
import numpy as np
import orjson
from aiohttp import web

COLLECTION = "bench"
MAX_LIMIT = 1000


@dataclass
class Segment:
    """One sealed segment as the prototype's readers see it."""

    ids: np.ndarray  # (n,) uint64 external ids by internal offset, memory-mapped
    vectors: np.ndarray  # (n, dim) float32, memory-mapped (what an exact scan would read)
    graph: hnswlib.Index

    @property
    def dim(self) -> int:
        return int(self.vectors.shape[1])


def open_segment(directory: Path) -> Segment:
    ids = np.load(directory / "ids.npy", mmap_mode="r")
    vectors = np.load(directory / "vectors.npy", mmap_mode="r")
    graph = hnswlib.Index(space="cosine", dim=int(vectors.shape[1]))
    graph.load_index(str(directory / "graph.bin"), max_elements=int(vectors.shape[0]))
    graph.set_num_threads(1)  # one core per process: the processes are the parallelism
    return Segment(ids, vectors, graph)


def _error(status: int, message: str, t0: float) -> web.Response:
    body = {"status": {"error": message}, "time": time.perf_counter() - t0}
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


def _parse(raw: bytes, dim: int) -> tuple[np.ndarray, int, int]:
    """(query vector, limit, ef) of a plain search body; ValueError names what is wrong."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"body is not JSON: {exc}") from None
    if not isinstance(body, dict) or not isinstance(body.get("query"), list):
        raise ValueError("query: expected a list of numbers")
    try:
        vector = np.asarray(body["query"], dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError("query: expected a list of numbers") from None
    if vector.shape != (dim,):
        raise ValueError(f"query: expected {dim} numbers, got {vector.size}")
    limit = body.get("limit", 10)
    ef = (body.get("params") or {}).get("hnsw_ef", 64)
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: expected an integer in 1..{MAX_LIMIT}")
    if type(ef) is not int or not 1 <= ef <= 10_000:
        raise ValueError("params.hnsw_ef: expected an integer in 1..10000")
    return vector, limit, ef


def make_app(segment: Segment) -> web.Application:
    async def query(request: web.Request) -> web.Response:
        t0 = time.perf_counter()
        if request.match_info["name"] != COLLECTION:
            return _error(404, f"Collection `{request.match_info['name']}` doesn't exist!", t0)
        try:
            vector, limit, ef = _parse(await request.read(), segment.dim)
        except ValueError as exc:
            return _error(400, str(exc), t0)
        segment.graph.set_ef(max(ef, limit))
        labels, distances = segment.graph.knn_query(vector, k=min(limit, len(segment.ids)))
        ids = segment.ids[labels[0]].tolist()
        scores = (1.0 - distances[0]).tolist()
        points = [{"id": i, "version": 0, "score": s} for i, s in zip(ids, scores, strict=True)]
        body = {"result": {"points": points}, "status": "ok", "time": time.perf_counter() - t0}
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    app = web.Application()
    app.router.add_post("/collections/{name}/points/query", query)
    return app


async def _serve(segment: Segment, host: str, port: int, ready: Path, open_s: float) -> None:
    runner = web.AppRunner(make_app(segment), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, reuse_port=True).start()
    written = ready.with_name(f"tmp-{ready.name}")  # renamed whole: never read half-written
    written.write_text(f"{open_s:.6f}")
    written.replace(ready)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


def _server(directory: Path, host: str, port: int, segment: Segment | None,
            open_s: float) -> None:
    """Body of one forked serving process; never returns. `open_s`: the launcher's time to
    open `segment` when it was opened before the fork."""
    import uvloop

    code = 0
    try:
        if segment is None:
            t0 = time.perf_counter()
            segment = open_segment(directory)
            open_s = time.perf_counter() - t0
        uvloop.run(_serve(segment, host, port, directory / f"ready-{os.getpid()}", open_s))
    except BaseException:  # the launcher sees the exit code; the traceback goes to stderr
        import traceback

        traceback.print_exc()
        code = 1
    os._exit(code)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.procmodel_server", description=__doc__)
    p.add_argument("--dir", type=Path, required=True, help="segment directory")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--share", choices=("load", "fork"), default="load")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    shared = open_segment(args.dir) if args.share == "fork" else None
    open_s = time.perf_counter() - t0
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            _server(args.dir, args.host, args.port, shared, open_s)
        children.append(pid)

    def forward(signum: int, _frame: object) -> None:
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    signal.signal(signal.SIGTERM, forward)
    failed = 0
    for child in children:
        _, status = os.waitpid(child, 0)
        failed |= status != 0
    return int(failed)


if __name__ == "__main__":
    raise SystemExit(main())
