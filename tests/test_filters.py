"""Payload keys and Qdrant filters: hand-written cases, validation errors, and a bulk comparison
against qdrant-client's local mode, the reference implementation of Qdrant's filter semantics."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from qdrant_client import QdrantClient, models

from node.engine.filters import CompiledFilter, compile_filter, haversine_m, parse_datetime
from node.engine.payload_path import PathPart, parse_key, values_at
from node.errors import BadRequest
from node.model import decode
from node.model.filters import Filter

# ---------------------------------------------------------------- payload keys


def test_parse_key_parts() -> None:
    assert parse_key("a") == (PathPart(key="a"),)
    assert parse_key("a.b-c_d") == (PathPart(key="a"), PathPart(key="b-c_d"))
    assert parse_key("a[].b[3]") == (
        PathPart(key="a"),
        PathPart(),
        PathPart(key="b"),
        PathPart(index=3),
    )
    assert parse_key('"x.y".z') == (PathPart(key="x.y"), PathPart(key="z"))
    assert parse_key("a[][0]") == (PathPart(key="a"), PathPart(), PathPart(index=0))


@pytest.mark.parametrize("key", ["", ".a", "a.", "a..b", "a[", "a[x]", "a[-1]", "a b", '"a', "[0]"])
def test_parse_key_rejects(key: str) -> None:
    with pytest.raises(BadRequest, match="key"):
        parse_key(key)


def test_values_at() -> None:
    payload = {
        "a": 1,
        "arr": [1, 2, [3, 4]],
        "obj": {"b": {"c": "x"}},
        "objs": [{"n": 1, "t": ["p", "q"]}, {"n": [2, 3]}, {"m": 0}, 5],
        "empty": [],
        "null": None,
    }
    assert values_at(payload, "a") == [1]
    assert values_at(payload, "missing") == []
    assert values_at(payload, "arr") == [1, 2, [3, 4]]  # one level of expansion only
    assert values_at(payload, "arr", expand_last=False) == [[1, 2, [3, 4]]]
    assert values_at(payload, "arr[]") == [1, 2, [3, 4]]
    assert values_at(payload, "arr[2]") == [[3, 4]]
    assert values_at(payload, "arr[9]") == []
    assert values_at(payload, "obj.b.c") == ["x"]
    assert values_at(payload, "obj.b") == [{"c": "x"}]
    assert values_at(payload, "objs[].n") == [1, 2, 3]
    assert values_at(payload, "objs[].n", expand_last=False) == [1, [2, 3]]
    assert values_at(payload, "objs[].t") == ["p", "q"]
    assert values_at(payload, "objs[1].n") == [2, 3]
    assert values_at(payload, "objs.n") == []  # arrays are only entered through [] or [N]
    assert values_at(payload, "empty") == []
    assert values_at(payload, "empty", expand_last=False) == [[]]
    assert values_at(payload, "null") == [None]
    assert values_at("not an object", "a") == []
    assert values_at(payload, parse_key("a")) == [1]


# ---------------------------------------------------------------- conditions, by hand


def _compile(raw: object, path: str = "filter") -> CompiledFilter | None:
    """A filter as a request brings it: decoded at the edge, then compiled."""
    return compile_filter(decode(Filter | None, raw, path=path))


def _ids(flt: dict[str, Any], points: dict[Any, dict | None], vectors=None) -> set:
    compiled = _compile(flt)
    assert compiled is not None
    vectors = vectors or {}
    return {
        pid
        for pid, payload in points.items()
        if compiled.matches(pid, payload, lambda name, pid=pid: name in vectors.get(pid, ()))
    }


def _field(key: str, **condition: Any) -> dict[str, Any]:
    return {"key": key, **condition}


POINTS: dict[Any, dict | None] = {
    1: {"city": "London", "n": 1, "tags": ["a", "b"], "ok": True},
    2: {"city": "Berlin", "n": 1.0, "tags": [], "ok": False},
    3: {"city": ["Paris", "Rome"], "n": 2.5, "tags": None},
    4: {"city": None, "n": True, "tags": [None, "c"]},
    5: {},
    6: None,
    7: {"city": "London Bridge", "n": [0, 10], "tags": ["a"]},
}


def test_compile_absent_filter() -> None:
    assert compile_filter(None) is None


def test_match_value_is_type_strict() -> None:
    assert _ids({"must": [_field("city", match={"value": "London"})]}, POINTS) == {1}
    assert _ids({"must": [_field("city", match={"value": "Rome"})]}, POINTS) == {3}
    # 1 matches neither 1.0 (a float never matches) nor true (booleans are their own type).
    assert _ids({"must": [_field("n", match={"value": 1})]}, POINTS) == {1}
    assert _ids({"must": [_field("n", match={"value": True})]}, POINTS) == {4}
    assert _ids({"must": [_field("ok", match={"value": True})]}, POINTS) == {1}
    assert _ids({"must": [_field("ok", match={"value": 0})]}, POINTS) == set()


def test_match_any_and_except() -> None:
    assert _ids({"must": [_field("city", match={"any": ["Rome", "Berlin"]})]}, POINTS) == {2, 3}
    assert _ids({"must": [_field("n", match={"any": [0, 2]})]}, POINTS) == {7}
    assert _ids({"must": [_field("n", match={"any": [1, 5]})]}, POINTS) == {1}  # not 1.0, true
    # except: some value not in the list; a missing or empty field has no values and fails,
    # and so does a null (absence, not a value).
    expect = _ids({"must": [_field("city", match={"except": ["London"]})]}, POINTS)
    assert expect == {2, 3, 7}
    assert _ids({"must": [_field("tags", match={"except": ["a"]})]}, POINTS) == {1, 4}
    # A float or boolean is never one of the listed integers, so it is "except" them.
    assert _ids({"must": [_field("n", match={"except": [1, 2]})]}, POINTS) == {2, 3, 4, 7}
    assert _ids({"must": [_field("tags", match={"any": []})]}, POINTS) == set()


TEXTS = {
    1: {"t": "The quick brown fox"},
    2: {"t": "quick-fox: brown_dog"},
    3: {"t": ["lazy dog", "QUICK"]},
    4: {"t": 5},
    5: {"t": "foxes"},
}


def test_match_text_needs_every_word() -> None:
    assert _ids({"must": [_field("t", match={"text": "fox quick"})]}, TEXTS) == {1, 2}
    assert _ids({"must": [_field("t", match={"text": "FOX"})]}, TEXTS) == {1, 2}  # lower-cased
    assert _ids({"must": [_field("t", match={"text": "fo"})]}, TEXTS) == set()  # whole words
    assert _ids({"must": [_field("t", match={"text": "brown"})]}, TEXTS) == {1, 2}  # _ splits
    assert _ids({"must": [_field("t", match={"text": " ,"})]}, TEXTS) == set()  # no words
    assert _ids({"must": [_field("t", match={"text": "5"})]}, TEXTS) == set()  # strings only


def test_match_text_any_needs_one_word() -> None:
    assert _ids({"must": [_field("t", match={"text_any": "dog fox"})]}, TEXTS) == {1, 2, 3}
    assert _ids({"must": [_field("t", match={"text_any": "cat, Dog"})]}, TEXTS) == {2, 3}
    assert _ids({"must": [_field("t", match={"text_any": ""})]}, TEXTS) == set()


def test_match_phrase_needs_consecutive_words() -> None:
    assert _ids({"must": [_field("t", match={"phrase": "quick brown"})]}, TEXTS) == {1}
    assert _ids({"must": [_field("t", match={"phrase": "quick fox"})]}, TEXTS) == {2}
    assert _ids({"must": [_field("t", match={"phrase": "brown quick"})]}, TEXTS) == set()


def test_match_prefix_is_case_sensitive_on_strings() -> None:
    assert _ids({"must": [_field("t", match={"prefix": "quick"})]}, TEXTS) == {2}
    assert _ids({"must": [_field("t", match={"prefix": "QU"})]}, TEXTS) == {3}
    assert _ids({"must": [_field("t", match={"prefix": ""})]}, TEXTS) == {1, 2, 3, 5}


def test_numeric_range() -> None:
    # Point 4's true is not a number.
    assert _ids({"must": [_field("n", range={"gte": 1, "lt": 2})]}, POINTS) == {1, 2}
    assert _ids({"must": [_field("n", range={"gt": 5})]}, POINTS) == {7}
    assert _ids({"must": [_field("n", range={"lte": 0})]}, POINTS) == {7}
    assert _ids({"must": [_field("city", range={"gt": 0})]}, POINTS) == set()


def test_datetime_range_compares_instants() -> None:
    points = {
        1: {"t": "2024-01-01T10:00:00Z"},
        2: {"t": "2024-01-01T12:00:00+02:00"},  # same instant as 1
        3: {"t": "2024-01-01 09:59:59"},  # naive: UTC
        4: {"t": "2024-01-02"},
        5: {"t": ["not a date", "2024-01-01T20:00:00-02:00"]},
        6: {"t": 5},
    }
    bounds = {"gte": "2024-01-01T10:00:00Z", "lt": "2024-01-02T00:00:00+00:00"}
    assert _ids({"must": [_field("t", range=bounds)]}, points) == {1, 2, 5}
    assert _ids({"must": [_field("t", range={"lte": "2024-01-01T09:59:59"})]}, points) == {3}
    assert _ids({"must": [_field("t", range={"gte": "2024-01-02"})]}, points) == {4}


def test_parse_datetime_forms() -> None:
    utc = parse_datetime("2024-05-06T07:08:09Z")
    assert utc is not None
    assert parse_datetime("2024-05-06T09:08:09+02:00") == utc
    assert parse_datetime("2024-05-06T09:08:09+02") == utc
    assert parse_datetime("2024-05-06T09:08:09+0200") == utc
    assert parse_datetime("2024-05-06 07:08:09") == utc
    assert parse_datetime("2024-05-06T07:08:09.5Z") == utc.replace(microsecond=500000)
    assert parse_datetime("2024-05-06") == utc.replace(hour=0, minute=0, second=0)
    for bad in ("2024-13-01", "2024-05-06T25:00:00Z", "yesterday", "2024-05-06T07:08:09+24:00"):
        assert parse_datetime(bad) is None


def test_values_count() -> None:
    points = {
        1: {"a": [1, 2, 3]},
        2: {"a": 7},
        3: {"a": []},
        4: {"a": None},
        5: {},
        6: {"a": {"x": 1, "y": 2}},  # an object is one value
        7: {"o": [{"a": [1, 2]}, {"a": 1}]},
    }
    assert _ids({"must": [_field("a", values_count={"gte": 2})]}, points) == {1}
    # A missing key, [] and null all count 0 values.
    assert _ids({"must": [_field("a", values_count={"lt": 1})]}, points) == {3, 4, 5, 7}
    assert _ids({"must": [_field("a", values_count={"gt": 0, "lte": 1})]}, points) == {2, 6}
    # With several values (through []), one value must meet every bound at once.
    assert _ids({"must": [_field("o[].a", values_count={"gt": 1, "lt": 2})]}, points) == set()
    assert _ids({"must": [_field("o[].a", values_count={"gt": 1, "lt": 3})]}, points) == {7}


def test_is_empty_and_is_null() -> None:
    points = {
        1: {"a": None},
        2: {"a": []},
        3: {"a": [None]},
        4: {"a": 0},
        5: {},
        6: {"a": [1, None]},
        7: {"o": [{"a": None}, {"a": 1}]},
    }
    assert _ids({"must": [{"is_empty": {"key": "a"}}]}, points) == {1, 2, 5, 7}
    # is_null: a null, or an array holding a null (one level deep).
    assert _ids({"must": [{"is_null": {"key": "a"}}]}, points) == {1, 3, 6}
    assert _ids({"must": [{"is_null": {"key": "a[]"}}]}, points) == {3, 6}
    assert _ids({"must": [{"is_null": {"key": "o[].a"}}]}, points) == {7}
    assert _ids({"must": [{"is_empty": {"key": "o[].a"}}]}, points) == set(range(1, 7))
    # The boolean flags of a field condition (Qdrant's alternative syntax).
    assert _ids({"must": [_field("a", is_empty=True)]}, points) == {1, 2, 5, 7}
    assert _ids({"must": [_field("a", is_empty=False)]}, points) == {3, 4, 6}
    assert _ids({"must": [_field("a", is_null=True)]}, points) == {1, 3, 6}
    assert _ids({"must": [_field("a", is_null=False)]}, points) == {2, 4, 5, 7}


def test_geo_conditions() -> None:
    berlin = {"lon": 13.405, "lat": 52.52}
    points = {
        1: {"loc": berlin},
        2: {"loc": {"lon": 37.6173, "lat": 55.7558}},  # Moscow
        3: {"loc": [{"lon": 0, "lat": 0}, {"lon": 179.5, "lat": 10}]},
        4: {"loc": "nowhere"},
        5: {"loc": {"lon": 5, "lat": 5}},
        6: {"loc": {"lon": 2, "lat": 2}},  # inside the hole
        7: {"loc": {"lon": 10, "lat": 5}},  # on the exterior boundary
    }
    radius = {"center": berlin, "radius": 1000.0}
    assert _ids({"must": [_field("loc", geo_radius=radius)]}, points) == {1}
    box = {"top_left": {"lon": 10, "lat": 60}, "bottom_right": {"lon": 40, "lat": 50}}
    assert _ids({"must": [_field("loc", geo_bounding_box=box)]}, points) == {1, 2}
    across = {"top_left": {"lon": 170, "lat": 20}, "bottom_right": {"lon": -170, "lat": 0}}
    assert _ids({"must": [_field("loc", geo_bounding_box=across)]}, points) == {3}
    # The borders are outside: point 5 sits on two of them, point 6 strictly inside.
    edges = {"top_left": {"lon": 1, "lat": 5}, "bottom_right": {"lon": 5, "lat": 1}}
    assert _ids({"must": [_field("loc", geo_bounding_box=edges)]}, points) == {6}
    across_edge = {"top_left": {"lon": 179.5, "lat": 20}, "bottom_right": {"lon": -170, "lat": 0}}
    assert _ids({"must": [_field("loc", geo_bounding_box=across_edge)]}, points) == set()
    # A geo point needs finite numbers, and a boolean is not one.
    odd = {1: {"loc": {"lon": True, "lat": 1}}, 2: {"loc": {"lon": 1, "lat": float("nan")}},
           3: {"loc": {"lon": 10**400, "lat": 1}}, 4: {"loc": {"lon": 1, "lat": 1}}}
    everywhere = {"top_left": {"lon": -180, "lat": 90}, "bottom_right": {"lon": 180, "lat": -90}}
    assert _ids({"must": [_field("loc", geo_bounding_box=everywhere)]}, odd) == {4}

    def ring(*corners: tuple[float, float]) -> dict:
        pts = [{"lon": lon, "lat": lat} for lon, lat in corners]
        return {"points": [*pts, pts[0]]}

    polygon = {
        "exterior": ring((-1, -1), (10, -1), (10, 10), (-1, 10)),
        "interiors": [ring((1, 1), (3, 1), (3, 3), (1, 3))],
    }
    assert _ids({"must": [_field("loc", geo_polygon=polygon)]}, points) == {3, 5}
    assert 870_000 < haversine_m(52.52, 13.405, 48.8566, 2.3522) < 890_000  # Berlin-Paris


def test_has_id_normalises_ids() -> None:
    upper = "9B2F5A53-6E1B-4F2C-9D1E-0A1B2C3D4E5F"
    points = {5: {}, 6: {}, upper.lower(): {}}
    assert _ids({"must": [{"has_id": [5, upper]}]}, points) == {5, upper.lower()}
    assert _ids({"must_not": [{"has_id": [5]}]}, points) == {6, upper.lower()}


def _slice(total: int, index: int) -> dict:
    return {"slice": {"total": total, "index": index}}


def test_slices_split_the_ids() -> None:
    points = {pid: {} for pid in [*range(40), str(uuid.UUID(int=7)), str(uuid.UUID(int=8))]}
    parts = [_ids({"must": [_slice(3, i)]}, points) for i in range(3)]
    assert set().union(*parts) == set(points)
    assert sum(map(len, parts)) == len(points)  # disjoint
    assert all(parts)
    # The same hash for every total: a slice of 4 lies inside the slice of 2 it is congruent to.
    assert _ids({"must": [_slice(4, 1)]}, points) <= _ids({"must": [_slice(2, 1)]}, points)
    assert _ids({"must": [_slice(1, 0)]}, points) == set(points)


def test_has_vector() -> None:
    vectors = {1: {"", "img"}, 2: {"img"}, 3: set()}
    points = {1: {}, 2: {}, 3: {}}
    assert _ids({"must": [{"has_vector": "img"}]}, points, vectors) == {1, 2}
    assert _ids({"must": [{"has_vector": ""}]}, points, vectors) == {1}


def test_nested_conditions_hold_in_one_element() -> None:
    points = {
        1: {"diet": [{"food": "meat", "likes": True}, {"food": "veg", "likes": False}]},
        2: {"diet": [{"food": "meat", "likes": False}]},
        3: {"diet": {"food": "meat", "likes": True}},  # not an array: no elements
        4: {"diet": [1, "meat"]},
    }
    inner = {
        "must": [
            _field("food", match={"value": "meat"}),
            _field("likes", match={"value": True}),
        ]
    }
    assert _ids({"must": [{"nested": {"key": "diet", "filter": inner}}]}, points) == {1}
    assert _ids({"must": [{"nested": {"key": "diet[]", "filter": inner}}]}, points) == {1}
    # Flat keys may be satisfied by different elements of the same array.
    flat = {
        "must": [
            _field("diet[].food", match={"value": "veg"}),
            _field("diet[].likes", match={"value": True}),
        ]
    }
    assert _ids(flat, points) == {1}
    not_liked = {"must_not": [_field("likes", match={"value": True})]}
    nested_not = {"must": [{"nested": {"key": "diet", "filter": not_liked}}]}
    assert _ids(nested_not, points) == {1, 2}  # point 4's array holds no objects
    # Ids and vectors are not visible inside nested filters.
    by_id = {"must": [{"nested": {"key": "diet", "filter": {"must": [{"has_id": [1]}]}}}]}
    assert _ids(by_id, points) == set()
    empty_inner = {"must": [{"is_empty": {"key": "food"}}]}
    assert _ids({"must": [{"nested": {"key": "diet", "filter": empty_inner}}]}, points) == set()
    by_slice = {"must": [{"nested": {"key": "diet", "filter": {"must": [_slice(1, 0)]}}}]}
    assert _ids(by_slice, points) == set()


def test_clauses() -> None:
    london = _field("city", match={"value": "London"})
    berlin = _field("city", match={"value": "Berlin"})
    one = _field("n", match={"value": 1})
    every = set(POINTS)
    assert _ids({}, POINTS) == every
    assert _ids({"must": []}, POINTS) == every
    assert _ids({"must_not": []}, POINTS) == every
    assert _ids({"should": []}, POINTS) == every  # no alternative given: no constraint
    assert _ids({"should": [london, berlin]}, POINTS) == {1, 2}
    assert _ids({"should": london}, POINTS) == {1}  # a single condition instead of a list
    at_least_one = _field("n", range={"gte": 1})
    assert _ids({"must": [at_least_one], "must_not": [london]}, POINTS) == {2, 3, 7}
    min_should = {"conditions": [london, one, _field("ok", match={"value": True})]}
    assert _ids({"min_should": {**min_should, "min_count": 2}}, POINTS) == {1}
    assert _ids({"min_should": {**min_should, "min_count": 3}}, POINTS) == {1}
    # Berlin's n is 1.0, which is not 1.
    assert _ids({"must": [{"should": [london, berlin]}, {"must_not": [one]}]}, POINTS) == {2}
    assert _ids({"must": [{}]}, POINTS) == every  # an empty object is an empty filter


def test_keys_and_condition_count() -> None:
    flt = _compile(
        {
            "must": [
                _field("a", match={"value": 1}),
                {"should": [{"is_empty": {"key": "b.c"}}, {"has_id": [1]}]},
                {"nested": {"key": "d", "filter": {"must": [_field("e", range={"gt": 0})]}}},
            ],
            "min_should": {"conditions": [{"has_vector": "v"}], "min_count": 1},
            "must_not": {"is_null": {"key": "f[]"}},
        }
    )
    assert isinstance(flt, CompiledFilter)
    assert flt.keys() == {"a", "b.c", "d[].e", "f[]"}
    assert flt.condition_count() == 7


# ---------------------------------------------------------------- validation errors

SQUARE = {
    "points": [
        {"lon": 0, "lat": 0},
        {"lon": 1, "lat": 0},
        {"lon": 1, "lat": 1},
        {"lon": 0, "lat": 0},
    ]
}
BAD_FILTERS = [
    ([], "filter: Expected `object | null`, got `array`"),
    ({"mst": []}, "filter: Object contains unknown field `mst`"),
    ({"must": [5]}, "filter.must[0]: Expected `object`, got `int`"),
    ({"must": [{"foo": 1}]}, "filter.must[0]: Object contains unknown field `foo`"),
    (
        {"must": {"key": 3, "match": {"value": 1}}},
        "filter.must.key: Expected `str | null`, got `int`",
    ),
    ({"must": [{"key": "a["}]}, "filter.must[0].key: invalid payload key"),
    ({"must": [{"key": "a"}]}, "filter.must[0]: a field condition needs exactly one"),
    (
        {"must": [{"key": "a", "match": {"value": 1}, "range": {"gt": 1}}]},
        "filter.must[0]: a field condition needs exactly one",
    ),
    ({"must": [{"key": "a", "mtch": {}}]}, "filter.must[0]: Object contains unknown field `mtch`"),
    ({"must": [{"key": "a", "match": {}}]}, "filter.must[0].match: expected exactly one"),
    (
        {"must": [{"key": "a", "match": {"value": 1, "any": [1]}}]},
        "filter.must[0].match: expected exactly one",
    ),
    ({"must": [{"key": "a", "match": {"value": 1.5}}]}, "filter.must[0].match.value"),
    (
        {"must": [{"key": "a", "match": {"value": None}}]},
        "filter.must[0].match: expected exactly one of value, text, text_any, phrase,",
    ),
    ({"must": [{"key": "a", "match": {"value": 2**70}}]}, "filter.must[0].match.value"),
    ({"must": [{"key": "a", "match": {"text": 1}}]}, "filter.must[0].match.text"),
    ({"must": [{"key": "a", "match": {"any": [1, "x"]}}]}, "filter.must[0].match.any"),
    ({"must": [{"key": "a", "match": {"any": [True]}}]}, "filter.must[0].match.any"),
    ({"must": [{"key": "a", "match": {"except": "x"}}]}, "filter.must[0].match.except"),
    ({"must": [{"key": "a", "range": {}}]}, "filter.must[0].range: expected an object with gt"),
    (
        {"must": [{"key": "a", "range": 5}]},
        "filter.must[0].range: Expected `object | null`, got `int`",
    ),
    ({"must": [{"key": "a", "range": {"gt": None}}]}, "filter.must[0].range: expected"),
    ({"must": [{"key": "a", "range": {"gt": True}}]}, "filter.must[0].range.gt"),
    ({"must": [{"key": "a", "range": {"gt": 1, "lt": "2024-01-01"}}]}, "filter.must[0].range"),
    ({"must": [{"key": "a", "range": {"gt": "soon"}}]}, "filter.must[0].range.gt: 'soon'"),
    (
        {"must": [{"key": "a", "range": {"between": 1}}]},
        "filter.must[0].range: Object contains unknown field `between`",
    ),
    ({"must": [{"key": "a", "values_count": {}}]}, "filter.must[0].values_count: expected"),
    ({"must": [{"key": "a", "values_count": {"gt": -1}}]}, "filter.must[0].values_count.gt"),
    ({"must": [{"key": "a", "values_count": {"gt": 1.5}}]}, "filter.must[0].values_count.gt"),
    (
        {"must": [{"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 91}, "radius": 1}}]},
        "filter.must[0].geo_radius.center.lat: Expected `float` <= 90.0",
    ),
    (
        {"must": [{"key": "a", "geo_radius": {"center": {"lon": -181, "lat": 0}, "radius": 1}}]},
        "filter.must[0].geo_radius.center.lon: Expected `float` >= -180.0",
    ),
    (
        {"must": [{"key": "a", "geo_radius": {"center": {"lon": 0, "lat": 0}, "radius": -1}}]},
        "filter.must[0].geo_radius.radius: Expected `float` >= 0.0",
    ),
    (
        {"must": [{"key": "a", "geo_radius": {"center": {"lon": 0}, "radius": 1}}]},
        "filter.must[0].geo_radius.center: Object missing required field `l",
    ),
    (
        {"must": [{"key": "a", "geo_bounding_box": {"top_left": {"lon": 0, "lat": 0}}}]},
        "filter.must[0].geo_bounding_box: Object missing required field `bo",
    ),
    (
        {"must": [{"key": "a", "geo_polygon": {"exterior": {"points": [{"lon": 0, "lat": 0}]}}}]},
        "filter.must[0].geo_polygon.exterior.points: a polygon ring needs at least 4 points",
    ),
    (
        {
            "must": [
                {
                    "key": "a",
                    "geo_polygon": {
                        "exterior": {
                            "points": [
                                {"lon": 0, "lat": 0},
                                {"lon": 1, "lat": 0},
                                {"lon": 1, "lat": 1},
                                {"lon": 0, "lat": 1},
                            ]
                        }
                    },
                }
            ]
        },
        "filter.must[0].geo_polygon.exterior.points: the ring is not closed",
    ),
    (
        {"must": [{"key": "a", "geo_polygon": {"exterior": SQUARE, "interiors": 3}}]},
        "filter.must[0].geo_polygon.interiors: Expected `array | null`, got",
    ),
    (
        {"must": [{"key": "a", "is_empty": "yes"}]},
        "filter.must[0].is_empty: Expected `bool | object | null`, got `str",
    ),
    (
        {"must": [{"is_empty": "a"}]},
        "filter.must[0].is_empty: Expected `bool | object | null`, got `str",
    ),
    (
        {"must": [{"is_null": {"key": "a", "x": 1}}]},
        "filter.must[0].is_null: Object contains unknown field `x`",
    ),
    ({"must": [{"has_id": 5}]}, "filter.must[0].has_id: Expected `array | null`, got `int`"),
    ({"must": [{"key": "a", "match": {"prefix": 1}}]}, "filter.must[0].match.prefix"),
    ({"must": [{"key": "a", "match": {"text_any": None}}]}, "filter.must[0].match: expected"),
    ({"must": [{"slice": {"total": 0, "index": 0}}]}, "filter.must[0].slice.total: Expected"),
    (
        {"must": [{"slice": {"total": 2, "index": 2}}]},
        "filter.must[0].slice.index: expected an index below total (2), got 2",
    ),
    (
        {"must": [{"slice": {"total": 2}}]},
        "filter.must[0].slice: Object missing required field `index`",
    ),
    (
        {"must": [{"slice": {"total": 2, "index": 0}, "has_vector": "v"}]},
        "filter.must[0]: unexpected field `slice`",
    ),
    ({"must": [{"has_id": [1, "nope"]}]}, "filter.must[0].has_id[1]: point id"),
    ({"must": [{"has_id": [-1]}]}, "filter.must[0].has_id[0]: point id"),
    ({"must": [{"has_vector": 1}]}, "filter.must[0].has_vector: Expected `str | null`, got `int`"),
    (
        {"must": [{"nested": {"key": "a"}}]},
        "filter.must[0].nested: Object missing required field `filter`",
    ),
    (
        {"must": [{"nested": {"key": "a", "filter": {"must": [{"key": "b"}]}}}]},
        "filter.must[0].nested.filter.must[0]: a field condition needs exactly one",
    ),
    (
        {"min_should": {"conditions": []}},
        "filter.min_should: Object missing required field `min_count`",
    ),
    (
        {"min_should": {"conditions": [], "min_count": 0}},
        "filter.min_should.min_count: Expected `int` >= 1",
    ),
    (
        {"min_should": {"conditions": [{"bad": 1}], "min_count": 1}},
        "filter.min_should.conditions[0]: Object contains unknown field `ba",
    ),
    (
        {"should": [{"must_not": [{"key": "a", "range": {"lt": "x"}}]}]},
        "filter.should[0].must_not[0].range.lt",
    ),
]


@pytest.mark.parametrize(("raw", "message"), BAD_FILTERS)
def test_validation_errors_name_the_bad_part(raw: object, message: str) -> None:
    with pytest.raises(BadRequest) as caught:
        _compile(raw)
    assert str(caught.value).startswith(message), str(caught.value)


def test_reference_rejects_the_same_shapes() -> None:
    """Where the reference's models refuse a filter, compile_filter refuses it too."""
    rejected_by_reference = 0
    for raw, _message in BAD_FILTERS:
        try:
            models.Filter.model_validate(raw)
        except ValueError:
            rejected_by_reference += 1
            with pytest.raises(BadRequest):
                _compile(raw)
    assert rejected_by_reference >= 20


