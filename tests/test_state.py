"""The metadata state machine: every op, every error, and all-or-nothing alias changes."""

from __future__ import annotations

import copy
import json

import pytest

from cluster.metadata.state import (
    ACTIVE,
    DEAD,
    PARTIAL,
    CollectionMeta,
    MetadataState,
    apply,
    from_dict,
    replica_load,
    resolve,
    to_dict,
)
from node.errors import BadRequest, Conflict, NotFound, Unavailable


def with_peers(*peer_ids: int) -> MetadataState:
    state = MetadataState()
    for peer_id in peer_ids:
        apply(
            state,
            {
                "op": "add_peer",
                "peer_id": peer_id,
                "uri": f"127.0.0.1:{7000 + peer_id}",
                "api": f"http://127.0.0.1:{6000 + peer_id}",
            },
        )
    return state


def create(state: MetadataState, name: str, shards: int = 1, rf: int = 1, **extra: object) -> bool:
    config = {"params": {"shard_number": shards, "replication_factor": rf}, "hnsw_config": {}}
    return apply(  # type: ignore[return-value]
        state,
        {"op": "create_collection", "name": name, "uuid": f"uuid-{name}", "config": config} | extra,
    )


def aliases(state: MetadataState, *actions: dict) -> object:
    return apply(state, {"op": "change_aliases", "actions": list(actions)})


def create_alias(collection: str, alias: str) -> dict:
    return {"create_alias": {"collection_name": collection, "alias_name": alias}}


def assert_unchanged(state: MetadataState, op: dict, error: type[Exception]) -> None:
    before = copy.deepcopy(state)
    with pytest.raises(error):
        apply(state, op)
    assert state == before


def test_add_and_remove_peer() -> None:
    state = with_peers(1, 2)
    assert state.peers[1] == {"uri": "127.0.0.1:7001", "api": "http://127.0.0.1:6001"}
    assert state.version == 2
    apply(state, {"op": "add_peer", "peer_id": 1, "uri": "10.0.0.1:7001", "api": "http://a"})
    assert state.peers[1]["uri"] == "10.0.0.1:7001" and len(state.peers) == 2
    assert apply(state, {"op": "remove_peer", "peer_id": 2}) is True
    assert list(state.peers) == [1]
    assert_unchanged(state, {"op": "remove_peer", "peer_id": 9}, NotFound)


def test_remove_peer_holding_replicas_needs_force() -> None:
    state = with_peers(1, 2)
    create(state, "c", shards=2, rf=2)
    # Every shard has another active copy: the peer's replicas go with it.
    apply(state, {"op": "remove_peer", "peer_id": 2})
    assert state.collections["c"].shards == {0: {1: ACTIVE}, 1: {1: ACTIVE}}
    # Peer 1 now holds the last copies: refused unless forced.
    assert_unchanged(state, {"op": "remove_peer", "peer_id": 1}, Conflict)
    apply(state, {"op": "remove_peer", "peer_id": 1, "force": True})
    assert state.collections["c"].shards == {0: {}, 1: {}}


def test_drop_replica_keeps_the_last_active_copy() -> None:
    state = with_peers(1, 2)
    create(state, "c", shards=1, rf=2)
    apply(state, {"op": "drop_replica", "collection": "c", "shard_id": 0, "peer_id": 2})
    assert state.collections["c"].shards == {0: {1: ACTIVE}}
    assert_unchanged(
        state, {"op": "drop_replica", "collection": "c", "shard_id": 0, "peer_id": 1}, Conflict
    )


def test_create_collection_places_active_replicas() -> None:
    state = with_peers(1, 2, 3)
    assert create(state, "c", shards=3, rf=2) is True
    meta = state.collections["c"]
    assert meta.uuid == "uuid-c" and meta.payload_indexes == {} and meta.init_from is None
    assert meta.shards == {
        0: {1: ACTIVE, 2: ACTIVE},
        1: {3: ACTIVE, 1: ACTIVE},
        2: {2: ACTIVE, 3: ACTIVE},
    }
    assert meta.config["params"] == {"shard_number": 3, "replication_factor": 2}
    assert state.version == 4


def test_create_collection_is_load_aware() -> None:
    state = with_peers(1, 2, 3)
    create(state, "a", shards=1, rf=1)
    create(state, "b", shards=1, rf=1)
    create(state, "c", shards=1, rf=1)
    holders = {name: list(meta.shards[0]) for name, meta in state.collections.items()}
    assert sorted(peer for peers in holders.values() for peer in peers) == [1, 2, 3]
    assert replica_load(state) == {1: 1, 2: 1, 3: 1}


