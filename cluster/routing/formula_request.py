"""Reading the `formula` of a formula query (decoded at the edge as node/model's QueryInput)
into the engine's expression tree (node/engine/formula.py), checked whole before any point is
scored. Its conditions are decoded as typed Conditions.

An expression is a number, a variable (`$score`, `$score[i]` or a payload key), a condition, or
an object naming one operation; an object naming none is read as a condition.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from node.engine import formula
from node.engine.datetimes import parse_datetime
from node.engine.filters import compile_filter
from node.engine.payload_path import parse_key
from node.errors import BadRequest
from node.model import decode
from node.model.filters import Condition, Filter

_SCORE = re.compile(r"\$score(?:\[(\d+)\])?")
_UNARY = ("neg", "abs", "sqrt", "exp", "log10", "ln")
_DECAYS = ("lin_decay", "exp_decay", "gauss_decay")
_OPERATIONS = ("mult", "sum", "div", "pow", "geo_distance", "datetime", "datetime_key",
               *_UNARY, *_DECAYS)


def parse_expression(raw: object, where: str) -> formula.Expression:
    if isinstance(raw, bool) or raw is None:
        raise BadRequest(f"{where}: expected a number, a variable, a condition or an operation")
    if isinstance(raw, int | float):
        return formula.Constant(float(raw))
    if isinstance(raw, str):
        return _variable(raw, where)
    if isinstance(raw, list):
        raise BadRequest(f"{where}: expected a number, a variable, a condition or an operation, "
                         "got an array")
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: expected a number, a variable, a condition or an operation")
    named = [key for key in raw if key in _OPERATIONS]
    if not named:
        condition = compile_filter(Filter(must=[decode(Condition, raw, path=where)]))
        return formula.Condition(condition)
    if len(raw) != 1:
        raise BadRequest(f"{where}: an operation object holds exactly one operation, "
                         f"got {', '.join(sorted(raw))}")
    op = named[0]
    return _PARSERS[op](raw[op], f"{where}.{op}") if op in _PARSERS else formula.Unary(
        op, parse_expression(raw[op], f"{where}.{op}"))


def _variable(name: str, where: str) -> formula.Expression:
    if name.startswith("$score"):
        match = _SCORE.fullmatch(name)
        if match is None:
            raise BadRequest(f"{where}: invalid score variable {name!r}; expected $score or "
                             "$score[N]")
        return formula.Score(int(match.group(1) or 0), name)
    parse_key(name)  # a malformed payload key is refused here, not at the first point
    return formula.PayloadValue(name)


def _list(raw: object, where: str) -> tuple[formula.Expression, ...]:
    if not isinstance(raw, list):
        raise BadRequest(f"{where}: expected an array of expressions")
    return tuple(parse_expression(item, f"{where}[{i}]") for i, item in enumerate(raw))


def _fields(raw: object, where: str, required: tuple[str, ...],
            optional: tuple[str, ...] = ()) -> dict:
    if not isinstance(raw, dict):
        raise BadRequest(f"{where}: expected an object with {', '.join(required)}")
    for key in raw:
        if key not in required + optional:
            raise BadRequest(f"{where}.{key}: unknown field")
    for key in required:
        if raw.get(key) is None:
            raise BadRequest(f"{where}.{key}: is required")
    return raw


def _real(raw: object, where: str) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise BadRequest(f"{where}: expected a number")
    return float(raw)


def _div(raw: object, where: str) -> formula.Expression:
    params = _fields(raw, where, ("left", "right"), ("by_zero_default",))
    default = params.get("by_zero_default")
    return formula.Division(
        parse_expression(params["left"], f"{where}.left"),
        parse_expression(params["right"], f"{where}.right"),
        None if default is None else _real(default, f"{where}.by_zero_default"),
    )


def _pow(raw: object, where: str) -> formula.Expression:
    params = _fields(raw, where, ("base", "exponent"))
    return formula.Power(parse_expression(params["base"], f"{where}.base"),
                         parse_expression(params["exponent"], f"{where}.exponent"))


def _geo_distance(raw: object, where: str) -> formula.Expression:
    params = _fields(raw, where, ("origin", "to"))
    origin = _fields(params["origin"], f"{where}.origin", ("lat", "lon"))
    lat, lon = _real(origin["lat"], f"{where}.origin.lat"), _real(origin["lon"],
                                                                   f"{where}.origin.lon")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise BadRequest(f"{where}.origin: lat must be within [-90, 90] and lon within "
                         "[-180, 180]")
    if not isinstance(params["to"], str):
        raise BadRequest(f"{where}.to: expected a payload key")
    parse_key(params["to"])
    return formula.GeoDistance(lat, lon, params["to"])


def _datetime(raw: object, where: str) -> formula.Expression:
    moment = parse_datetime(raw) if isinstance(raw, str) else None
    if moment is None:
        raise BadRequest(f"{where}: expected a datetime in RFC 3339 format, got {raw!r}")
    return formula.Constant(moment.timestamp())


def _datetime_key(raw: object, where: str) -> formula.Expression:
    if not isinstance(raw, str):
        raise BadRequest(f"{where}: expected a payload key")
    parse_key(raw)
    return formula.DatetimeValue(raw)


def _decay(kind: str) -> Callable[[object, str], formula.Expression]:
    def parse(raw: object, where: str) -> formula.Expression:
        params = _fields(raw, where, ("x",), ("target", "scale", "midpoint"))
        midpoint = params.get("midpoint")
        midpoint = 0.5 if midpoint is None else _real(midpoint, f"{where}.midpoint")
        if not 0.0 < midpoint < 1.0:
            raise BadRequest(f"{where}.midpoint: must be between 0 and 1 (exclusive), "
                             f"got {midpoint}")
        scale = params.get("scale")
        scale = 1.0 if scale is None else _real(scale, f"{where}.scale")
        if scale <= 0.0:
            raise BadRequest(f"{where}.scale: must be a positive number, got {scale}")
        target = params.get("target")
        return formula.Decay(
            kind, parse_expression(params["x"], f"{where}.x"),
            None if target is None else parse_expression(target, f"{where}.target"),
            midpoint, scale,
        )

    return parse


_PARSERS: dict[str, Callable[[object, str], formula.Expression]] = {
    "mult": lambda raw, where: formula.Product(_list(raw, where)),
    "sum": lambda raw, where: formula.Sum(_list(raw, where)),
    "div": _div,
    "pow": _pow,
    "geo_distance": _geo_distance,
    "datetime": _datetime,
    "datetime_key": _datetime_key,
    **{kind: _decay(kind) for kind in _DECAYS},
}