def test_custom_root_path() -> None:
    with pytest.raises(BadRequest, match=r"^query\.filter\.must\[0\]: Object contains unknown"):
        _compile({"must": [{"x": 1}]}, path="query.filter")


# ---------------------------------------------------------------- congruence with the reference

WORDS = ["red", "green", "blue", "dark red", "reddish", "Blue", "", "red_blue", "Dark-RED 2!"]
INTS = [-3, 0, 1, 2, 5, 10]
TIME_FORMS = [
    "{d}T{t}Z",
    "{d}T{t}+02:00",
    "{d}T{t}-05:30",
    "{d}T{t}",
    "{d} {t}",
    "{d}T{t}.250000Z",
    "{d}T{t}+03",
    "{d}",
]
VECTOR_NAMES = ["a", "b"]


def _rand_scalar(rng: random.Random) -> object:
    kind = rng.randrange(6)
    if kind == 0:
        return rng.choice(INTS)
    if kind == 1:
        return rng.choice([0.5, 1.0, 2.0, -2.5, 7.25])
    if kind == 2:
        return rng.choice(WORDS)
    if kind == 3:
        return rng.random() < 0.5
    if kind == 4:
        return None
    return _rand_time(rng)


def _rand_time(rng: random.Random) -> str:
    day = f"2024-{rng.randint(1, 3):02d}-{rng.randint(1, 28):02d}"
    clock = f"{rng.randint(0, 23):02d}:{rng.choice([0, 30]):02d}:00"
    return rng.choice(TIME_FORMS).format(d=day, t=clock)


