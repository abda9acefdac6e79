"""The byte format of everything that crosses nodes: JSON (orjson) with tagged objects, and
the raw bytes of numpy arrays after it in one binary frame.

Plain JSON values travel as themselves. Values JSON has no word for travel as an object whose
key `TAG` names their kind: numpy arrays (dtype, shape, and where their little-endian bytes
lie in the frame's data part), tuples, sets, dicts whose keys are not all strings, non-finite
floats, compiled filters (their source JSON, compiled again by the receiver) and a whitelist of
engine dataclasses (built field by field). A plain dict that happens to use the key `TAG` is
sent as a tagged map, so tags are never ambiguous.

A message that holds arrays is a frame: `FRAME_MAGIC | u32 length of the JSON | JSON | data`,
each array's bytes at an 8-byte aligned offset of the data part, so a vector batch crosses as
its own bytes instead of base64 text (a third larger, and encoded and decoded on both sides).
A message without arrays is the JSON alone. JSON never starts with the magic, so the two are
told apart by the first bytes. Arrays tagged with base64 text (what nodes sent before frames)
are still read.

Decoding never executes code: the internal API that reads this format is reachable on the
public port. Only whitelisted dtypes and dataclasses are built; anything else is a ValueError.
"""

from __future__ import annotations

import binascii
import dataclasses
import math
import struct

import msgspec
import numpy as np
import orjson

from node.engine.filters import CompiledFilter, compile_filter
from node.engine.point_batch import DenseColumn, PointBatch, SparseVector
from node.engine.query_scoring import VectorQuery
from node.engine.search import SearchParams
from node.engine.shard import ShardInfo
from node.model import decode as decode_model
from node.model.filters import Filter

CONTENT_TYPE = "application/x-flotilla-wire"
TAG = "$w"
FRAME_MAGIC = b"FLW1"
_FRAME_HEAD = struct.Struct("<4sI")  # magic, length of the JSON part
_ALIGN = 8

# dtype name -> the explicit little-endian dtype the bytes are read as.
_DTYPES: dict[str, np.dtype] = {
    name: np.dtype(code)
    for name, code in {
        "float32": "<f4", "float16": "<f2", "float64": "<f8", "uint8": "u1",
        "uint32": "<u4", "int64": "<i8", "bool": "?",
    }.items()
}
_DTYPE_NAMES: dict[np.dtype, str] = {np.dtype(name): name for name in _DTYPES}
# Types orjson writes as they are and reads back as the same value.
_PLAIN = frozenset({str, int, bool, type(None)})
_CONTAINERS = frozenset({dict, list})
_DATACLASSES: dict[str, type] = {
    cls.__name__: cls
    for cls in (SparseVector, DenseColumn, PointBatch, VectorQuery, SearchParams, ShardInfo)
}
_FIELDS: dict[type, tuple[str, ...]] = {
    cls: tuple(f.name for f in dataclasses.fields(cls) if f.init) for cls in _DATACLASSES.values()
}
# Fields that hold plain JSON only (payloads parsed from a request or read from storage): sent
# as one JSON text, which the receiver parses without walking it for tags. 256 payloads cost
# ~0.05 ms this way instead of ~1 ms each way through the tagged walk.
_JSON_FIELDS: dict[type, frozenset[str]] = {PointBatch: frozenset({"payloads"})}


class WireError(ValueError):
    """Bytes that are not a valid wire message."""


# ---------------------------------------------------------------- encode


def encode(obj: object) -> bytes:
    """`obj` as wire bytes; TypeError for a value the format does not carry."""
    blobs = _Blobs()
    head = orjson.dumps(_to_json(obj, blobs))
    if not blobs.parts:
        return head
    return b"".join([_FRAME_HEAD.pack(FRAME_MAGIC, len(head)), head, *blobs.parts])


