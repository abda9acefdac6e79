"""What pysyncobj may unpickle: plain data and its own node objects, nothing that runs code.

pysyncobj decodes every Raft message, log entry, snapshot and journal record with pickle, and a
pickle can name any importable callable (`os.system`) for the decoder to call. `install()`
swaps pysyncobj's decoder for one whose `find_class` admits only the few globals that Raft
messages and Flotilla's metadata actually contain; any other is refused, the message dropped
(pysyncobj closes the connection it came on) and the attempt logged. This holds with or without
`cluster.secret`: the secret keeps strangers out, this keeps a stolen secret from being code
execution.

Protocol 2, which pysyncobj writes, spells a few plain values through globals: `bytes` as
`_codecs.encode(text, "latin1")` (or `bytes()` when empty), sets as `set(list)`, and plain
class instances (pysyncobj's member addresses, `TCPNode`) as `copyreg._reconstructor(cls,
object, None)`. Each of those is admitted through a wrapper that takes only that form.
"""

from __future__ import annotations

import _compat_pickle
import io
import logging
import pickle
import threading
import time
from collections.abc import Callable

import pysyncobj.journal
import pysyncobj.pickle
from pysyncobj.node import Node, TCPNode

log = logging.getLogger(__name__)

_NODE_CLASSES = (TCPNode, Node)
_LOG_EVERY_SECONDS = 10.0


class RefusedPickle(pickle.UnpicklingError):
    """A Raft message named a global outside the allowlist; nothing of it was run."""


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise RefusedPickle("bytes are only decoded from latin-1 text")
    return text.encode("latin1")


def _empty_bytes(*args: object) -> bytes:
    # bytes(n) would allocate n zero bytes: only the empty form protocol 2 writes is admitted.
    if args:
        raise RefusedPickle("bytes() takes no arguments here")
    return b""


def _node_instance(cls: type, base: type, state: object) -> Node:
    if cls not in _NODE_CLASSES or base is not object or state is not None:
        raise RefusedPickle("only pysyncobj node objects are rebuilt")
    return object.__new__(cls)


def _plain_set(items: object = ()) -> set:
    if not isinstance(items, list):
        raise RefusedPickle("a set is rebuilt from a list only")
    return set(items)


def _plain_frozenset(items: object = ()) -> frozenset:
    if not isinstance(items, list):
        raise RefusedPickle("a frozenset is rebuilt from a list only")
    return frozenset(items)


ALLOWED_GLOBALS: dict[tuple[str, str], Callable | type] = {
    ("_codecs", "encode"): _latin1_bytes,
    ("builtins", "bytes"): _empty_bytes,
    ("builtins", "set"): _plain_set,
    ("builtins", "frozenset"): _plain_frozenset,
    ("copyreg", "_reconstructor"): _node_instance,
    ("builtins", "object"): object,
    ("pysyncobj.node", "TCPNode"): TCPNode,
    ("pysyncobj.node", "Node"): Node,
}


class _Refusals:
    """Counts refused pickles and logs them at most once per interval (a flood stays quiet)."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._last_logged = 0.0

    def record(self, module: str, name: str) -> None:
        with self._lock:
            self.count += 1
            now = time.monotonic()
            if now - self._last_logged < _LOG_EVERY_SECONDS:
                return
            self._last_logged = now
            count = self.count
        log.warning("Raft: refused a message that names %s.%s (only plain data is decoded; "
                    "%d refused so far); the connection it came on is closed", module, name, count)


refusals = _Refusals()


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        # Protocol 2 spells globals the Python 2 way (`__builtin__.set`, `copy_reg`).
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        allowed = ALLOWED_GLOBALS.get((module, name))
        if allowed is None:
            refusals.record(module, name)
            raise RefusedPickle(f"global {module}.{name} is not allowed in a Raft message")
        return allowed


def loads(data: bytes | str) -> object:
    """pysyncobj's `loads`, restricted."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return RestrictedUnpickler(io.BytesIO(data)).load()


def load(file: io.BufferedIOBase) -> object:
    """pysyncobj's `load` (full dump files), restricted."""
    return RestrictedUnpickler(file).load()


def install() -> None:
    """Make every decoder of pysyncobj the restricted one; idempotent."""
    pysyncobj.pickle.loads = loads
    pysyncobj.pickle.load = load
    # journal.py imported `loads` by name before this ran.
    pysyncobj.journal.loads = loads
