"""Workloads: threads that drive the official qdrant-client against several nodes at once and
record every operation in the history with its outcome.

Outcomes: `ok` (answered with success), `failed` (answered with an error, or the connection was
refused before anything was sent), `unknown` (no answer before the client's timeout, or the
connection broke mid-request). For a write, failed and unknown are both indeterminate: it may
have been applied.

Every process draws from its own generator seeded with (seed, process name): the same seed sends
the same operations to the same nodes in the same order. No choice depends on an outcome: a
delete picks among ids its process tried to write earlier, acknowledged or not.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx
from qdrant_client import QdrantClient, models
from qdrant_client.http.exceptions import ResponseHandlingException, UnexpectedResponse

from chaos.context import RunContext
from chaos.history import FAILED, OK, UNKNOWN, History, Op

CLIENT_TIMEOUT = 5  # seconds; an operation without an answer by then is `unknown`
# A refused connection fails in a millisecond: without a pause a process would spin on a dead
# node and fill the history with the same failure.
FAILURE_PAUSE = 0.05
DIM = 4
ALIAS = "live"
ALIAS_TARGETS = ("alias-a", "alias-b")
IDS_PER_PROCESS = 1_000_000


def classify(exc: BaseException) -> tuple[str, str]:
    """(outcome, error text) of an exception raised by qdrant-client."""
    if isinstance(exc, UnexpectedResponse):
        return FAILED, f"HTTP {exc.status_code}: {exc.content[:200]!r}"
    source = exc.source if isinstance(exc, ResponseHandlingException) else exc
    if isinstance(source, httpx.ConnectError | httpx.ConnectTimeout):
        return FAILED, f"{type(source).__name__}: {source}"  # nothing was sent
    if isinstance(source, httpx.TimeoutException):
        return UNKNOWN, f"timeout: {type(source).__name__}"
    return UNKNOWN, f"{type(source).__name__}: {source}"


def http_status(op: Op) -> int | None:
    if op.error and op.error.startswith("HTTP "):
        return int(op.error[5:8])
    return None


class Clients:
    """One qdrant-client per (process, node), so a process's calls never share a connection
    pool with another's."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx
        self._clients: dict[tuple[str, int], QdrantClient] = {}
        self._lock = threading.Lock()

    def get(self, process: str, node: int) -> QdrantClient:
        with self._lock:
            key = (process, node)
            if key not in self._clients:
                self._clients[key] = QdrantClient(url=self.ctx.nodes[node].url,
                                                  timeout=CLIENT_TIMEOUT,
                                                  check_compatibility=False)
            return self._clients[key]

    def close(self) -> None:
        for client in self._clients.values():
            client.close()


def record(history: History, process: str, kind: str, node: int, call: Callable[[], object],
           result: Callable[[object], object] = lambda r: None, **args: object) -> Op:
    op = history.begin(process, kind, node, **args)
    try:
        answer = call()
    except Exception as exc:  # noqa: BLE001 - every failure is an outcome to record
        outcome, error = classify(exc)
        history.finish(op, outcome, error=error)
        time.sleep(FAILURE_PAUSE)
        return op
    return history.finish(op, OK, result=result(answer))


def vector(rng: random.Random) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(DIM)]


@dataclass
class Process:
    name: str
    run: Callable[[random.Random, threading.Event], None]


class Workload:
    """Makes its collections before the faults start and returns the processes to run."""

    name = "workload"

    def setup(self, ctx: RunContext, admin: QdrantClient) -> None:
        pass

    def processes(self, ctx: RunContext, clients: Clients) -> list[Process]:
        raise NotImplementedError


def _nodes_for(ctx: RunContext, avoid: tuple[int, ...]) -> list[int]:
    return [i for i in ctx.members if i not in avoid] or list(ctx.members)


def create_collection(admin: QdrantClient, name: str, shards: int, rf: int, wcf: int) -> None:
    admin.create_collection(
        name, vectors_config=models.VectorParams(size=DIM, distance=models.Distance.COSINE),
        shard_number=shards, replication_factor=rf, write_consistency_factor=wcf)


