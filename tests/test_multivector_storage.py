"""The engine's multivector storage on its own: rows appended per point, read back, persisted and
reopened (in RAM and memory-mapped), and WAL records from before multivectors existed."""

from __future__ import annotations

import io
import pickle

import numpy as np
import pytest

from node.engine import stored_pickle
from node.engine.max_sim import max_sim_scores, prepare_multi_query
from node.engine.multi_storage import MultiStorage
from node.engine.point_batch import PointBatch
from node.engine.shard_config import DenseVectorSpec


@pytest.mark.parametrize("on_disk", [False, True])
def test_rows_per_point_survive_a_reopen(tmp_path, on_disk: bool):
    spec = DenseVectorSpec(name="m", size=3, distance="Dot", datatype="float16", on_disk=on_disk)
    path = tmp_path / "multi.raw"
    storage = MultiStorage(path, spec)
    values = [np.arange(6).reshape(2, 3), None, np.ones((1, 3)), np.full((3, 3), 2.5)]
    storage.append(values[:2])
    storage.append(values[2:])
    storage.clear(2)
    storage.persist()
    state = storage.state()
    storage.close()
    reopened = MultiStorage(path, spec, points=4, state=state)
    assert reopened.present.tolist() == [True, False, False, True]
    assert reopened.get(0).dtype == np.float16
    np.testing.assert_array_equal(reopened.get(0), values[0])
    np.testing.assert_array_equal(reopened.get(3), values[3])
    assert reopened.get(1) is None and reopened.get(2) is None
    assert reopened.owners().tolist() == [0, 0, -1, 3, 3, 3]


def test_max_sim_by_hand():
    spec = DenseVectorSpec(name="m", size=2, distance="Euclid")
    rows = np.array([[0, 0], [3, 4], [1, 1]], dtype=np.float32)
    query = prepare_multi_query(spec, np.array([[0, 0], [3, 3]]))
    # point 0 owns rows 0-1: best squared distances 0 and 1; point 1 owns row 2: 2 and 8
    scores = max_sim_scores(spec, query, rows, np.array([2, 1]))
    np.testing.assert_allclose(scores, [1.0, np.sqrt(10)], rtol=1e-6)


def test_wal_records_from_before_multivectors_read_back():
    batch = PointBatch(ids=[1], payloads=[None])
    state = dict(batch.__dict__)
    del state["multi"]
    old = PointBatch.__new__(PointBatch)
    old.__dict__.update(state)
    data = pickle.dumps(old)  # pickled as before: without `multi`
    restored = stored_pickle.load(io.BytesIO(data))
    assert restored.multi == {} and restored.ids == [1]


def test_graph_candidates_come_from_the_sub_vector_graph(tmp_path):
    """A sealed segment's graph of sub-vectors names a few candidate points (not all), and
    the best point by exact max_sim is among them for a query copied from it."""
    from node.engine.multivector_search import graph_candidates, multi_graph_rows
    from node.engine.search import SearchParams
    from node.engine.segment import Segment
    from node.engine.shard_config import ShardConfig

    config = ShardConfig.from_collection_config({
        "params": {"vectors": {"m": {"size": 8, "distance": "Dot",
                                     "multivector_config": {"comparator": "max_sim"}}}},
        "hnsw_config": {"full_scan_threshold": 10},
    })
    rng = np.random.default_rng(3)
    docs = {i: rng.normal(size=(int(rng.integers(2, 6)), 8)).astype(np.float32)
            for i in range(400)}
    segment = Segment.create(tmp_path, config)
    segment.append(PointBatch(ids=list(docs), payloads=[None] * len(docs), multi={"m": docs}),
                   list(range(len(docs))), 1)
    segment.sealed = True
    spec = config.multi["m"]
    assert multi_graph_rows(segment, spec) == sum(len(d) for d in docs.values())
    mask = np.ones(segment.total, dtype=bool)
    found = graph_candidates(segment, spec, docs[123][:2] * 3, 5, SearchParams(hnsw_ef=10), mask)
    assert found is not None and 5 <= len(found) < len(docs) and 123 in found.tolist()
    segment.close()
