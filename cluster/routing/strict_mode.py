"""Strict mode: per-collection limits on what requests may ask for.

Checked before a request runs, so a refused request writes nothing. A collection's
`strict_mode_config` applies only when `enabled` is true.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from contextvars import ContextVar

from cluster.routing.query_request import QueryPlan
from node.engine.filters import CompiledFilter
from node.errors import BadRequest, FlotillaError

# The `timeout` query parameter of the request being served, in seconds (None: not given).
REQUEST_TIMEOUT: ContextVar[int | None] = ContextVar("request_timeout", default=None)


class TooManyRequests(FlotillaError):
    status = 429


def active(config: dict) -> dict | None:
    strict = config.get("strict_mode_config") or {}
    return strict if strict.get("enabled") else None


def check_filter(
    strict: dict | None, point_filter: CompiledFilter | None, indexed: Iterable[str],
    *, for_update: bool,
) -> None:
    if strict is None or point_filter is None:
        return
    limit = strict.get("filter_max_conditions")
    if limit is not None and point_filter.condition_count() > limit:
        raise BadRequest(
            f"filter: {point_filter.condition_count()} conditions exceed the strict mode limit "
            f"of {limit} (filter_max_conditions)"
        )
    size_limit = strict.get("condition_max_size")
    if size_limit is not None and point_filter.max_condition_size() > size_limit:
        raise BadRequest(
            f"filter: a condition lists {point_filter.max_condition_size()} values, more than the "
            f"strict mode limit of {size_limit} (condition_max_size)"
        )
    allow_key = "unindexed_filtering_update" if for_update else "unindexed_filtering_retrieve"
    if strict.get(allow_key) is False:
        unindexed = sorted(point_filter.keys() - set(indexed))
        if unindexed:
            raise BadRequest(
                f"filter: payload field `{unindexed[0]}` has no index, and strict mode forbids "
                f"filtering on unindexed fields ({allow_key}); create a payload index for it"
            )


def check_query(strict: dict | None, plan: QueryPlan, indexed: Iterable[str]) -> None:
    """A query plan and all its prefetches."""
    if strict is None:
        return
    check_timeout(strict)
    indexed = set(indexed)
    limit = strict.get("max_query_limit")
    if limit is not None and plan.limit > limit:
        raise BadRequest(
            f"limit: {plan.limit} exceeds the strict mode limit of {limit} (max_query_limit)"
        )
    max_ef = strict.get("search_max_hnsw_ef")
    if max_ef is not None and plan.params.hnsw_ef is not None and plan.params.hnsw_ef > max_ef:
        raise BadRequest(
            f"params.hnsw_ef: {plan.params.hnsw_ef} exceeds the strict mode limit of {max_ef} "
            "(search_max_hnsw_ef)"
        )
    if strict.get("search_allow_exact") is False and plan.params.exact:
        raise BadRequest("params.exact: exact search is disabled by strict mode")
    max_oversampling = strict.get("search_max_oversampling")
    oversampling = (plan.params.quantization or {}).get("oversampling")
    if max_oversampling is not None and oversampling is not None and (
        oversampling > max_oversampling
    ):
        raise BadRequest(
            f"params.quantization.oversampling: {oversampling} exceeds the strict mode limit "
            f"of {max_oversampling} (search_max_oversampling)"
        )
    check_filter(strict, plan.filter, indexed, for_update=False)
    for prefetch in plan.prefetch:
        check_query(strict, prefetch, indexed)


def check_limit(strict: dict | None, limit: int) -> None:
    cap = (strict or {}).get("max_query_limit")
    if cap is not None and limit > cap:
        raise BadRequest(f"limit: {limit} exceeds the strict mode limit of {cap} (max_query_limit)")


def check_upsert(strict: dict | None, batch_size: int, points_now: int) -> None:
    if strict is None:
        return
    cap = strict.get("upsert_max_batchsize")
    if cap is not None and batch_size > cap:
        raise BadRequest(
            f"points: a batch of {batch_size} exceeds the strict mode limit of {cap} "
            "(upsert_max_batchsize)"
        )
    max_points = strict.get("max_points_count")
    if max_points is not None and points_now + batch_size > max_points:
        raise BadRequest(
            f"points: the collection would exceed the strict mode limit of {max_points} points "
            "(max_points_count)"
        )


def check_multivectors(strict: dict | None, multivectors: Iterable[tuple[str, int]]) -> None:
    """`multivector_config.<name>.max_vectors`: sub-vectors in one written multivector;
    `multivectors` yields (vector name, sub-vector count) of each value written."""
    limits = (strict or {}).get("multivector_config") or {}
    if not limits:
        return
    for name, count in multivectors:
        cap = (limits.get(name) or {}).get("max_vectors")
        if cap is not None and count > cap:
            raise BadRequest(
                f"vector `{name}`: a multivector of {count} vectors exceeds the strict mode "
                f"limit of {cap} (multivector_config.max_vectors)"
            )


def check_timeout(strict: dict | None) -> None:
    """The request's `timeout` against strict mode's max_timeout."""
    cap = (strict or {}).get("max_timeout")
    timeout = REQUEST_TIMEOUT.get()
    if cap is not None and timeout is not None and timeout > cap:
        raise BadRequest(f"timeout: {timeout} exceeds the strict mode limit of {cap} (max_timeout)")


class RateLimiter:
    """Token buckets of reads and writes per minute, per collection (strict mode's
    read_rate_limit and write_rate_limit)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, strict: dict | None, collection: str, kind: str, cost: int = 1) -> None:
        per_minute = (strict or {}).get(f"{kind}_rate_limit")
        if per_minute is None:
            return
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get((collection, kind), (float(per_minute), now))
            tokens = min(float(per_minute), tokens + (now - last) * per_minute / 60.0)
            if tokens < cost:
                self._buckets[(collection, kind)] = (tokens, now)
                raise TooManyRequests(
                    f"rate limit of {per_minute} {kind}s per minute exceeded for `{collection}`"
                )
            self._buckets[(collection, kind)] = (tokens - cost, now)
