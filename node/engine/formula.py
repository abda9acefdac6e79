"""Score formulas (`query: {"formula": ...}`): an expression over prefetch scores, payload
values and conditions, evaluated for each candidate point a prefetch returned.

The expression arrives as a tree of the node classes below (the edge builds it); evaluation
follows Qdrant's reference semantics: a payload variable takes the point's value (a one-element
array counts as its element) or else the formula's `defaults`; `$score[i]` is the point's score
in prefetch i, else the default, else 0; a result that is not a finite number is an error of
the request, never a silent NaN.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from node.engine.filters import CompiledFilter, haversine_m, parse_datetime
from node.engine.ids import PointId
from node.engine.payload_path import values_at
from node.engine.text_analyzer import TextAnalyzer
from node.errors import BadRequest

HasVector = Callable[[str], bool]


@dataclass(frozen=True)
class Candidate:
    """What an expression may read of one point."""

    point_id: PointId
    payload: dict
    scores: Sequence[float | None]  # its score in each prefetch, None where it was not found
    has_vector: HasVector


class Expression:
    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        raise NotImplementedError


@dataclass(frozen=True)
class Constant(Expression):
    number: float

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        return self.number


@dataclass(frozen=True)
class Score(Expression):
    """`$score` (prefetch 0) or `$score[i]`; `name` is the spelling a default is keyed by."""

    prefetch: int
    name: str

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        if self.prefetch < len(point.scores) and point.scores[self.prefetch] is not None:
            return float(point.scores[self.prefetch])
        default = defaults.get(self.name)
        return _number(default, self.name) if default is not None else 0.0


@dataclass(frozen=True)
class PayloadValue(Expression):
    key: str

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        return _number(payload_value(point.payload, self.key, defaults), self.key)


@dataclass(frozen=True)
class Condition(Expression):
    """A filter condition: 1 where the point matches it, else 0."""

    condition: CompiledFilter

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        return 1.0 if self.condition.matches(point.point_id, point.payload,
                                             point.has_vector) else 0.0


@dataclass(frozen=True)
class Product(Expression):
    factors: tuple[Expression, ...]

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        result = 1.0
        for factor in self.factors:
            number = factor.value(point, defaults)
            if number == 0.0:
                return 0.0  # the remaining factors are not evaluated (nor can they fail)
            result *= number
        return _finite(result, "mult")


@dataclass(frozen=True)
class Sum(Expression):
    terms: tuple[Expression, ...]

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        return _finite(math.fsum(t.value(point, defaults) for t in self.terms), "sum")


@dataclass(frozen=True)
class Unary(Expression):
    """neg, abs, sqrt, exp, log10 and ln of one expression."""

    op: str
    inner: Expression

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        x = self.inner.value(point, defaults)
        if self.op == "neg":
            return -x
        if self.op == "abs":
            return abs(x)
        if self.op == "sqrt" and x >= 0:
            return math.sqrt(x)
        if self.op == "exp" and x < 709.78:  # above it e^x overflows a double
            return math.exp(x)
        if self.op == "log10" and x > 0:
            return math.log10(x)
        if self.op == "ln" and x > 0:
            return math.log(x)
        raise _not_finite(f"{self.op}({x})")


@dataclass(frozen=True)
class Division(Expression):
    left: Expression
    right: Expression
    by_zero_default: float | None

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        left = self.left.value(point, defaults)
        if left == 0.0:
            return 0.0
        right = self.right.value(point, defaults)
        if right == 0.0:
            if self.by_zero_default is not None:
                return self.by_zero_default
            raise _not_finite(f"{left}/{right}")
        return _finite(left / right, f"{left}/{right}")


@dataclass(frozen=True)
class Power(Expression):
    base: Expression
    exponent: Expression

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        base = self.base.value(point, defaults)
        exponent = self.exponent.value(point, defaults)
        # A negative base has a real power only for an integer exponent.
        if base >= 0 or (base != 0 and float(exponent).is_integer()):
            try:
                return _finite(math.pow(base, exponent), f"{base}^{exponent}")
            except (OverflowError, ZeroDivisionError, ValueError):
                pass
        raise _not_finite(f"{base}^{exponent}")


@dataclass(frozen=True)
class GeoDistance(Expression):
    """Metres from a fixed origin to the geo point stored under `key`."""

    lat: float
    lon: float
    key: str

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        found = payload_value(point.payload, self.key, defaults)
        if isinstance(found, dict):
            lat, lon = found.get("lat"), found.get("lon")
            if _is_number(lat) and _is_number(lon):
                return haversine_m(self.lat, self.lon, float(lat), float(lon))
        raise BadRequest(f"expected a geo point for {self.key} in the payload or in the "
                         "formula defaults")


@dataclass(frozen=True)
class DatetimeValue(Expression):
    """A datetime stored under `key`, as seconds since the epoch."""

    key: str

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        found = payload_value(point.payload, self.key, defaults)
        moment = parse_datetime(found) if isinstance(found, str) else None
        if moment is None:
            raise BadRequest(f"expected a datetime for {self.key} in the payload or in the "
                             "formula defaults")
        return moment.timestamp()


@dataclass(frozen=True)
class Decay(Expression):
    """lin_decay, exp_decay and gauss_decay: 1 at `target`, `midpoint` at `scale` from it."""

    kind: str
    x: Expression
    target: Expression | None
    midpoint: float
    scale: float

    def value(self, point: Candidate, defaults: Mapping[str, object]) -> float:
        x = self.x.value(point, defaults)
        target = 0.0 if self.target is None else self.target.value(point, defaults)
        diff = abs(x - target)
        if self.kind == "lin_decay":
            return max(0.0, 1.0 - (1.0 - self.midpoint) / self.scale * diff)
        if self.kind == "exp_decay":
            return math.exp(math.log(self.midpoint) / self.scale * diff)
        return math.exp(math.log(self.midpoint) / (self.scale * self.scale) * diff * diff)


def with_text_indexes(expression: Expression,
                      analyzers: Mapping[str, TextAnalyzer]) -> Expression:
    """The expression with the full-text matches of its conditions reading text-indexed
    fields through their index's analyzer."""
    if isinstance(expression, Condition):
        return Condition(expression.condition.with_text_indexes(analyzers))
    if not analyzers or not dataclasses.is_dataclass(expression):
        return expression
    changes: dict[str, object] = {}
    for field in dataclasses.fields(expression):
        value = getattr(expression, field.name)
        if isinstance(value, Expression):
            changes[field.name] = with_text_indexes(value, analyzers)
        elif isinstance(value, tuple) and any(isinstance(v, Expression) for v in value):
            changes[field.name] = tuple(
                with_text_indexes(v, analyzers) if isinstance(v, Expression) else v
                for v in value)
    return dataclasses.replace(expression, **changes) if changes else expression


