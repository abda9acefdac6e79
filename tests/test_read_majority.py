"""How a read asked of several replicas (`consistency` above one) picks its answer: the one
most replicas gave, records holding vectors compared by value."""

import numpy as np

from cluster.replication.replica_set import _majority, _same


def _records(vector: np.ndarray) -> list[tuple]:
    return [(1, {"a": 1}, {"": vector}), (2, None, {})]


def test_long_vectors_that_differ_in_the_middle_are_different():
    # numpy prints arrays of more than 1,000 values abbreviated: their repr hid this difference
    one = np.zeros(1536, dtype=np.float32)
    other = one.copy()
    other[700] = 0.5
    assert repr(one) == repr(other)
    assert not _same(_records(one), _records(other))
    assert _same(_records(one), _records(one.copy()))


def test_the_answer_most_replicas_gave_wins():
    stale = np.zeros(1536, dtype=np.float32)
    fresh = stale.copy()
    fresh[700] = 1.0
    answers = [_records(stale), _records(fresh), _records(fresh.copy())]
    winner = _majority(answers)
    assert winner[0][2][""][700] == 1.0


def test_shapes_types_and_plain_values():
    assert not _same(np.zeros(3), np.zeros(4))
    assert not _same(np.zeros(3), [0.0, 0.0, 0.0])
    assert not _same((1, 2), [1, 2])
    assert not _same({"a": np.ones(2)}, {"b": np.ones(2)})
    assert _same([(0.5, 7, None, {"v": np.arange(4)})], [(0.5, 7, None, {"v": np.arange(4)})])
    assert not _same([(0.5, 7, None, {})], [(0.25, 7, None, {})])
    assert _same(12, 12) and not _same(12, 13)
