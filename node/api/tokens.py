"""JWT access tokens (`service.jwt_rbac`), as Qdrant issues them: HS256, signed with the API key.

Claims: `exp` (optional, checked), `access` (`"m"`, `"r"`, or a list of
`{"collection": name, "access": "r" | "rw"}`; full access when absent, as in Qdrant), and
`value_exists` (`{"collection": name, "matches": [{"key": path, "value": v}, ...]}`: the token
is good only while a point with all those payload values exists in that collection). Qdrant's
deprecated per-collection `payload` restriction is refused rather than ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import jwt

from node.api.access import MANAGE, READ, READ_WRITE, Access
from node.errors import Unauthorized

_GLOBAL_LEVELS = (MANAGE, READ)
_COLLECTION_LEVELS = (READ, READ_WRITE)


@dataclass(frozen=True)
class ValueExists:
    collection: str
    filter: dict


@dataclass(frozen=True)
class TokenGrant:
    access: Access
    value_exists: ValueExists | None = None


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2


def decode_token(token: str, signing_key: str) -> TokenGrant:
    """Verify the signature and expiry, then read the claims; Unauthorized when any fails."""
    try:
        claims = jwt.decode(token, signing_key, algorithms=["HS256"],
                            options={"verify_aud": False})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("Invalid JWT: the token has expired") from None
    except jwt.InvalidTokenError as exc:
        raise Unauthorized(f"Invalid JWT: {exc}") from None
    if not isinstance(claims, dict):
        raise Unauthorized("Invalid JWT: the claims are not an object")
    return TokenGrant(_access(claims.get("access", MANAGE)),
                      _value_exists(claims.get("value_exists")))


def _access(claim: object) -> Access:
    if isinstance(claim, str):
        if claim not in _GLOBAL_LEVELS:
            raise Unauthorized(f"Invalid JWT: access must be one of {_GLOBAL_LEVELS} or a list")
        return Access(global_level=claim)
    if not isinstance(claim, list):
        raise Unauthorized("Invalid JWT: access must be a string or a list of collections")
    collections: dict[str, str] = {}
    for i, entry in enumerate(claim):
        if not isinstance(entry, dict) or set(entry) - {"collection", "access", "payload"}:
            raise Unauthorized(f"Invalid JWT: access[{i}] must be {{collection, access}}")
        name, level = entry.get("collection"), entry.get("access")
        if not isinstance(name, str) or level not in _COLLECTION_LEVELS:
            raise Unauthorized(f"Invalid JWT: access[{i}] needs a collection name and an "
                               f"access of {_COLLECTION_LEVELS}")
        if entry.get("payload") is not None:
            raise Unauthorized(f"Invalid JWT: access[{i}]: payload restrictions are not "
                               "supported (Qdrant deprecated them)")
        if name in collections:
            raise Unauthorized(f"Invalid JWT: collection {name!r} is listed twice")
        collections[name] = level
    return Access(global_level=None, collections=collections)


def _value_exists(claim: object) -> ValueExists | None:
    if claim is None:
        return None
    if not isinstance(claim, dict) or not isinstance(claim.get("collection"), str):
        raise Unauthorized("Invalid JWT: value_exists needs a collection")
    matches = claim.get("matches")
    if not isinstance(matches, list) or not matches:
        raise Unauthorized("Invalid JWT: value_exists needs a list of matches")
    conditions = []
    for i, pair in enumerate(matches):
        if not isinstance(pair, dict) or not isinstance(pair.get("key"), str) \
                or "value" not in pair:
            raise Unauthorized(f"Invalid JWT: value_exists.matches[{i}] needs a key and a value")
        conditions.append({"key": pair["key"], "match": {"value": pair["value"]}})
    return ValueExists(claim["collection"], {"must": conditions})
