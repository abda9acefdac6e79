"""Validation of payload index schemas (`PUT /collections/{name}/index`), in Qdrant's shapes:
a bare type name, or an object with `type` and that type's parameters."""

from __future__ import annotations

from node.errors import BadRequest

_COMMON = {"on_disk": bool}
PARAMS_BY_TYPE: dict[str, dict[str, type]] = {
    "keyword": {"is_tenant": bool, **_COMMON},
    "integer": {"lookup": bool, "range": bool, "is_principal": bool, **_COMMON},
    "float": {"is_principal": bool, **_COMMON},
    "datetime": {"is_principal": bool, **_COMMON},
    "bool": dict(_COMMON),
    "geo": dict(_COMMON),
    "uuid": {"is_tenant": bool, **_COMMON},
    "text": {
        "tokenizer": str, "min_token_len": int, "max_token_len": int, "lowercase": bool,
        "phrase_matching": bool, "stopwords": object, "stemmer": object, **_COMMON,
    },
}
TOKENIZERS = ("prefix", "whitespace", "word", "multilingual")


def validate_index_request(body: object) -> tuple[str, dict]:
    """(field name, schema as {"type": ..., params...}) of a create-index request body."""
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    field_name = body.get("field_name")
    if not isinstance(field_name, str) or not field_name:
        raise BadRequest("field_name: expected a payload key")
    raw = body.get("field_schema")
    if raw is None:
        raise BadRequest("field_schema: required (a type such as keyword, or {type, ...})")
    if isinstance(raw, str):
        raw = {"type": raw}
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        raise BadRequest("field_schema: expected a type name or an object with `type`")
    kind = raw["type"]
    allowed = PARAMS_BY_TYPE.get(kind)
    if allowed is None:
        raise BadRequest(
            f"field_schema.type: unknown type {kind!r}, expected one of "
            f"{', '.join(PARAMS_BY_TYPE)}"
        )
    for key, value in raw.items():
        if key == "type" or value is None:
            continue
        expected = allowed.get(key)
        if expected is None:
            raise BadRequest(f"field_schema.{key}: not a parameter of a {kind} index")
        if expected is not object and (
            not isinstance(value, expected) or (expected is int and isinstance(value, bool))
        ):
            raise BadRequest(f"field_schema.{key}: expected {expected.__name__}")
    if kind == "text" and raw.get("tokenizer") not in (None, *TOKENIZERS):
        raise BadRequest(f"field_schema.tokenizer: expected one of {', '.join(TOKENIZERS)}")
    return field_name, {k: v for k, v in raw.items() if v is not None}


def schema_info(schema: dict, points: int) -> dict:
    """One entry of `payload_schema` in collection info."""
    params = {k: v for k, v in schema.items() if k != "type"}
    info: dict = {"data_type": schema["type"], "points": points}
    if params:
        info["params"] = {"type": schema["type"], **params}
    return info
