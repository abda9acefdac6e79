"""Flotilla node: the HTTP API and one node's storage engine."""

import os

# One BLAS thread unless the environment says otherwise; set before numpy loads its BLAS.
# Requests already run side by side, and after every product OpenBLAS's extra thread
# busy-waits for the next one: under search load it kept a whole second core spinning.
for _var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

# The Qdrant REST API version whose wire format Flotilla speaks; reported at `GET /` so that
# qdrant-client's compatibility check (same major, minor within one) passes.
QDRANT_API_VERSION = "1.15.0"
__version__ = "0.1.0"
