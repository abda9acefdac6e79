"""Qdrant filters: a decoded Filter (node/model) compiled into small condition objects, run
per point.

Semantics follow qdrant-client 1.20's local mode, the reference this project checks itself
against, which follows Qdrant's server:
- values are typed: `match` never takes true for 1, nor a float payload value for any operand;
  a range takes numbers only (not booleans); `except` needs a present, non-null value;
- text, text_any and phrase read both sides through the field's text analyzer: the one of its
  `text` payload index, else lower-case words (runs of letters and digits); text wants every
  query token, text_any one, phrase all in a row; prefix is a case-sensitive `startswith`;
- an array selected by a key is unwrapped one level, arrays inside it stay single values;
- values_count needs one value whose count meets every bound (a null counts 0, a missing key
  is one count of 0); is_empty holds for no values or only null/[]; is_null for a null value
  or an array holding a null;
- a geo point has finite numeric lat and lon; a bounding box excludes its borders;
- `nested` looks at the objects of the array at its key (`key` or `key[]`), where id, slice
  and vector conditions never match;
- an empty `should` list constrains nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Protocol

from node.engine.datetimes import parse_datetime
from node.engine.id_slices import slice_of
from node.engine.ids import PointId
from node.engine.payload_path import ParsedKey, parse_key, values_at
from node.engine.text_analyzer import DEFAULT_ANALYZER, TextAnalyzer
from node.model.filters import (
    Condition,
    Filter,
    GeoBoundingBox,
    GeoPolygon,
    GeoRadius,
    Match,
    Range,
)

HasVector = Callable[[str], bool]
ValueTest = Callable[[object], bool]

# Mean earth radius in metres (IUGG), the one Qdrant's haversine uses.
EARTH_RADIUS_M = 6371008.8

_BOUNDS = ("gt", "gte", "lt", "lte")

# Index hints whose candidates are exactly the condition's matches (on a fresh index). A text
# hint is wider: the index pools the tokens of all strings of a point and keeps no order.
EXACT_HINTS = ("values", "range")


def _never_has_vector(_name: str) -> bool:
    return False


class _Condition(Protocol):
    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool: ...

    def read_keys(self) -> Iterable[str]: ...

    def count(self) -> int: ...


class CompiledFilter:
    """A compiled filter; `matches` decides one point."""

    def __init__(
        self,
        must: list[_Condition],
        should: list[_Condition] | None,
        must_not: list[_Condition],
        min_should: tuple[list[_Condition], int] | None,
    ) -> None:
        self.source: Filter | None = None
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
                    and c.index_hint[0] in EXACT_HINTS for c in self._must)
        )

    def with_text_indexes(self, analyzers: Mapping[str, TextAnalyzer]) -> CompiledFilter:
        """This filter with its text conditions on the keys of `analyzers` (text-indexed
        fields) reading through those analyzers; itself when none is concerned."""
        if self.source is None or not analyzers or analyzers.keys().isdisjoint(
                self.text_keys()):
            return self
        bound = _compile_filter(self.source, _Context(analyzers))
        bound.source = self.source
        return bound

    def text_keys(self) -> set[str]:
        """Keys (nested ones as `outer[].inner`) that text conditions of the filter read."""
        return set(self.read_text_keys())

    def read_text_keys(self) -> Iterator[str]:
        for condition in self._all_conditions():
            yield from getattr(condition, "read_text_keys", tuple)()

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
        # An empty `should` list states no alternative, so it constrains nothing.
        if self._should and not any(
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

    def __init__(self, key: str, value_test: ValueTest, reads_text: bool = False) -> None:
        self._key = key
        self._path = parse_key(key)
        self._value_test = value_test
        self._reads_text = reads_text
        self.key = key
        self.index_hint: tuple | None = getattr(value_test, "index_hint", None)

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        return any(self._value_test(v) for v in field_values(payload, self._path))

    def read_keys(self) -> Iterable[str]:
        yield self._key

    def read_text_keys(self) -> Iterable[str]:
        if self._reads_text:
            yield self._key

    def count(self) -> int:
        return 1


def field_values(payload: object, path: ParsedKey) -> list[object]:
    """The values a condition tests: whatever the key selects, a selected array unwrapped one
    level (also through `a[]` or `a[0]`, as Qdrant does)."""
    found: list[object] = []
    for value in values_at(payload, path, expand_last=False):
        if isinstance(value, list):
            found.extend(value)
        else:
            found.append(value)
    return found


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


class _InSlice:
    def __init__(self, total: int, index: int) -> None:
        self._total = total
        self._index = index

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        return point_id is not None and slice_of(point_id, self._total) == self._index

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


def nested_prefix(key: str) -> str:
    """How keys inside a `nested` condition on `key` are named outside it: `key[]`."""
    return key if key.endswith("[]") else f"{key}[]"


class _Nested:
    """The inner filter must hold for one single element of the array at the key."""

    def __init__(self, key: str, inner: CompiledFilter) -> None:
        self._key = key
        # `items` and `items[]` name the same array.
        self._path = parse_key(key[:-2] if len(key) > 2 and key.endswith("[]") else key)
        self._inner = inner

    def test(self, point_id: PointId | None, payload: object, has_vector: HasVector) -> bool:
        # Elements are judged on their own: no point id, no vectors (as the reference does).
        return any(
            self._inner.test(None, element, _never_has_vector)
            for element in self._elements(payload)
        )

    def _elements(self, payload: object) -> Iterator[dict]:
        # Only the objects of an array: a lone object or a scalar has no elements to test.
        for value in values_at(payload, self._path, expand_last=False):
            if isinstance(value, list):
                yield from (element for element in value if isinstance(element, dict))

    def read_keys(self) -> Iterable[str]:
        prefix = nested_prefix(self._key)
        for inner_key in self._inner.read_keys():
            yield f"{prefix}.{inner_key}"

    def read_text_keys(self) -> Iterable[str]:
        prefix = nested_prefix(self._key)
        for inner_key in self._inner.read_text_keys():
            yield f"{prefix}.{inner_key}"

    def count(self) -> int:
        return self._inner.count() + 1


# ---------------------------------------------------------------- value tests


def _is_empty(values: list[object]) -> bool:
    return all(v is None or v == [] for v in values)


def _is_null(values: list[object]) -> bool:
    # One level deep: [null] holds a null, [[null]] does not.
    return any(v is None or (isinstance(v, list) and None in v) for v in values)


def _count_of(value: object) -> int:
    if value is None:
        return 0
    return len(value) if isinstance(value, list) else 1


def _values_count_test(bounds: dict[str, int]) -> Callable[[list[object]], bool]:
    gt, gte, lt, lte = (bounds.get(b) for b in _BOUNDS)

    def test(values: list[object]) -> bool:
        # No values (a missing key) counts as one count of 0, as does a key of only nulls.
        counts = [_count_of(v) for v in values] or [0]
        return any(
            (gt is None or n > gt)
            and (gte is None or n >= gte)
            and (lt is None or n < lt)
            and (lte is None or n <= lte)
            for n in counts
        )

    return test


def _is_number(value: object) -> bool:
    # bool is an int in Python, but true and false are not numbers in Qdrant.
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


def same_value(value: object, operand: str | int | bool) -> bool:
    """Qdrant's typed equality of a payload value and a match operand: bool, integer and float
    are distinct types (and no operand is a float, so a float value never matches)."""
    if isinstance(value, (bool, float)) or isinstance(operand, bool):
        return type(value) is type(operand) and value == operand
    return value == operand


def _match_value_test(target: str | int | bool) -> ValueTest:
    return _with_hint(lambda value: same_value(value, target), ("values", frozenset([target])))


def _match_any_test(options: frozenset[str | int]) -> ValueTest:
    # Operands of one `any` are all strings or all integers, never booleans.
    def test(value: object) -> bool:
        return type(value) in (str, int) and value in options

    return _with_hint(test, ("values", options))


def _match_except_test(options: frozenset[str | int]) -> ValueTest:
    # A null is no value at all, so it is not "a value other than these".
    def test(value: object) -> bool:
        return value is not None and not (type(value) in (str, int) and value in options)

    return test


def _text_test(query: str, analyzer: TextAnalyzer) -> ValueTest:
    wanted = set(analyzer.query_tokens(query))

    def test(value: object) -> bool:
        return (bool(wanted) and isinstance(value, str)
                and wanted.issubset(analyzer.document_tokens(value)))

    return test


def _text_any_test(query: str, analyzer: TextAnalyzer) -> ValueTest:
    wanted = set(analyzer.query_tokens(query))
    return lambda value: (isinstance(value, str)
                          and not wanted.isdisjoint(analyzer.document_tokens(value)))


def _phrase_test(query: str, analyzer: TextAnalyzer) -> ValueTest:
    # A phrase is read as a stored text is (stopwords dropped, every prefix with `prefix`).
    phrase = analyzer.document_tokens(query)
    size = len(phrase)

    def test(value: object) -> bool:
        if not phrase or not isinstance(value, str):
            return False
        found = analyzer.document_tokens(value)
        return any(found[i : i + size] == phrase for i in range(len(found) - size + 1))

    return test


def _prefix_test(prefix: str) -> ValueTest:
    return lambda value: isinstance(value, str) and value.startswith(prefix)


def _geo_of(value: object) -> tuple[float, float] | None:
    """(lat, lon) of a payload geo point, None for anything else."""
    if not isinstance(value, dict):
        return None
    lat, lon = value.get("lat"), value.get("lon")
    if type(lat) not in (int, float) or type(lon) not in (int, float):  # bool is no coordinate
        return None
    try:
        point = float(lat), float(lon)
    except OverflowError:  # an integer too large for a float
        return None
    return point if math.isfinite(point[0]) and math.isfinite(point[1]) else None


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
        # The borders are outside the box.
        if not bottom < lat < top:
            return False
        if crosses_antimeridian:
            return lon > left or lon < right
        return left < lon < right

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


# ---------------------------------------------------------------- compiling


class _Context:
    """What compiling needs beyond the filter: the analyzers of text-indexed keys, and the key
    prefix of the `nested` condition being compiled (inner keys are relative to it)."""

    def __init__(self, analyzers: Mapping[str, TextAnalyzer], prefix: str = "") -> None:
        self._analyzers = analyzers
        self._prefix = prefix

    def analyzer(self, key: str) -> TextAnalyzer | None:
        """The analyzer of the text index on `key`, None for a key without one."""
        return self._analyzers.get(self._prefix + key)

    def nested(self, key: str) -> _Context:
        return _Context(self._analyzers, f"{self._prefix}{nested_prefix(key)}.")


_UNINDEXED = _Context({})


def compile_filter(source: Filter | None) -> CompiledFilter | None:
    """The evaluator of a decoded (so already valid) filter; None when there is none. Its text
    conditions read every field as unindexed until bound with `with_text_indexes`."""
    if source is None:
        return None
    compiled = _compile_filter(source, _UNINDEXED)
    compiled.source = source  # what travels to a peer, which compiles it again
    return compiled


def _compile_filter(source: Filter | Condition, ctx: _Context) -> CompiledFilter:
    min_should = None
    if source.min_should is not None:
        min_should = ([_compile_condition(c, ctx) for c in source.min_should.conditions],
                      source.min_should.min_count)
    return CompiledFilter(
        must=_compile_clause(source.must, ctx) or [],
        should=_compile_clause(source.should, ctx),
        must_not=_compile_clause(source.must_not, ctx) or [],
        min_should=min_should,
    )


def _compile_clause(clause: list[Condition] | None, ctx: _Context) -> list[_Condition] | None:
    return None if clause is None else [_compile_condition(c, ctx) for c in clause]


def _compile_condition(condition: Condition, ctx: _Context) -> _Condition:
    kind = condition.kind()
    if kind == "field":
        return _compile_field_condition(condition, ctx)
    if kind in ("is_empty", "is_null"):
        ref = getattr(condition, kind)
        return _RawValuesCondition(ref.key, _is_empty if kind == "is_empty" else _is_null)
    if kind == "has_id":
        return _HasId(frozenset(condition.has_id))
    if kind == "has_vector":
        return _HasVector(condition.has_vector)
    if kind == "slice":
        return _InSlice(condition.slice.total, condition.slice.index)
    if kind == "nested":
        key = condition.nested.key
        return _Nested(key, _compile_filter(condition.nested.filter, ctx.nested(key)))
    return _compile_filter(condition, ctx)


def _compile_field_condition(condition: Condition, ctx: _Context) -> _Condition:
    key, kind = condition.key, condition.field_kind()
    if kind in ("is_empty", "is_null"):
        inner = _RawValuesCondition(key, _is_empty if kind == "is_empty" else _is_null)
        return inner if getattr(condition, kind) else _Negated(inner)
    if kind == "values_count":
        return _RawValuesCondition(key, _values_count_test(condition.values_count.bounds()))
    if kind == "match" and condition.match.kind() in _TEXT_TESTS:
        return _FieldCondition(key, _text_match_test(condition.match, ctx.analyzer(key)),
                               reads_text=True)
    return _FieldCondition(key, _VALUE_TEST_COMPILERS[kind](getattr(condition, kind)))


def _compile_match(match: Match) -> ValueTest:
    kind = match.kind()
    if kind == "value":
        return _match_value_test(match.value)
    if kind == "prefix":
        return _prefix_test(match.prefix)
    if kind == "any":
        return _match_any_test(frozenset(match.any))
    return _match_except_test(frozenset(match.except_))


def _text_match_test(match: Match, index_analyzer: TextAnalyzer | None) -> ValueTest:
    """A text, text_any or phrase test; on a text-indexed field it reads through the index's
    analyzer and names the tokens the index's postings can narrow the points down to."""
    kind = match.kind()
    query = getattr(match, kind)
    analyzer = index_analyzer or DEFAULT_ANALYZER
    test = _TEXT_TESTS[kind](query, analyzer)
    if index_analyzer is None:
        return test
    if kind == "text_any":
        return _with_hint(test, ("text_any", frozenset(analyzer.query_tokens(query))))
    tokens = analyzer.document_tokens(query) if kind == "phrase" else analyzer.query_tokens(query)
    return _with_hint(test, ("text_all", frozenset(tokens)))


