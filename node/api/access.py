"""What a credential grants, and what each public route needs.

The levels are Qdrant's: global `m` (manage: everything), global `r` (read everything), or a
list of collections each with `r` (read its points and info) or `rw` (also write its points
and payload indexes). Creating, changing or deleting collections, aliases and cluster state
needs global `m`.

Every public route is listed in ROUTE_NEEDS; a route missing from it needs global `m`, so a new
route is closed to restricted credentials until someone decides otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

from node.errors import Forbidden

READ = "r"
READ_WRITE = "rw"
MANAGE = "m"


class Need(Enum):
    ANY = "any valid credential"  # the handler shows only what the credential may see
    GLOBAL_READ = "read access to the whole node"
    READ = "read access to the collection"
    WRITE = "write access to the collection"
    MANAGE = "manage access"


@dataclass(frozen=True)
class Access:
    global_level: str | None = MANAGE
    collections: Mapping[str, str] = field(default_factory=dict)

    def can_read(self, collection: str) -> bool:
        return self.global_level is not None or collection in self.collections

    def can_write(self, collection: str) -> bool:
        return self.global_level == MANAGE or self.collections.get(collection) == READ_WRITE

    @property
    def is_full(self) -> bool:
        return self.global_level == MANAGE

    def check(self, need: Need, collection: str | None) -> None:
        """Raise Forbidden unless this access covers `need` (on `collection` where it has one)."""
        if self.is_full or need is Need.ANY:
            return
        if need is Need.GLOBAL_READ:
            allowed = self.global_level == READ
        elif need is Need.READ:
            allowed = collection is not None and self.can_read(collection)
        elif need is Need.WRITE:
            allowed = collection is not None and self.can_write(collection)
        else:
            allowed = False
        if not allowed:
            where = f" `{collection}`" if collection is not None and need in (
                Need.READ, Need.WRITE) else ""
            raise Forbidden(f"Forbidden: this credential lacks {need.value}{where}")


FULL_ACCESS = Access()
READ_ONLY_ACCESS = Access(global_level=READ)

_COLLECTION = "/collections/{collection_name}"
_POINTS = f"{_COLLECTION}/points"

# (method, route pattern) -> what it needs. HEAD follows GET.
ROUTE_NEEDS: dict[tuple[str, str], Need] = {
    **{("GET", path): Need.GLOBAL_READ for path in (
        "/metrics", "/telemetry", "/issues", "/cluster", "/cluster/telemetry", "/quotas",
    )},
    ("GET", "/collections"): Need.ANY,
    ("GET", "/aliases"): Need.ANY,
    ("GET", _COLLECTION): Need.READ,
    ("GET", f"{_COLLECTION}/exists"): Need.READ,
    ("GET", f"{_COLLECTION}/aliases"): Need.READ,
    ("GET", f"{_COLLECTION}/cluster"): Need.READ,
    ("GET", f"{_COLLECTION}/shards"): Need.READ,
    ("GET", f"{_COLLECTION}/optimizations"): Need.READ,
    ("GET", f"{_POINTS}/{{id}}"): Need.READ,
    ("POST", _POINTS): Need.READ,  # retrieve by ids
    **{("POST", f"{_POINTS}/{path}"): Need.READ for path in (
        "count", "scroll", "query", "query/batch", "query/groups", "search", "search/batch",
        "search/groups", "recommend", "recommend/batch", "recommend/groups", "discover",
        "discover/batch", "search/matrix/pairs", "search/matrix/offsets",
    )},
    ("POST", f"{_COLLECTION}/facet"): Need.READ,
    ("PUT", _POINTS): Need.WRITE,
    ("PUT", f"{_POINTS}/payload"): Need.WRITE,
    ("PUT", f"{_POINTS}/vectors"): Need.WRITE,
    **{("POST", f"{_POINTS}/{path}"): Need.WRITE for path in (
        "batch", "delete", "payload", "payload/delete", "payload/clear", "vectors/delete",
    )},
    ("PUT", f"{_COLLECTION}/index"): Need.WRITE,
    ("DELETE", f"{_COLLECTION}/index/{{field_name}}"): Need.WRITE,
}


def route_need(method: str, pattern: str) -> Need:
    """What a request to `pattern` (aiohttp's canonical route path) with `method` needs."""
    if method == "HEAD":
        method = "GET"
    return ROUTE_NEEDS.get((method, pattern), Need.MANAGE)
