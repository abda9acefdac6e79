"""Flotilla node: the HTTP API and one node's storage engine."""

import os

# One BLAS thread unless the environment says otherwise; set before numpy loads its BLAS.
# Requests already run side by side, and after every product OpenBLAS's extra thread
# busy-waits for the next one: under search load it kept a whole second core spinning.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# The Qdrant API version whose wire format Flotilla speaks; reported at `GET /` and by the gRPC
# health check so that qdrant-client's compatibility check (same major, minor within one)
# passes for clients 1.18 to 1.20. Older clients (1.15 to 1.17) connect too: their check only
# warns, and what they send is still taken.
QDRANT_API_VERSION = "1.19.0"
__version__ = "0.1.0"
