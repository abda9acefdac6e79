"""Qdrant filters: validated once into a tree of small condition objects, then run per point.

Semantics follow qdrant-client's local mode (the reference implementation this project checks
itself against), including its quirks: values compare with Python equality (so 1, 1.0 and
true are equal), a range accepts booleans as numbers, an empty `should` list matches nothing,
and inside `nested` the id and vector conditions never match. Where the reference has no
semantics (phrase match, the `is_empty`/`is_null` flags of a field condition) Qdrant's own
server behaviour is followed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Protocol

from node.engine.ids import PointId, normalize_point_id
from node.engine.payload_path import parse_key, values_at
from node.errors import BadRequest

HasVector = Callable[[str], bool]
ValueTest = Callable[[object], bool]

# Mean earth radius in metres (IUGG), the one Qdrant's haversine uses.
EARTH_RADIUS_M = 6371008.8

_FILTER_FIELDS = ("must", "should", "must_not", "min_should")
_FIELD_CONDITION_KINDS = (
    "match",
    "range",
    "geo_bounding_box",
    "geo_radius",
    "geo_polygon",
    "values_count",
    "is_empty",
    "is_null",
)
_MATCH_KINDS = ("value", "text", "phrase", "any", "except")
_BOUNDS = ("gt", "gte", "lt", "lte")
_INT64 = (-(2**63), 2**63 - 1)


def _never_has_vector(_name: str) -> bool:
    return False


class _Condition(Protocol):
    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool: ...

    def read_keys(self) -> Iterable[str]: ...

    def count(self) -> int: ...


class CompiledFilter:
    """A validated filter; `matches` decides one point."""

    def __init__(
        self,
        must: list[_Condition],
        should: list[_Condition] | None,
        must_not: list[_Condition],
        min_should: tuple[list[_Condition], int] | None,
    ) -> None:
        self.raw: object = None
        self._must = must
        self._should = should
        self._must_not = must_not
        self._min_should = min_should

    def matches(self, point_id: PointId, payload: dict | None, has_vector: HasVector) -> bool:
        return self.test(point_id, payload or {}, has_vector)

    def keys(self) -> set[str]:
        """Payload keys the filter reads; keys inside `nested` are prefixed as `outer[].inner`."""
        return set(self.read_keys())

    def condition_count(self) -> int:
        """Leaf conditions, counting a `nested` condition itself as one more (Qdrant's count)."""
        return self.count()

    def index_hints(self) -> list[tuple[str, tuple]]:
        """(key, hint) of the `must` conditions a payload index can answer: every point the
        filter accepts is among the points the index returns for each of them."""
        return [
            (c.key, c.index_hint)
            for c in self._must
            if isinstance(c, _FieldCondition) and c.index_hint is not None
        ]

    def only_index_hints(self) -> bool:
        """True when the filter is nothing but `must` conditions that carry index hints, so
        exact indexes alone decide it."""
        return (
            not self._should and not self._must_not and self._min_should is None
            and bool(self._must)
            and all(isinstance(c, _FieldCondition) and c.index_hint is not None
                    for c in self._must)
        )

    def max_condition_size(self) -> int:
        """The most values one condition lists (strict mode's condition_max_size)."""
        sizes = [0]
        for condition in self._all_conditions():
            if isinstance(condition, CompiledFilter):
                sizes.append(condition.max_condition_size())
            elif isinstance(condition, _FieldCondition) and condition.index_hint is not None:
                kind, arg = condition.index_hint
                sizes.append(len(arg) if kind == "values" else 1)
        return max(sizes)

    # The filter is itself a condition when it appears inside a clause.
    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        if not all(c.test(point_id, payload, has_vector) for c in self._must):
            return False
        if any(c.test(point_id, payload, has_vector) for c in self._must_not):
            return False
        # None means "no should clause"; an explicit empty list matches nothing, like the reference.
        if self._should is not None and not any(
            c.test(point_id, payload, has_vector) for c in self._should
        ):
            return False
        if self._min_should is not None:
            conditions, min_count = self._min_should
            hits = sum(1 for c in conditions if c.test(point_id, payload, has_vector))
            if hits < min_count:
                return False
        return True

    def _all_conditions(self) -> Iterator[_Condition]:
        yield from self._must
        yield from self._should or ()
        yield from self._must_not
        if self._min_should is not None:
            yield from self._min_should[0]

    def read_keys(self) -> Iterator[str]:
        for condition in self._all_conditions():
            yield from condition.read_keys()

    def count(self) -> int:
        return sum(c.count() for c in self._all_conditions())


# ---------------------------------------------------------------- conditions


class _FieldCondition:
    """Any value at the key (arrays expanded) passes the test."""

    def __init__(self, key: str, value_test: ValueTest) -> None:
        self._key = key
        self._path = parse_key(key)
        self._value_test = value_test
        self.key = key
        self.index_hint: tuple | None = getattr(value_test, "index_hint", None)

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        return any(self._value_test(v) for v in values_at(payload, self._path))

    def read_keys(self) -> Iterable[str]:
        yield self._key

    def count(self) -> int:
        return 1


class _RawValuesCondition:
    """A test over the values at the key with arrays kept whole (emptiness, null, counts)."""

    def __init__(self, key: str, values_test: Callable[[list[object]], bool]) -> None:
        self._key = key
        self._path = parse_key(key)
        self._values_test = values_test

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        return self._values_test(values_at(payload, self._path, expand_last=False))

    def read_keys(self) -> Iterable[str]:
        yield self._key

    def count(self) -> int:
        return 1


class _Negated:
    def __init__(self, inner: _Condition) -> None:
        self._inner = inner

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        return not self._inner.test(point_id, payload, has_vector)

    def read_keys(self) -> Iterable[str]:
        return self._inner.read_keys()

    def count(self) -> int:
        return 1


class _HasId:
    def __init__(self, ids: frozenset[PointId]) -> None:
        self._ids = ids

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        return point_id is not None and point_id in self._ids

    def read_keys(self) -> Iterable[str]:
        return ()

    def count(self) -> int:
        return 1


class _HasVector:
    def __init__(self, name: str) -> None:
        self._name = name

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        return has_vector(self._name)

    def read_keys(self) -> Iterable[str]:
        return ()

    def count(self) -> int:
        return 1


class _Nested:
    """The inner filter must hold for one single element of the array at the key."""

    def __init__(self, key: str, inner: CompiledFilter) -> None:
        self._key = key
        self._path = parse_key(key)
        self._inner = inner

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        # Elements are judged on their own: no point id, no vectors (as the reference does).
        return any(
            self._inner.test(None, element, _never_has_vector)
            for element in values_at(payload, self._path)
        )

    def read_keys(self) -> Iterable[str]:
        prefix = self._key if self._key.endswith("[]") else f"{self._key}[]"
        for inner_key in self._inner.read_keys():
            yield f"{prefix}.{inner_key}"

    def count(self) -> int:
        return self._inner.count() + 1


# ---------------------------------------------------------------- value tests


def _is_empty(values: list[object]) -> bool:
    return all(v is None or v == [] for v in values)


def _is_null(values: list[object]) -> bool:
    return any(v is None for v in values)


def _count_of(value: object) -> int:
    if value is None:
        return 0
    if isinstance(value, (list, dict)):
        return len(value)
    return 1


def _values_count_test(bounds: dict[str, int]) -> Callable[[list[object]], bool]:
    checks = {
        "gt": lambda n, b: n > b,
        "gte": lambda n, b: n >= b,
        "lt": lambda n, b: n < b,
        "lte": lambda n, b: n <= b,
    }

    def test(values: list[object]) -> bool:
        if not values:
            return False
        counts = [_count_of(v) for v in values]
        # Each bound needs some value that satisfies it (not necessarily the same value).
        return all(any(checks[name](n, bound) for n in counts) for name, bound in bounds.items())

    return test


def _is_number(value: object) -> bool:
    # bool is an int in Python; the reference ranges accept it, so this does too.
    return isinstance(value, (int, float))


def _is_real(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numeric_range_test(bounds: dict[str, float]) -> ValueTest:
    gt, gte, lt, lte = (bounds.get(b) for b in _BOUNDS)

    def test(value: object) -> bool:
        if not _is_number(value):
            return False
        return (
            (gt is None or value > gt)
            and (gte is None or value >= gte)
            and (lt is None or value < lt)
            and (lte is None or value <= lte)
        )

    _with_hint(test, ("range", (gt, gte, lt, lte)))

    return test


def _datetime_range_test(bounds: dict[str, datetime]) -> ValueTest:
    gt, gte, lt, lte = (bounds.get(b) for b in _BOUNDS)

    def test(value: object) -> bool:
        if not isinstance(value, str):
            return False
        moment = parse_datetime(value)
        if moment is None:
            return False
        return (
            (gt is None or moment > gt)
            and (gte is None or moment >= gte)
            and (lt is None or moment < lt)
            and (lte is None or moment <= lte)
        )

    return test


def _with_hint(test: ValueTest, hint: tuple) -> ValueTest:
    """Attach what a payload index may look up for this test (a superset of its matches)."""
    test.index_hint = hint  # type: ignore[attr-defined]
    return test


def _match_value_test(target: str | int | bool) -> ValueTest:
    return _with_hint(lambda value: value == target, ("values", frozenset([target])))


def _substring_test(text: str) -> ValueTest:
    return lambda value: isinstance(value, str) and text in value


def _match_any_test(options: frozenset[str | int]) -> ValueTest:
    # Arrays and objects are unhashable and never equal to a listed scalar.
    return _with_hint(
        lambda value: not isinstance(value, (list, dict)) and value in options,
        ("values", options),
    )


def _match_except_test(options: frozenset[str | int]) -> ValueTest:
    # A present null counts as "not excluded"; only a missing field fails (no values at all).
    return lambda value: isinstance(value, (list, dict)) or value not in options


def _geo_of(value: object) -> tuple[float, float] | None:
    """(lat, lon) of a payload geo point, None for anything else."""
    if not isinstance(value, dict):
        return None
    lat, lon = value.get("lat"), value.get("lon")
    if not (_is_real(lat) and _is_real(lon)):
        return None
    return float(lat), float(lon)


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres."""
    # Convert before subtracting, so results agree bit for bit with the reference near a radius.
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    lambda1, lambda2 = math.radians(lon1), math.radians(lon2)
    h = (
        math.sin((phi2 - phi1) / 2) ** 2
        + math.cos(phi1) * math.cos(phi2) * math.sin((lambda2 - lambda1) / 2) ** 2
    )
    return EARTH_RADIUS_M * (2 * math.asin(math.sqrt(h)))


def _geo_radius_test(lat: float, lon: float, radius: float) -> ValueTest:
    def test(value: object) -> bool:
        point = _geo_of(value)
        return point is not None and haversine_m(point[0], point[1], lat, lon) < radius

    return test


def _geo_box_test(top: float, left: float, bottom: float, right: float) -> ValueTest:
    crosses_antimeridian = left > right

    def test(value: object) -> bool:
        point = _geo_of(value)
        if point is None:
            return False
        lat, lon = point
        if not bottom <= lat <= top:
            return False
        if crosses_antimeridian:
            return lon >= left or lon <= right
        return left <= lon <= right

    return test


Ring = list[tuple[float, float]]


def _ring_position(lat: float, lon: float, ring: Ring) -> int:
    """1 inside, 0 on the boundary, -1 outside; `ring` is open (no repeated closing vertex)."""
    inside = False
    prev_lat, prev_lon = ring[-1]
    for cur_lat, cur_lon in ring:
        cross = (prev_lat - cur_lat) * (lon - cur_lon) - (prev_lon - cur_lon) * (lat - cur_lat)
        if (
            cross == 0
            and (cur_lat - lat) * (prev_lat - lat) <= 0
            and (cur_lon - lon) * (prev_lon - lon) <= 0
        ):
            return 0
        # Even-odd rule: count edges crossed by a ray from the point towards growing latitude.
        if (cur_lon > lon) != (prev_lon > lon):
            crossing_lat = (prev_lat - cur_lat) * (lon - cur_lon) / (prev_lon - cur_lon) + cur_lat
            if lat < crossing_lat:
                inside = not inside
        prev_lat, prev_lon = cur_lat, cur_lon
    return 1 if inside else -1


def _geo_polygon_test(exterior: Ring, interiors: list[Ring]) -> ValueTest:
    # Points on any boundary (outer edge or hole edge) are outside, as in the reference.
    def test(value: object) -> bool:
        point = _geo_of(value)
        if point is None or _ring_position(*point, exterior) != 1:
            return False
        return all(_ring_position(*point, hole) == -1 for hole in interiors)

    return test


_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?"
    r"(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)?)?"
)


# The longest text _DATETIME matches: date, time with 9 fraction digits, and a +hh:mm offset.
_DATETIME_MAX_CHARS = len("2024-01-01T00:00:00.123456789+00:00")


def parse_datetime(text: str) -> datetime | None:
    """An RFC 3339 datetime (also with a space, without seconds, or a bare date); naive is UTC."""
    # Longer text is no datetime, and must not reach the cache: it would keep any string a
    # request or a payload holds, 65,536 of them (a client's 2,000 bad filters of 32 KB each
    # held 60 MiB for good).
    if len(text) > _DATETIME_MAX_CHARS:
        return None
    return _parse_datetime_text(text)


@lru_cache(maxsize=65536)
def _parse_datetime_text(text: str) -> datetime | None:
    match = _DATETIME.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    tz = timezone.utc
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m or 0))
        if offset >= timedelta(hours=24):
            return None
        tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0")[:6].ljust(6, "0")),
            tzinfo=tz,
        )
    except ValueError:
        return None


# ---------------------------------------------------------------- parsing


def compile_filter(raw: object, where: str = "filter") -> CompiledFilter | None:
    """Validate a filter object from a request; None when it is absent or null."""
    if raw is None:
        return None
    compiled = _parse_filter(raw, where)
    compiled.raw = raw  # what a peer compiles again when the filter travels between nodes
    return compiled


def _parse_filter(raw: object, where: str) -> CompiledFilter:
    obj = _object(raw, where, "a filter object with must/should/must_not/min_should")
    _only_fields(obj, _FILTER_FIELDS, where)
    clauses = {name: _parse_clause(obj.get(name), f"{where}.{name}") for name in _FILTER_FIELDS[:3]}
    min_should = None
    if obj.get("min_should") is not None:
        min_should = _parse_min_should(obj["min_should"], f"{where}.min_should")
    return CompiledFilter(
        must=clauses["must"] or [],
        should=clauses["should"],
        must_not=clauses["must_not"] or [],
        min_should=min_should,
    )


def _parse_clause(raw: object, where: str) -> list[_Condition] | None:
    if raw is None:
        return None
    if isinstance(raw, list):
        return [_parse_condition(item, f"{where}[{i}]") for i, item in enumerate(raw)]
    return [_parse_condition(raw, where)]


def _parse_min_should(raw: object, where: str) -> tuple[list[_Condition], int]:
    obj = _object(raw, where, "an object with conditions and min_count")
    _only_fields(obj, ("conditions", "min_count"), where)
    conditions = obj.get("conditions")
    if not isinstance(conditions, list):
        raise BadRequest(f"{where}.conditions: expected an array of conditions")
    min_count = obj.get("min_count")
    if not _is_int(min_count) or min_count < 0:
        raise BadRequest(f"{where}.min_count: expected a non-negative integer")
    parsed = [_parse_condition(c, f"{where}.conditions[{i}]") for i, c in enumerate(conditions)]
    return parsed, min_count


def _parse_condition(raw: object, where: str) -> _Condition:
    obj = _object(raw, where, "a condition object")
    if "key" in obj:
        return _parse_field_condition(obj, where)
    if "is_empty" in obj or "is_null" in obj:
        return _parse_emptiness(obj, where)
    if "has_id" in obj:
        _only_fields(obj, ("has_id",), where)
        return _HasId(_parse_ids(obj["has_id"], f"{where}.has_id"))
    if "has_vector" in obj:
        _only_fields(obj, ("has_vector",), where)
        name = obj["has_vector"]
        if not isinstance(name, str):
            raise BadRequest(f"{where}.has_vector: expected a vector name (string)")
        return _HasVector(name)
    if "nested" in obj:
        _only_fields(obj, ("nested",), where)
        return _parse_nested(obj["nested"], f"{where}.nested")
    if set(obj) <= set(_FILTER_FIELDS):
        return _parse_filter(obj, where)
    raise BadRequest(
        f"{where}: unknown condition with fields {sorted(obj)}; expected a field condition "
        "(key with match/range/geo_*/values_count/is_empty/is_null), is_empty, is_null, "
        "has_id, has_vector, nested, or a filter (must/should/must_not/min_should)"
    )


def _parse_emptiness(obj: dict, where: str) -> _Condition:
    kind = "is_empty" if "is_empty" in obj else "is_null"
    _only_fields(obj, (kind,), where)
    inner = _object(obj[kind], f"{where}.{kind}", 'an object {"key": ...}')
    _only_fields(inner, ("key",), f"{where}.{kind}")
    key = _key(inner.get("key"), f"{where}.{kind}.key")
    return _RawValuesCondition(key, _is_empty if kind == "is_empty" else _is_null)


def _parse_ids(raw: object, where: str) -> frozenset[PointId]:
    if not isinstance(raw, list):
        raise BadRequest(f"{where}: expected an array of point ids")
    ids = set()
    for i, item in enumerate(raw):
        try:
            ids.add(normalize_point_id(item))
        except BadRequest as exc:
            raise BadRequest(f"{where}[{i}]: {exc}") from None
    return frozenset(ids)


def _parse_nested(raw: object, where: str) -> _Condition:
    obj = _object(raw, where, "an object with key and filter")
    _only_fields(obj, ("key", "filter"), where)
    key = _key(obj.get("key"), f"{where}.key")
    if obj.get("filter") is None:
        raise BadRequest(f"{where}.filter: required")
    return _Nested(key, _parse_filter(obj["filter"], f"{where}.filter"))


def _parse_field_condition(obj: dict, where: str) -> _Condition:
    _only_fields(obj, ("key", *_FIELD_CONDITION_KINDS), where)
    key = _key(obj["key"], f"{where}.key")
    kinds = [k for k in _FIELD_CONDITION_KINDS if obj.get(k) is not None]
    if len(kinds) != 1:
        found = f"got {', '.join(kinds)}" if kinds else "got none"
        raise BadRequest(
            f"{where}: a field condition needs exactly one of {', '.join(_FIELD_CONDITION_KINDS)}"
            f" ({found})"
        )
    kind = kinds[0]
    raw, here = obj[kind], f"{where}.{kind}"
    if kind in ("is_empty", "is_null"):
        if not isinstance(raw, bool):
            raise BadRequest(f"{here}: expected true or false")
        inner = _RawValuesCondition(key, _is_empty if kind == "is_empty" else _is_null)
        return inner if raw else _Negated(inner)
    if kind == "values_count":
        return _RawValuesCondition(key, _values_count_test(_parse_count_bounds(raw, here)))
    parsers: dict[str, Callable[[object, str], ValueTest]] = {
        "match": _parse_match,
        "range": _parse_range,
        "geo_bounding_box": _parse_geo_box,
        "geo_radius": _parse_geo_radius,
        "geo_polygon": _parse_geo_polygon,
    }
    return _FieldCondition(key, parsers[kind](raw, here))


def _parse_match(raw: object, where: str) -> ValueTest:
    obj = _object(raw, where, "an object with one of value/text/phrase/any/except")
    _only_fields(obj, _MATCH_KINDS, where)
    kinds = [k for k in _MATCH_KINDS if k in obj]
    if len(kinds) != 1:
        raise BadRequest(f"{where}: expected exactly one of value, text, phrase, any, except")
    kind = kinds[0]
    value, here = obj[kind], f"{where}.{kind}"
    if kind == "value":
        if not (isinstance(value, (str, bool)) or _is_int64(value)):
            raise BadRequest(f"{here}: expected a string, a 64-bit integer or a boolean")
        return _match_value_test(value)
    if kind in ("text", "phrase"):
        if not isinstance(value, str):
            raise BadRequest(f"{here}: expected a string")
        return _substring_test(value)
    options = _parse_options(value, here)
    return _match_any_test(options) if kind == "any" else _match_except_test(options)


def _parse_options(raw: object, where: str) -> frozenset[str | int]:
    if not isinstance(raw, list):
        raise BadRequest(f"{where}: expected an array of strings or of integers")
    if not (all(isinstance(v, str) for v in raw) or all(_is_int64(v) for v in raw)):
        raise BadRequest(f"{where}: expected all strings or all 64-bit integers")
    return frozenset(raw)


def _parse_range(raw: object, where: str) -> ValueTest:
    expected = "an object with gt/gte/lt/lte"
    obj = _object(raw, where, expected)
    _only_fields(obj, _BOUNDS, where)
    bounds = {k: v for k, v in obj.items() if v is not None}
    if not bounds:
        raise BadRequest(f"{where}: expected {expected} (at least one bound)")
    if all(isinstance(v, str) for v in bounds.values()):
        moments = {}
        for name, text in bounds.items():
            moment = parse_datetime(text)
            if moment is None:
                raise BadRequest(f"{where}.{name}: {text!r} is not an RFC 3339 datetime")
            moments[name] = moment
        return _datetime_range_test(moments)
    for name, value in bounds.items():
        if not _is_finite_number(value):
            raise BadRequest(
                f"{where}.{name}: expected a number (or every bound an RFC 3339 datetime string)"
            )
    return _numeric_range_test(bounds)


def _parse_count_bounds(raw: object, where: str) -> dict[str, int]:
    expected = "an object with gt/gte/lt/lte"
    obj = _object(raw, where, expected)
    _only_fields(obj, _BOUNDS, where)
    bounds = {k: v for k, v in obj.items() if v is not None}
    if not bounds:
        raise BadRequest(f"{where}: expected {expected} (at least one bound)")
    for name, value in bounds.items():
        if not _is_int(value) or value < 0:
            raise BadRequest(f"{where}.{name}: expected a non-negative integer")
    return bounds


def _parse_geo_point(raw: object, where: str) -> tuple[float, float]:
    obj = _object(raw, where, "a geo point {lon, lat}")
    _only_fields(obj, ("lon", "lat"), where)
    for name, limit in (("lat", 90), ("lon", 180)):
        value = obj.get(name)
        if not _is_finite_number(value):
            raise BadRequest(f"{where}.{name}: expected a number")
        if not -limit <= value <= limit:
            raise BadRequest(f"{where}.{name}: {value} is outside [-{limit}, {limit}]")
    return float(obj["lat"]), float(obj["lon"])


def _parse_geo_box(raw: object, where: str) -> ValueTest:
    obj = _object(raw, where, "an object with top_left and bottom_right")
    _only_fields(obj, ("top_left", "bottom_right"), where)
    top, left = _parse_geo_point(obj.get("top_left"), f"{where}.top_left")
    bottom, right = _parse_geo_point(obj.get("bottom_right"), f"{where}.bottom_right")
    return _geo_box_test(top, left, bottom, right)


def _parse_geo_radius(raw: object, where: str) -> ValueTest:
    obj = _object(raw, where, "an object with center and radius")
    _only_fields(obj, ("center", "radius"), where)
    lat, lon = _parse_geo_point(obj.get("center"), f"{where}.center")
    radius = obj.get("radius")
    if not _is_finite_number(radius):
        raise BadRequest(f"{where}.radius: expected a number of metres")
    if radius < 0:
        raise BadRequest(f"{where}.radius: must not be negative, got {radius}")
    return _geo_radius_test(lat, lon, float(radius))


def _parse_geo_polygon(raw: object, where: str) -> ValueTest:
    obj = _object(raw, where, "an object with exterior and optional interiors")
    _only_fields(obj, ("exterior", "interiors"), where)
    exterior = _parse_ring(obj.get("exterior"), f"{where}.exterior")
    interiors_raw = obj.get("interiors")
    if interiors_raw is None:
        interiors_raw = []
    if not isinstance(interiors_raw, list):
        raise BadRequest(f"{where}.interiors: expected an array of line strings")
    interiors = [_parse_ring(r, f"{where}.interiors[{i}]") for i, r in enumerate(interiors_raw)]
    return _geo_polygon_test(exterior, interiors)


def _parse_ring(raw: object, where: str) -> Ring:
    obj = _object(raw, where, 'a line string {"points": [...]}')
    _only_fields(obj, ("points",), where)
    points = obj.get("points")
    if not isinstance(points, list):
        raise BadRequest(f"{where}.points: expected an array of geo points")
    ring = [_parse_geo_point(p, f"{where}.points[{i}]") for i, p in enumerate(points)]
    if len(ring) < 4:
        raise BadRequest(f"{where}.points: a polygon ring needs at least 4 points, got {len(ring)}")
    if ring[0] != ring[-1]:
        raise BadRequest(f"{where}.points: the ring is not closed (first point != last point)")
    return ring[:-1]


# ---------------------------------------------------------------- small validators


def _object(raw: object, where: str, expected: str) -> dict:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: expected {expected}, got {_json_type(raw)}")
    return raw


def _only_fields(obj: dict, allowed: tuple[str, ...], where: str) -> None:
    for name in obj:
        if name not in allowed:
            raise BadRequest(
                f"{where}: unknown field {name!r}; expected one of {', '.join(allowed)}"
            )


def _key(raw: object, where: str) -> str:
    if not isinstance(raw, str):
        raise BadRequest(f"{where}: expected a payload key (string)")
    try:
        parse_key(raw)
    except BadRequest as exc:
        raise BadRequest(f"{where}: {exc}") from None
    return raw


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_int64(value: object) -> bool:
    return _is_int(value) and _INT64[0] <= value <= _INT64[1]


def _is_finite_number(value: object) -> bool:
    return _is_real(value) and math.isfinite(value)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return type(value).__name__
