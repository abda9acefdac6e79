"""Custom sharding in the metadata state machine: creating and deleting shard keys."""

from __future__ import annotations

import json

from cluster.metadata.state import ACTIVE, PARTIAL, apply, from_dict, to_dict
from node.errors import BadRequest, NotFound
from tests.test_state import assert_unchanged, create, with_peers


def custom(state, name: str = "c", shards: int = 1, rf: int = 1) -> None:
    config = {"params": {"shard_number": shards, "replication_factor": rf,
                         "sharding_method": "custom"}, "hnsw_config": {}}
    apply(state, {"op": "create_collection", "name": name, "uuid": f"uuid-{name}",
                  "config": config})


def key_op(kind: str, key: object, collection: str = "c", **extra: object) -> dict:
    return {"op": f"{kind}_shard_key", "collection": collection, "shard_key": key, **extra}


def test_a_custom_collection_starts_without_shards() -> None:
    state = with_peers(1, 2, 3)
    custom(state, shards=2)
    assert state.collections["c"].shards == {}
    assert state.collections["c"].custom_sharding


def test_each_key_gets_shard_number_new_shards_on_its_placement() -> None:
    state = with_peers(1, 2, 3)
    custom(state, shards=2, rf=2)
    apply(state, key_op("create", "eu", placement=[2, 3]))
    apply(state, key_op("create", 7, shards_number=1, replication_factor=1, placement=[1]))
    meta = state.collections["c"]
    assert meta.shard_keys == {0: "eu", 1: "eu", 2: 7}
    assert all(set(meta.shards[sid]) == {2, 3} for sid in (0, 1))
    assert meta.shards[2] == {1: ACTIVE}
    # each new shard has a version, so writes routed to it carry one
    assert set(meta.shard_versions) == {0, 1, 2}


def test_keys_start_active_on_every_peer_by_default() -> None:
    state = with_peers(1, 2)
    custom(state)
    apply(state, key_op("create", "a", initial_state=ACTIVE, replication_factor=2))
    assert state.collections["c"].shards == {0: {1: ACTIVE, 2: ACTIVE}}
    # Partial keys are filled by replicate_points in Qdrant, which Flotilla does not serve
    assert_unchanged(state, key_op("create", "b", initial_state=PARTIAL), BadRequest)


def test_shard_key_errors_change_nothing() -> None:
    state = with_peers(1, 2)
    custom(state)
    create(state, "auto")
    apply(state, key_op("create", "a"))
    assert_unchanged(state, key_op("create", "a"), BadRequest)  # duplicate
    assert_unchanged(state, key_op("create", "x", collection="auto"), BadRequest)
    assert_unchanged(state, key_op("create", "x", collection="nope"), NotFound)
    assert_unchanged(state, key_op("create", "x", placement=[]), BadRequest)
    assert_unchanged(state, key_op("create", "x", placement=[9]), BadRequest)
    assert_unchanged(state, key_op("create", "x", initial_state="Dead"), BadRequest)
    assert_unchanged(state, key_op("create", True), BadRequest)
    assert_unchanged(state, key_op("create", 1.5), BadRequest)
    assert_unchanged(state, key_op("delete", "b"), BadRequest)
    # "1" and 1 are different keys
    apply(state, key_op("create", 1))
    assert_unchanged(state, key_op("delete", "1"), BadRequest)


def test_deleting_a_key_drops_its_shards_and_transfers() -> None:
    state = with_peers(1, 2)
    custom(state)
    apply(state, key_op("create", "a", placement=[1]))
    apply(state, key_op("create", "b", placement=[1]))
    apply(state, {"op": "start_transfer", "collection": "c", "shard_id": 0, "from": 1, "to": 2,
                  "kind": "replicate"})
    apply(state, key_op("delete", "a"))
    meta = state.collections["c"]
    assert meta.shards == {1: {1: ACTIVE}} and meta.shard_keys == {1: "b"}
    assert meta.transfers == [] and 0 not in meta.shard_versions
    # a new key never reuses a live shard id
    apply(state, key_op("create", "a", placement=[2]))
    assert state.collections["c"].shard_keys == {1: "b", 2: "a"}


def test_shard_keys_round_trip_through_json() -> None:
    state = with_peers(1)
    custom(state)
    apply(state, key_op("create", "a"))
    apply(state, key_op("create", 5))
    again = from_dict(json.loads(json.dumps(to_dict(state))))
    assert again.collections["c"].shard_keys == {0: "a", 1: 5}
    assert again == state


def recover(state, shard_keys: object, shards: list[int], sharding: str = "custom") -> bool:
    config = {"params": {"shard_number": 1, "replication_factor": 1,
                         "sharding_method": sharding}, "hnsw_config": {}}
    return apply(state, {"op": "recover_collection", "name": "r", "uuid": "uuid-r",
                         "config": config, "peer": 1, "shards": shards, "recovery": "x",
                         "shard_keys": shard_keys})


def test_a_recovered_collection_gets_every_key_of_its_snapshot() -> None:
    state = with_peers(1, 2)
    recover(state, [[0, "a"], [3, 5]], shards=[3])
    meta = state.collections["r"]
    assert meta.shard_keys == {0: "a", 3: 5} and set(meta.shards) == {0, 3}
    assert meta.shards[3][1] == ACTIVE and meta.restored == {3: "x"}


def test_malformed_recovered_keys_change_nothing() -> None:
    state = with_peers(1)
    for pairs, shards, sharding in [([[0, True]], [0], "custom"), ([[0]], [0], "custom"),
                                    ([[0, "a"], [0, "b"]], [0], "custom"),
                                    ([[0, "a"]], [1], "custom"), ("x", [0], "custom"),
                                    ([[0, "a"]], [0], "auto")]:
        config = {"params": {"shard_number": 1, "replication_factor": 1,
                             "sharding_method": sharding}, "hnsw_config": {}}
        assert_unchanged(state, {"op": "recover_collection", "name": "r", "uuid": "u",
                                 "config": config, "peer": 1, "shards": shards,
                                 "recovery": "x", "shard_keys": pairs}, BadRequest)