class Upserts(Workload):
    """Unique-id upserts (`wait=true`) in small batches, each id written once, and deletes of
    ids the same process upserted earlier. Payloads carry a keyword `tag` (indexed) and the same
    value as `tag_copy` (not indexed), for the index-versus-scan checker."""

    name = "upserts"

    def __init__(self, collection: str, rf: int, wcf: int, shards: int | None = None,
                 processes: int = 2, batch: int = 4, delete_every: int = 5,
                 avoid: tuple[int, ...] = (), reads: bool = True, pace: float = 0.0) -> None:
        self.collection, self.rf, self.wcf = collection, rf, wcf
        self.pace = pace  # seconds between two operations of a process
        self.shards, self.n_processes, self.batch = shards, processes, batch
        self.delete_every, self.avoid, self.reads = delete_every, avoid, reads

    def setup(self, ctx: RunContext, admin: QdrantClient) -> None:
        create_collection(admin, self.collection, self.shards or len(ctx.members), self.rf,
                          self.wcf)
        admin.create_payload_index(self.collection, "tag", models.PayloadSchemaType.KEYWORD,
                                   wait=True)

    def processes(self, ctx: RunContext, clients: Clients) -> list[Process]:
        procs = [Process(f"upsert-{p}", self._writer(ctx, clients, p))
                 for p in range(self.n_processes)]
        if self.reads:
            procs.append(Process(f"read-{self.collection}", self._reader(ctx, clients)))
        return procs

    def _writer(self, ctx: RunContext, clients: Clients, p: int):
        name = f"upsert-{p}"

        def run(rng: random.Random, stop: threading.Event) -> None:
            next_id = p * IDS_PER_PROCESS + 1
            written: list[int] = []
            step = 0
            while not stop.is_set():
                step += 1
                node = rng.choice(_nodes_for(ctx, self.avoid))
                client = clients.get(name, node)
                if step % self.delete_every == 0 and len(written) > 2 * self.batch:
                    # Among ids written at least two batches ago, chosen by the generator only.
                    pool = written[: -2 * self.batch]
                    ids = rng.sample(pool, min(2, len(pool)))
                    for point_id in ids:
                        written.remove(point_id)
                    record(ctx.history, name, "delete", node,
                           lambda c=client, ids=ids: c.delete(
                               self.collection, models.PointIdsList(points=ids), wait=True),
                           collection=self.collection, ids=ids)
                    continue
                ids = list(range(next_id, next_id + self.batch))
                next_id += self.batch
                points = [models.PointStruct(id=i, vector=vector(rng),
                                             payload={"tag": f"t{i % 5}", "tag_copy": f"t{i % 5}",
                                                      "process": p})
                          for i in ids]
                written.extend(ids)
                record(ctx.history, name, "upsert", node,
                       lambda c=client, pts=points: c.upsert(self.collection, pts, wait=True),
                       collection=self.collection, ids=ids)
                time.sleep(self.pace)
        return run

    def _reader(self, ctx: RunContext, clients: Clients):
        name = f"read-{self.collection}"

        def run(rng: random.Random, stop: threading.Event) -> None:
            while not stop.is_set():
                node = rng.choice(_nodes_for(ctx, self.avoid))
                client = clients.get(name, node)
                if rng.random() < 0.5:
                    query = vector(rng)
                    record(ctx.history, name, "query", node,
                           lambda c=client, q=query: c.query_points(self.collection, query=q,
                                                                     limit=5),
                           collection=self.collection)
                else:
                    record(ctx.history, name, "scroll", node,
                           lambda c=client: c.scroll(self.collection, limit=20,
                                                     with_vectors=False),
                           collection=self.collection)
                time.sleep(max(0.01, self.pace))
        return run


class HotPoints(Workload):
    """A few hot points whose payload `v` is overwritten with 1, 2, 3, ... by one writer per
    key (`ordering=strong`, through a different node each time), while readers retrieve them
    from random nodes with read consistency `read_consistency`. The per-key order checker then
    asks that no read return a value older than one already read or acknowledged."""

    name = "hot-points"

    def __init__(self, collection: str, keys: int = 3, rf: int = 3, wcf: int = 2,
                 read_consistency: str | int = "majority", readers: int = 2,
                 avoid: tuple[int, ...] = (), pace: float = 0.0) -> None:
        self.pace = pace
        self.collection, self.keys, self.rf, self.wcf = collection, keys, rf, wcf
        self.read_consistency, self.readers, self.avoid = read_consistency, readers, avoid

    def setup(self, ctx: RunContext, admin: QdrantClient) -> None:
        create_collection(admin, self.collection, 1, self.rf, self.wcf)
        admin.upsert(self.collection, [models.PointStruct(id=k, vector=[1.0] * DIM,
                                                          payload={"v": 0})
                                       for k in range(1, self.keys + 1)], wait=True)

    def processes(self, ctx: RunContext, clients: Clients) -> list[Process]:
        writers = [Process(f"hot-write-{k}", self._writer(ctx, clients, k))
                   for k in range(1, self.keys + 1)]
        readers = [Process(f"hot-read-{r}", self._reader(ctx, clients, f"hot-read-{r}"))
                   for r in range(self.readers)]
        return writers + readers

    def _writer(self, ctx: RunContext, clients: Clients, key: int):
        name = f"hot-write-{key}"

        def run(rng: random.Random, stop: threading.Event) -> None:
            value = 0
            while not stop.is_set():
                value += 1
                node = rng.choice(_nodes_for(ctx, self.avoid))
                client = clients.get(name, node)
                record(ctx.history, name, "hot_write", node,
                       lambda c=client, v=value: c.overwrite_payload(
                           self.collection, payload={"v": v}, points=[key], wait=True,
                           ordering=models.WriteOrdering.STRONG),
                       collection=self.collection, key=key, value=value)
                time.sleep(max(0.02, self.pace))
        return run

    def overlaps(self) -> bool:
        """Whether every read asks a replica that acknowledged the last write (r + wcf > rf):
        only then must a read never go back in time."""
        asked = {"majority": self.rf // 2 + 1, "quorum": self.rf // 2 + 1,
                 "all": self.rf}.get(self.read_consistency, self.read_consistency)
        return int(asked) + self.wcf > self.rf

    def _reader(self, ctx: RunContext, clients: Clients, name: str):
        consistency = self.read_consistency
        if isinstance(consistency, str):
            consistency = models.ReadConsistencyType(consistency)
        overlap = self.overlaps()

        def value_of(records: list) -> int | None:
            return records[0].payload.get("v") if records else None

        def run(rng: random.Random, stop: threading.Event) -> None:
            while not stop.is_set():
                key = rng.randint(1, self.keys)
                node = rng.choice(_nodes_for(ctx, self.avoid))
                client = clients.get(name, node)
                record(ctx.history, name, "hot_read", node,
                       lambda c=client, k=key: c.retrieve(self.collection, [k],
                                                          consistency=consistency),
                       result=value_of, collection=self.collection, key=key,
                       overlap=overlap)
                time.sleep(max(0.01, self.pace))
        return run


