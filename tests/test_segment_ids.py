"""The ids of a segment (node/engine/segment_ids.py): integer ids, UUIDs and both mixed,
deletes and ids written again, the tail folded into the sorted arrays at any moment, scroll
order, persisted states, and a shard opened on state files written before the sorted arrays."""

from __future__ import annotations

import io
import pickle
import random
import uuid
from pathlib import Path

import numpy as np
import pytest

from cluster.metadata.collection_config import build_collection_config
from node.engine import stored_pickle
from node.engine.point_batch import DenseColumn, PointBatch
from node.engine.point_order import point_id_order
from node.engine.segment_ids import IdKeys, SegmentIds
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.model import decode
from node.model.collections import CreateCollection

# UUIDs whose bytes end in zeros, which numpy strips from its S16 items.
ZERO_TAILED = ["12345678-1234-5678-1234-567812345600", "00000000-0000-0000-0000-000000000000",
               "ffffffff-0000-0000-0000-000000000000"]
BIG = [2**64 - 1, 2**63, 2**63 - 1, 0]


class Reference:
    """What SegmentIds must answer, kept in plain Python."""

    def __init__(self) -> None:
        self.rows: list = []
        self.live: dict = {}

    def append(self, pids: list) -> None:
        for pid in pids:
            self.live[pid] = len(self.rows)
            self.rows.append(pid)

    def delete(self, pid) -> int:
        return self.live.pop(pid)


def random_id(rng: random.Random, pool: list):
    if pool and rng.random() < 0.5:
        return rng.choice(pool)
    if rng.random() < 0.5:
        return rng.choice([rng.randrange(50), rng.randrange(2**64), *BIG])
    return str(uuid.UUID(int=rng.getrandbits(128))) if rng.random() < 0.8 else \
        rng.choice(ZERO_TAILED)


def check(ids: SegmentIds, ref: Reference, rng: random.Random) -> None:
    assert len(ids) == len(ref.rows)
    assert ids.live_count == len(ref.live)
    assert ids.ids_at(np.arange(len(ref.rows))) == ref.rows
    assert [ids.id_at(o) for o in range(len(ref.rows))] == ref.rows
    assert ids.deleted.tolist() == [ref.live.get(pid) != o for o, pid in enumerate(ref.rows)]
    asked = list({*ref.rows, *(random_id(rng, []) for _ in range(20))})
    rng.shuffle(asked)
    expected = [ref.live.get(pid, -1) for pid in asked]
    assert ids.offsets_of(IdKeys(asked)).tolist() == expected
    assert [ids.offset_of(pid) for pid in asked] == [None if e < 0 else e for e in expected]
    assert sorted(ids.live_items(), key=lambda item: item[1]) == \
        sorted(ref.live.items(), key=lambda item: item[1])
    ordered = sorted(ref.live.items(), key=lambda item: point_id_order(item[0]))
    assert ids.in_order(None, len(ordered) + 5) == ordered
    allowed = np.array([rng.random() < 0.5 for _ in ref.rows], dtype=bool)
    for start in [*rng.sample(asked, min(5, len(asked))), None]:
        low = None if start is None else point_id_order(start)
        tail = [item for item in ordered if low is None or point_id_order(item[0]) >= low]
        limit = rng.randrange(1, 8)
        assert ids.in_order(start, limit) == tail[:limit]
        assert ids.in_order(start, limit, allowed) == \
            [item for item in tail if allowed[item[1]]][:limit]


@pytest.mark.parametrize("kinds", ["ints", "uuids", "mixed"])
def test_random_writes_match_a_reference(kinds: str) -> None:
    rng = random.Random(kinds)

    def new_id(pool: list):
        while True:
            pid = random_id(rng, pool)
            if kinds == "mixed" or isinstance(pid, str) == (kinds == "uuids"):
                return pid

    ids, ref = SegmentIds(), Reference()
    pool: list = []
    for step in range(300):
        action = rng.random()
        if action < 0.5:
            # An upsert: ids live here are deleted first, then written anew.
            fresh = list(dict.fromkeys(new_id(pool) for _ in range(rng.randrange(1, 6))))
            for pid in fresh:
                if pid in ref.live:
                    ids.delete_row(ref.delete(pid))
            ids.append(fresh)
            ref.append(fresh)
            pool.extend(fresh)
        elif action < 0.8 and ref.live:
            pid = rng.choice(list(ref.live))
            assert ids.offset_of(pid) == ref.live[pid]
            ids.delete_row(ref.delete(pid))
        elif action < 0.9:
            ids.compact()
        if step % 25 == 0:
            check(ids, ref, rng)
    check(ids, ref, rng)
    ids.compact()
    check(ids, ref, rng)


