"""The public API's request model: msgspec Structs, decoded and validated once at the edge.

Every face (REST today, gRPC next) turns a request body into these types with `decode`; the
cluster layer and the engine below take the typed values and never read raw JSON.
"""

from node.model.decode import decode, invalid

__all__ = ["decode", "invalid"]
