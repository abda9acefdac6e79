"""One gRPC call from request to response: decode into the REST body, check the credential,
apply the request's consistency, ordering and timeout, answer, map errors, count.

Each RPC names the REST route it stands for, so it needs what that route needs
(node/api/access.py) and is checked by the same code (node/api/auth.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.message import Message
from pydantic import ValidationError

from cluster.replication.replica_set import READ_CONSISTENCY, WRITE_ORDERING
from cluster.routing.strict_mode import REQUEST_TIMEOUT
from node.api.access import FULL_ACCESS, Access, Need, route_need
from node.api.auth import Authorizer
from node.errors import BadRequest, FlotillaError
from node.grpc.status import status_of
from node.model import decode
from node.model.params import parse_ordering, parse_read_consistency
from node.runtime import Node

log = logging.getLogger(__name__)

Body = dict[str, Any] | None
Answer = Callable[[Any, Body, Access], Awaitable[Message]]

CONSISTENCY_WORDS = {0: "all", 1: "majority", 2: "quorum"}
ORDERING_WORDS = {0: "weak", 1: "medium", 2: "strong"}


@dataclass(frozen=True)
class Rpc:
    """`route`: the REST (method, path pattern) whose access need this RPC shares; None for
    the open health check. `to_body`: the request as the REST body (node/grpc/to_rest.py);
    `kind`: what that body is decoded into, as REST decodes it."""

    route: tuple[str, str] | None
    answer: Answer
    to_body: Callable[[Any], Body] | None = None
    # The typed request (node/model) the REST route decodes its body into; the REST-shaped
    # body is decoded into it the same way, after the credential is checked.
    kind: type | None = None


def credential(context: grpc.aio.ServicerContext) -> str | None:
    """The `api-key` metadata, or an `authorization: Bearer` one, as REST reads its headers."""
    metadata = dict(context.invocation_metadata() or ())
    given = metadata.get("api-key")
    if given is None:
        bearer = metadata.get("authorization", "")
        given = bearer[7:].strip() if bearer[:7].lower() == "bearer " else None
    return given or None


def _decode(to_body: Callable[[Any], Body], request: Message) -> Body:
    try:
        return to_body(request)
    except (ValueError, TypeError, KeyError, ValidationError) as exc:
        # ValidationError is a ValueError; named for the reader. The message says which field.
        raise BadRequest(f"invalid request: {exc}") from None


@contextlib.contextmanager
def _request_params(request: Message) -> Iterator[None]:
    """The message's read_consistency, ordering and timeout, set where the REST face sets its
    query parameters of the same names."""
    settings = []
    fields = request.DESCRIPTOR.fields_by_name
    if "read_consistency" in fields and request.HasField("read_consistency"):
        rc = request.read_consistency
        raw = (str(rc.factor) if rc.WhichOneof("value") == "factor"
               else CONSISTENCY_WORDS.get(rc.type, ""))
        settings.append((READ_CONSISTENCY, parse_read_consistency(raw)))
    if "ordering" in fields and request.HasField("ordering"):
        settings.append((WRITE_ORDERING,
                         parse_ordering(ORDERING_WORDS.get(request.ordering.type, ""))))
    if "timeout" in fields and request.HasField("timeout"):
        if request.timeout < 1:
            raise BadRequest("timeout: expected a positive number of seconds")
        settings.append((REQUEST_TIMEOUT, request.timeout))
    tokens = [(var, var.set(value)) for var, value in settings]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class Calls:
    """Wraps each RPC's answer into a grpc.aio unary handler."""

    def __init__(self, node: Node) -> None:
        self._authorizer = Authorizer(node)
        self._metrics = node.metrics
        self._node = node

    def handler(self, method: str, rpc: Rpc) -> Callable[..., Awaitable[Message]]:
        authorizer = self._authorizer
        metrics = self._metrics
        node = self._node
        need = None if rpc.route is None else route_need(*rpc.route)

        async def handle(request: Message, context: grpc.aio.ServicerContext) -> Message:
            started = time.perf_counter()
            code, message, response = grpc.StatusCode.OK, "", None
            collection = getattr(request, "collection_name", "") or None
            try:
                body = None if rpc.to_body is None else _decode(rpc.to_body, request)
                access = FULL_ACCESS
                if need is not None and authorizer.enabled:
                    access = await authorizer.access(credential(context))
                    authorizer.check(access, need, collection, body)
                if rpc.kind is not None:
                    body = decode(rpc.kind, body if body is not None else {})
                with _request_params(request):
                    response = await rpc.answer(request, body, access)
                if need is Need.READ and collection is not None:
                    # A slow filtered read, as over REST (node/api/slow_reads.py).
                    node.note_read(collection, body, time.perf_counter() - started)
                if "time" in response.DESCRIPTOR.fields_by_name:
                    response.time = time.perf_counter() - started
            except FlotillaError as exc:
                code, message = status_of(exc), str(exc)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception:
                log.exception("unhandled error serving gRPC %s", method)
                code, message = grpc.StatusCode.INTERNAL, "internal error; see the node's log"
            finally:
                metrics.grpc_call(method, code, time.perf_counter() - started,
                                  collection if code is grpc.StatusCode.OK else None)
            if response is None:
                await context.abort(code, message)
            return response

        return handle
