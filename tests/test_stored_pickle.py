"""The engine's stored records (WAL, segment state) are decoded with an allowlist: a shard's
own files round-trip, and a file that names any other callable is refused without running it
(such files can arrive inside a snapshot archive from the network)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from cluster.metadata.collection_config import build_collection_config
from node.engine import stored_pickle
from node.engine.point_batch import DenseColumn, PointBatch, SparseVector
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.model import decode
from node.model.collections import CreateCollection


class RunsCode:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def open_shard(path: Path) -> LocalShard:
    config, _ = build_collection_config(decode(CreateCollection, {
        "vectors": {"dense": {"size": 4, "distance": "Dot"}},
        "sparse_vectors": {"words": {}},
    }))
    return LocalShard(path, ShardConfig.from_collection_config(config))


def test_a_shards_own_records_round_trip(tmp_path: Path) -> None:
    rows = np.arange(12, dtype=np.float32).reshape(3, 4)
    batch = PointBatch(
        ids=[1, "c0ffee00-0000-4000-8000-000000000000", 3],
        payloads=[{"a": [1, {"b": None}]}, None, {"t": "x"}],
        dense={"dense": DenseColumn(rows=rows, positions=np.arange(3))},
        sparse={"words": {0: SparseVector(np.array([1, 5], dtype=np.uint32),
                                          np.array([0.5, 2.0], dtype=np.float32))}},
    )
    shard = open_shard(tmp_path)
    shard.upsert(batch)
    shard.update("delete", [3], None)
    shard.close()  # the WAL holds both ops; reopening replays them through the allowlist

    shard = open_shard(tmp_path)
    found = {pid: payload for pid, payload, _ in shard.retrieve([1, 3])}
    assert found == {1: {"a": [1, {"b": None}]}}
    shard.flush(force=True)  # segment state files, read back through the allowlist too
    shard.close()
    shard = open_shard(tmp_path)
    assert shard.count() == 2
    shard.close()


@pytest.mark.parametrize("protocol", [2, pickle.HIGHEST_PROTOCOL])
def test_a_record_that_names_a_callable_is_refused(tmp_path: Path, protocol: int) -> None:
    marker = tmp_path / "ran"
    hostile = pickle.dumps(("upsert", RunsCode(marker)), protocol=protocol)
    with pytest.raises(stored_pickle.RefusedStoredPickle, match="posix.system|os.system"):
        stored_pickle.loads(hostile)
    assert not marker.exists()