def test_create_collection_defaults_and_init_from() -> None:
    state = with_peers(1, 2)
    apply(state, {"op": "create_collection", "name": "d", "uuid": "u", "config": {}})
    assert state.collections["d"].shards == {0: {1: ACTIVE}}
    create(state, "e", init_from="d")
    assert state.collections["e"].init_from == "d"


def test_create_collection_errors() -> None:
    state = with_peers(1)
    create(state, "c")
    aliases(state, create_alias("c", "al"))
    base = {"op": "create_collection", "uuid": "u", "config": {}}
    assert_unchanged(state, base | {"name": "c"}, Conflict)
    assert_unchanged(state, base | {"name": "al"}, Conflict)
    bad_params = base | {"name": "x", "config": {"params": {"shard_number": 0}}}
    assert_unchanged(state, bad_params, BadRequest)
    bad_rf = base | {"name": "x", "config": {"params": {"replication_factor": "2"}}}
    assert_unchanged(state, bad_rf, BadRequest)
    assert_unchanged(state, {"op": "create_collection", "name": "x", "config": {}}, BadRequest)
    assert_unchanged(MetadataState(), base | {"name": "x"}, Unavailable)


def test_conflict_message_names_the_collection() -> None:
    state = with_peers(1)
    create(state, "c")
    with pytest.raises(Conflict, match="`c` already exists"):
        create(state, "c")


def test_update_collection() -> None:
    state = with_peers(1)
    create(state, "c", shards=2)
    shards = state.collections["c"].shards
    new_config = {"params": {"shard_number": 2, "replication_factor": 1}, "hnsw_config": {"m": 32}}
    assert apply(state, {"op": "update_collection", "name": "c", "config": new_config}) is True
    assert state.collections["c"].config == new_config
    assert state.collections["c"].shards == shards
    assert_unchanged(state, {"op": "update_collection", "name": "x", "config": {}}, NotFound)
    resharded = {"params": {"shard_number": 3}}
    assert_unchanged(
        state, {"op": "update_collection", "name": "c", "config": resharded}, BadRequest
    )


def test_delete_collection_drops_its_aliases() -> None:
    state = with_peers(1)
    create(state, "a")
    create(state, "b")
    aliases(state, create_alias("a", "x"), create_alias("a", "y"), create_alias("b", "z"))
    assert apply(state, {"op": "delete_collection", "name": "a"}) is True
    assert list(state.collections) == ["b"]
    assert state.aliases == {"z": "b"}
    version = state.version
    assert apply(state, {"op": "delete_collection", "name": "a"}) is False
    assert state.version == version + 1


def test_recreated_collection_gets_a_new_uuid() -> None:
    state = with_peers(1)
    create(state, "c")
    apply(state, {"op": "delete_collection", "name": "c"})
    apply(state, {"op": "create_collection", "name": "c", "uuid": "second", "config": {}})
    assert state.collections["c"].uuid == "second"


def test_alias_actions() -> None:
    state = with_peers(1)
    create(state, "a")
    create(state, "b")
    assert aliases(state, create_alias("a", "x")) is True
    assert state.aliases == {"x": "a"}
    aliases(state, create_alias("b", "x"))  # re-points an existing alias
    assert state.aliases == {"x": "b"}
    aliases(state, {"rename_alias": {"old_alias_name": "x", "new_alias_name": "y"}})
    assert state.aliases == {"y": "b"}
    aliases(state, {"delete_alias": {"alias_name": "y"}})
    assert state.aliases == {}
    assert aliases(state) is True


def test_alias_errors() -> None:
    state = with_peers(1)
    create(state, "a")
    create(state, "b")
    aliases(state, create_alias("a", "x"))
    cases = [
        (create_alias("missing", "y"), NotFound),
        (create_alias("x", "y"), NotFound),  # an alias is not a collection
        (create_alias("a", "b"), Conflict),
        ({"delete_alias": {"alias_name": "nope"}}, NotFound),
        ({"rename_alias": {"old_alias_name": "nope", "new_alias_name": "z"}}, NotFound),
        ({"rename_alias": {"old_alias_name": "x", "new_alias_name": "b"}}, Conflict),
        ({"frobnicate_alias": {}}, BadRequest),
        ({"create_alias": {"collection_name": "a"}}, BadRequest),
        ({"create_alias": {}, "delete_alias": {}}, BadRequest),
    ]
    for action, error in cases:
        assert_unchanged(state, {"op": "change_aliases", "actions": [action]}, error)


