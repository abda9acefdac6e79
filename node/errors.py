"""Errors every layer may raise; the API maps each to its HTTP status once, at the edge."""

from __future__ import annotations


class FlotillaError(Exception):
    """Base of the errors a client can be told about."""

    status: int = 500


class BadRequest(FlotillaError):
    """The request is malformed or asks for something invalid."""

    status = 400


class Unauthorized(FlotillaError):
    """No credential, or one that is not valid (a wrong key, a badly signed or expired token)."""

    status = 401


class Forbidden(FlotillaError):
    """A valid credential that does not grant this operation."""

    status = 403


class NotFound(FlotillaError):
    """A named collection, alias, point or index does not exist."""

    status = 404


class RequestTimeout(FlotillaError):
    """The client did not send its whole request in time."""

    status = 408


class Conflict(FlotillaError):
    """The request collides with existing state (a duplicate name)."""

    status = 409


class Unavailable(FlotillaError):
    """The node or the cluster cannot serve the request right now."""

    status = 503


class Unprocessable(FlotillaError):
    """A well-formed body whose values break the API's rules (Qdrant's validation errors)."""

    status = 422


class StorageFailed(FlotillaError):
    """The node could not store a write (a full disk, an I/O error): nothing of it was applied.

    Answered as Qdrant does, with 500 and "Service internal error: <the OS's reason>"; another
    replica may still take the write, and this one is then treated as one that missed it.
    """

    status = 500

    @classmethod
    def from_os_error(cls, exc: OSError) -> StorageFailed:
        return cls(f"Service internal error: {exc.strerror or exc}")


class QuotaExceeded(StorageFailed):
    """This node is over a resource quota (node/quota): it stores nothing more until usage
    falls back. Answered as Qdrant does, 507 Insufficient Storage (gRPC ResourceExhausted);
    like a full disk, another replica may still take the write."""

    status = 507