def _rand_geo(rng: random.Random) -> dict[str, float]:
    if rng.random() < 0.4:  # on an integer grid, to hit polygon edges and box borders exactly
        return {"lon": float(rng.randint(-6, 6)), "lat": float(rng.randint(-6, 6))}
    return {"lon": rng.uniform(-180, 180), "lat": rng.uniform(-80, 80)}


def _maybe(rng: random.Random, payload: dict, key: str, make) -> None:
    roll = rng.random()
    if roll < 0.2:
        return
    if roll < 0.28:
        payload[key] = None
    elif roll < 0.33:
        payload[key] = []
    else:
        payload[key] = make()


def _rand_word_value(rng: random.Random) -> object:
    if rng.random() < 0.6:
        return rng.choice(WORDS)
    return [rng.choice(WORDS + [None]) for _ in range(rng.randint(0, 3))]


def _rand_payload(rng: random.Random) -> dict | None:
    if rng.random() < 0.05:
        return None
    payload: dict[str, Any] = {}
    # "color" and "tags" hold only strings or nulls, where text conditions are most telling.
    _maybe(rng, payload, "color", lambda: _rand_word_value(rng))
    _maybe(rng, payload, "tags", lambda: [rng.choice(WORDS) for _ in range(rng.randint(0, 4))])
    _maybe(rng, payload, "num", lambda: rng.choice([_rand_scalar(rng), [_rand_scalar(rng)] * 2]))
    _maybe(
        rng,
        payload,
        "mixed",
        lambda: (
            [_rand_scalar(rng) for _ in range(rng.randint(0, 3))]
            if rng.random() < 0.5
            else _rand_scalar(rng)
        ),
    )
    _maybe(rng, payload, "when", lambda: rng.choice([_rand_time(rng), [_rand_time(rng)] * 2]))
    _maybe(
        rng,
        payload,
        "loc",
        lambda: (
            _rand_geo(rng)
            if rng.random() < 0.7
            else [_rand_geo(rng) for _ in range(rng.randint(1, 3))]
        ),
    )
    _maybe(
        rng,
        payload,
        "meta",
        lambda: {
            "color": _rand_word_value(rng),
            "num": rng.choice(INTS),
            "inner": {"k": _rand_scalar(rng)},
        },
    )
    _maybe(
        rng,
        payload,
        "items",
        lambda: (
            [
                {
                    "name": rng.choice(WORDS),
                    "qty": rng.choice(INTS + [None, 1.0]),
                    "tags": [rng.choice(WORDS) for _ in range(rng.randint(0, 2))],
                    "loc": _rand_geo(rng),
                    "when": _rand_time(rng),
                }
                for _ in range(rng.randint(0, 3))
            ]
            + ([rng.choice([None, 3, "x"])] if rng.random() < 0.15 else [])
        ),
    )
    _maybe(
        rng,
        payload,
        "matrix",
        lambda: [[rng.choice(INTS) for _ in range(rng.randint(0, 2))] for _ in range(2)],
    )
    return payload


