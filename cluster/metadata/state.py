"""The cluster's replicated metadata: plain data plus a pure `apply(state, op)`.

Every node applies the same ops in the same order (cluster/consensus/consensus.py), so `apply` must
be deterministic and must depend on nothing but the state and the op. An op is a plain dict
(picklable and JSON-able) whose "op" key names it; see `apply` for the list.

Readers on other threads (the asyncio API) read the state while pysyncobj's thread applies ops,
so containers are never mutated in place: each op builds new dicts and swaps them in with a
single assignment. A reader that iterates `state.collections` keeps iterating the dict it took.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TypeVar

from cluster.metadata.placement import place_replicas
from cluster.metadata.quota_op import SET_QUOTA, apply_set_quota
from node.errors import BadRequest, Conflict, NotFound, Unavailable

ACTIVE = "Active"
DEAD = "Dead"
PARTIAL = "Partial"
INITIALIZING = "Initializing"
LISTENER = "Listener"
REPLICA_STATES = frozenset({ACTIVE, DEAD, PARTIAL, INITIALIZING, LISTENER})

_T = TypeVar("_T")


@dataclass
class CollectionMeta:
    name: str
    # Chosen by the proposer; tells a re-created collection of the same name from the old one.
    uuid: str
    # Canonical collection config (plain JSON dict); only config["params"] shard_number and
    # replication_factor mean something here.
    config: dict
    # shard id -> {peer id: replica state}
    shards: dict[int, dict[int, str]]
    # field name -> index schema
    payload_indexes: dict[str, dict] = field(default_factory=dict)
    init_from: str | None = None
    # Shard transfers in progress: {"shard_id", "from", "to", "kind": recovery|replicate|move,
    # "id": the metadata version that started it}
    transfers: list[dict] = field(default_factory=list)
    # shard id -> the metadata version that last changed its replicas or their states. Writes
    # carry the one they were routed with, so a replica can tell a stale coordinator.
    shard_versions: dict[int, int] = field(default_factory=dict)
    # shard id -> id of the snapshot recovery that last replaced its data (recover_collection)
    restored: dict[int, str] = field(default_factory=dict)
    # shard id -> {peer id: id of the last transfer that began into that replica}. A transfer
    # drops what the replica held, so a write it applied before, routed with an older shard
    # version, is gone from it unless the source had it: its coordinator must not count it.
    refilled: dict[int, dict[int, int]] = field(default_factory=dict)
    # Custom sharding: shard id -> the shard key (a string or an integer) it belongs to. Empty
    # for auto sharding, where every shard takes points by the hash of their id.
    shard_keys: dict[int, str | int] = field(default_factory=dict)

    @property
    def custom_sharding(self) -> bool:
        return (self.config.get("params") or {}).get("sharding_method") == "custom"


@dataclass
class MetadataState:
    collections: dict[str, CollectionMeta] = field(default_factory=dict)
    # alias name -> collection name
    aliases: dict[str, str] = field(default_factory=dict)
    # peer id -> {"uri": Raft address "host:port", "api": "http://host:http_port"}
    peers: dict[int, dict[str, str]] = field(default_factory=dict)
    # number of ops applied successfully
    version: int = 0
    # The quota config set through `PUT /quotas` (cluster/metadata/quota_op.py); None until
    # then, when each node applies its own settings' one.
    quota: dict | None = None


def apply(state: MetadataState, op: dict) -> object:
    """Apply one op to `state` and return its result.

    Ops: create_collection {name, uuid, config, init_from?}, update_collection {name, config},
    delete_collection {name}, change_aliases {actions}, set_replica_state {collection, shard_id,
    peer_id, state, from_state?, uuid?}, create_payload_index {collection, field_name, schema},
    drop_payload_index {collection, field_name}, add_peer {peer_id, uri, api},
    remove_peer {peer_id, force?}, create_shard_key {collection, shard_key, shards_number?,
    replication_factor?, placement?, initial_state?}, delete_shard_key {collection, shard_key},
    set_quota {config} (cluster/metadata/quota_op.py).
    Collection names in ops are real names, not aliases.

    Raises a FlotillaError without having changed anything; `version` grows only on success.
    """
    if not isinstance(op, dict):
        raise BadRequest("a metadata op must be a dict")
    handler = _HANDLERS.get(op.get("op"))  # type: ignore[arg-type]
    if handler is None:
        raise BadRequest(f"unknown metadata op `{op.get('op')}`")
    before = state.collections
    result = handler(state, op)
    state.version += 1
    if state.collections is not before:
        _stamp_shard_versions(before, state)
    return result


def _stamp_shard_versions(before: dict[str, CollectionMeta], state: MetadataState) -> None:
    """Record `state.version` on every shard whose replicas or states the op changed."""
    stamped = {}
    for name, meta in state.collections.items():
        old = before.get(name)
        if old is meta:
            continue
        if old is None or old.uuid != meta.uuid:
            changed = list(meta.shards)
        else:
            changed = [sid for sid, replicas in meta.shards.items()
                       if old.shards.get(sid) != replicas]
        if changed:
            versions = {**meta.shard_versions, **dict.fromkeys(changed, state.version)}
            stamped[name] = replace(meta, shard_versions=versions)
    if stamped:
        state.collections = {**state.collections, **stamped}


def resolve(state: MetadataState, name: str) -> str | None:
    """The collection a collection name or alias stands for, or None."""
    if name in state.collections:
        return name
    target = state.aliases.get(name)
    if target is not None and target in state.collections:
        return target
    return None


def replica_load(state: MetadataState) -> dict[int, int]:
    """Number of replicas each known peer holds across all collections."""
    load = dict.fromkeys(state.peers, 0)
    for meta in state.collections.values():
        for replicas in meta.shards.values():
            for peer_id in replicas:
                load[peer_id] = load.get(peer_id, 0) + 1
    return load


# --- ops -------------------------------------------------------------------------------------


def _create_collection(state: MetadataState, op: dict) -> bool:
    name = _field(op, "name", str)
    uuid = _field(op, "uuid", str)
    config = _field(op, "config", dict)
    init_from = op.get("init_from")
    if name in state.collections:
        raise Conflict(f"Collection `{name}` already exists!")
    if name in state.aliases:
        raise Conflict(f"Collection name `{name}` is already used by an alias")
    params = config.get("params") or {}
    shard_number = _positive_int(params.get("shard_number", 1), "shard_number")
    replication_factor = _positive_int(params.get("replication_factor", 1), "replication_factor")
    if not state.peers:
        raise Unavailable("no peers in the cluster to place shards on")
    # Custom sharding makes no shards until a shard key is created; shard_number is per key.
    custom = params.get("sharding_method") == "custom"
    placement = {} if custom else place_replicas(
        list(state.peers), shard_number, replication_factor, load=replica_load(state)
    )
    meta = CollectionMeta(
        name=name,
        uuid=uuid,
        config=copy.deepcopy(config),
        shards={shard_id: dict.fromkeys(peers, ACTIVE) for shard_id, peers in placement.items()},
        payload_indexes={},
        init_from=init_from,
    )
    state.collections = {**state.collections, name: meta}
    return True


SNAPSHOT_PRIORITIES = ("replica", "snapshot", "no_sync")


def _recover_collection(state: MetadataState, op: dict) -> bool:
    """Put a snapshot's data on `peer` for the archived shards (node/snapshots/recovery.py).

    The collection keeps its uuid and placement when it exists with the same shard count, else
    it is (re)created with the snapshot's config. Other replicas of those shards become Dead and
    resync from the recovered one (priority snapshot), or from them the recovered one does when
    one is Active (replica); no_sync leaves the existing replicas alone.
    """
    name, config = _field(op, "name", str), _field(op, "config", dict)
    peer, recovery = _field(op, "peer", int), _field(op, "recovery", str)
    priority = op.get("priority", "replica")
    if priority not in SNAPSHOT_PRIORITIES:
        raise BadRequest(f"priority must be one of {', '.join(SNAPSHOT_PRIORITIES)}")
    if peer not in state.peers:
        raise BadRequest(f"peer {peer} is not a member of the cluster")
    if name in state.aliases:
        raise Conflict(f"Collection name `{name}` is already used by an alias")
    shard_number = _positive_int((config.get("params") or {}).get("shard_number", 1),
                                 "shard_number")
    key_of = _recovered_shard_keys(config, op.get("shard_keys") or [])
    # An auto collection has shards 0..shard_number-1; a custom one those of its keys.
    shard_ids = sorted(key_of) if key_of or _is_custom(config) else list(range(shard_number))
    archived = [int(sid) for sid in _field(op, "shards", list)]
    if any(sid not in shard_ids for sid in archived):
        raise BadRequest("the snapshot holds a shard its collection config does not have")
    existing = state.collections.get(name)
    kept = existing is not None and sorted(existing.shards) == shard_ids and \
        existing.shard_keys == key_of
    if kept:
        shards = {sid: dict(replicas) for sid, replicas in existing.shards.items()}
        transfers = [t for t in existing.transfers if t["shard_id"] not in archived]
        restored = dict(existing.restored)
    else:
        others = {k: m for k, m in state.collections.items() if k != name}
        placement = place_replicas(
            list(state.peers), len(shard_ids),
            _positive_int((config.get("params") or {}).get("replication_factor", 1),
                          "replication_factor"),
            load=replica_load(replace(state, collections=others)),
        )
        shards = {shard_ids[position]: dict.fromkeys(peers, ACTIVE)
                  for position, peers in placement.items()}
        transfers, restored = [], {}
    for sid in archived:
        replicas = shards[sid]
        others_active = [p for p, s in replicas.items() if p != peer and s == ACTIVE]
        if kept and priority == "replica" and others_active:
            replicas[peer] = DEAD  # the existing replicas win; this one resyncs from them
        else:
            replicas[peer] = ACTIVE
            if priority != "no_sync" or not kept:
                replicas.update({p: DEAD for p in replicas if p != peer})
        restored[sid] = recovery
    meta = CollectionMeta(
        name=name, uuid=existing.uuid if kept else _field(op, "uuid", str),
        config=copy.deepcopy(config), shards=shards,
        payload_indexes=copy.deepcopy(op.get("payload_indexes") or {}),
        transfers=transfers, shard_versions=dict(existing.shard_versions) if kept else {},
        restored=restored, shard_keys=key_of,
    )
    state.collections = {**state.collections, name: meta}
    return True


def _is_custom(config: dict) -> bool:
    return (config.get("params") or {}).get("sharding_method") == "custom"


def _recovered_shard_keys(config: dict, pairs: object) -> dict[int, str | int]:
    """shard id -> key from a snapshot's [shard id, key] pairs; only a custom collection
    has any."""
    if not isinstance(pairs, list):
        raise BadRequest("the snapshot's shard keys are malformed")
    if pairs and not _is_custom(config):
        raise BadRequest("the snapshot has shard keys but its collection uses auto sharding")
    key_of: dict[int, str | int] = {}
    for pair in pairs:
        if not isinstance(pair, list) or len(pair) != 2 or isinstance(pair[0], bool) or \
                not isinstance(pair[0], int) or pair[0] < 0 or pair[0] in key_of:
            raise BadRequest("the snapshot's shard keys are malformed")
        check_shard_key(pair[1])
        key_of[pair[0]] = pair[1]
    return key_of


def _update_collection(state: MetadataState, op: dict) -> bool:
    name = _field(op, "name", str)
    config = _field(op, "config", dict)
    meta = _collection(state, name)
    old_shards = (meta.config.get("params") or {}).get("shard_number", 1)
    new_shards = (config.get("params") or {}).get("shard_number", old_shards)
    if new_shards != old_shards:
        raise BadRequest(f"shard_number of collection `{name}` cannot be changed")
    updated = replace(meta, config=copy.deepcopy(config))
    state.collections = {**state.collections, name: updated}
    return True


def _delete_collection(state: MetadataState, op: dict) -> bool:
    name = _field(op, "name", str)
    if name not in state.collections:
        return False
    state.collections = {key: meta for key, meta in state.collections.items() if key != name}
    state.aliases = {alias: target for alias, target in state.aliases.items() if target != name}
    return True


def _change_aliases(state: MetadataState, op: dict) -> bool:
    actions = _field(op, "actions", list)
    # Validate the whole list against a copy, then publish it in one assignment: all or nothing.
    aliases = dict(state.aliases)
    for action in actions:
        if not isinstance(action, dict) or len(action) != 1:
            raise BadRequest("each alias action must be an object with exactly one key")
        ((kind, body),) = action.items()
        if not isinstance(body, dict):
            raise BadRequest(f"alias action `{kind}` needs an object")
        if kind == "create_alias":
            _create_alias(state, aliases, body)
        elif kind == "delete_alias":
            alias = _field(body, "alias_name", str)
            if alias not in aliases:
                raise NotFound(f"Alias `{alias}` doesn't exist!")
            del aliases[alias]
        elif kind == "rename_alias":
            _rename_alias(state, aliases, body)
        else:
            raise BadRequest(f"unknown alias action `{kind}`")
    state.aliases = aliases
    return True


def _create_alias(state: MetadataState, aliases: dict[str, str], body: dict) -> None:
    collection = _field(body, "collection_name", str)
    alias = _field(body, "alias_name", str)
    if collection not in state.collections:
        raise NotFound(f"Collection `{collection}` doesn't exist!")
    if alias in state.collections:
        raise Conflict(f"Alias name `{alias}` is already used by a collection")
    # An existing alias of that name is re-pointed, as Qdrant does.
    aliases[alias] = collection


def _rename_alias(state: MetadataState, aliases: dict[str, str], body: dict) -> None:
    old = _field(body, "old_alias_name", str)
    new = _field(body, "new_alias_name", str)
    if old not in aliases:
        raise NotFound(f"Alias `{old}` doesn't exist!")
    if new in state.collections:
        raise Conflict(f"Alias name `{new}` is already used by a collection")
    aliases[new] = aliases.pop(old)


def _set_replica_state(state: MetadataState, op: dict) -> bool:
    name = _field(op, "collection", str)
    shard_id = _field(op, "shard_id", int)
    peer_id = _field(op, "peer_id", int)
    new_state = _field(op, "state", str)
    meta = _collection(state, name)
    if new_state not in REPLICA_STATES:
        raise BadRequest(f"unknown replica state `{new_state}`")
    # A node that decided on the collection it saw names its uuid: the same name deleted and
    # created again meanwhile is another collection, whose replicas the op must not touch.
    if "uuid" in op and _field(op, "uuid", str) != meta.uuid:
        raise Conflict(f"collection `{name}` was deleted and created again (uuid "
                       f"{meta.uuid}, not {op['uuid']})")
    replicas = meta.shards.get(shard_id)
    if replicas is None:
        raise NotFound(f"Shard {shard_id} of collection `{name}` doesn't exist!")
    current = replicas.get(peer_id)
    if current is None and peer_id not in state.peers:
        raise NotFound(f"Peer {peer_id} is not a member of the cluster")
    # from_state makes the op a compare-and-set, so racing failure reports cannot overwrite
    # a replica that was already recovered.
    if "from_state" in op and op["from_state"] != current:
        raise Conflict(
            f"replica of shard {shard_id} of `{name}` on peer {peer_id} is {current}, "
            f"not {op['from_state']}"
        )
    others_active = any(state_ == ACTIVE for peer, state_ in replicas.items() if peer != peer_id)
    if current == ACTIVE and new_state != ACTIVE and not others_active:
        raise Conflict(f"cannot deactivate the last active replica of shard {shard_id} of `{name}`")
    shards = {**meta.shards, shard_id: {**replicas, peer_id: new_state}}
    state.collections = {**state.collections, name: replace(meta, shards=shards)}
    return True


def _drop_replica(state: MetadataState, op: dict) -> bool:
    name = _field(op, "collection", str)
    shard_id = _field(op, "shard_id", int)
    peer_id = _field(op, "peer_id", int)
    meta = _collection(state, name)
    replicas = meta.shards.get(shard_id)
    if replicas is None:
        raise NotFound(f"Shard {shard_id} of collection `{name}` doesn't exist!")
    if peer_id not in replicas:
        raise NotFound(f"Peer {peer_id} holds no replica of shard {shard_id} of `{name}`")
    if not any(s == ACTIVE for peer, s in replicas.items() if peer != peer_id):
        raise Conflict(f"cannot drop the last active replica of shard {shard_id} of `{name}`")
    remaining = {peer: s for peer, s in replicas.items() if peer != peer_id}
    shards = {**meta.shards, shard_id: remaining}
    state.collections = {**state.collections, name: replace(meta, shards=shards)}
    return True


TRANSFER_KINDS = ("recovery", "replicate", "move")


def _start_transfer(state: MetadataState, op: dict) -> bool:
    """A replica on `to` starts receiving a shard's points from the Active replica on `from`:
    it turns Partial (writes reach it, reads do not) until the transfer finishes."""
    name = _field(op, "collection", str)
    shard_id = _field(op, "shard_id", int)
    source = _field(op, "from", int)
    target = _field(op, "to", int)
    kind = _field(op, "kind", str)
    if kind not in TRANSFER_KINDS:
        raise BadRequest(f"unknown transfer kind `{kind}`")
    meta = _collection(state, name)
    replicas = meta.shards.get(shard_id)
    if replicas is None:
        raise NotFound(f"Shard {shard_id} of collection `{name}` doesn't exist!")
    if replicas.get(source) != ACTIVE:
        raise BadRequest(f"peer {source} holds no active replica of shard {shard_id} of `{name}`")
    if target not in state.peers:
        raise NotFound(f"Peer {target} is not a member of the cluster")
    if source == target:
        raise BadRequest("a shard cannot be transferred to the peer it comes from")
    current = replicas.get(target)
    if kind == "recovery" and current != DEAD:
        raise Conflict(f"replica of shard {shard_id} of `{name}` on peer {target} is {current}")
    if kind != "recovery" and current is not None:
        raise Conflict(f"peer {target} already holds a replica of shard {shard_id} of `{name}`")
    if any(t["shard_id"] == shard_id and t["to"] == target for t in meta.transfers):
        raise Conflict(f"a transfer of shard {shard_id} of `{name}` to {target} is running")
    record = {"shard_id": shard_id, "from": source, "to": target, "kind": kind,
              "id": state.version + 1}
    shards = {**meta.shards, shard_id: {**replicas, target: PARTIAL}}
    refilled = {**meta.refilled, shard_id: {**meta.refilled.get(shard_id, {}),
                                            target: record["id"]}}
    updated = replace(meta, shards=shards, transfers=[*meta.transfers, record],
                      refilled=refilled)
    state.collections = {**state.collections, name: updated}
    return True


def _finish_transfer(state: MetadataState, op: dict) -> bool:
    """The receiving replica turns Active; a move drops the source replica."""

    def settle(record: dict, replicas: dict[int, str]) -> None:
        replicas[record["to"]] = ACTIVE
        if record["kind"] == "move":
            replicas.pop(record["from"], None)

    return _end_transfer(state, op, settle)


def _abort_transfer(state: MetadataState, op: dict) -> bool:
    """A recovering replica goes back to Dead; a new one (replicate, move) is dropped."""

    def settle(record: dict, replicas: dict[int, str]) -> None:
        if record["kind"] == "recovery":
            replicas[record["to"]] = DEAD
        else:
            replicas.pop(record["to"], None)

    return _end_transfer(state, op, settle)


def _end_transfer(
    state: MetadataState, op: dict, settle: Callable[[dict, dict[int, str]], None]
) -> bool:
    name = _field(op, "collection", str)
    shard_id = _field(op, "shard_id", int)
    target = _field(op, "to", int)
    meta = _collection(state, name)
    record = _transfer(meta, shard_id, target)
    # A transfer is named by its id: a finish or abort meant for an earlier transfer of the
    # same replica (aborted, then started again) must not end this one.
    if "id" in op and op["id"] != record.get("id", 0):
        raise Conflict(f"transfer {op['id']} of shard {shard_id} of `{name}` to peer {target} "
                       f"is over; transfer {record.get('id', 0)} runs now")
    replicas = dict(meta.shards[shard_id])
    settle(record, replicas)
    shards = {**meta.shards, shard_id: replicas}
    # A move drops its source, which may meanwhile have turned Dead and started a recovery of
    # its own: that transfer has no replica left to fill.
    transfers = [t for t in meta.transfers if t is not record
                 and not (t["shard_id"] == shard_id and t["to"] not in replicas)]
    state.collections = {**state.collections,
                         name: replace(meta, shards=shards, transfers=transfers)}
    return True


def _transfer(meta: CollectionMeta, shard_id: int, target: int) -> dict:
    for record in meta.transfers:
        if record["shard_id"] == shard_id and record["to"] == target:
            return record
    raise NotFound(f"no transfer of shard {shard_id} of `{meta.name}` to peer {target}")


def _create_payload_index(state: MetadataState, op: dict) -> bool:
    name = _field(op, "collection", str)
    field_name = _field(op, "field_name", str)
    schema = op.get("schema")
    if not isinstance(schema, (dict, str)):
        raise BadRequest("`schema` is missing or has the wrong type in `create_payload_index`")
    meta = _collection(state, name)
    indexes = {**meta.payload_indexes, field_name: copy.deepcopy(schema)}
    state.collections = {**state.collections, name: replace(meta, payload_indexes=indexes)}
    return True


def _drop_payload_index(state: MetadataState, op: dict) -> bool:
    name = _field(op, "collection", str)
    field_name = _field(op, "field_name", str)
    meta = _collection(state, name)
    if field_name not in meta.payload_indexes:
        return False
    indexes = {key: value for key, value in meta.payload_indexes.items() if key != field_name}
    state.collections = {**state.collections, name: replace(meta, payload_indexes=indexes)}
    return True


def _add_peer(state: MetadataState, op: dict) -> bool:
    peer_id = _field(op, "peer_id", int)
    uri = _field(op, "uri", str)
    api = _field(op, "api", str)
    # Re-adding a known peer updates its addresses (a node that came back on a new address).
    state.peers = {**state.peers, peer_id: {"uri": uri, "api": api}}
    return True


def _remove_peer(state: MetadataState, op: dict) -> bool:
    peer_id = _field(op, "peer_id", int)
    if peer_id not in state.peers:
        raise NotFound(f"Peer {peer_id} is not a member of the cluster")
    holds = [
        name
        for name, meta in state.collections.items()
        if any(peer_id in replicas for replicas in meta.shards.values())
    ]
    last_copies = sorted(
        f"{name}/{shard_id}"
        for name, meta in state.collections.items()
        for shard_id, replicas in meta.shards.items()
        if peer_id in replicas
        and not any(s == ACTIVE for peer, s in replicas.items() if peer != peer_id)
    )
    if last_copies and not op.get("force", False):
        raise Conflict(
            f"peer {peer_id} holds the last active replica of {', '.join(last_copies)}; "
            "move those shards first, or force the removal"
        )
    collections = dict(state.collections)
    for name in holds:
        meta = collections[name]
        shards = {
            shard_id: {peer: s for peer, s in replicas.items() if peer != peer_id}
            for shard_id, replicas in meta.shards.items()
        }
        collections[name] = replace(meta, shards=shards)
    state.collections = collections
    state.peers = {key: value for key, value in state.peers.items() if key != peer_id}
    return True


def _create_shard_key(state: MetadataState, op: dict) -> bool:
    """New shards, numbered after the collection's highest, placed as a collection's are (on
    the given peers only, if `placement` names them) and tagged with the key."""
    name = _field(op, "collection", str)
    key = op.get("shard_key")
    meta = _collection(state, name)
    check_shard_key(key)
    if not meta.custom_sharding:
        raise BadRequest("Bad request: Shard Key cannot be created with Auto sharding method")
    if key in meta.shard_keys.values():
        raise BadRequest(f"Bad request: Sharding key {key} already exists for collection "
                         f"{name}")
    params = meta.config.get("params") or {}
    shard_number = _positive_int(op.get("shards_number") or params.get("shard_number", 1),
                                 "shards_number")
    replication_factor = _positive_int(
        op.get("replication_factor") or params.get("replication_factor", 1),
        "replication_factor")
    initial_state = op.get("initial_state") or ACTIVE
    if initial_state == PARTIAL:
        # Qdrant fills a Partial key with replicate_points and then activates it; Flotilla
        # has neither, and a key that stays Partial could never be read.
        raise BadRequest("Bad request: Initial state Partial is not supported: Flotilla "
                         "creates a shard key's shards Active")
    if initial_state != ACTIVE:
        raise BadRequest(f"Bad request: Initial state cannot be {initial_state}, only Active "
                         "or Partial are allowed")
    pool = op.get("placement")
    if pool is None:
        pool = list(state.peers)
    elif not isinstance(pool, list) or not pool:
        raise BadRequest(f"Bad request: Sharding key {key} placement cannot be empty. If you "
                         "want to use random placement, do not specify placement")
    for peer_id in pool:
        if isinstance(peer_id, bool) or not isinstance(peer_id, int) \
                or peer_id not in state.peers:
            raise BadRequest(f"Bad request: Peer {peer_id} does not exist")
    if not pool:
        raise Unavailable("no peers in the cluster to place shards on")
    placement = place_replicas(pool, shard_number, replication_factor, load=replica_load(state))
    first = max(meta.shards, default=-1) + 1
    new = {first + offset: dict.fromkeys(peers, initial_state)
           for offset, peers in placement.items()}
    updated = replace(meta, shards={**meta.shards, **new},
                      shard_keys={**meta.shard_keys, **dict.fromkeys(new, key)})
    state.collections = {**state.collections, name: updated}
    return True


def _delete_shard_key(state: MetadataState, op: dict) -> bool:
    """Drop a key's shards (their replicas go on every node) and everything about them."""
    name = _field(op, "collection", str)
    key = op.get("shard_key")
    meta = _collection(state, name)
    check_shard_key(key)
    if not meta.custom_sharding:
        raise BadRequest("Bad request: Shard Key cannot be deleted with Auto sharding method")
    gone = {sid for sid, owner in meta.shard_keys.items() if owner == key}
    if not gone:
        raise BadRequest(f"Bad request: Sharding key {key} does not exist for collection "
                         f"{name}")

    def kept(mapping: dict) -> dict:
        return {sid: value for sid, value in mapping.items() if sid not in gone}

    updated = replace(
        meta, shards=kept(meta.shards), shard_keys=kept(meta.shard_keys),
        shard_versions=kept(meta.shard_versions), restored=kept(meta.restored),
        refilled=kept(meta.refilled),
        transfers=[t for t in meta.transfers if t["shard_id"] not in gone])
    state.collections = {**state.collections, name: updated}
    return True


