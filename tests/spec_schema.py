"""Validate a response body against a schema of Qdrant's OpenAPI spec.

The spec is OpenAPI 3.0: `nullable: true` instead of JSON Schema's null type. The schemas are
rewritten into JSON Schema 2020-12 (where `$ref` may have siblings) and checked with jsonschema.
"""

from __future__ import annotations

from typing import Any

from fuzz.spec import load_spec
from jsonschema import Draft202012Validator


def _json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _json_schema(value) for key, value in node.items() if key != "nullable"}
    if node.get("nullable"):
        if set(node) == {"nullable"}:  # the `{"nullable": true}` arm of an anyOf
            return {"type": "null"}
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def validator(schema_name: str) -> Draft202012Validator:
    schemas = _json_schema(load_spec()["components"]["schemas"])
    return Draft202012Validator({"$ref": f"#/components/schemas/{schema_name}",
                                 "components": {"schemas": schemas}})


def problems(schema_name: str, instance: Any) -> list[str]:
    """Where `instance` departs from the spec's `schema_name`: "path: message" per problem."""
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in validator(schema_name).iter_errors(instance)]
