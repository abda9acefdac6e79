"""RamPayloads: one buffer of JSON with a (start, length) per offset; reads, overwrites, the
dropping of overwritten bytes, and every state form a segment may have persisted."""

from __future__ import annotations

import pickle

import orjson

from node.engine.payload_storage import RamPayloads


def _all(payloads: RamPayloads, n: int) -> list[dict | None]:
    return [payloads.get(i) for i in range(n)]


def test_set_get_overwrite_and_clear() -> None:
    p = RamPayloads()
    p.set(3, {"a": 1, "nested": {"l": [1, 2.5, None]}})
    p.set(0, None)  # nothing to hold: no slot is made for it
    assert len(p) == 4
    p.set(5, {"b": "ü"})
    p.set(3, {"a": 2})
    p.set(5, None)
    assert _all(p, 8) == [None, None, None, {"a": 2}, None, None, None, None]
    first, second = p.get(3), p.get(3)
    first["a"] = 99  # reads are fresh copies
    assert second == {"a": 2} and p.get(3) == {"a": 2}


def test_overwritten_bytes_are_dropped() -> None:
    p = RamPayloads()
    for i in range(50_000):
        p.set(i % 10, {"text": "x" * 60, "i": i})
    live = sum(len(orjson.dumps(p.get(i))) for i in range(10))
    assert p.get(9) == {"text": "x" * 60, "i": 49_999}
    # What is persisted holds the live bytes only.
    assert len(p.state()["data"]) == live
    assert p.state()["lengths"].tolist() == [len(orjson.dumps(p.get(i))) for i in range(10)]


def test_state_round_trips_through_pickle() -> None:
    p = RamPayloads()
    for i in range(0, 300, 3):
        p.set(i, {"i": i} if i % 2 else None)
    p.set(3, {"i": "changed"})
    back = RamPayloads(pickle.loads(pickle.dumps(p.state())))
    assert _all(back, 310) == _all(p, 310)
    back.set(400, {"after": True})  # the restored buffer takes appends
    assert back.get(400) == {"after": True} and back.get(3) == {"i": "changed"}


def test_earlier_state_forms_are_read() -> None:
    as_list = RamPayloads([None, b'{"x":1}', None, b'{"y":[2]}'])
    assert _all(as_list, 5) == [None, {"x": 1}, None, {"y": [2]}, None]
    as_dict = RamPayloads({2: {"z": 3}, 0: {}})
    assert _all(as_dict, 4) == [None, None, {"z": 3}, None]
    assert RamPayloads(None).get(0) is None
