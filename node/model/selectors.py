"""What a read returns besides ids: `with_payload` and `with_vector(s)` selectors."""

from __future__ import annotations

import msgspec


class PayloadSelector(msgspec.Struct, forbid_unknown_fields=True):
    include: list[str] | None = None
    exclude: list[str] | None = None

    def __post_init__(self) -> None:
        if (self.include is None) == (self.exclude is None):
            raise ValueError("expected {include: [...]} or {exclude: [...]}")


# true/false, a list of keys, or {include} / {exclude}
WithPayload = bool | list[str] | PayloadSelector
# true/false or a list of vector names
WithVector = bool | list[str]


def payload_selector(value: WithPayload | None) -> object:
    """The selector in the plain form the engine's record functions read."""
    if isinstance(value, PayloadSelector):
        return msgspec.to_builtins(value)
    return value
