"""`PUT /collections/{name}/index`: a field name and its index schema, either a bare type name
or an object with `type` and that type's parameters."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from node.model.decode import invalid

IndexType = Literal["keyword", "integer", "float", "datetime", "bool", "geo", "uuid", "text"]

# The parameters each index type takes (beside `type`).
PARAMS_BY_TYPE: dict[str, tuple[str, ...]] = {
    "keyword": ("is_tenant", "on_disk"),
    "integer": ("lookup", "range", "is_principal", "on_disk"),
    "float": ("is_principal", "on_disk"),
    "datetime": ("is_principal", "on_disk"),
    "bool": ("on_disk",),
    "geo": ("on_disk",),
    "uuid": ("is_tenant", "on_disk"),
    "text": ("tokenizer", "min_token_len", "max_token_len", "lowercase", "phrase_matching",
             "stopwords", "stemmer", "on_disk"),
}


class IndexParams(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    type: IndexType
    on_disk: bool | None = None
    is_tenant: bool | None = None
    lookup: bool | None = None
    range: bool | None = None
    is_principal: bool | None = None
    tokenizer: Literal["prefix", "whitespace", "word", "multilingual"] | None = None
    min_token_len: int | None = None
    max_token_len: int | None = None
    lowercase: bool | None = None
    phrase_matching: bool | None = None
    stopwords: Any = None
    stemmer: Any = None

    def __post_init__(self) -> None:
        allowed = PARAMS_BY_TYPE[self.type]
        for name, value in msgspec.structs.asdict(self).items():
            if name != "type" and value is not None and name not in allowed:
                raise invalid(name, f"not a parameter of a {self.type} index")


class CreateIndexRequest(msgspec.Struct):
    field_name: str
    field_schema: str | IndexParams

    def __post_init__(self) -> None:
        if not self.field_name:
            raise invalid("field_name", "expected a payload key")
        if isinstance(self.field_schema, str) and self.field_schema not in PARAMS_BY_TYPE:
            raise invalid("field_schema", f"unknown index type {self.field_schema!r}, expected "
                          f"one of {', '.join(PARAMS_BY_TYPE)}")

    def schema(self) -> dict:
        """The schema as the metadata keeps it: {"type": ..., params that are set}."""
        if isinstance(self.field_schema, str):
            return {"type": self.field_schema}
        return msgspec.to_builtins(self.field_schema)
