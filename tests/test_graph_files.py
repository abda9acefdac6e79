"""A segment's graph files stay on disk while the periodic flush runs beside an index build,
and a graph whose file went missing is rebuilt instead of failing the shard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cluster.metadata.collection_config import build_collection_config
from node.engine import shard as shard_module
from node.engine.point_batch import DenseColumn, PointBatch
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.model import decode
from node.model.collections import CreateCollection

DIM, COUNT = 8, 500  # 32 bytes a row: a 1 kB indexing threshold is 32 rows


def open_shard(path: Path) -> LocalShard:
    config, _ = build_collection_config(decode(CreateCollection, {
        "vectors": {"size": DIM, "distance": "Euclid"},
        "optimizers_config": {"indexing_threshold": 1},
    }))
    return LocalShard(path, ShardConfig.from_collection_config(config))


def fill(shard: LocalShard) -> None:
    rows = np.random.default_rng(1).standard_normal((COUNT, DIM)).astype(np.float32)
    shard.upsert(PointBatch(ids=list(range(COUNT)), payloads=[None] * COUNT,
                            dense={"": DenseColumn(rows=rows, positions=np.arange(COUNT))}))


def optimize(shard: LocalShard) -> None:
    shard.maybe_start_optimizer()
    shard._optimizer.join(timeout=60)
    assert not shard._optimizer.is_alive()


def graph_files(shard: LocalShard) -> list[Path]:
    return [s.directory / f for s in shard.segments for f in s.index_files.values()]


def test_flush_during_an_index_build_keeps_the_graph_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard = open_shard(tmp_path)
    real_build = shard_module.build_vector_index

    def build_then_flush(*args, **kwargs):
        built = real_build(*args, **kwargs)
        shard.flush(force=True)  # the periodic flush, between the file's save and its listing
        return built

    monkeypatch.setattr(shard_module, "build_vector_index", build_then_flush)
    fill(shard)
    optimize(shard)
    files = graph_files(shard)
    assert files and all(f.is_file() for f in files), files
    shard.close()

    reopened = open_shard(tmp_path)  # loads every listed graph
    assert sum(len(s.indexes) for s in reopened.segments) == 1
    reopened.close()


def test_a_missing_graph_file_is_rebuilt(tmp_path: Path) -> None:
    shard = open_shard(tmp_path)
    fill(shard)
    optimize(shard)
    [lost] = graph_files(shard)
    shard.close()
    lost.unlink()

    reopened = open_shard(tmp_path)
    assert sum(len(s.indexes) for s in reopened.segments) == 0  # searched in full meanwhile
    assert reopened.count() == COUNT
    reopened.update_config(reopened.config)  # work found at start waits for an update
    optimize(reopened)
    files = graph_files(reopened)
    assert len(files) == 1 and files[0].is_file()
    reopened.close()


def test_a_failed_rebuild_leaves_no_copy_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shard = open_shard(tmp_path)
    fill(shard)
    optimize(shard)
    before = {p.name for p in (tmp_path / "segments").iterdir()}

    def failing_build(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(shard_module, "build_vector_index", failing_build)
    # Deletions past the vacuum threshold: the optimizer copies the segment, then fails.
    shard.update("delete", list(range(0, COUNT, 2)), None, (), sync=True)
    config, _ = build_collection_config(decode(CreateCollection, {
        "vectors": {"size": DIM, "distance": "Euclid"},
        "optimizers_config": {"indexing_threshold": 1, "vacuum_min_vector_number": 100},
    }))
    shard.update_config(ShardConfig.from_collection_config(config))
    optimize(shard)
    assert shard.info().optimizer_error == "OSError: disk full"
    assert {p.name for p in (tmp_path / "segments").iterdir()} == before
    assert all(s.touched is None for s in shard.segments)
    assert shard.count() == COUNT // 2
    shard.close()