class AliasSwitch(Workload):
    """Alias `live` switched between two collections by one atomic action list (delete, then
    create) while readers count through the alias on every node: a 404 there means a reader
    saw the alias missing."""

    name = "alias-switch"

    def __init__(self, readers: int = 2, avoid: tuple[int, ...] = ()) -> None:
        self.readers, self.avoid = readers, avoid

    def setup(self, ctx: RunContext, admin: QdrantClient) -> None:
        for target in ALIAS_TARGETS:
            create_collection(admin, target, 1, 2, 1)
            admin.upsert(target, [models.PointStruct(id=1, vector=[1.0] * DIM)], wait=True)
        admin.update_collection_aliases([models.CreateAliasOperation(
            create_alias=models.CreateAlias(collection_name=ALIAS_TARGETS[0], alias_name=ALIAS))])

    def processes(self, ctx: RunContext, clients: Clients) -> list[Process]:
        return [Process("alias-switch", self._switcher(ctx, clients)),
                *(Process(f"alias-read-{r}", self._reader(ctx, clients, f"alias-read-{r}"))
                  for r in range(self.readers))]

    def _switcher(self, ctx: RunContext, clients: Clients):
        def run(rng: random.Random, stop: threading.Event) -> None:
            turn = 0
            while not stop.is_set():
                turn += 1
                target = ALIAS_TARGETS[turn % 2]
                node = rng.choice(_nodes_for(ctx, self.avoid))
                client = clients.get("alias-switch", node)
                actions = [
                    models.DeleteAliasOperation(delete_alias=models.DeleteAlias(alias_name=ALIAS)),
                    models.CreateAliasOperation(create_alias=models.CreateAlias(
                        collection_name=target, alias_name=ALIAS)),
                ]
                record(ctx.history, "alias-switch", "alias_switch", node,
                       lambda c=client, a=actions: c.update_collection_aliases(a),
                       target=target)
                time.sleep(0.2)
        return run

    def _reader(self, ctx: RunContext, clients: Clients, name: str):
        def run(rng: random.Random, stop: threading.Event) -> None:
            while not stop.is_set():
                node = rng.choice(_nodes_for(ctx, self.avoid))
                client = clients.get(name, node)
                record(ctx.history, name, "alias_read", node,
                       lambda c=client: c.count(ALIAS, exact=True),
                       result=lambda r: r.count, alias=ALIAS)
                time.sleep(0.02)
        return run


class CollectionChurn(Workload):
    """Scratch collections created and deleted in turn through random nodes."""

    name = "collection-churn"

    def __init__(self, names: int = 3, avoid: tuple[int, ...] = ()) -> None:
        self.names, self.avoid = names, avoid

    def processes(self, ctx: RunContext, clients: Clients) -> list[Process]:
        return [Process("ddl", self._run(ctx, clients))]

    def _run(self, ctx: RunContext, clients: Clients):
        def run(rng: random.Random, stop: threading.Event) -> None:
            exists = [False] * self.names
            while not stop.is_set():
                slot = rng.randrange(self.names)
                name = f"scratch-{slot}"
                node = rng.choice(_nodes_for(ctx, self.avoid))
                client = clients.get("ddl", node)
                if exists[slot]:
                    record(ctx.history, "ddl", "delete_collection", node,
                           lambda c=client, n=name: c.delete_collection(n), collection=name)
                else:
                    record(ctx.history, "ddl", "create_collection", node,
                           lambda c=client, n=name: create_collection(c, n, 1, 2, 1),
                           collection=name)
                exists[slot] = not exists[slot]
                time.sleep(0.3)
        return run