def test_alias_list_is_all_or_nothing() -> None:
    state = with_peers(1)
    create(state, "a")
    aliases(state, create_alias("a", "keep"))
    before = dict(state.aliases)
    version = state.version
    failing = [
        create_alias("a", "new1"),
        {"delete_alias": {"alias_name": "keep"}},
        {"rename_alias": {"old_alias_name": "new1", "new_alias_name": "new2"}},
        {"delete_alias": {"alias_name": "does-not-exist"}},
    ]
    with pytest.raises(NotFound):
        aliases(state, *failing)
    assert state.aliases == before
    assert state.version == version


def test_alias_dict_is_replaced_not_mutated() -> None:
    state = with_peers(1)
    create(state, "a")
    seen_by_reader = state.aliases
    aliases(state, create_alias("a", "x"))
    assert seen_by_reader == {}
    assert state.aliases == {"x": "a"}


def test_actions_later_in_a_list_see_earlier_ones() -> None:
    state = with_peers(1)
    create(state, "a")
    aliases(
        state,
        create_alias("a", "x"),
        {"rename_alias": {"old_alias_name": "x", "new_alias_name": "y"}},
        {"delete_alias": {"alias_name": "y"}},
        create_alias("a", "z"),
    )
    assert state.aliases == {"z": "a"}


def test_resolve() -> None:
    state = with_peers(1)
    create(state, "a")
    aliases(state, create_alias("a", "x"))
    assert resolve(state, "a") == "a"
    assert resolve(state, "x") == "a"
    assert resolve(state, "nope") is None


def test_set_replica_state() -> None:
    state = with_peers(1, 2, 3)
    create(state, "c", shards=1, rf=2)
    op = {"op": "set_replica_state", "collection": "c", "shard_id": 0, "peer_id": 2}
    assert apply(state, op | {"state": DEAD}) is True
    assert state.collections["c"].shards[0] == {1: ACTIVE, 2: DEAD}
    # Compare-and-set: only a Dead replica may move to Partial here.
    assert_unchanged(state, op | {"state": PARTIAL, "from_state": ACTIVE}, Conflict)
    apply(state, op | {"state": PARTIAL, "from_state": DEAD})
    assert state.collections["c"].shards[0][2] == PARTIAL
    # A known peer without a replica may get one (the target of a shard transfer).
    apply(state, op | {"peer_id": 3, "state": PARTIAL})
    assert state.collections["c"].shards[0] == {1: ACTIVE, 2: PARTIAL, 3: PARTIAL}


def test_set_replica_state_errors() -> None:
    state = with_peers(1, 2)
    create(state, "c", shards=1, rf=1)
    op = {"op": "set_replica_state", "collection": "c", "shard_id": 0, "peer_id": 1}
    assert_unchanged(state, op | {"collection": "x", "state": DEAD}, NotFound)
    assert_unchanged(state, op | {"shard_id": 5, "state": DEAD}, NotFound)
    assert_unchanged(state, op | {"peer_id": 9, "state": DEAD}, NotFound)
    assert_unchanged(state, op | {"state": "Sleepy"}, BadRequest)
    assert_unchanged(state, op | {"shard_id": "0", "state": DEAD}, BadRequest)
    # The only Active replica cannot be deactivated.
    assert_unchanged(state, op | {"state": DEAD}, Conflict)


def test_set_replica_state_names_the_collection_it_decided_on() -> None:
    """A collection deleted and created again under its name between a node's decision and its
    op is another collection: the op, carrying the uuid it saw, leaves its replicas alone."""
    state = with_peers(1, 2)
    create(state, "c", shards=1, rf=2)
    seen = state.collections["c"].uuid
    apply(state, {"op": "delete_collection", "name": "c"})
    create(state, "c", shards=1, rf=2, uuid="uuid-c-again")
    op = {"op": "set_replica_state", "collection": "c", "shard_id": 0, "peer_id": 2,
          "state": DEAD, "from_state": ACTIVE}
    assert_unchanged(state, op | {"uuid": seen}, Conflict)
    assert_unchanged(state, op | {"uuid": 7}, BadRequest)
    assert apply(state, op | {"uuid": state.collections["c"].uuid}) is True
    assert state.collections["c"].shards[0] == {1: ACTIVE, 2: DEAD}