ANY_KEYS = [
    "color",
    "tags",
    "num",
    "mixed",
    "when",
    "loc",
    "meta",
    "meta.color",
    "meta.num",
    "meta.inner.k",
    "items",
    "items[].name",
    "items[].qty",
    "items[].tags",
    "items[0].qty",
    "items[].loc",
    "items[].when",
    "matrix",
    "matrix[]",
    "matrix[0]",
    "missing",
]
TEXT_KEYS = ["color", "tags", "meta.color", "items[].name", "items[].tags"]
NUMBER_KEYS = ["num", "mixed", "meta.num", "meta.inner.k", "items[].qty", "matrix[]", "matrix"]
TIME_KEYS = ["when", "mixed", "items[].when", "meta.inner.k"]
GEO_KEYS = ["loc", "items[].loc", "meta", "mixed"]
NESTED_SCOPES = {
    "items": ["name", "qty", "tags", "loc", "when", "missing"],
    "meta": ["color", "num", "inner.k", "inner"],
    "loc": ["lon", "lat"],
}


class FilterGenerator:
    """Random filters in Qdrant's JSON form, over the payload shapes of `_rand_payload`."""

    def __init__(self, rng: random.Random, point_ids: list[object]) -> None:
        self.rng = rng
        self.point_ids = point_ids

    def filter(self, depth: int, keys: list[str] | None = None, nested: bool = False) -> dict:
        rng = self.rng
        result: dict[str, Any] = {}
        # Mostly short clauses: long conjunctions would make most filters match nothing.
        sizes = {"must": (1, 2), "should": (1, 3), "must_not": (1, 1)}
        for clause, (low, high) in sizes.items():
            if rng.random() < 0.45:
                count = 0 if rng.random() < 0.05 else rng.randint(low, high)
                items = [self.condition(depth, keys, nested) for _ in range(count)]
                result[clause] = items[0] if len(items) == 1 and rng.random() < 0.3 else items
        if rng.random() < 0.2:
            conditions = [self.condition(depth, keys, nested) for _ in range(rng.randint(0, 4))]
            result["min_should"] = {
                "conditions": conditions,
                "min_count": rng.randint(1, len(conditions) + 1),
            }
        return result

    def condition(self, depth: int, keys: list[str] | None, nested: bool) -> dict:
        rng = self.rng
        roll = rng.random()
        if depth > 0 and roll < 0.15:
            return self.filter(depth - 1, keys, nested)
        if depth > 0 and roll < 0.22 and not nested:
            scope = rng.choice(list(NESTED_SCOPES))
            inner = self.filter(depth - 1, NESTED_SCOPES[scope], nested=True)
            key = scope + "[]" if rng.random() < 0.3 else scope
            return {"nested": {"key": key, "filter": inner}}
        return self.leaf(keys, nested)

    def leaf(self, keys: list[str] | None, nested: bool) -> dict:
        rng = self.rng

        def pick(preferred: list[str]) -> str:
            return rng.choice(keys if keys else preferred)

        kind = rng.choice(
            [
                "value", "value", "any", "except", "text", "text", "prefix", "range", "range",
                "datetime", "values_count", "box", "radius", "polygon", "is_empty", "is_null",
                "has_id", "has_vector", "slice", "flag",
            ]
        )  # fmt: skip
        if kind == "value":
            value = rng.choice([rng.choice(WORDS), rng.choice(INTS), rng.random() < 0.5, 7, -2])
            return {"key": pick(ANY_KEYS), "match": {"value": value}}
        if kind in ("any", "except"):
            if rng.random() < 0.5:
                options = rng.sample(WORDS, rng.randint(0, 3))
            else:
                options = rng.sample(INTS, rng.randint(0, 3))
            return {"key": pick(ANY_KEYS), "match": {kind: options}}
        if kind in ("text", "prefix"):
            if rng.random() < 0.2:
                key = pick(ANY_KEYS)
            else:
                key = pick(TEXT_KEYS) if not keys else rng.choice(["name", "tags", "color"])
            if kind == "prefix":
                prefix = rng.choice(["re", "Bl", "", "dark r", "x"])
                return {"key": key, "match": {"prefix": prefix}}
            form = rng.choice(["text", "text_any", "phrase"])
            text = rng.choice(["red", "e", "Blue", "", "dark", "dark red", "red dark", "RED, blue",
                               "blue green", "2", "red_blue", " - "])
            return {"key": key, "match": {form: text}}
        if kind == "range":
            return {"key": pick(NUMBER_KEYS), "range": self.bounds(lambda: rng.uniform(-4, 11))}
        if kind == "datetime":
            return {"key": pick(TIME_KEYS), "range": self.bounds(lambda: self.time_bound())}
        if kind == "values_count":
            return {
                "key": pick(ANY_KEYS),
                "values_count": self.bounds(lambda: rng.randint(0, 4)),
            }
        if kind == "box":
            return {"key": pick(GEO_KEYS), "geo_bounding_box": self.box()}
        if kind == "radius":
            radius = {"center": _rand_geo(rng), "radius": rng.choice([0.0, 1e5, 8e5, 3e6])}
            return {"key": pick(GEO_KEYS), "geo_radius": radius}
        if kind == "polygon":
            return {"key": pick(GEO_KEYS), "geo_polygon": self.polygon()}
        if kind in ("is_empty", "is_null"):
            return {kind: {"key": pick(ANY_KEYS)}}
        if kind == "flag":  # the boolean is_empty / is_null of a field condition
            return {"key": pick(ANY_KEYS), rng.choice(["is_empty", "is_null"]): rng.random() < 0.5}
        if kind == "slice":
            total = rng.randint(1, 5)
            return {"slice": {"total": total, "index": rng.randrange(total)}}
        if kind == "has_id":
            return {"has_id": rng.sample(self.point_ids, rng.randint(0, 20))}
        return {"has_vector": rng.choice(VECTOR_NAMES + ["c"])}

    def bounds(self, make) -> dict:
        names = self.rng.sample(["gt", "gte", "lt", "lte"], self.rng.randint(1, 2))
        return {name: make() for name in names}

    def time_bound(self) -> str:
        day = f"2024-{self.rng.randint(1, 3):02d}-{self.rng.randint(1, 28):02d}"
        clock = f"{self.rng.randint(0, 23):02d}:{self.rng.choice([0, 30]):02d}:00"
        form = self.rng.choice(["{d}T{t}Z", "{d}T{t}+02:00", "{d}T{t}", "{d}"])
        return form.format(d=day, t=clock)

    def box(self) -> dict:
        rng = self.rng
        if rng.random() < 0.5:
            lat = sorted(rng.sample(range(-6, 7), 2))
            lon = sorted(rng.sample(range(-6, 7), 2))
        else:
            lat = sorted([rng.uniform(-80, 80), rng.uniform(-80, 80)])
            lon = [rng.uniform(-180, 180), rng.uniform(-180, 180)]  # may cross the antimeridian
        return {
            "top_left": {"lon": lon[0], "lat": lat[1]},
            "bottom_right": {"lon": lon[1], "lat": lat[0]},
        }

    def polygon(self) -> dict:
        rng = self.rng
        size = rng.choice([3, 6, 40])

        def ring(scale: float) -> dict:
            corners = [
                (round(rng.uniform(-1, 1) * scale), round(rng.uniform(-1, 1) * scale))
                for _ in range(rng.randint(3, 6))
            ]
            points = [{"lon": float(lon), "lat": float(lat)} for lon, lat in corners]
            return {"points": [*points, points[0]]}

        polygon: dict[str, Any] = {"exterior": ring(size)}
        if rng.random() < 0.4:
            polygon["interiors"] = [ring(size / 2) for _ in range(rng.randint(1, 2))]
        return polygon


