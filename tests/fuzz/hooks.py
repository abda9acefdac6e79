"""schemathesis hooks: steer generated requests onto the seed collections, and count them.

Steering replaces some generated names (collection, vector, payload field, point id) by ones
the seeds hold, so a request gets past "not found" and into the engine. The choice is seeded by
the request itself: the same generated request is steered the same way every time, which keeps
schemathesis's shrinking and replays deterministic.

The hooks are global to schemathesis and idle until `activate` hands them a Session.
"""

from __future__ import annotations

import collections
import copy
import hashlib
import json
import random
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import schemathesis
from nodeproc import HttpSession

from fuzz import seed

# Probability that a generated name is replaced by a seeded one.
STEER = 0.8
# Body keys whose string values name things the seeds hold.
BODY_NAMES = {
    "using": seed.VECTOR_NAMES,
    "key": seed.FIELD_NAMES,
    "field_name": seed.FIELD_NAMES,
    "group_by": seed.FIELD_NAMES,
    "order_by": seed.FIELD_NAMES,
    "collection": seed.COLLECTION_NAMES,
    "collection_name": seed.COLLECTION_NAMES,
}
# Keys whose lists of numbers are vectors; steered to the lengths the seeds' vectors have.
VECTOR_KEYS = {"vector", "vectors", "query", "nearest", "target", "positive", "negative"}
VECTOR_SIZES = (1, 2, 3)
# A query object holds exactly one of these; generated ones often carry other keys beside it.
QUERY_KINDS = ("nearest", "recommend", "discover", "context", "order_by", "fusion", "sample",
               "formula")
# Request bodies that take `points` or `filter` but not both, which the spec cannot say.
EITHER_OR = ("points", "filter")
# aiohttp's HTTP parser refuses a request line or header over its limits (8,190 bytes) itself,
# in plain text, before any Flotilla code runs: such a 400 is not in Qdrant's envelope. It is
# counted and shown in the summary instead of failing the run (the limits are the hostile-client
# work's, tests/test_hostile_clients.py).
PARSER_REFUSAL = "Got more than "
# Collections the fuzzer created that are kept at once; older ones are deleted as new ones come.
KEEP_CREATED = 12
# The seeds are put back as they were this often: generated requests delete points, drop
# indexes and change configs (strict mode rate limits among them).
RESTORE_SECONDS = 45.0


@dataclass
class Session:
    """The state of one fuzzing run, shared by the hooks of every schemathesis worker."""

    http: HttpSession
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    by_operation: dict[str, collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter))
    server_errors: list[str] = field(default_factory=list)
    # How often each error message came back: where generated requests stop short.
    errors: collections.Counter[str] = field(default_factory=collections.Counter)
    # The slowest answer of each operation, in seconds: a hint where a run spends its time.
    slowest: dict[str, float] = field(default_factory=dict)
    housekeeping_requests: int = 0
    parser_refusals: int = 0
    created: collections.deque[str] = field(default_factory=collections.deque)
    last_restore: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def requests(self) -> int:
        return sum(self.statuses.values())


_active: Session | None = None