def test_payload_indexes() -> None:
    state = with_peers(1)
    create(state, "c")
    op = {"op": "create_payload_index", "collection": "c", "field_name": "city"}
    assert apply(state, op | {"schema": {"type": "keyword"}}) is True
    apply(state, op | {"field_name": "n", "schema": "integer"})
    assert state.collections["c"].payload_indexes == {"city": {"type": "keyword"}, "n": "integer"}
    drop = {"op": "drop_payload_index", "collection": "c", "field_name": "city"}
    assert apply(state, drop) is True
    assert apply(state, drop) is False
    assert state.collections["c"].payload_indexes == {"n": "integer"}
    assert_unchanged(state, op | {"collection": "x", "schema": "integer"}, NotFound)
    assert_unchanged(state, drop | {"collection": "x"}, NotFound)
    assert_unchanged(state, op | {"schema": 5}, BadRequest)


def test_unknown_and_malformed_ops() -> None:
    state = with_peers(1)
    assert_unchanged(state, {"op": "launch_rockets"}, BadRequest)
    assert_unchanged(state, {"name": "no op key"}, BadRequest)
    with pytest.raises(BadRequest):
        apply(state, ["not", "a", "dict"])  # type: ignore[arg-type]


def test_to_dict_round_trips_through_json() -> None:
    state = with_peers(1, 2, 3)
    create(state, "c", shards=3, rf=2)
    aliases(state, create_alias("c", "x"))
    apply(
        state,
        {"op": "create_payload_index", "collection": "c", "field_name": "f", "schema": "keyword"},
    )
    restored = from_dict(json.loads(json.dumps(to_dict(state))))
    assert restored == state
    assert isinstance(restored.collections["c"], CollectionMeta)
    assert set(restored.peers) == {1, 2, 3}


def test_transfers_start_finish_and_abort() -> None:
    state = with_peers(1, 2, 3)
    create(state, "c", shards=1, rf=2)  # replicas on two of the three peers
    holders = list(state.collections["c"].shards[0])
    spare = next(p for p in (1, 2, 3) if p not in holders)
    start = {"op": "start_transfer", "collection": "c", "shard_id": 0, "from": holders[0],
             "to": spare, "kind": "move"}
    apply(state, start)
    meta = state.collections["c"]
    assert meta.shards[0][spare] == PARTIAL and len(meta.transfers) == 1
    assert_unchanged(state, start, Conflict)  # already holds a (Partial) replica
    apply(state, {"op": "finish_transfer", "collection": "c", "shard_id": 0, "to": spare})
    meta = state.collections["c"]
    assert meta.shards[0] == {holders[1]: ACTIVE, spare: ACTIVE} and meta.transfers == []
    # A recovery needs a Dead replica; aborting it leaves the replica Dead again.
    apply(state, {"op": "set_replica_state", "collection": "c", "shard_id": 0,
                  "peer_id": spare, "state": DEAD})
    recovery = {**start, "from": holders[1], "kind": "recovery"}
    apply(state, recovery)
    apply(state, {"op": "abort_transfer", "collection": "c", "shard_id": 0, "to": spare})
    assert state.collections["c"].shards[0][spare] == DEAD
    assert_unchanged(
        state, {"op": "abort_transfer", "collection": "c", "shard_id": 0, "to": spare}, NotFound
    )
    assert_unchanged(state, {**recovery, "from": spare}, BadRequest)  # source not Active


def test_a_finish_or_abort_for_an_earlier_transfer_ends_no_newer_one() -> None:
    state = with_peers(1, 2)
    create(state, "c", shards=1, rf=2)
    source, target = list(state.collections["c"].shards[0])
    apply(state, {"op": "set_replica_state", "collection": "c", "shard_id": 0,
                  "peer_id": target, "state": DEAD})
    recovery = {"op": "start_transfer", "collection": "c", "shard_id": 0, "from": source,
                "to": target, "kind": "recovery"}
    apply(state, recovery)
    first = state.collections["c"].transfers[0]["id"]
    end = {"collection": "c", "shard_id": 0, "to": target, "id": first}
    apply(state, {"op": "abort_transfer", **end})
    apply(state, recovery)  # started again: a newer transfer
    second = state.collections["c"].transfers[0]["id"]
    assert second > first
    # The first transfer's task finishing late (its stream predates the abort) ends nothing.
    assert_unchanged(state, {"op": "finish_transfer", **end}, Conflict)
    assert_unchanged(state, {"op": "abort_transfer", **end}, Conflict)
    assert state.collections["c"].shards[0][target] == PARTIAL
    apply(state, {"op": "finish_transfer", **end, "id": second})
    assert state.collections["c"].shards[0][target] == ACTIVE


