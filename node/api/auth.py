"""Who is asking, and may they: the public API's credential check, once per request.

With `service.api_key` or `service.read_only_api_key` set, every request but the health probes
carries a credential in an `api-key` header or as `Authorization: Bearer <credential>`:
- the API key grants everything;
- the read-only key grants every read and no write or metadata change (403);
- with `service.jwt_rbac`, a JWT signed with the API key grants what its claims say
  (node/api/tokens.py).
Anything else is 401. The route's need (node/api/access.py) is then checked against the
collection the request names, after resolving an alias, and against any other collection the
body reads from (`lookup_from`), so a token for one collection reaches no other through an
alias or a lookup. The granted Access is left in `request["access"]` for handlers that list
collections or aliases to show only what it covers.

The internal node-to-node API has its own guard (node/api/internal.py).
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from aiohttp import web

from node.api.access import FULL_ACCESS, READ_ONLY_ACCESS, Access, Need, route_need
from node.api.envelope import Handler, read_json
from node.api.tokens import TokenGrant, ValueExists, decode_token, looks_like_jwt
from node.errors import Forbidden, NotFound, Unauthorized
from node.model import decode
from node.model.queries import CountRequest
from node.runtime import Node

OPEN_PATHS = frozenset({"/", "/healthz", "/livez", "/readyz"})
INTERNAL_PREFIX = "/internal/"
ACCESS_KEY = "access"
MISSING_CREDENTIAL = "Must provide an API key or an Authorization bearer token"


def request_access(request: web.Request) -> Access:
    """The access the request's credential was granted (all of it on a node without keys)."""
    return request.get(ACCESS_KEY, FULL_ACCESS)


def given_credential(request: web.Request) -> str | None:
    given = request.headers.get("api-key")
    if given is None:
        bearer = request.headers.get("Authorization", "")
        given = bearer[7:].strip() if bearer[:7].lower() == "bearer " else None
    return given or None


def _same(given: str, expected: str | None) -> bool:
    return expected is not None and hmac.compare_digest(given.encode(), expected.encode())


class Authorizer:
    """The credential check both faces share: REST (the middleware below) and gRPC
    (node/grpc/calls.py, with the key from the `api-key` metadata)."""

    def __init__(self, node: Node) -> None:
        self._node = node
        self._service = node.settings.service

    @property
    def enabled(self) -> bool:
        return bool(self._service.api_key or self._service.read_only_api_key)

    def grant(self, credential: str | None) -> TokenGrant:
        service = self._service
        if credential is None:
            raise Unauthorized(MISSING_CREDENTIAL)
        if _same(credential, service.api_key):
            return TokenGrant(FULL_ACCESS)
        if _same(credential, service.read_only_api_key):
            return TokenGrant(READ_ONLY_ACCESS)
        if service.jwt_rbac and looks_like_jwt(credential):
            return decode_token(credential, service.api_key)
        raise Unauthorized("Invalid API key or token")

    async def access(self, credential: str | None) -> Access:
        """What the credential grants, after its `value_exists` condition if it has one."""
        token = self.grant(credential)
        if token.value_exists is not None:
            await self._check_value_exists(token.value_exists)
        return token.access

    def check(self, access: Access, need: Need, collection: str | None,
              body: object = None) -> None:
        """Raise Forbidden unless `access` covers `need` on the collection (an alias resolved)
        and, for reads, on every collection the body looks points up in."""
        if access.is_full:
            return
        access.check(need, None if collection is None else _resolved(self._node, collection))
        if need is Need.READ and body is not None:
            for other in _lookup_collections(body):
                access.check(Need.READ, _resolved(self._node, other))

    async def _check_value_exists(self, condition: ValueExists) -> None:
        try:
            request = decode(CountRequest, {"filter": condition.filter, "exact": True},
                             path="value_exists")
            found = await self._node.points.count(condition.collection, request)
        except NotFound:
            found = 0
        if not found:
            raise Forbidden("Forbidden: the token's value_exists condition matches no point")


def auth_middleware(node: Node):
    authorizer = Authorizer(node)

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path in OPEN_PATHS or request.path.startswith(INTERNAL_PREFIX):
            return await handler(request)
        access = await authorizer.access(given_credential(request))
        resource = request.match_info.route.resource
        if resource is not None and not access.is_full:
            need = route_need(request.method, resource.canonical)
            body = (await read_json(request, required=False)
                    if need is Need.READ and request.body_exists else None)
            authorizer.check(access, need, request.match_info.get("collection_name"), body)
        request[ACCESS_KEY] = access
        return await handler(request)

    return check


def _resolved(node: Node, name: str) -> str:
    """The collection a name or alias stands for; an unknown name is checked as named, so a
    credential without it learns nothing of whether it exists."""
    try:
        return node.catalog.resolve(name).name
    except NotFound:
        return name


def _lookup_collections(body: object) -> Iterator[str]:
    """Every `lookup_from.collection` in a query body, at any depth (prefetches, batches)."""
    stack = [body]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            lookup = item.get("lookup_from")
            if isinstance(lookup, dict) and isinstance(lookup.get("collection"), str):
                yield lookup["collection"]
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
