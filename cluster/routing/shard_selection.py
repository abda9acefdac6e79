"""Which shards a request reaches: all of an auto-sharded collection's, or those of the shard
keys a custom-sharded collection's request selects.

A selection is a CollectionMeta narrowed to the chosen shards (`scoped`), so the routers fan
out over `meta.shards` as they always do. Within one key (or an auto collection) a point's
shard is picked by the hash of its id over that key's shards in id order (`owner_of`).
"""

from __future__ import annotations

from dataclasses import replace

from cluster.metadata.placement import point_hash
from cluster.metadata.state import CollectionMeta
from node.errors import BadRequest
from node.model.shard_keys import ShardKeySelector, ShardKeyWithFallback

ShardKey = str | int


def shards_by_key(meta: CollectionMeta) -> dict[ShardKey, list[int]]:
    """key -> its shard ids in ascending order."""
    by_key: dict[ShardKey, list[int]] = {}
    for shard_id, key in sorted(meta.shard_keys.items()):
        if shard_id in meta.shards:
            by_key.setdefault(key, []).append(shard_id)
    return by_key


def scoped(meta: CollectionMeta, shard_ids: list[int]) -> CollectionMeta:
    """The collection as a request sees it: only the given shards."""
    return replace(meta, shards={sid: meta.shards[sid] for sid in sorted(set(shard_ids))})


def owner_of(meta: CollectionMeta, point_id: int | str) -> int:
    """The shard of a (scoped, single-key) collection that owns a point."""
    ring = sorted(meta.shards)
    return ring[point_hash(point_id) % len(ring)]


def _chosen_keys(meta: CollectionMeta, selector: ShardKeySelector, prefix: str) -> list[ShardKey]:
    by_key = shards_by_key(meta)
    if isinstance(selector, ShardKeyWithFallback):
        chosen = selector.target if selector.target in by_key else selector.fallback
        keys = [chosen]
    elif isinstance(selector, list):
        keys = list(dict.fromkeys(selector))
    else:
        keys = [selector]
    for key in keys:
        if key not in by_key:
            raise BadRequest(f"{prefix}: Shard key {key} not found")
    return keys


def write_scopes(meta: CollectionMeta, selector: ShardKeySelector | None) -> list[CollectionMeta]:
    """One scoped collection per key a write goes to (every selected key gets the write, as in
    Qdrant); the whole collection when it is auto-sharded."""
    if not meta.custom_sharding:
        if selector is not None:
            _refuse_on_auto(selector, "Wrong input")
        return [meta]
    if selector is None:
        raise BadRequest("Wrong input: Shard key not specified")
    by_key = shards_by_key(meta)
    return [scoped(meta, by_key[key]) for key in _chosen_keys(meta, selector, "Wrong input")]


def read_scopes(meta: CollectionMeta, selector: ShardKeySelector | None) -> list[CollectionMeta]:
    """One scoped collection per key a read looks in (no selector: every key)."""
    if not meta.custom_sharding:
        if selector is not None:
            _refuse_on_auto(selector, "Bad request")
        return [meta]
    by_key = shards_by_key(meta)
    keys = list(by_key) if selector is None else _chosen_keys(meta, selector, "Bad request")
    return [scoped(meta, by_key[key]) for key in keys]


def read_scope(meta: CollectionMeta, selector: ShardKeySelector | None) -> CollectionMeta:
    """The shards a read fans out to, as one scoped collection."""
    if not meta.custom_sharding and selector is None:
        return meta
    scopes = read_scopes(meta, selector)
    return scoped(meta, [sid for part in scopes for sid in part.shards])


def _refuse_on_auto(selector: ShardKeySelector, prefix: str) -> None:
    """An auto-sharded collection has no keys, so whatever the selector names is not found."""
    if isinstance(selector, ShardKeyWithFallback):
        selector = selector.target
    elif isinstance(selector, list):
        if not selector:
            return
        selector = selector[0]
    raise BadRequest(f"{prefix}: Shard key {selector} not found")


def distinct(items: list, id_at: int) -> list:
    """The first item of each point id (items[i][id_at]), in order. Two shard keys may hold
    the same id; a merged read shows it once, at its best place, as Qdrant does."""
    seen: set = set()
    out = []
    for item in items:
        pid = item[id_at]
        if pid not in seen:
            seen.add(pid)
            out.append(item)
    return out
