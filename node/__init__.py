"""Flotilla node: the HTTP API and one node's storage engine."""

# The Qdrant REST API version whose wire format Flotilla speaks; reported at `GET /` so that
# qdrant-client's compatibility check (same major, minor within one) passes.
QDRANT_API_VERSION = "1.15.0"
__version__ = "0.1.0"