class _Blobs:
    """The data part of a frame as it is built: array bytes, each padded to `_ALIGN`."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, data: bytes) -> int:
        """Append `data`; returns its offset in the data part."""
        offset = self.size
        self.parts.append(data)
        pad = -len(data) % _ALIGN
        if pad:
            self.parts.append(bytes(pad))
        self.size += len(data) + pad
        return offset


def _to_json(obj: object, blobs: _Blobs) -> object:
    # Exact type checks first: the common JSON types take one set lookup each.
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else {TAG: "f", "v": repr(obj)}
    if kind is dict:
        if TAG not in obj and all(type(k) is str for k in obj):
            return {k: v if type(v) in _PLAIN else _to_json(v, blobs) for k, v in obj.items()}
        return {TAG: "map", "v": [[_to_json(k, blobs), _to_json(v, blobs)]
                                  for k, v in obj.items()]}
    if kind is list:
        return [v if type(v) in _PLAIN else _to_json(v, blobs) for v in obj]
    if kind is tuple:
        return {TAG: "tu", "v": [_to_json(v, blobs) for v in obj]}
    if kind is np.ndarray:
        return _array(obj, blobs)
    if kind is set or kind is frozenset:
        return {TAG: "set" if kind is set else "fset", "v": [_to_json(v, blobs) for v in obj]}
    if kind in _FIELDS:
        as_json = _JSON_FIELDS.get(kind, ())
        fields = {
            name: {TAG: "js", "v": orjson.dumps(getattr(obj, name)).decode()}
            if name in as_json else _to_json(getattr(obj, name), blobs)
            for name in _FIELDS[kind]
        }
        return {TAG: "dc", "n": kind.__name__, "f": fields}
    if isinstance(obj, CompiledFilter):
        if obj.source is None:  # built without compile_filter: no source a peer could compile
            raise TypeError("wire: a compiled filter without its source cannot travel")
        return {TAG: "flt", "v": _to_json(msgspec.to_builtins(obj.source), blobs)}
    if isinstance(obj, np.ndarray):
        return _array(obj, blobs)
    if isinstance(obj, np.generic) and obj.dtype.name in _DTYPES:
        return _to_json(obj.item(), blobs)
    raise TypeError(f"wire: cannot encode a value of type {kind.__name__}")


def _array(arr: np.ndarray, blobs: _Blobs) -> dict:
    """The array's bytes go to the frame's data part; the tag says where they lie."""
    name = _DTYPE_NAMES.get(arr.dtype)  # keyed by dtype: `dtype.name` is slow to compute
    if name is None:
        name = arr.dtype.name
        if name not in _DTYPES:
            raise TypeError(f"wire: cannot encode a numpy array of dtype {arr.dtype}")
    data = np.ascontiguousarray(arr, dtype=_DTYPES[name]).tobytes()
    return {TAG: "nb", "d": name, "s": list(arr.shape), "o": blobs.add(data), "n": len(data)}


# ---------------------------------------------------------------- decode


def decode(data: bytes) -> object:
    """The value `encode` made these bytes from; WireError when they are not a valid message."""
    try:
        head, blob = _split_frame(data)
        return _from_json(orjson.loads(head), blob)
    except WireError:
        raise
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise WireError(f"undecodable wire message: {exc}") from None


def _split_frame(data: bytes) -> tuple[bytes | memoryview, bytearray]:
    """(JSON part, data part) of a message; a message without arrays is JSON alone."""
    if data[:4] != FRAME_MAGIC:
        return data, bytearray()
    if len(data) < _FRAME_HEAD.size:
        raise WireError("truncated wire frame")
    _, length = _FRAME_HEAD.unpack_from(data)
    end = _FRAME_HEAD.size + length
    if end > len(data):
        raise WireError("wire frame shorter than its JSON part")
    # One copy of the data part makes every array decoded from it writable, like any array
    # the engine builds itself.
    return memoryview(data)[_FRAME_HEAD.size:end], bytearray(memoryview(data)[end:])


def _from_json(obj: object, blob: bytearray) -> object:
    # orjson's fresh output is ours: containers are decoded in place, scalars left untouched.
    kind = type(obj)
    if kind is list:
        for i, v in enumerate(obj):
            if type(v) in _CONTAINERS:
                obj[i] = _from_json(v, blob)
        return obj
    if kind is not dict:
        return obj
    tag = obj.get(TAG)
    if tag is None:
        for k, v in obj.items():
            if type(v) in _CONTAINERS:
                obj[k] = _from_json(v, blob)
        return obj
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise WireError(f"unknown wire tag {tag!r}")
    return decoder(obj, blob)


def _array_kind(obj: dict) -> tuple[np.dtype, list[int], int]:
    """(dtype, shape, byte length) of a tagged array, checked."""
    dtype = _DTYPES.get(obj["d"])
    shape = obj["s"]
    if dtype is None:
        raise WireError(f"numpy dtype {obj['d']!r} is not allowed on the wire")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("a numpy array's shape must be a list of non-negative integers")
    return dtype, shape, math.prod(shape) * dtype.itemsize


def _native(arr: np.ndarray) -> np.ndarray:
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _decode_array(obj: dict, blob: bytearray) -> np.ndarray:
    """An array whose bytes lie in the frame's data part."""
    dtype, shape, size = _array_kind(obj)
    offset, length = obj["o"], obj["n"]
    if type(offset) is not int or type(length) is not int or offset < 0:
        raise WireError("an array's offset and length must be non-negative integers")
    if length != size or offset + length > len(blob):
        raise WireError(f"numpy array bytes do not match shape {shape} of {obj['d']}")
    return _native(np.frombuffer(blob, dtype=dtype, count=math.prod(shape),
                                 offset=offset).reshape(shape))


