"""The expression of a formula query (`query: {"formula": ..., "defaults": ...}`).

An expression is a number, a variable (`$score`, `$score[i]` or a payload key), an object
naming one operation, or else (an object naming none) a condition. Both kinds of object are
JSON objects, which one msgspec union cannot tell apart, so an object is decoded as a dict and
turned into an `Operation` or a `Condition` by `expression()`, in the __post_init__ of what
holds it; the whole tree is typed and checked when the request is decoded.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from node.engine.datetimes import parse_datetime
from node.model.decode import convert_at, invalid
from node.model.filters import Condition, GeoPoint, check_key

# An expression as decoded: an object is still a dict (see `expression`); once read, it is a
# number, a variable, an Operation or a Condition (`Expression`, below).
ExpressionIn = float | str | dict[str, Any]

_SCORE = re.compile(r"\$score(?:\[(\d+)\])?")
UNARY = ("neg", "abs", "sqrt", "exp", "log10", "ln")
DECAYS = ("lin_decay", "exp_decay", "gauss_decay")
OPERATIONS = ("mult", "sum", "div", "pow", "geo_distance", "datetime", "datetime_key", *UNARY,
              *DECAYS)
_STRICT = {"forbid_unknown_fields": True}


def score_prefetch(name: str) -> int | None:
    """The prefetch a `$score` / `$score[i]` variable reads; None for a payload key."""
    match = _SCORE.fullmatch(name)
    return None if match is None else int(match.group(1) or 0)


def expression(raw: ExpressionIn, where: str) -> Expression:
    """One expression of the tree, checked; `where` is its path below the struct holding it."""
    if isinstance(raw, dict):
        kind = Operation if any(key in OPERATIONS for key in raw) else Condition
        return convert_at(raw, kind, where)
    if isinstance(raw, str):
        if raw.startswith("$score"):
            if score_prefetch(raw) is None:
                raise invalid(where, f"invalid score variable {raw!r}; expected $score or "
                              "$score[N]")
        else:
            check_key(raw, where)  # a malformed payload key is refused now, not at a point
    return raw


class Div(msgspec.Struct, **_STRICT):
    left: ExpressionIn
    right: ExpressionIn
    by_zero_default: float | None = None

    def __post_init__(self) -> None:
        self.left, self.right = expression(self.left, "left"), expression(self.right, "right")


class Pow(msgspec.Struct, **_STRICT):
    base: ExpressionIn
    exponent: ExpressionIn

    def __post_init__(self) -> None:
        self.base = expression(self.base, "base")
        self.exponent = expression(self.exponent, "exponent")


class GeoDistance(msgspec.Struct, **_STRICT):
    origin: GeoPoint
    to: str

    def __post_init__(self) -> None:
        check_key(self.to, "to")


class Decay(msgspec.Struct, **_STRICT):
    """1 at `target` (0 if not given), `midpoint` at `scale` from it."""

    x: ExpressionIn
    target: ExpressionIn | None = None
    scale: Annotated[float, Meta(gt=0)] | None = None
    midpoint: Annotated[float, Meta(gt=0, lt=1)] | None = None

    def __post_init__(self) -> None:
        self.x = expression(self.x, "x")
        if self.target is not None:
            self.target = expression(self.target, "target")


class Operation(msgspec.Struct, dict=True, **_STRICT):
    """An object naming exactly one operation; `op()` says which, `operand()` gives its
    argument."""

    mult: list[ExpressionIn] | None = None
    sum: list[ExpressionIn] | None = None
    div: Div | None = None
    pow: Pow | None = None
    geo_distance: GeoDistance | None = None
    datetime: str | None = None
    datetime_key: str | None = None
    neg: ExpressionIn | None = None
    abs: ExpressionIn | None = None
    sqrt: ExpressionIn | None = None
    exp: ExpressionIn | None = None
    log10: ExpressionIn | None = None
    ln: ExpressionIn | None = None
    lin_decay: Decay | None = None
    exp_decay: Decay | None = None
    gauss_decay: Decay | None = None

    def __post_init__(self) -> None:
        named = [op for op in OPERATIONS if getattr(self, op) is not None]
        if len(named) != 1:
            raise ValueError("an operation object holds exactly one operation, got "
                             f"{', '.join(named) or 'none'}")
        op = self._op = named[0]
        value = getattr(self, op)
        if op in ("mult", "sum"):
            setattr(self, op, [expression(item, f"{op}[{i}]") for i, item in enumerate(value)])
        elif op in UNARY:
            setattr(self, op, expression(value, op))
        elif op == "datetime" and parse_datetime(value) is None:
            raise invalid(op, f"expected a datetime in RFC 3339 format, got {value!r}")
        elif op == "datetime_key":
            check_key(value, op)

    def op(self) -> str:
        return self._op

    def operand(self) -> Any:
        return getattr(self, self._op)


Expression = float | str | Operation | Condition
