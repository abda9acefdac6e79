"""Which shards a request reaches: all of an auto-sharded collection's, or those of the shard
keys a custom-sharded collection's request selects.

A selection is a CollectionMeta narrowed to the chosen shards (`scoped`), so the routers fan
out over `meta.shards` as they always do; within one key (or an auto collection) the point
router picks a point's shard by the hash of its id over those shards in id order.
"""

from __future__ import annotations

from dataclasses import replace

from cluster.metadata.state import CollectionMeta
from node.errors import BadRequest
from node.model.shard_keys import ShardKeySelector, ShardKeyWithFallback

ShardKey = str | int


def shards_by_key(meta: CollectionMeta) -> dict[ShardKey, list[int]]:
    """key -> its shard ids in ascending order."""
    return _index(meta).by_key


def scoped(meta: CollectionMeta, shard_ids: list[int]) -> CollectionMeta:
    """The collection as a request sees it: only the given shards."""
    return replace(meta, shards={sid: meta.shards[sid] for sid in sorted(set(shard_ids))})


class _KeyIndex:
    """A collection's keys and the scoped collection of each, built once per metadata
    change: a metadata op replaces a CollectionMeta, never changes it, so the index kept on
    the object stays true (with a thousand keys, rebuilding it took 1.4 ms a request)."""

    def __init__(self, meta: CollectionMeta) -> None:
        self.by_key: dict[ShardKey, list[int]] = {}
        for shard_id, key in sorted(meta.shard_keys.items()):
            if shard_id in meta.shards:
                self.by_key.setdefault(key, []).append(shard_id)
        self._meta = meta
        self._scoped: dict[ShardKey, CollectionMeta] = {}

    def of_key(self, key: ShardKey) -> CollectionMeta:
        found = self._scoped.get(key)
        if found is None:
            found = self._scoped[key] = scoped(self._meta, self.by_key[key])
        return found


def _index(meta: CollectionMeta) -> _KeyIndex:
    index = meta.__dict__.get("_key_index")
    if index is None:
        index = meta.__dict__["_key_index"] = _KeyIndex(meta)
    return index


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
    index = _index(meta)
    return [index.of_key(key) for key in _chosen_keys(meta, selector, "Wrong input")]


def read_scopes(meta: CollectionMeta, selector: ShardKeySelector | None) -> list[CollectionMeta]:
    """One scoped collection per key a read looks in (no selector: every key)."""
    if not meta.custom_sharding:
        if selector is not None:
            _refuse_on_auto(selector, "Bad request")
        return [meta]
    index = _index(meta)
    keys = list(index.by_key) if selector is None else _chosen_keys(meta, selector,
                                                                     "Bad request")
    return [index.of_key(key) for key in keys]


def read_scope(meta: CollectionMeta, selector: ShardKeySelector | None) -> CollectionMeta:
    """The shards a read fans out to, as one scoped collection."""
    if selector is None:  # every shard of a custom collection belongs to a key
        return meta
    scopes = read_scopes(meta, selector)
    if len(scopes) == 1:
        return scopes[0]
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