def _decode_base64_array(obj: dict, blob: bytearray) -> np.ndarray:
    """An array as base64 text inside the JSON (the form before frames)."""
    dtype, shape, size = _array_kind(obj)
    raw = bytearray(binascii.a2b_base64(obj["b"]))
    if len(raw) != size:
        raise WireError(f"numpy array bytes do not match shape {shape} of {obj['d']}")
    return _native(np.frombuffer(raw, dtype=dtype).reshape(shape))


def _decode_map(obj: dict, blob: bytearray) -> dict:
    out = {}
    for pair in obj["v"]:
        if type(pair) is not list or len(pair) != 2:
            raise WireError("a wire map is a list of [key, value] pairs")
        key = _from_json(pair[0], blob)
        if type(key) not in (str, int, float, bool, tuple, frozenset) and key is not None:
            raise WireError(f"a wire map key cannot be a {type(key).__name__}")
        out[key] = _from_json(pair[1], blob)
    return out


def _decode_dataclass(obj: dict, blob: bytearray) -> object:
    cls = _DATACLASSES.get(obj["n"])
    if cls is None:
        raise WireError(f"type {obj['n']!r} is not allowed on the wire")
    fields = obj["f"]
    if type(fields) is not dict or not set(fields) <= set(_FIELDS[cls]):
        raise WireError(f"unexpected fields for {obj['n']}")
    return cls(**{name: _from_json(value, blob) for name, value in fields.items()})


def _decode_float(obj: dict, blob: bytearray) -> float:
    value = float(obj["v"])
    if math.isfinite(value):
        raise WireError("a tagged float must be nan or infinite")
    return value


def _decode_filter(obj: dict, blob: bytearray) -> CompiledFilter | None:
    # A malformed filter raises BadRequest here, as it would in the sender's own API.
    return compile_filter(decode_model(Filter, _from_json(obj["v"], blob), path="filter"))


def _decode_json_text(obj: dict, blob: bytearray) -> object:
    if type(obj["v"]) is not str:
        raise WireError("a JSON text on the wire must be a string")
    return orjson.loads(obj["v"])


def _items(obj: dict, blob: bytearray) -> list:
    items = obj["v"]
    if type(items) is not list:
        raise WireError(f"wire tag {obj[TAG]!r} expects a list")
    return [_from_json(v, blob) for v in items]


_DECODERS = {
    "nb": _decode_array,
    "nd": _decode_base64_array,
    "tu": lambda obj, blob: tuple(_items(obj, blob)),
    "set": lambda obj, blob: set(_items(obj, blob)),
    "fset": lambda obj, blob: frozenset(_items(obj, blob)),
    "map": _decode_map,
    "dc": _decode_dataclass,
    "f": _decode_float,
    "flt": _decode_filter,
    "js": _decode_json_text,
}