def _compile_range(bounds: Range) -> ValueTest:
    if bounds.is_datetime():
        return _datetime_range_test(bounds.moments())
    return _numeric_range_test(bounds.bounds())


def _compile_geo_box(box: GeoBoundingBox) -> ValueTest:
    return _geo_box_test(box.top_left.lat, box.top_left.lon, box.bottom_right.lat,
                         box.bottom_right.lon)


def _compile_geo_radius(radius: GeoRadius) -> ValueTest:
    return _geo_radius_test(radius.center.lat, radius.center.lon, radius.radius)


def _compile_geo_polygon(polygon: GeoPolygon) -> ValueTest:
    return _geo_polygon_test(polygon.exterior.ring(),
                             [ring.ring() for ring in polygon.interiors or ()])


# Full-text conditions: they read through the analyzer of their field.
_TEXT_TESTS: dict[str, Callable[[str, TextAnalyzer], ValueTest]] = {
    "text": _text_test,
    "text_any": _text_any_test,
    "phrase": _phrase_test,
}

_VALUE_TEST_COMPILERS: dict[str, Callable[[object], ValueTest]] = {
    "match": _compile_match,
    "range": _compile_range,
    "geo_bounding_box": _compile_geo_box,
    "geo_radius": _compile_geo_radius,
    "geo_polygon": _compile_geo_polygon,
}
