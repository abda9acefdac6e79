"""Qdrant's filter as typed values: a Filter of clauses, each a list of Conditions.

A Condition is one Struct with every kind's fields (a JSON condition is told apart by which
fields it has, which msgspec's tagged unions cannot express); `__post_init__` checks that one
kind is present (`kind()` says which). Checks that msgspec's types cannot state (exactly one
match kind, a closed polygon ring, an RFC 3339 datetime) run there too, so a decoded filter is a
valid filter.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import Meta
from msgspec.structs import astuple

from node.engine.datetimes import parse_datetime
from node.engine.ids import PointId, normalize_point_id
from node.engine.payload_path import parse_key
from node.errors import BadRequest
from node.model.decode import invalid

Int64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
NonNegative = Annotated[int, Meta(ge=0)]
Number = int | float

_STRICT = {"forbid_unknown_fields": True, "omit_defaults": True}
_BOUNDS = ("gt", "gte", "lt", "lte")
# Match's fields, in order.
_MATCH_KINDS = ("value", "text", "text_any", "phrase", "prefix", "any", "except")
MatchKind = Literal["value", "text", "text_any", "phrase", "prefix", "any", "except"]


def check_key(key: str, where: str = "key") -> None:
    """A payload key must parse as a path (`a.b[].c`)."""
    try:
        parse_key(key)
    except BadRequest as exc:
        raise invalid(where, str(exc)) from None


class Match(msgspec.Struct, dict=True, **_STRICT):
    value: str | Int64 | bool | None = None
    text: str | None = None
    text_any: str | None = None
    phrase: str | None = None
    prefix: str | None = None
    any: list[str | Int64] | None = None
    except_: list[str | Int64] | None = msgspec.field(default=None, name="except")

    def __post_init__(self) -> None:
        given = [name for name, v in zip(_MATCH_KINDS, astuple(self), strict=True)
                 if v is not None]
        if len(given) != 1:
            raise ValueError(f"expected exactly one of {', '.join(_MATCH_KINDS)}")
        self._kind = given[0]
        options = self.any if self.any is not None else self.except_
        if options is not None and len({type(v) for v in options}) > 1:
            raise invalid(given[0], "expected all strings or all 64-bit integers")

    def kind(self) -> MatchKind:
        return self._kind


class Range(msgspec.Struct, dict=True, **_STRICT):
    """Numbers, or (every bound) RFC 3339 datetimes."""

    gt: Number | str | None = None
    gte: Number | str | None = None
    lt: Number | str | None = None
    lte: Number | str | None = None

    def __post_init__(self) -> None:
        bounds = {name: v for name, v in zip(_BOUNDS, astuple(self), strict=True)
                  if v is not None}
        if not bounds:
            raise ValueError("expected an object with gt/gte/lt/lte (at least one bound)")
        self._bounds = bounds
        texts = [name for name, v in bounds.items() if isinstance(v, str)]
        self._datetime = bool(texts)
        if not texts:
            for name, value in bounds.items():
                if isinstance(value, float) and not math.isfinite(value):
                    raise invalid(name, "expected a finite number")
            return
        if len(texts) != len(bounds):
            name = next(n for n in bounds if n not in texts)
            raise invalid(name, "expected a number (or every bound an RFC 3339 datetime string)")
        for name in texts:
            if parse_datetime(bounds[name]) is None:
                raise invalid(name, f"{bounds[name]!r} is not an RFC 3339 datetime")

    def bounds(self) -> dict[str, Number | str]:
        return self._bounds

    def is_datetime(self) -> bool:
        return self._datetime

    def moments(self) -> dict[str, datetime]:
        return {name: parse_datetime(v) for name, v in self._bounds.items()}  # type: ignore


class ValuesCount(msgspec.Struct, **_STRICT):
    gt: NonNegative | None = None
    gte: NonNegative | None = None
    lt: NonNegative | None = None
    lte: NonNegative | None = None

    def __post_init__(self) -> None:
        if not self.bounds():
            raise ValueError("expected an object with gt/gte/lt/lte (at least one bound)")

    def bounds(self) -> dict[str, int]:
        return {name: v for name in _BOUNDS if (v := getattr(self, name)) is not None}


class GeoPoint(msgspec.Struct, **_STRICT):
    lon: Annotated[float, Meta(ge=-180, le=180)]
    lat: Annotated[float, Meta(ge=-90, le=90)]


class GeoBoundingBox(msgspec.Struct, **_STRICT):
    top_left: GeoPoint
    bottom_right: GeoPoint


class GeoRadius(msgspec.Struct, **_STRICT):
    center: GeoPoint
    radius: Annotated[float, Meta(ge=0)]


class LineString(msgspec.Struct, **_STRICT):
    points: list[GeoPoint]

    def __post_init__(self) -> None:
        if len(self.points) < 4:
            raise invalid("points", "a polygon ring needs at least 4 points, "
                          f"got {len(self.points)}")
        first, last = self.points[0], self.points[-1]
        if (first.lat, first.lon) != (last.lat, last.lon):
            raise invalid("points", "the ring is not closed (first point != last point)")

    def ring(self) -> list[tuple[float, float]]:
        """(lat, lon) vertices without the repeated closing one."""
        return [(p.lat, p.lon) for p in self.points[:-1]]


class GeoPolygon(msgspec.Struct, **_STRICT):
    exterior: LineString
    interiors: list[LineString] | None = None


class KeyRef(msgspec.Struct, **_STRICT):
    """The `{"key": ...}` of the is_empty / is_null conditions."""

    key: str

    def __post_init__(self) -> None:
        check_key(self.key)


class Nested(msgspec.Struct, **_STRICT):
    key: str
    filter: Filter

    def __post_init__(self) -> None:
        check_key(self.key)


UInt32 = Annotated[int, Meta(ge=0, le=2**32 - 1)]


class Slice(msgspec.Struct, **_STRICT):
    """One of `total` disjoint slices of the id space (see node/engine/id_slices.py)."""

    total: Annotated[int, Meta(ge=1, le=2**32 - 1)]
    index: UInt32

    def __post_init__(self) -> None:
        if self.index >= self.total:
            raise invalid("index", f"expected an index below total ({self.total}), "
                          f"got {self.index}")


class MinShould(msgspec.Struct, **_STRICT):
    conditions: list[Condition]
    min_count: Annotated[int, Meta(ge=1)]  # Qdrant's schema: at least one must hold


_FIELD_KINDS = ("match", "range", "geo_bounding_box", "geo_radius", "geo_polygon",
                "values_count", "is_empty", "is_null")
_FILTER_FIELDS = ("must", "should", "must_not", "min_should")
_STANDALONE = ("is_empty", "is_null", "has_id", "has_vector", "slice", "nested")
# Condition's fields in their declared order (astuple gives the values in it).
_ALL = ("key", *_FIELD_KINDS, "has_id", "has_vector", "slice", "nested", *_FILTER_FIELDS)


class Condition(msgspec.Struct, dict=True, **_STRICT):
    """One condition of a clause; `kind()` says which: field, is_empty, is_null, has_id,
    has_vector, slice, nested or filter (a filter inside a clause). The kinds are found once,
    when the condition is built, and kept beside the fields (dict=True), never decoded."""

    key: str | None = None
    match: Match | None = None
    range: Range | None = None
    geo_bounding_box: GeoBoundingBox | None = None
    geo_radius: GeoRadius | None = None
    geo_polygon: GeoPolygon | None = None
    values_count: ValuesCount | None = None
    is_empty: bool | KeyRef | None = None
    is_null: bool | KeyRef | None = None
    has_id: list[int | str] | None = None
    has_vector: str | None = None
    slice: Slice | None = None
    nested: Nested | None = None
    must: list[Condition] | Condition | None = None
    should: list[Condition] | Condition | None = None
    must_not: list[Condition] | Condition | None = None
    min_should: MinShould | None = None

    def __post_init__(self) -> None:
        values = astuple(self)
        if self.key is not None and values.count(None) == len(_ALL) - 2:
            # The common case first: a key and one test that needs no more checking.
            for i in range(1, 7):  # match, range, geo_*, values_count
                if values[i] is not None:
                    check_key(self.key)
                    self._kind, self._field_kind = "field", _ALL[i]
                    return
        present = [name for name, v in zip(_ALL, values, strict=True) if v is not None]
        if self.key is not None:
            self._field_condition(present)
            return
        kind = present[0] if present else "must"
        if kind in _FILTER_FIELDS:
            _only(present, _FILTER_FIELDS)
            self.must, self.should, self.must_not = (
                as_list(self.must), as_list(self.should), as_list(self.must_not))
            self._kind = "filter"
            return
        _only(present, (kind,) if kind in _STANDALONE else ())
        self._kind = kind
        if kind in ("is_empty", "is_null") and not isinstance(getattr(self, kind), KeyRef):
            raise invalid(kind, 'expected an object {"key": ...} (or use it beside `key`)')
        if kind == "has_id":
            self.has_id = normalized_ids(self.has_id, "has_id")

    def kind(self) -> str:
        """field, is_empty, is_null, has_id, has_vector, slice, nested or filter (a filter
        inside a clause)."""
        return self._kind

    def field_kind(self) -> str:
        """Which test a field condition runs: match, range, geo_*, values_count, ..."""
        return self._field_kind

    def _field_condition(self, present: list[str]) -> None:
        check_key(self.key)
        _only(present, ("key", *_FIELD_KINDS))
        if len(present) != 2:
            kinds = present[1:]
            found = f"got {', '.join(kinds)}" if kinds else "got none"
            raise ValueError(f"a field condition needs exactly one of {', '.join(_FIELD_KINDS)}"
                             f" ({found})")
        kind = present[1]
        if kind in ("is_empty", "is_null") and not isinstance(getattr(self, kind), bool):
            raise invalid(kind, "expected true or false beside `key`")
        self._kind, self._field_kind = "field", kind


class Filter(msgspec.Struct, **_STRICT):
    """`must` / `should` / `must_not` take one condition or a list (kept as a list)."""

    must: list[Condition] | Condition | None = None
    should: list[Condition] | Condition | None = None
    must_not: list[Condition] | Condition | None = None
    min_should: MinShould | None = None

    def __post_init__(self) -> None:
        self.must, self.should, self.must_not = (
            as_list(self.must), as_list(self.should), as_list(self.must_not))

    def as_condition(self) -> Condition:
        return Condition(must=self.must, should=self.should, must_not=self.must_not,
                         min_should=self.min_should)


def as_list(clause: list[Condition] | Condition | None) -> list[Condition] | None:
    return [clause] if isinstance(clause, Condition) else clause


def normalized_id(raw: int | str, where: str = "id") -> PointId:
    """A point id in its canonical form (a UUID lower-case, hyphenated)."""
    try:
        return normalize_point_id(raw)
    except BadRequest as exc:
        raise invalid(where, str(exc)) from None


def normalized_ids(raw: list[int | str], where: str) -> list[PointId]:
    return [normalized_id(item, f"{where}[{i}]") for i, item in enumerate(raw)]


def _only(present: list[str], allowed: tuple[str, ...]) -> None:
    for name in present:
        if name not in allowed:
            raise ValueError(f"unexpected field `{name}` here; a condition holds one of: "
                             "a field condition (key with match/range/geo_*/values_count/"
                             "is_empty/is_null), is_empty, is_null, has_id, has_vector, "
                             "slice, nested, or a filter (must/should/must_not/min_should)")