def _reference_collection(points: dict[object, dict | None], vectors: dict[object, set[str]]):
    client = QdrantClient(":memory:")
    client.create_collection(
        "ref",
        vectors_config={
            name: models.VectorParams(size=2, distance=models.Distance.DOT) for name in VECTOR_NAMES
        },
    )
    client.upsert(
        "ref",
        points=[
            models.PointStruct(
                id=pid, payload=payload, vector={name: [0.5, 0.5] for name in vectors[pid]}
            )
            for pid, payload in points.items()
        ],
    )
    return client


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_congruence_with_reference(seed: int) -> None:
    rng = random.Random(seed)
    point_ids: list[object] = list(range(1, 201)) + [
        str(uuid.UUID(int=rng.getrandbits(128))) for _ in range(50)
    ]
    points = {pid: _rand_payload(rng) for pid in point_ids}
    vectors = {pid: {n for n in VECTOR_NAMES if rng.random() < 0.6} for pid in point_ids}
    client = _reference_collection(points, vectors)
    generator = FilterGenerator(rng, point_ids)

    filters = [generator.filter(depth=3) for _ in range(150)]
    # Single conditions too, so every kind is checked on its own and not hidden by an AND.
    filters += [{"must": [generator.condition(1, None, False)]} for _ in range(250)]
    mismatches, partial = [], 0
    for raw in filters:
        expected = {
            record.id
            for record in client.scroll(
                "ref",
                scroll_filter=models.Filter.model_validate(raw),
                limit=len(points) + 1,
                with_payload=False,
            )[0]
        }
        compiled = _compile(raw)
        assert compiled is not None
        got = {
            pid
            for pid, payload in points.items()
            if compiled.matches(pid, payload, lambda name, pid=pid: name in vectors[pid])
        }
        partial += 0 < len(expected) < len(points)
        if got != expected:
            mismatches.append((raw, sorted(map(str, got ^ expected))[:5]))
    print(
        f"congruence seed={seed}: {len(filters)} filters x {len(points)} points, "
        f"{partial} with a result neither empty nor everything, {len(mismatches)} mismatches"
    )
    assert not mismatches, mismatches[:3]
