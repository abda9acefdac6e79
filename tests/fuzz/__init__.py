"""Fuzzing a real Flotilla node with schemathesis, from Qdrant's OpenAPI spec.

`python -m fuzz --seconds 600` (run from tests/, as `make fuzz` does) starts a node, seeds a few
collections for generated requests to land on, runs schemathesis's `st run` against every
operation of the spec that the node serves, and prints the requests sent, the statuses seen, the
failures and the node's RSS before and after. tests/test_fuzz.py runs a short pass of it.
"""
