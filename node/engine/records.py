"""Points as the API returns them: plain JSON-ready dicts, with payload and vector selectors."""

from __future__ import annotations

import numpy as np

from node.engine.ids import PointId
from node.engine.point_batch import SparseVector
from node.errors import BadRequest


def select_payload(payload: dict | None, selector: object) -> dict | None:
    """Apply a `with_payload` selector: bool, list of keys, {"include"|"exclude": [...]}."""
    if selector is False or selector is None:
        return None
    payload = payload or {}
    if selector is True:
        return payload
    if isinstance(selector, list):
        return {k: v for k, v in payload.items() if k in selector}
    if isinstance(selector, dict):
        if isinstance(selector.get("include"), list):
            return {k: v for k, v in payload.items() if k in selector["include"]}
        if isinstance(selector.get("exclude"), list):
            return {k: v for k, v in payload.items() if k not in selector["exclude"]}
    raise BadRequest(
        "with_payload: expected true/false, a list of keys, or {include: [...]} / {exclude: [...]}"
    )


def vector_names_selected(selector: object, names: list[str]) -> list[str]:
    if selector is False or selector is None:
        return []
    if selector is True:
        return names
    if isinstance(selector, list) and all(isinstance(x, str) for x in selector):
        return [n for n in names if n in selector]
    raise BadRequest("with_vector: expected true/false or a list of vector names")


def vector_to_json(vector: np.ndarray | SparseVector) -> np.ndarray | dict:
    """A vector ready for orjson, which writes float32 arrays with their shortest digits."""
    if isinstance(vector, SparseVector):
        return vector.to_json()
    if vector.dtype == np.float16:
        return vector.astype(np.float32)
    return np.ascontiguousarray(vector)


def record_json(
    pid: PointId,
    payload: dict | None,
    vectors: dict[str, np.ndarray | SparseVector],
    *,
    with_payload: object,
    with_vector: object,
    unnamed: bool,
) -> dict:
    """One point as Qdrant's Record: `vector` is a plain list for a single unnamed vector."""
    record: dict = {"id": pid, "payload": select_payload(payload, with_payload)}
    names = vector_names_selected(with_vector, list(vectors))
    if not names:
        record["vector"] = None
    elif unnamed:
        record["vector"] = vector_to_json(vectors[""]) if "" in vectors else None
    else:
        record["vector"] = {name: vector_to_json(vectors[name]) for name in names}
    return record