def test_a_large_tail_is_folded_on_its_own() -> None:
    from node.engine import segment_ids

    ids, ref = SegmentIds(), Reference()
    count = segment_ids.TAIL_ROWS + 10
    pids = list(range(count, 0, -1))
    ids.append(pids)
    ref.append(pids)
    assert not ids._tail  # folded: no Python object per row left
    ids.delete_row(ref.delete(5))
    check(ids, ref, random.Random(1))


def test_states_round_trip_through_the_stored_pickle_decoder() -> None:
    rng = random.Random(7)
    ids, ref = SegmentIds(), Reference()
    pids = list(dict.fromkeys([*BIG, *ZERO_TAILED, *(random_id(rng, []) for _ in range(200))]))
    ids.append(pids)
    ref.append(pids)
    for pid in pids[::3]:
        ids.delete_row(ref.delete(pid))
    state = {"ids": ids.state(), "deleted": np.packbits(ids.deleted)}
    data = pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL)
    loaded = stored_pickle.load(io.BytesIO(data))
    deleted = np.unpackbits(loaded["deleted"], count=len(pids)).astype(bool)
    check(SegmentIds.from_state(loaded["ids"], deleted), ref, rng)
    check(SegmentIds.from_list(ref.rows, ids.deleted), ref, rng)


DIM = 4


def open_shard(path: Path) -> LocalShard:
    config, _ = build_collection_config(decode(CreateCollection, {
        "vectors": {"size": DIM, "distance": "Dot"},
        "optimizers_config": {"indexing_threshold": 0},
    }))
    return LocalShard(path, ShardConfig.from_collection_config(config))


def upsert(shard: LocalShard, pids: list, version: int) -> None:
    rows = np.full((len(pids), DIM), float(version), dtype=np.float32)
    shard.upsert(PointBatch(ids=list(pids), payloads=[{"v": version} for _ in pids],
                            dense={"": DenseColumn(rows=rows, positions=np.arange(len(pids)))}))


def to_old_format(shard_path: Path) -> int:
    """Rewrite every segment state file as nodes wrote them before the sorted arrays: the
    id of every row, in offset order, as a list. Returns how many were rewritten."""
    rewritten = 0
    for state_file in shard_path.glob("segments/*/state-*.pkl"):
        state = stored_pickle.load(io.BytesIO(state_file.read_bytes()))
        stored = state.pop("ids")
        count = len(stored["int_offsets"]) + len(stored["uuid_offsets"])
        deleted = np.unpackbits(state["deleted"], count=count).astype(bool)
        state["point_ids"] = SegmentIds.from_state(stored, deleted).ids_at(np.arange(count))
        state_file.write_bytes(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))
        rewritten += 1
    return rewritten


def test_a_shard_opens_state_files_of_the_old_format(tmp_path: Path) -> None:
    shard = open_shard(tmp_path)
    first = [*range(0, 40), *ZERO_TAILED, str(uuid.UUID(int=12345))]
    upsert(shard, first, 1)
    upsert(shard, [3, 4, ZERO_TAILED[0]], 2)  # rewritten: dead rows in the same segment
    shard.update("delete", [5, ZERO_TAILED[1]], None)
    shard._seal_appendable()  # one sealed segment and an appendable one
    upsert(shard, [6, 100, 101], 3)
    shard.close()
    assert to_old_format(tmp_path) == 2

    shard = open_shard(tmp_path)
    expected = {pid: 1 for pid in first}
    expected.update({3: 2, 4: 2, ZERO_TAILED[0]: 2, 6: 3, 100: 3, 101: 3})
    del expected[5], expected[ZERO_TAILED[1]]
    page = shard.scroll(None, None, 1000)
    assert [pid for pid, _, _ in page] == sorted(expected, key=point_id_order)
    assert {pid: payload["v"] for pid, payload, _ in page} == expected
    got = shard.retrieve([4, 5, ZERO_TAILED[0], ZERO_TAILED[1], 101])
    assert [(pid, payload["v"]) for pid, payload, _ in got] == \
        [(4, 2), (ZERO_TAILED[0], 2), (101, 3)]
    # Writes go on over the old rows, and the next state files are of the new format.
    upsert(shard, [4, 7], 4)
    shard.update("delete", [ZERO_TAILED[0], 100], None)
    shard.close()
    assert to_old_format(tmp_path) >= 1  # (there were new-format files to rewrite)
    shard = open_shard(tmp_path)
    expected.update({4: 4, 7: 4})
    del expected[ZERO_TAILED[0]], expected[100]
    assert {pid: payload["v"] for pid, payload, _ in shard.scroll(None, None, 1000)} == expected
    assert shard.count() == len(expected)
    shard.close()
