"""What every read checks before it runs: strict mode's timeout, filter and limit rules, and the
collection's read rate limit."""

from __future__ import annotations

from cluster.metadata.state import CollectionMeta
from cluster.routing import strict_mode
from cluster.routing.strict_mode import RateLimiter


def check_read(limiter: RateLimiter, meta: CollectionMeta, point_filter,
               limit: int | None = None) -> None:
    strict = strict_mode.active(meta.config)
    strict_mode.check_timeout(strict)
    strict_mode.check_filter(strict, point_filter, meta.payload_indexes, for_update=False)
    if limit is not None:
        strict_mode.check_limit(strict, limit)
    limiter.take(strict, meta.name, "read")