def activate(session: Session | None) -> None:
    global _active
    _active = session


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
    if _active is None:
        return
    rng = random.Random(_fingerprint(case))
    label = f"{case.method.upper()} {case.operation.path}"
    params = case.path_parameters or {}
    if "collection_name" in params:
        params["collection_name"] = _collection_for(label, params["collection_name"], rng)
    if "id" in params and rng.random() < STEER:
        params["id"] = rng.choice(seed.POINT_IDS)
    if "field_name" in params and rng.random() < STEER:
        params["field_name"] = rng.choice(seed.FIELD_NAMES)
    if isinstance(case.body, (dict, list)):
        case.body = _steer_body(copy.deepcopy(case.body), rng)
    if label == "PUT /quotas" and isinstance(case.body, dict) and case.body.get("enabled"):
        # An enforced quota of a low percent would answer every later write 507 (a node over
        # its quota, not a failure): generated configs are checked and stored, not enforced.
        case.body["enabled"] = False


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    session = _active
    if session is None:
        return
    label = f"{case.method.upper()} {case.operation.path}"
    with session.lock:
        session.statuses[response.status_code] += 1
        session.by_operation[label][response.status_code] += 1
        if response.status_code >= 400:
            session.errors[f"{label} {response.status_code}: {_error_message(response)}"] += 1
        session.slowest[label] = max(session.slowest.get(label, 0.0), response.elapsed)
        if _refused_by_parser(response):
            session.parser_refusals += 1
        if response.status_code >= 500:
            session.server_errors.append(
                f"{label}: {response.status_code}; to reproduce: "
                f"{case.as_curl_command(base_url=session.http.base_url)}")
        name = (case.path_parameters or {}).get("collection_name")
        if (label == "PUT /collections/{collection_name}" and response.status_code == 200
                and name not in seed.COLLECTION_NAMES):
            session.created.append(name)
        while len(session.created) > KEEP_CREATED:
            _housekeep(session, "DELETE", f"/collections/{quote(session.created.popleft(), '')}")
        if time.monotonic() - session.last_restore > RESTORE_SECONDS:
            session.housekeeping_requests += seed.create_seeds(session.http)
            session.last_restore = time.monotonic()


@schemathesis.hook
def filter_failure(context: Any, failure: Any, case: Any, response: Any) -> bool:
    """Keep every failure but the envelope checks of aiohttp's own refusals."""
    return _active is None or response is None or not _refused_by_parser(response)


def _refused_by_parser(response: Any) -> bool:
    content_type = (response.headers.get("content-type") or [""])[0]
    return (response.status_code == 400 and content_type.startswith("text/plain")
            and response.content.startswith(PARSER_REFUSAL.encode()))


def _housekeep(session: Session, method: str, path: str) -> None:
    session.http.request(method, path)
    session.housekeeping_requests += 1


def _collection_for(label: str, generated: Any, rng: random.Random) -> Any:
    if label == "DELETE /collections/{collection_name}":
        # The seeds are the fuzzer's ground: deleting one would leave nothing to reach.
        return f"{generated}_" if generated in seed.COLLECTION_NAMES else generated
    if label == "PUT /collections/{collection_name}":
        # Creation keeps its generated names, which are what its name checks are for.
        return rng.choice(seed.COLLECTION_NAMES) if rng.random() < 0.1 else generated
    return rng.choice(seed.COLLECTION_NAMES) if rng.random() < STEER else generated


def _steer_body(body: Any, rng: random.Random, key: str | None = None) -> Any:
    """Make, at random, parts of a generated body fit the seeds: names they hold, vectors of
    their sizes, and one of `points` and `filter` where a request takes only one."""
    if isinstance(body, list):
        if key in VECTOR_KEYS and _is_vector(body) and rng.random() < STEER:
            return _resized(body, rng.choice(VECTOR_SIZES))
        return [_steer_body(item, rng, key) for item in body]
    if not isinstance(body, dict):
        names = BODY_NAMES.get(key or "")
        if names is not None and isinstance(body, str) and rng.random() < STEER:
            return rng.choice(names)
        return body
    if all(k in body for k in EITHER_OR) and rng.random() < STEER:
        del body[rng.choice(EITHER_OR)]
    kinds = [k for k in QUERY_KINDS if k in body]
    if key == "query" and len(body) > 1 and kinds and rng.random() < STEER:
        body = {kinds[0]: body[kinds[0]]}
    if key in ("vector", "vectors") and "indices" not in body and rng.random() < STEER:
        # A map of named vectors: give its entries names the seeds use.
        body = {rng.choice(seed.VECTOR_NAMES): value for value in body.values()}
    return {k: _steer_body(value, rng, k) for k, value in body.items()}


def _is_vector(items: list[Any]) -> bool:
    return bool(items) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in items)


def _resized(vector: list[Any], size: int) -> list[Any]:
    return (vector * size)[:size]


def _error_message(response: Any) -> str:
    try:
        return str(response.json()["status"]["error"])[:120]
    except (ValueError, KeyError, TypeError):
        return response.text[:120]


def _fingerprint(case: Any) -> int:
    parts = [case.method, case.operation.path, case.path_parameters, case.query, case.body]
    text = json.dumps(parts, sort_keys=True, default=repr)
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
