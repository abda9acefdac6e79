"""Point update requests (delete, payload and vector changes, batches), parsed and validated.

Every request is turned into `PointUpdate`s before anything is written, so a bad input in any
operation of a batch leaves the collection untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from node.engine.filters import CompiledFilter, compile_filter
from node.engine.ids import PointId, normalize_point_id
from node.engine.payload_path import parse_key
from node.engine.point_batch import PointBatch, batch_from_columns, batch_from_points
from node.engine.shard_config import ShardConfig
from node.engine.vector_update import VectorValues, parse_vector_names, parse_vector_updates
from node.errors import BadRequest
from node.model import decode
from node.model.filters import Filter

# Operations on existing points: naming a point that does not exist is a 404, as in Qdrant.
NEEDS_EXISTING = frozenset(
    {"set_payload", "overwrite_payload", "delete_payload", "clear_payload",
     "update_vectors", "delete_vectors"}
)


@dataclass
class PointUpdate:
    """One operation: `kind` is the shard op; it targets `ids` or the points `filter` matches."""

    kind: str
    ids: list[PointId] | None = None
    filter: CompiledFilter | None = None
    args: tuple = ()
    batch: PointBatch | None = None  # upsert
    vectors: dict[PointId, VectorValues] = field(default_factory=dict)  # update_vectors


def _object(body: object, where: str) -> dict:
    if not isinstance(body, dict):
        raise BadRequest(f"{where}: expected a JSON object")
    return body


def _target(body: dict, where: str) -> tuple[list[PointId] | None, CompiledFilter | None]:
    points, raw_filter = body.get("points"), body.get("filter")
    if points is not None and raw_filter is not None:
        raise BadRequest(f"{where or 'body'}: give either `points` or `filter`, not both")
    if points is not None:
        if not isinstance(points, list):
            raise BadRequest(f"{where}points: expected an array of point ids")
        return list(dict.fromkeys(normalize_point_id(p) for p in points)), None
    if raw_filter is not None:
        return None, compile_filter(decode(Filter, raw_filter, path=f"{where}filter"))
    raise BadRequest(f"{where or 'body'}: expected `points` (a list of ids) or `filter`")


def _payload(body: dict, where: str) -> dict:
    payload = body.get("payload")
    if not isinstance(payload, dict):
        raise BadRequest(f"{where}payload: expected a JSON object")
    return payload


def parse_delete(body: object, where: str = "") -> PointUpdate:
    ids, flt = _target(_object(body, where or "body"), where)
    return PointUpdate("delete", ids, flt)


def parse_set_payload(body: object, where: str = "") -> PointUpdate:
    body = _object(body, where or "body")
    key = body.get("key")
    if key is not None:
        parse_key(key)  # validated now; applied as text (the op is pickled in the WAL)
    ids, flt = _target(body, where)
    return PointUpdate("set_payload", ids, flt, (_payload(body, where), key))


def parse_overwrite_payload(body: object, where: str = "") -> PointUpdate:
    body = _object(body, where or "body")
    ids, flt = _target(body, where)
    return PointUpdate("overwrite_payload", ids, flt, (_payload(body, where),))


def parse_delete_payload(body: object, where: str = "") -> PointUpdate:
    body = _object(body, where or "body")
    keys = body.get("keys")
    if not isinstance(keys, list):
        raise BadRequest(f"{where}keys: expected an array of payload keys")
    for key in keys:
        parse_key(key)
    ids, flt = _target(body, where)
    return PointUpdate("delete_payload", ids, flt, (list(keys),))


def parse_clear_payload(body: object, where: str = "") -> PointUpdate:
    ids, flt = _target(_object(body, where or "body"), where)
    return PointUpdate("clear_payload", ids, flt)


def parse_update_vectors(config: ShardConfig, body: object, where: str = "") -> PointUpdate:
    body = _object(body, where or "body")
    vectors: dict[PointId, VectorValues] = {}
    for pid, values in parse_vector_updates(config, body.get("points")):
        vectors.setdefault(pid, {}).update(values)  # a later entry for the same id wins
    return PointUpdate("update_vectors", list(vectors), vectors=vectors)


def parse_delete_vectors(config: ShardConfig, body: object, where: str = "") -> PointUpdate:
    body = _object(body, where or "body")
    names = parse_vector_names(config, body.get("vector"))
    ids, flt = _target(body, where)
    return PointUpdate("delete_vectors", ids, flt, (names,))


def parse_upsert(config: ShardConfig, body: object, where: str = "") -> PointUpdate:
    body = _object(body, where or "body")
    if "points" in body:
        batch = batch_from_points(config, body["points"])
    elif "batch" in body:
        batch = batch_from_columns(config, body["batch"])
    else:
        raise BadRequest(f"{where or 'body'}: expected `points` (a list of points) or `batch`")
    return PointUpdate("upsert", list(dict.fromkeys(batch.ids)), batch=batch)


def parse_batch(config: ShardConfig, body: object) -> list[PointUpdate]:
    """The `operations` of `/points/batch`, in order."""
    operations = _object(body, "body").get("operations")
    if not isinstance(operations, list):
        raise BadRequest("operations: expected an array of update operations")
    parsed = []
    for i, op in enumerate(operations):
        if not isinstance(op, dict) or len(op) != 1:
            raise BadRequest(f"operations[{i}]: expected an object with exactly one operation")
        ((name, inner),) = op.items()
        where = f"operations[{i}].{name}."
        if name in ("upsert", "update_vectors", "delete_vectors"):
            parser = {"upsert": parse_upsert, "update_vectors": parse_update_vectors,
                      "delete_vectors": parse_delete_vectors}[name]
            parsed.append(parser(config, inner, where))
        elif name in _PLAIN_PARSERS:
            parsed.append(_PLAIN_PARSERS[name](inner, where))
        else:
            raise BadRequest(f"operations[{i}]: unknown operation {name!r}")
    return parsed


_PLAIN_PARSERS = {
    "delete": parse_delete,
    "set_payload": parse_set_payload,
    "overwrite_payload": parse_overwrite_payload,
    "delete_payload": parse_delete_payload,
    "clear_payload": parse_clear_payload,
}
