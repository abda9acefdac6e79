"""`POST /collections/aliases`: a list of actions, each exactly one of create, delete, rename."""

from __future__ import annotations

import msgspec

from node.errors import BadRequest
from node.model.decode import invalid
from node.model.names import validate_collection_name

_STRICT = {"forbid_unknown_fields": True}


def check_alias_name(name: str, field: str) -> None:
    """An alias is named as a collection is (the names share one namespace)."""
    try:
        validate_collection_name(name)
    except BadRequest as exc:
        raise invalid(field, str(exc)) from None


class CreateAlias(msgspec.Struct, **_STRICT):
    collection_name: str
    alias_name: str

    def __post_init__(self) -> None:
        check_alias_name(self.alias_name, "alias_name")


class DeleteAlias(msgspec.Struct, **_STRICT):
    alias_name: str

    def __post_init__(self) -> None:
        check_alias_name(self.alias_name, "alias_name")


class RenameAlias(msgspec.Struct, **_STRICT):
    old_alias_name: str
    new_alias_name: str

    def __post_init__(self) -> None:
        check_alias_name(self.old_alias_name, "old_alias_name")
        check_alias_name(self.new_alias_name, "new_alias_name")


class AliasAction(msgspec.Struct, omit_defaults=True, **_STRICT):
    create_alias: CreateAlias | None = None
    delete_alias: DeleteAlias | None = None
    rename_alias: RenameAlias | None = None

    def __post_init__(self) -> None:
        given = [a for a in (self.create_alias, self.delete_alias, self.rename_alias) if a]
        if len(given) != 1:
            raise ValueError("expected exactly one of create_alias, delete_alias, rename_alias")


class ChangeAliasesRequest(msgspec.Struct):
    actions: list[AliasAction]