def payload_value(payload: dict, key: str, defaults: Mapping[str, object]) -> object:
    """The value a formula reads under `key`: the point's, else the default; a one-element
    array stands for its element."""
    found: object = values_at(payload, key) or defaults.get(key)
    if found == []:
        found = None
    if isinstance(found, list) and len(found) == 1:
        found = found[0]
    if found is None:
        raise BadRequest(f"no value for {key} in the payload nor in the formula defaults")
    return found


def score_points(
    formula: Expression, points: Sequence[Candidate], defaults: Mapping[str, object]
) -> list[float]:
    """The formula's score of each point, rounded to float32 as Qdrant's scores are."""
    scores = []
    for point in points:
        score = formula.value(point, defaults)
        as_float32 = _float32(score)
        if not math.isfinite(as_float32):
            raise _not_finite(f"{score} as a 32-bit score")
        scores.append(as_float32)
    return scores


def _float32(value: float) -> float:
    with np.errstate(over="ignore"):
        return float(np.float32(value))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _number(value: object, name: str) -> float:
    if _is_number(value):
        return float(value)
    raise BadRequest(f"expected a number for {name} in the payload or in the formula defaults, "
                     f"got {value!r}")


def _finite(value: float, what: str) -> float:
    if math.isfinite(value):
        return value
    raise _not_finite(what)


def _not_finite(what: str) -> BadRequest:
    return BadRequest(f"the formula expression {what} produced a non-finite number")
