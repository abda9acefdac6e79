"""The rule for collection and alias names: they become directory names on every platform.

Used for the `{collection_name}` of a route, the alias names of `POST /collections/aliases`
and the collection named by a snapshot.
"""

from __future__ import annotations

import unicodedata

from node.errors import BadRequest

MAX_COLLECTION_NAME_BYTES = 255
_UNSAFE_NAME_CHARS = set('/\\<>:"|?*')


def validate_collection_name(name: str) -> None:
    """Reject names that are empty, too long, or unsafe as a directory name on any platform."""
    if not isinstance(name, str) or not name:
        raise BadRequest("collection name must be a non-empty string")
    if len(name.encode("utf-8")) > MAX_COLLECTION_NAME_BYTES:
        raise BadRequest(
            f"collection name must be at most {MAX_COLLECTION_NAME_BYTES} bytes in UTF-8, "
            f"got {len(name.encode('utf-8'))}"
        )
    for char in name:
        if char in _UNSAFE_NAME_CHARS:
            raise BadRequest(
                f"collection name {name!r} contains {char!r}; "
                'the characters / \\ < > : " | ? * are not allowed'
            )
        if unicodedata.category(char) == "Cc":
            raise BadRequest(
                f"collection name {name!r} contains the control character U+{ord(char):04X}"
            )
    if name in (".", "..") or ".." in name:
        raise BadRequest(f"collection name {name!r} must not be '.' or contain '..'")
