"""The refusals qdrant-client raises, the same way for both faces: REST raises
UnexpectedResponse with the HTTP status, gRPC an RpcError with the status code Qdrant maps it
to. Tests that run over both (the `client` fixture) check the HTTP status either way."""

from __future__ import annotations

import grpc
from qdrant_client.http.exceptions import UnexpectedResponse

API_ERRORS = (UnexpectedResponse, grpc.RpcError)

HTTP_STATUS = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.FAILED_PRECONDITION: 412,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.UNAVAILABLE: 503,
}


def status_of(error: BaseException) -> int | None:
    """The HTTP status of a refusal from either face."""
    if isinstance(error, UnexpectedResponse):
        return error.status_code
    if isinstance(error, grpc.RpcError):
        return HTTP_STATUS.get(error.code())
    return None


def message_of(error: BaseException) -> str:
    if isinstance(error, grpc.RpcError):
        return error.details() or ""
    return str(error)
