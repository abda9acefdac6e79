"""`POST /collections/aliases`: a list of actions, each exactly one of create, delete, rename."""

from __future__ import annotations

import msgspec

_STRICT = {"forbid_unknown_fields": True}


class CreateAlias(msgspec.Struct, **_STRICT):
    collection_name: str
    alias_name: str


class DeleteAlias(msgspec.Struct, **_STRICT):
    alias_name: str


class RenameAlias(msgspec.Struct, **_STRICT):
    old_alias_name: str
    new_alias_name: str


class AliasAction(msgspec.Struct, omit_defaults=True, **_STRICT):
    create_alias: CreateAlias | None = None
    delete_alias: DeleteAlias | None = None
    rename_alias: RenameAlias | None = None

    def __post_init__(self) -> None:
        given = [a for a in (self.create_alias, self.delete_alias, self.rename_alias) if a]
        if len(given) != 1:
            raise ValueError("expected exactly one of create_alias, delete_alias, rename_alias")

    def new_names(self) -> list[str]:
        """The alias names this action brings into being (checked like collection names)."""
        if self.create_alias is not None:
            return [self.create_alias.alias_name]
        if self.rename_alias is not None:
            return [self.rename_alias.old_alias_name, self.rename_alias.new_alias_name]
        return [self.delete_alias.alias_name]


class ChangeAliasesRequest(msgspec.Struct):
    actions: list[AliasAction]
