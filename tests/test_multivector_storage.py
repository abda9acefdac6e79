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
