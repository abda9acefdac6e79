"""A formula query's expression, decoded and checked at the edge (node/model/formula.py), as
the engine's expression tree (node/engine/formula.py); its conditions are compiled filters."""

from __future__ import annotations

from node.engine import formula
from node.engine.datetimes import parse_datetime
from node.engine.filters import compile_filter
from node.model import formula as f
from node.model.filters import Condition, Filter

DEFAULT_MIDPOINT = 0.5
DEFAULT_SCALE = 1.0


def plan_expression(node: f.Expression) -> formula.Expression:
    if isinstance(node, str):
        prefetch = f.score_prefetch(node)
        if prefetch is not None:
            return formula.Score(prefetch, node)
        return formula.PayloadValue(node)
    if isinstance(node, Condition):
        return formula.Condition(compile_filter(Filter(must=[node])))
    if isinstance(node, f.Operation):
        return _operation(node)
    return formula.Constant(float(node))


def _operation(node: f.Operation) -> formula.Expression:
    op, operand = node.op(), node.operand()
    if op == "mult":
        return formula.Product(tuple(map(plan_expression, operand)))
    if op == "sum":
        return formula.Sum(tuple(map(plan_expression, operand)))
    if op in f.UNARY:
        return formula.Unary(op, plan_expression(operand))
    if op == "div":
        return formula.Division(plan_expression(operand.left), plan_expression(operand.right),
                                operand.by_zero_default)
    if op == "pow":
        return formula.Power(plan_expression(operand.base), plan_expression(operand.exponent))
    if op == "geo_distance":
        return formula.GeoDistance(operand.origin.lat, operand.origin.lon, operand.to)
    if op == "datetime":
        return formula.Constant(parse_datetime(operand).timestamp())
    if op == "datetime_key":
        return formula.DatetimeValue(operand)
    return formula.Decay(
        op, plan_expression(operand.x),
        None if operand.target is None else plan_expression(operand.target),
        DEFAULT_MIDPOINT if operand.midpoint is None else operand.midpoint,
        DEFAULT_SCALE if operand.scale is None else operand.scale,
    )
