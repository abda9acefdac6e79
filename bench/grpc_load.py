"""gRPC load, run in the load generator's process (bench/loadgen.py) like the HTTP load.

Requests are serialized protobuf messages made before the timed loop and sent as raw bytes
(no serializer in the call); each worker has its own channel (its own HTTP/2 connection, as an
HTTP worker has its own keep-alive connection) and one call in flight. Only the first answer
to each request is decoded, for its ids.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass

from bench.loadgen import LoadResult

REQUEST_TIMEOUT = 600.0


@dataclass
class GrpcLoadSpec:
    targets: list[str]  # host:port of each node's gRPC face; workers are spread over them
    method: str  # "/qdrant.Points/Query"
    requests: list[bytes]
    concurrency: int
    duration: float | None = None  # None: send every request once
    parse: str = "none"  # "query", "batch" or "none"


def _ids(parse: str, raw: bytes) -> list:
    from qdrant_client import grpc as pb  # imported before the timed loop by _run

    def pid(p) -> int | str:
        return p.id.num if p.id.WhichOneof("point_id_options") == "num" else p.id.uuid

    if parse == "query":
        return [pid(p) for p in pb.QueryResponse.FromString(raw).result]
    return [[pid(p) for p in r.result] for r in pb.QueryBatchResponse.FromString(raw).result]


async def _run(spec: GrpcLoadSpec) -> LoadResult:
    import grpc
    from qdrant_client import grpc as pb  # noqa: F401  (a second's import, not to be timed)

    channels = [grpc.aio.insecure_channel(spec.targets[w % len(spec.targets)], options=[
        ("grpc.max_send_message_length", 64 << 20),
        ("grpc.max_receive_message_length", 64 << 20)]) for w in range(spec.concurrency)]
    calls = [c.unary_unary(spec.method) for c in channels]
    for c in channels:
        await c.channel_ready()
    n = len(spec.requests)
    counter = itertools.count()
    latencies: list[float] = []
    ids: dict[int, list] = {}
    errors, first_error = 0, ""
    start = time.perf_counter()
    deadline = None if spec.duration is None else start + spec.duration

    async def worker(call) -> None:
        nonlocal errors, first_error
        while True:
            i = next(counter)
            if (deadline is None and i >= n) or (deadline is not None
                                                 and time.perf_counter() >= deadline):
                return
            t0 = time.perf_counter()
            try:
                raw = await call(spec.requests[i % n], timeout=REQUEST_TIMEOUT)
            except grpc.RpcError as exc:
                errors += 1
                first_error = first_error or f"{exc.code().name}: {exc.details()}"
                return
            latencies.append(time.perf_counter() - t0)
            if spec.parse != "none" and i < n and i not in ids:
                ids[i] = _ids(spec.parse, raw)

    try:
        await asyncio.gather(*(worker(call) for call in calls))
    finally:
        for c in channels:
            await c.close()
    wall = time.perf_counter() - start
    return LoadResult(len(latencies), errors, wall, 0.0, latencies, ids, first_error)


def entry(spec: GrpcLoadSpec) -> LoadResult:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover
        pass
    cpu0 = time.process_time()
    result = asyncio.run(_run(spec))
    result.client_cpu = time.process_time() - cpu0
    return result
