"""Replica placement invariants and the stable point -> shard hash."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from cluster.metadata.placement import (
    place_replicas,
    point_hash,
    shard_for_point,
    shards_for_points,
)

REPO_ROOT = Path(__file__).resolve().parent.parent


def check_invariants(
    peers: list[int], shard_number: int, replication_factor: int, placement: dict[int, list[int]]
) -> None:
    assert sorted(placement) == list(range(shard_number))
    expected_per_shard = min(replication_factor, len(set(peers)))
    counts = Counter({peer: 0 for peer in peers})
    for replicas in placement.values():
        assert len(replicas) == expected_per_shard
        assert len(set(replicas)) == len(replicas), "two replicas of one shard on one peer"
        assert set(replicas) <= set(peers)
        counts.update(replicas)
    if shard_number:
        assert max(counts.values()) - min(counts.values()) <= 1, counts


@pytest.mark.parametrize("peer_count", [1, 2, 3, 4, 5, 7])
@pytest.mark.parametrize("shard_number", [1, 2, 3, 4, 6, 10, 13])
@pytest.mark.parametrize("replication_factor", [1, 2, 3, 5])
def test_placement_invariants(peer_count: int, shard_number: int, replication_factor: int) -> None:
    rng = random.Random(peer_count * 1000 + shard_number * 10 + replication_factor)
    peers = rng.sample(range(1, 10_000), peer_count)
    placement = place_replicas(peers, shard_number, replication_factor)
    check_invariants(peers, shard_number, replication_factor, placement)


def test_placement_is_deterministic_whatever_the_input_order() -> None:
    peers = [17, 3, 99, 42, 8]
    first = place_replicas(peers, 7, 3)
    for seed in range(10):
        shuffled = peers[:]
        random.Random(seed).shuffle(shuffled)
        assert place_replicas(shuffled, 7, 3) == first


def test_placement_example() -> None:
    assert place_replicas([3, 1, 2], 3, 2) == {0: [1, 2], 1: [3, 1], 2: [2, 3]}
    assert place_replicas([1, 2], 2, 5) == {0: [1, 2], 1: [1, 2]}


def test_load_prefers_least_loaded_peers_and_stays_balanced() -> None:
    load = {1: 5, 2: 0, 3: 1}
    assert place_replicas([1, 2, 3], 1, 1, load=load) == {0: [2]}
    assert place_replicas([1, 2, 3], 1, 2, load=load) == {0: [2, 3]}
    placement = place_replicas([1, 2, 3, 4], 5, 2, load={1: 3, 4: 3})
    check_invariants([1, 2, 3, 4], 5, 2, placement)
    counts = Counter(peer for replicas in placement.values() for peer in replicas)
    # 10 replicas over 4 peers: the two unloaded peers take the extra ones.
    assert counts[2] == counts[3] == 3 and counts[1] == counts[4] == 2
    assert place_replicas([1, 2, 3, 4], 5, 2, load={1: 3, 4: 3}) == placement


def test_placement_edge_cases() -> None:
    assert place_replicas([], 2, 2) == {0: [], 1: []}
    assert place_replicas([1, 1, 2], 1, 3) == {0: [1, 2]}
    assert place_replicas([1], 0, 1) == {}
    with pytest.raises(ValueError):
        place_replicas([1], 1, 0)


# Hard-coded so that a change of the hash (which would re-route every stored point) fails here.
EXPECTED_HASHES = {
    0: 16294208416658607535,
    1: 10451216379200822465,
    42: 13679457532755275413,
    2**64 - 1: 16490336266968443936,
    "550e8400-e29b-41d4-a716-446655440000": 13190293117374061221,
}


def test_point_hash_fixed_values() -> None:
    for point_id, expected in EXPECTED_HASHES.items():
        assert point_hash(point_id) == expected
    assert shard_for_point(42, 7) == 13679457532755275413 % 7
    assert shard_for_point("550e8400-e29b-41d4-a716-446655440000", 7) == 1


def test_point_hash_is_the_same_in_another_process() -> None:
    code = (
        "from cluster.metadata.placement import point_hash\n"
        "print(point_hash(42), point_hash('550e8400-e29b-41d4-a716-446655440000'))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345", "PYTHONPATH": str(REPO_ROOT)}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert [int(value) for value in out] == [
        EXPECTED_HASHES[42],
        EXPECTED_HASHES["550e8400-e29b-41d4-a716-446655440000"],
    ]


def test_shard_for_point_spreads_sequential_and_uuid_ids() -> None:
    counts = Counter(shard_for_point(point_id, 4) for point_id in range(20_000))
    assert all(4_500 < counts[shard] < 5_500 for shard in range(4)), counts
    rng = random.Random(7)
    uuids = [
        "-".join((h[:8], h[8:12], h[12:16], h[16:20], h[20:]))
        for h in (f"{rng.getrandbits(128):032x}" for _ in range(8_000))
    ]
    counts = Counter(shard_for_point(point_id, 4) for point_id in uuids)
    assert all(1_700 < counts[shard] < 2_300 for shard in range(4)), counts


def test_shards_for_points_matches_one_at_a_time() -> None:
    """The array version used to split write batches agrees with the scalar hash for integer
    ids across the whole 64-bit range, uuid ids and batches mixing both."""
    rng = random.Random(3)
    ints = [rng.getrandbits(64) for _ in range(5_000)] + [0, 1, 2**63, 2**64 - 1]
    uuids = ["550e8400-e29b-41d4-a716-446655440000", f"{rng.getrandbits(128):032x}"]
    for ids in (ints, list(range(300)), uuids, [7, *uuids, 2**64 - 1]):
        for shard_number in (1, 2, 3, 16):
            expected = [shard_for_point(pid, shard_number) for pid in ids]
            assert shards_for_points(ids, shard_number).tolist() == expected
    with pytest.raises(ValueError):
        shards_for_points([1], 0)


def test_shard_for_point_rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        shard_for_point(1, 0)
    with pytest.raises(TypeError):
        shard_for_point(True, 2)
