"""HTTP load generator that runs in its own process, so its CPU is not the server's or ours.

aiohttp on uvloop with pre-encoded bodies: the client does little more than write bytes and
read the ids out of each answer. It reports its own CPU time so the caller can show that the
load generator costs less than the server it measures.
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context

import numpy as np
import orjson


@dataclass
class LoadSpec:
    urls: list[str]  # requests are spread over these (one per node in a cluster)
    path: str
    bodies: list[bytes]
    concurrency: int
    duration: float | None = None  # None: send every body once; else loop until time is up
    parse: str = "none"  # "query", "batch" or "none": what to read out of each answer
    method: str = "POST"


@dataclass
class LoadResult:
    requests: int
    errors: int
    wall: float
    client_cpu: float
    latencies: list[float]
    ids: dict[int, list] = field(default_factory=dict)  # body index -> ids (first answer only)
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.wall if self.wall else 0.0

    def pct(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000 if self.latencies else 0.0


def _ids(parse: str, raw: bytes) -> list:
    result = orjson.loads(raw)["result"]
    if parse == "query":
        return [p["id"] for p in result["points"]]
    return [[p["id"] for p in r["points"]] for r in result]


async def _run(spec: LoadSpec) -> LoadResult:
    import aiohttp

    latencies: list[float] = []
    ids: dict[int, list] = {}
    errors, first_error = 0, ""
    n = len(spec.bodies)
    counter = 0
    start = time.perf_counter()
    deadline = start + spec.duration if spec.duration else None
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=spec.concurrency * 2)
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker(w: int) -> None:
            nonlocal counter, errors, first_error
            while True:
                i = counter
                if deadline is None and i >= n:
                    return
                if deadline is not None and time.perf_counter() >= deadline:
                    return
                counter += 1
                url = spec.urls[i % len(spec.urls)] + spec.path
                t0 = time.perf_counter()
                async with session.request(spec.method, url, data=spec.bodies[i % n],
                                           headers=headers) as resp:
                    raw = await resp.read()
                latencies.append(time.perf_counter() - t0)
                if resp.status != 200:
                    errors += 1
                    first_error = first_error or f"{resp.status} {raw[:300]!r}"
                elif spec.parse != "none" and i < n:
                    ids[i] = _ids(spec.parse, raw)

        await asyncio.gather(*(worker(w) for w in range(spec.concurrency)))
    wall = time.perf_counter() - start
    return LoadResult(len(latencies), errors, wall, 0.0, latencies, ids, first_error)


def _entry(spec: LoadSpec) -> LoadResult:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        pass
    cpu0 = time.process_time()
    result = asyncio.run(_run(spec))
    result.client_cpu = time.process_time() - cpu0
    return result


def _warm() -> None:
    import aiohttp  # noqa: F401  (imported once here rather than inside the first timed run)


class LoadGenerator:
    """One long-lived worker process; each run pickles its spec across."""

    def __init__(self) -> None:
        self._pool = ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn"))
        # Start the worker now, so its interpreter start-up is not timed in the first run.
        self._pool.submit(_warm).result()

    def run(self, spec: LoadSpec) -> LoadResult:
        return self._pool.submit(_entry, spec).result()

    def close(self) -> None:
        self._pool.shutdown()


def encode(obj: object) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)