def test_a_move_that_drops_a_recovering_source_ends_its_recovery() -> None:
    state = with_peers(1, 2, 3)
    create(state, "c", shards=1, rf=2)
    source, other = list(state.collections["c"].shards[0])
    spare = next(p for p in (1, 2, 3) if p not in (source, other))
    apply(state, {"op": "start_transfer", "collection": "c", "shard_id": 0, "from": source,
                  "to": spare, "kind": "move"})
    # The source misses a write while the move runs, turns Dead and starts recovering.
    apply(state, {"op": "set_replica_state", "collection": "c", "shard_id": 0,
                  "peer_id": source, "state": DEAD, "from_state": ACTIVE})
    apply(state, {"op": "start_transfer", "collection": "c", "shard_id": 0, "from": other,
                  "to": source, "kind": "recovery"})
    move = state.collections["c"].transfers[0]
    apply(state, {"op": "finish_transfer", "collection": "c", "shard_id": 0, "to": spare,
                  "id": move["id"]})
    meta = state.collections["c"]
    assert meta.shards[0] == {other: ACTIVE, spare: ACTIVE}
    assert meta.transfers == []  # no transfer left into a replica that is gone


def test_shard_versions_follow_replica_changes_only() -> None:
    state = with_peers(1, 2, 3)
    create(state, "c", shards=2, rf=2)
    created = state.version
    assert state.collections["c"].shard_versions == {0: created, 1: created}
    holders = list(state.collections["c"].shards[0])
    # An op that leaves the replicas alone stamps nothing.
    apply(state, {"op": "create_payload_index", "collection": "c", "field_name": "f",
                  "schema": "keyword"})
    assert state.collections["c"].shard_versions == {0: created, 1: created}
    apply(state, {"op": "set_replica_state", "collection": "c", "shard_id": 0,
                  "peer_id": holders[1], "state": DEAD})
    dead = state.version
    assert state.collections["c"].shard_versions == {0: dead, 1: created}
    spare = next(p for p in (1, 2, 3) if p not in state.collections["c"].shards[1])
    apply(state, {"op": "start_transfer", "collection": "c", "shard_id": 1,
                  "from": next(iter(state.collections["c"].shards[1])), "to": spare,
                  "kind": "replicate"})
    meta = state.collections["c"]
    # The transfer is known by the version that started it, the one its shard got.
    assert meta.transfers[0]["id"] == meta.shard_versions[1] == state.version
    assert meta.shard_versions[0] == dead
    assert from_dict(json.loads(json.dumps(to_dict(state)))) == state
    # A collection made again under the same name starts from its own version.
    apply(state, {"op": "delete_collection", "name": "c"})
    create(state, "c", shards=2, rf=2, uuid="uuid-c2")
    assert state.collections["c"].shard_versions == {0: state.version, 1: state.version}


def test_a_transfer_into_a_replica_is_remembered_after_it_ends() -> None:
    # Coordinators compare it with the shard version a write was sent with: a replica that
    # applied the write before a transfer into it began lost it when the transfer began.
    state = with_peers(1, 2)
    create(state, "c", shards=1, rf=2)
    source, target = list(state.collections["c"].shards[0])
    apply(state, {"op": "set_replica_state", "collection": "c", "shard_id": 0,
                  "peer_id": target, "state": DEAD})
    before = state.collections["c"].shard_versions[0]
    apply(state, {"op": "start_transfer", "collection": "c", "shard_id": 0, "from": source,
                  "to": target, "kind": "recovery"})
    started = state.collections["c"].transfers[0]["id"]
    assert started > before
    apply(state, {"op": "finish_transfer", "collection": "c", "shard_id": 0, "to": target,
                  "id": started})
    assert state.collections["c"].refilled == {0: {target: started}}
    assert from_dict(json.loads(json.dumps(to_dict(state)))) == state
