"""A Jepsen-style chaos harness for Flotilla: real node processes in network namespaces, faults
(nemeses) on a seeded schedule, workloads through the official qdrant-client that record every
operation, and checkers that judge the recorded history once the faults heal.

`flotilla chaos list` names the scenarios; `flotilla chaos run SCENARIO --seed N` runs one.
"""