def check_shard_key(key: object) -> None:
    """A shard key is a string or an unsigned integer (a bool is neither)."""
    if isinstance(key, bool) or not isinstance(key, (str, int)) or \
            (isinstance(key, int) and not 0 <= key < 2**64):
        raise BadRequest(f"a shard key must be a string or an unsigned integer, got {key!r}")


_HANDLERS: dict[str, Callable[[MetadataState, dict], object]] = {
    "create_collection": _create_collection,
    "update_collection": _update_collection,
    "delete_collection": _delete_collection,
    "change_aliases": _change_aliases,
    "set_replica_state": _set_replica_state,
    "drop_replica": _drop_replica,
    "start_transfer": _start_transfer,
    "finish_transfer": _finish_transfer,
    "abort_transfer": _abort_transfer,
    "create_payload_index": _create_payload_index,
    "drop_payload_index": _drop_payload_index,
    "add_peer": _add_peer,
    "remove_peer": _remove_peer,
    "recover_collection": _recover_collection,
    "create_shard_key": _create_shard_key,
    "delete_shard_key": _delete_shard_key,
    SET_QUOTA: apply_set_quota,
}


# --- helpers ---------------------------------------------------------------------------------


def _field(op: dict, key: str, kind: type[_T]) -> _T:
    value = op.get(key)
    # bool is an int subclass; an id or shard number given as true/false is a mistake.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise BadRequest(f"`{key}` is missing or has the wrong type in `{op.get('op', 'op')}`")
    return value


