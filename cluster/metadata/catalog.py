"""Collection metadata operations: what `/collections` and `/aliases` do, through consensus.

Validation that needs no state happens here, before proposing, so most bad requests are
refused without a Raft round trip; the state machine still has the last word (names taken
concurrently, aliases pointing at vanished collections).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable

import msgspec

from cluster.metadata.collection_config import (
    add_named_vector,
    apply_collection_update,
    build_collection_config,
    dense_vector_params,
    remove_named_vector,
)
from cluster.metadata.state import CollectionMeta, MetadataState, resolve
from node.errors import BadRequest, NotFound
from node.model.aliases import ChangeAliasesRequest
from node.model.collections import CreateCollection, UpdateCollection, VectorNameConfig
from node.model.names import validate_collection_name
from node.model.payload_index import CreateIndexRequest

log = logging.getLogger(__name__)

Propose = Callable[[dict], Awaitable[object]]


class Catalog:
    def __init__(
        self,
        propose: Propose,
        state: Callable[[], MetadataState],
        after_change: Callable[[], Awaitable[None]],
        default_shard_number: Callable[[], int] = lambda: 1,
    ) -> None:
        self._propose = propose
        self._state = state
        self._default_shard_number = default_shard_number
        # Brings local shards in line with the metadata before a change is acknowledged.
        self._after_change = after_change

    @property
    def state(self) -> MetadataState:
        return self._state()

    def resolve(self, name: str) -> CollectionMeta:
        """The collection a name or alias stands for; NotFound otherwise."""
        state = self._state()
        real = resolve(state, name)
        meta = state.collections.get(real) if real is not None else None
        if meta is None:
            raise NotFound(f"Collection `{name}` doesn't exist!")
        return meta

    def list_names(self) -> list[str]:
        return sorted(self._state().collections)

    async def create(self, name: str, request: CreateCollection) -> CollectionMeta:
        validate_collection_name(name)
        config, init_from = build_collection_config(
            request, default_shard_number=self._default_shard_number()
        )
        source = None
        if init_from is not None:
            source = self.resolve(init_from)
            _check_compatible(source.config, config, init_from)
        await self._propose(
            {"op": "create_collection", "name": name, "uuid": uuid.uuid4().hex,
             "config": config, "init_from": source.name if source else None}
        )
        await self._after_change()
        meta = self.resolve(name)
        wanted = config["params"].get("replication_factor", 1)
        placed = min((len(r) for r in meta.shards.values()), default=0)
        if placed < wanted and not meta.custom_sharding:  # a custom one has no shards yet
            log.warning(
                "collection %s: replication_factor %s but only %s peer(s) to place on; each "
                "shard has %s replica(s) (GET /collections/%s/cluster shows the placement)",
                name, wanted, placed, placed, name,
            )
        return meta

    async def update(self, name: str, patch: UpdateCollection) -> None:
        meta = self.resolve(name)
        config = apply_collection_update(meta.config, patch)
        await self._propose({"op": "update_collection", "name": meta.name, "config": config})
        await self._after_change()

    async def add_vector(self, name: str, vector_name: str, request: VectorNameConfig) -> int:
        """Add a named vector to a collection; returns the metadata version that holds it."""
        meta = self.resolve(name)
        config = add_named_vector(meta.config, vector_name, request)
        await self._propose({"op": "update_collection", "name": meta.name, "config": config})
        await self._after_change()
        return self.state.version

    async def remove_vector(self, name: str, vector_name: str) -> int:
        """Remove a named vector (and every point's value of it) from a collection."""
        meta = self.resolve(name)
        config = remove_named_vector(meta.config, vector_name)
        await self._propose({"op": "update_collection", "name": meta.name, "config": config})
        await self._after_change()
        return self.state.version

    async def delete(self, name: str) -> bool:
        state = self._state()
        real = resolve(state, name)
        if real is None:
            return False
        deleted = bool(await self._propose({"op": "delete_collection", "name": real}))
        await self._after_change()
        return deleted

    async def change_aliases(self, request: ChangeAliasesRequest) -> None:
        actions = msgspec.to_builtins(request.actions)
        await self._propose({"op": "change_aliases", "actions": actions})
        await self._after_change()

    async def create_payload_index(self, name: str, request: CreateIndexRequest) -> None:
        meta = self.resolve(name)
        await self._propose({"op": "create_payload_index", "collection": meta.name,
                             "field_name": request.field_name, "schema": request.schema()})
        await self._after_change()

    async def drop_payload_index(self, name: str, field_name: str) -> None:
        meta = self.resolve(name)
        if field_name not in meta.payload_indexes:
            raise NotFound(f"No index for field `{field_name}` in `{meta.name}`")
        await self._propose({"op": "drop_payload_index", "collection": meta.name,
                             "field_name": field_name})
        await self._after_change()

    async def propose(self, op: dict) -> object:
        """A metadata op of the cluster API (shard transfers, replicas), then local effects."""
        result = await self._propose(op)
        await self._after_change()
        return result

    def aliases(self, collection: str | None = None) -> list[dict]:
        state = self._state()
        if collection is not None:
            real = self.resolve(collection).name
            pairs = [(a, c) for a, c in state.aliases.items() if c == real]
        else:
            pairs = list(state.aliases.items())
        return [{"alias_name": a, "collection_name": c} for a, c in sorted(pairs)]


def _check_compatible(source: dict, target: dict, source_name: str) -> None:
    """init_from copies vectors as they are: the vector layout must be the same."""
    src, dst = dense_vector_params(source), dense_vector_params(target)
    for name, params in src.items():
        other = dst.get(name)
        label = f"vector `{name}`" if name else "the unnamed vector"
        if other is None:
            raise BadRequest(f"init_from: {label} of `{source_name}` is missing in the new config")
        if (other["size"], other["distance"]) != (params["size"], params["distance"]):
            raise BadRequest(
                f"init_from: {label} differs in size or distance from `{source_name}`"
            )
    src_sparse = (source.get("params") or {}).get("sparse_vectors") or {}
    dst_sparse = (target.get("params") or {}).get("sparse_vectors") or {}
    missing = sorted(set(src_sparse) - set(dst_sparse))
    if missing:
        raise BadRequest(f"init_from: sparse vectors {missing} of `{source_name}` are missing")
