"""A batch of plain nearest queries, ranked as matrices, answers each query exactly as the
one-query path does: over a segment with a graph and an unindexed one beside it, for every
distance, with and without a score threshold, with limits past the segments' sizes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cluster.metadata.collection_config import build_collection_config
from node.engine.point_batch import DenseColumn, PointBatch
from node.engine.query_scoring import NEAREST, VectorQuery
from node.engine.scoring import prepare_query
from node.engine.search import SearchParams
from node.engine.shard import LocalShard
from node.engine.shard_config import ShardConfig
from node.engine.shard_query import query_shard, query_shard_batch

DIM, INDEXED, TAIL = 8, 400, 30


def open_shard(path: Path, distance: str, datatype: str | None) -> LocalShard:
    vectors: dict = {"size": DIM, "distance": distance}
    if datatype:
        vectors["datatype"] = datatype
    config, _ = build_collection_config({
        "vectors": vectors, "optimizers_config": {"indexing_threshold": 1},
        "hnsw_config": {"full_scan_threshold": 10},
    })
    return LocalShard(path, ShardConfig.from_collection_config(config))


def upsert(shard: LocalShard, rows: np.ndarray, first: int) -> None:
    ids = list(range(first, first + len(rows)))
    shard.upsert(PointBatch(ids=ids, payloads=[{"i": i} for i in ids],
                            dense={"": DenseColumn(rows=rows, positions=np.arange(len(rows)))}))


def filled(path: Path, distance: str, datatype: str | None) -> LocalShard:
    """A shard with one segment holding a graph and a small unindexed one."""
    rng = np.random.default_rng(5)
    shard = open_shard(path, distance, datatype)
    data = rng.integers(0, 255, (INDEXED + TAIL, DIM)) if datatype == "uint8" else \
        rng.normal(size=(INDEXED + TAIL, DIM))
    data = data.astype(np.float32)
    upsert(shard, data[:INDEXED], 0)
    shard.maybe_start_optimizer()
    shard._optimizer.join(timeout=60)
    upsert(shard, data[INDEXED:], INDEXED)
    assert any(s.indexes for s in shard.segments), "the graph was not built"
    assert len(shard.segments) >= 2, "no unindexed segment beside the graph"
    return shard


@pytest.mark.parametrize("distance, datatype", [
    ("Cosine", None), ("Dot", None), ("Euclid", None), ("Manhattan", None), ("Cosine", "uint8"),
])
def test_batch_answers_like_one_query_at_a_time(tmp_path: Path, distance: str,
                                                datatype: str | None) -> None:
    shard = filled(tmp_path, distance, datatype)
    spec = shard.config.dense[""]
    rng = np.random.default_rng(6)
    queries = np.stack([prepare_query(spec, q)
                        for q in rng.normal(size=(12, DIM)).astype(np.float32)])
    try:
        for k, threshold, params in [
            (5, None, SearchParams(hnsw_ef=64, with_payload=False, with_vectors=False)),
            (INDEXED + TAIL + 5, None, SearchParams(exact=True, with_payload=False,
                                                    with_vectors=False)),
            (7, None, SearchParams(hnsw_ef=64)),  # payloads and vectors of the hits too
        ] + [(10, t, SearchParams(hnsw_ef=64, with_payload=False, with_vectors=False))
             for t in _thresholds(shard, queries[0], spec)]:
            batch = query_shard_batch(shard, "", queries, k, params, threshold)
            for query, answer in zip(queries, batch, strict=True):
                one = query_shard(shard, nearest(query), k, params, score_threshold=threshold)
                assert [h[1] for h in answer] == [h[1] for h in one], (k, threshold)
                assert [h[0] for h in answer] == pytest.approx([h[0] for h in one], rel=1e-5,
                                                               abs=1e-6)
                assert [h[2] for h in answer] == [h[2] for h in one]
                assert [sorted(h[3]) for h in answer] == [sorted(h[3]) for h in one]
    finally:
        shard.close()


def nearest(query: np.ndarray) -> VectorQuery:
    return VectorQuery(vector_name="", kind=NEAREST, sparse=False, nearest=query)


def _thresholds(shard: LocalShard, query: np.ndarray, spec) -> list[float]:
    """A threshold halfway between the first query's 5th and 6th hits, and one nothing
    passes."""
    scores = [h[0] for h in query_shard(shard, nearest(query), 10, SearchParams(exact=True))]
    nothing = 1e9 if spec.distance in ("Cosine", "Dot") else -1.0
    return [(scores[4] + scores[5]) / 2, nothing]


def test_an_empty_batch_and_an_empty_shard(tmp_path: Path) -> None:
    shard = open_shard(tmp_path, "Cosine", None)
    try:
        params = SearchParams(with_payload=False, with_vectors=False)
        assert query_shard_batch(shard, "", np.zeros((0, DIM), np.float32), 3, params) == []
        assert query_shard_batch(shard, "", np.ones((2, DIM), np.float32), 3, params) == [[], []]
    finally:
        shard.close()