def _positive_int(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise BadRequest(f"`{name}` must be a positive integer, got {value!r}")
    return value


def _collection(state: MetadataState, name: str) -> CollectionMeta:
    meta = state.collections.get(name)
    if meta is None:
        raise NotFound(f"Collection `{name}` doesn't exist!")
    return meta


# --- snapshots -------------------------------------------------------------------------------


def to_dict(state: MetadataState) -> dict:
    """A JSON-able copy of the state (integer keys become strings)."""
    return {
        "version": state.version,
        "aliases": dict(state.aliases),
        "peers": {str(peer_id): dict(info) for peer_id, info in state.peers.items()},
        "quota": copy.deepcopy(state.quota),
        "collections": {
            name: {
                "name": meta.name,
                "uuid": meta.uuid,
                "config": copy.deepcopy(meta.config),
                "shards": {
                    str(shard_id): {str(peer): s for peer, s in replicas.items()}
                    for shard_id, replicas in meta.shards.items()
                },
                "payload_indexes": copy.deepcopy(meta.payload_indexes),
                "init_from": meta.init_from,
                "transfers": copy.deepcopy(meta.transfers),
                "shard_versions": {str(sid): v for sid, v in meta.shard_versions.items()},
                "restored": {str(sid): r for sid, r in meta.restored.items()},
                "refilled": {str(sid): {str(peer): v for peer, v in peers.items()}
                             for sid, peers in meta.refilled.items()},
                "shard_keys": {str(sid): key for sid, key in meta.shard_keys.items()},
            }
            for name, meta in state.collections.items()
        },
    }


def from_dict(data: dict) -> MetadataState:
    """Rebuild a state from `to_dict` output (or its JSON round trip)."""
    return MetadataState(
        collections={
            name: CollectionMeta(
                name=meta["name"],
                uuid=meta["uuid"],
                config=copy.deepcopy(meta["config"]),
                shards={
                    int(shard_id): {int(peer): s for peer, s in replicas.items()}
                    for shard_id, replicas in meta["shards"].items()
                },
                payload_indexes=copy.deepcopy(meta.get("payload_indexes", {})),
                init_from=meta.get("init_from"),
                transfers=copy.deepcopy(meta.get("transfers", [])),
                shard_versions={int(sid): int(v)
                                for sid, v in meta.get("shard_versions", {}).items()},
                restored={int(sid): str(r) for sid, r in meta.get("restored", {}).items()},
                refilled={int(sid): {int(peer): int(v) for peer, v in peers.items()}
                          for sid, peers in meta.get("refilled", {}).items()},
                shard_keys={int(sid): key for sid, key in meta.get("shard_keys", {}).items()},
            )
            for name, meta in data.get("collections", {}).items()
        },
        aliases=dict(data.get("aliases", {})),
        peers={int(peer_id): dict(info) for peer_id, info in data.get("peers", {}).items()},
        version=int(data.get("version", 0)),
        quota=copy.deepcopy(data.get("quota")),
    )
