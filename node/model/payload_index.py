"""`PUT /collections/{name}/index`: a field name and its index schema, either a bare type name
or an object with `type` and that type's parameters."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from node.engine.stopwords import LANGUAGES, QDRANT_LANGUAGES
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
    "text": ("tokenizer", "min_token_len", "max_token_len", "lowercase", "ascii_folding",
             "phrase_matching", "stopwords", "stemmer", "on_disk"),
}

# Qdrant's names of the languages it has stopword lists for.
Language = Literal[QDRANT_LANGUAGES]  # type: ignore[valid-type]
SnowballLanguage = Literal[
    "arabic", "armenian", "danish", "dutch", "english", "finnish", "french", "german", "greek",
    "hungarian", "italian", "norwegian", "portuguese", "romanian", "russian", "spanish",
    "swedish", "tamil", "turkish",
]
TokenLength = Annotated[int, msgspec.Meta(ge=0)]


class StopwordsSet(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    """Predefined lists of some languages and words of one's own, all dropped together."""

    languages: list[Language] | None = None
    custom: list[str] | None = None

    def __post_init__(self) -> None:
        for language in self.languages or ():
            _require_stopword_list(language, "languages")


class SnowballStemmer(msgspec.Struct, tag_field="type", tag="snowball",
                      forbid_unknown_fields=True):
    language: SnowballLanguage


class NoStemmer(msgspec.Struct, tag_field="type", tag="none", forbid_unknown_fields=True):
    pass


def _require_stopword_list(language: str, where: str) -> None:
    if language not in LANGUAGES:
        raise invalid(where, f"stopwords of {language!r} are not available in Flotilla; "
                      f"languages with a list: {', '.join(LANGUAGES)} (or list your own "
                      "words in `custom`)")


class IndexParams(msgspec.Struct, omit_defaults=True, forbid_unknown_fields=True):
    type: IndexType
    on_disk: bool | None = None
    is_tenant: bool | None = None
    lookup: bool | None = None
    range: bool | None = None
    is_principal: bool | None = None
    tokenizer: Literal["prefix", "whitespace", "word", "multilingual"] | None = None
    min_token_len: TokenLength | None = None
    max_token_len: TokenLength | None = None
    lowercase: bool | None = None
    ascii_folding: bool | None = None
    phrase_matching: bool | None = None
    stopwords: Language | StopwordsSet | None = None
    stemmer: SnowballStemmer | NoStemmer | None = None

    def __post_init__(self) -> None:
        allowed = PARAMS_BY_TYPE[self.type]
        for name, value in msgspec.structs.asdict(self).items():
            if name != "type" and value is not None and name not in allowed:
                raise invalid(name, f"not a parameter of a {self.type} index")
        if isinstance(self.stopwords, str):
            _require_stopword_list(self.stopwords, "stopwords")


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
