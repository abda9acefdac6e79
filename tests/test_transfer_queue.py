"""A replica receiving a shard transfer (node/engine/shard.py): the live writes it receives
from the first one on outlast every stream attempt and win over older streamed copies."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cluster.metadata.collection_config import build_collection_config
from node.engine.point_batch import DenseColumn, PointBatch
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.model import decode
from node.model.collections import CreateCollection

DIM = 4


def open_shard(path: Path) -> LocalShard:
    config, _ = build_collection_config(
        decode(CreateCollection, {"vectors": {"size": DIM, "distance": "Dot"}}))
    return LocalShard(path, ShardConfig.from_collection_config(config))


def batch(ids: list[int], version: int) -> PointBatch:
    rows = np.full((len(ids), DIM), float(version), dtype=np.float32)
    return PointBatch(ids=list(ids), payloads=[{"v": version} for _ in ids],
                      dense={"": DenseColumn(rows=rows, positions=np.arange(len(ids)))})


def versions(shard: LocalShard) -> dict[int, int]:
    return {pid: payload["v"] for pid, payload, _ in shard.scroll(None, None, 1000)}


def test_live_writes_before_and_during_streams_survive_every_attempt(tmp_path: Path) -> None:
    shard = open_shard(tmp_path)
    shard.upsert(batch([1, 2, 3], 0))  # what the replica held while it was Dead
    # A live write arrives before the receiving node started its stream: it begins the
    # transfer (dropping the old points) and is queued.
    shard.begin_transfer(7)
    shard.upsert(batch([10], 5))
    assert shard.receiving(7) and versions(shard) == {10: 5}
    shard.begin_transfer(7)  # the same transfer again: nothing is dropped
    assert versions(shard) == {10: 5}

    # First stream attempt: everything dropped, an older copy of point 10 streamed in, a live
    # write meanwhile; it fails before the end. The second attempt drops everything again.
    shard.restart_transfer_stream(7)
    shard.apply_transfer_batch(batch([10, 11], 1))
    shard.upsert(batch([11], 6))
    shard.restart_transfer_stream(7)
    assert versions(shard) == {}
    shard.apply_transfer_batch(batch([10, 11, 12], 1))
    shard.replay_transfer_queue()
    assert versions(shard) == {10: 5, 11: 6, 12: 1}

    # Metadata older than the transfer does not end it; the version that made it Active does.
    shard.end_transfer(as_of=6)
    assert shard.receiving(7)
    shard.end_transfer(as_of=9)
    assert not shard.receiving(7)
    shard.upsert(batch([13], 2))
    shard.begin_transfer(12)  # a later transfer into the same replica starts afresh
    assert versions(shard) == {}
    shard.close()
