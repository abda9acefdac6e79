"""Raft through pysyncobj: the state machine's shell, the restricted decoder of Raft
messages, the journal, and membership changes."""
