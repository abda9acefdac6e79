"""Content digests of shard replicas (node/engine/content_digest.py) and which replicas
anti-entropy refills (cluster/replication/anti_entropy.py), on real engine shards."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from cluster.metadata.collection_config import build_collection_config
from cluster.replication.anti_entropy import replicas_to_refill
from node.engine import content_digest
from node.engine.content_digest import ContentDigest, shard_digest
from node.engine.point_batch import DenseColumn, PointBatch, batch_from_records
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.model import decode
from node.model.collections import CreateCollection

DIM = 4


def open_shard(path: Path) -> LocalShard:
    config, _ = build_collection_config(decode(CreateCollection, {
        "vectors": {"size": DIM, "distance": "Cosine"},
        "sparse_vectors": {"s": {}}}))
    return LocalShard(path, ShardConfig.from_collection_config(config))


def batch(ids: list[int | str], seed: int, payload: dict | None = None) -> PointBatch:
    rng = np.random.default_rng(seed)
    rows = rng.normal(size=(len(ids), DIM)).astype(np.float32)
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return PointBatch(ids=list(ids), payloads=[payload or {"seed": seed, "id": str(i)}
                                               for i in ids],
                      dense={"": DenseColumn(rows=rows, positions=np.arange(len(ids)))})


def test_equal_content_written_in_another_order_and_layout_has_the_same_digest(
        tmp_path: Path) -> None:
    a, b = open_shard(tmp_path / "a"), open_shard(tmp_path / "b")
    first, second = batch([1, 2, 3], 1), batch([4, "5c9a6a4e-0f6b-4a7e-9a49-2f4a8f4d3e10"], 2)
    a.upsert(first)
    a.upsert(second)
    a.update("delete", [2], None, (), sync=True)
    # The other replica got the same points another way: in the other order, point 2 never,
    # the rest copied as a transfer copies them (stored arrays, payloads, point by point).
    b.upsert(second)
    b.apply_transfer_batch(batch_from_records(a.retrieve([3, 1])))
    assert shard_digest(a).digest == shard_digest(b).digest
    assert shard_digest(a).points == shard_digest(b).points == 4
    a.flush(force=True)  # the segments persisted and reloaded do not change the content
    a.close()
    reopened = open_shard(tmp_path / "a")
    assert shard_digest(reopened).digest == shard_digest(b).digest
    reopened.close()
    b.close()


def test_a_payload_a_vector_or_an_extra_point_changes_the_digest(tmp_path: Path) -> None:
    shard = open_shard(tmp_path)
    shard.upsert(batch([1, 2], 1))
    before = shard_digest(shard)
    # Same keys in another order: the same payload.
    shard.upsert(batch([1], 1, payload={"id": "1", "seed": 1}))
    assert shard_digest(shard).digest == before.digest
    assert shard_digest(shard).writes > before.writes
    seen = {before.digest}
    for change in (batch([1], 1, payload={"id": "1", "seed": 2}),  # a payload value
                   batch([1], 9, payload={"id": "1", "seed": 1}),  # a vector
                   batch([3], 3)):  # one more point
        shard.upsert(change)
        digest = shard_digest(shard).digest
        assert digest not in seen
        seen.add(digest)
    shard.close()


def test_an_idle_shard_is_not_read_again(tmp_path: Path) -> None:
    shard = open_shard(tmp_path)
    shard.upsert(batch(list(range(50)), 1))
    first = shard_digest(shard)
    assert shard_digest(shard) is first  # cached: same write counter
    shard.upsert(batch([1], 2))
    assert shard_digest(shard) is not first
    shard.close()


def test_a_shard_taking_writes_answers_its_counter_alone_when_asked_so(tmp_path: Path) -> None:
    shard = open_shard(tmp_path)
    shard.upsert(batch([1, 2], 1))
    seen = shard_digest(shard, only_if_writes=-1)  # never seen: not read
    assert seen.digest is None and seen.writes == shard.applied_seq
    idle = shard_digest(shard, only_if_writes=seen.writes)  # no write since: read
    assert idle.digest is not None and idle.points == 2
    shard.upsert(batch([3], 3))
    assert shard_digest(shard, only_if_writes=idle.writes).digest is None
    # A digest cached at the current counter is answered whatever the caller saw.
    current = shard_digest(shard)
    assert shard_digest(shard, only_if_writes=-1) is current
    shard.close()


def test_a_peer_answer_that_is_not_a_digest_is_refused() -> None:
    good = ContentDigest("ab" * 16, 3, 7)
    assert ContentDigest.from_wire(good.to_wire()) == good
    assert ContentDigest.from_wire({"digest": None, "points": 0, "writes": 7}).digest is None
    for bad in (None, [1], {"digest": 1, "points": 3, "writes": 7}, {"digest": "x"}):
        try:
            ContentDigest.from_wire(bad)
        except ValueError:
            continue
        raise AssertionError(f"accepted {bad!r}")


def digests(**by_peer: str) -> dict[int, ContentDigest]:
    return {int(peer[1:]): ContentDigest(d, 0, 0) for peer, d in by_peer.items()}


def test_the_minority_is_refilled_and_a_tie_keeps_the_first_placed_replica() -> None:
    assert replicas_to_refill([5, 3, 9], digests(p5="x", p3="y", p9="y")) == [5]
    assert replicas_to_refill([5, 3], digests(p5="x", p3="y")) == [3]
    assert replicas_to_refill([3, 5], digests(p5="x", p3="y")) == [5]
    assert replicas_to_refill([1, 2, 3], digests(p1="a", p2="b", p3="c")) == [2, 3]
    assert replicas_to_refill([1, 2], digests(p1="a", p2="a")) == []


def test_a_digest_taken_block_by_block_equals_one_taken_at_once(
        tmp_path: Path, monkeypatch) -> None:
    shard = open_shard(tmp_path)
    shard.upsert(batch(list(range(50)), 1))
    shard.update("delete", [7, 8], None, (), sync=True)
    whole = shard_digest(shard)
    shard.close()
    monkeypatch.setattr(content_digest, "_BLOCK", 3)
    reopened = open_shard(tmp_path)
    assert shard_digest(reopened) == whole
    reopened.close()


def test_writes_between_blocks_stop_the_scan_and_never_give_a_mixed_digest(
        tmp_path: Path, monkeypatch) -> None:
    """The lock is held per block: writes go on while a digest is taken, and a digest that
    saw one is not answered (nor cached) as the content of any write counter."""
    monkeypatch.setattr(content_digest, "_BLOCK", 1)
    shard = open_shard(tmp_path)
    shard.upsert(batch(list(range(2000)), 1))
    done = threading.Event()

    def writer() -> None:
        for i in range(200):
            shard.upsert(batch([i], 100 + i))
        done.set()

    thread = threading.Thread(target=writer)
    thread.start()
    answers = []
    while not done.is_set():
        answers.append(shard_digest(shard))
    thread.join()
    for answer in answers:
        if answer.digest is not None and answer.writes == shard.applied_seq:
            assert answer == shard_digest(shard)
    monkeypatch.setattr(content_digest, "_BLOCK", 1 << 20)
    final = shard_digest(shard)
    monkeypatch.setattr(content_digest, "_BLOCK", 5)
    content_digest._cache.pop(shard, None)
    assert shard_digest(shard) == final
    shard.close()
