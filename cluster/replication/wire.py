"""The byte format of everything that crosses nodes: JSON (orjson) with tagged objects.

Plain JSON values travel as themselves. Values JSON has no word for travel as an object whose
key `TAG` names their kind: numpy arrays (dtype, shape, base64 of the little-endian bytes),
tuples, sets, dicts whose keys are not all strings, non-finite floats, compiled filters (their
source JSON, compiled again by the receiver) and a whitelist of engine dataclasses (built
field by field). A plain dict that happens to use the key `TAG` is sent as a tagged map, so
tags are never ambiguous.

Decoding never executes code: the internal API that reads this format is reachable on the
public port. Only whitelisted dtypes and dataclasses are built; anything else is a ValueError.
"""

from __future__ import annotations

import binascii
import dataclasses
import math

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
    return orjson.dumps(_to_json(obj))


def _to_json(obj: object) -> object:
    # Exact type checks first: the common JSON types take one set lookup each.
    kind = type(obj)
    if kind in _PLAIN:
        return obj
    if kind is float:
        return obj if math.isfinite(obj) else {TAG: "f", "v": repr(obj)}
    if kind is dict:
        if TAG not in obj and all(type(k) is str for k in obj):
            return {k: v if type(v) in _PLAIN else _to_json(v) for k, v in obj.items()}
        return {TAG: "map", "v": [[_to_json(k), _to_json(v)] for k, v in obj.items()]}
    if kind is list:
        return [v if type(v) in _PLAIN else _to_json(v) for v in obj]
    if kind is tuple:
        return {TAG: "tu", "v": [_to_json(v) for v in obj]}
    if kind is np.ndarray:
        return _array(obj)
    if kind is set or kind is frozenset:
        return {TAG: "set" if kind is set else "fset", "v": [_to_json(v) for v in obj]}
    if kind in _FIELDS:
        as_json = _JSON_FIELDS.get(kind, ())
        fields = {
            name: {TAG: "js", "v": orjson.dumps(getattr(obj, name)).decode()}
            if name in as_json else _to_json(getattr(obj, name))
            for name in _FIELDS[kind]
        }
        return {TAG: "dc", "n": kind.__name__, "f": fields}
    if isinstance(obj, CompiledFilter):
        if obj.source is None:  # built without compile_filter: no source a peer could compile
            raise TypeError("wire: a compiled filter without its source cannot travel")
        return {TAG: "flt", "v": _to_json(msgspec.to_builtins(obj.source))}
    if isinstance(obj, np.ndarray):
        return _array(obj)
    if isinstance(obj, np.generic) and obj.dtype.name in _DTYPES:
        return _to_json(obj.item())
    raise TypeError(f"wire: cannot encode a value of type {kind.__name__}")


def _array(arr: np.ndarray) -> dict:
    name = _DTYPE_NAMES.get(arr.dtype)  # keyed by dtype: `dtype.name` is slow to compute
    if name is None:
        name = arr.dtype.name
        if name not in _DTYPES:
            raise TypeError(f"wire: cannot encode a numpy array of dtype {arr.dtype}")
    data = np.ascontiguousarray(arr, dtype=_DTYPES[name]).tobytes()
    return {TAG: "nd", "d": name, "s": list(arr.shape),
            "b": binascii.b2a_base64(data, newline=False).decode("ascii")}


# ---------------------------------------------------------------- decode


def decode(data: bytes) -> object:
    """The value `encode` made these bytes from; WireError when they are not a valid message."""
    try:
        return _from_json(orjson.loads(data))
    except WireError:
        raise
    except (orjson.JSONDecodeError, ValueError, TypeError, KeyError, RecursionError) as exc:
        raise WireError(f"undecodable wire message: {exc}") from None


def _from_json(obj: object) -> object:
    # orjson's fresh output is ours: containers are decoded in place, scalars left untouched.
    kind = type(obj)
    if kind is list:
        for i, v in enumerate(obj):
            if type(v) in _CONTAINERS:
                obj[i] = _from_json(v)
        return obj
    if kind is not dict:
        return obj
    tag = obj.get(TAG)
    if tag is None:
        for k, v in obj.items():
            if type(v) in _CONTAINERS:
                obj[k] = _from_json(v)
        return obj
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise WireError(f"unknown wire tag {tag!r}")
    return decoder(obj)


def _decode_array(obj: dict) -> np.ndarray:
    dtype = _DTYPES.get(obj["d"])
    shape = obj["s"]
    if dtype is None:
        raise WireError(f"numpy dtype {obj['d']!r} is not allowed on the wire")
    if not isinstance(shape, list) or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("a numpy array's shape must be a list of non-negative integers")
    # A bytearray makes the array writable, like any array the engine builds itself.
    raw = bytearray(binascii.a2b_base64(obj["b"]))
    if len(raw) != math.prod(shape) * dtype.itemsize:
        raise WireError(f"numpy array bytes do not match shape {shape} of {obj['d']}")
    arr = np.frombuffer(raw, dtype=dtype).reshape(shape)
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _decode_map(obj: dict) -> dict:
    out = {}
    for pair in obj["v"]:
        if type(pair) is not list or len(pair) != 2:
            raise WireError("a wire map is a list of [key, value] pairs")
        key = _from_json(pair[0])
        if type(key) not in (str, int, float, bool, tuple, frozenset) and key is not None:
            raise WireError(f"a wire map key cannot be a {type(key).__name__}")
        out[key] = _from_json(pair[1])
    return out


def _decode_dataclass(obj: dict) -> object:
    cls = _DATACLASSES.get(obj["n"])
    if cls is None:
        raise WireError(f"type {obj['n']!r} is not allowed on the wire")
    fields = obj["f"]
    if type(fields) is not dict or not set(fields) <= set(_FIELDS[cls]):
        raise WireError(f"unexpected fields for {obj['n']}")
    return cls(**{name: _from_json(value) for name, value in fields.items()})


def _decode_float(obj: dict) -> float:
    value = float(obj["v"])
    if math.isfinite(value):
        raise WireError("a tagged float must be nan or infinite")
    return value


def _decode_filter(obj: dict) -> CompiledFilter | None:
    # A malformed filter raises BadRequest here, as it would in the sender's own API.
    return compile_filter(decode_model(Filter, _from_json(obj["v"]), path="filter"))


def _decode_json_text(obj: dict) -> object:
    if type(obj["v"]) is not str:
        raise WireError("a JSON text on the wire must be a string")
    return orjson.loads(obj["v"])


def _items(obj: dict) -> list:
    items = obj["v"]
    if type(items) is not list:
        raise WireError(f"wire tag {obj[TAG]!r} expects a list")
    return [_from_json(v) for v in items]


_DECODERS = {
    "nd": _decode_array,
    "tu": lambda obj: tuple(_items(obj)),
    "set": lambda obj: set(_items(obj)),
    "fset": lambda obj: frozenset(_items(obj)),
    "map": _decode_map,
    "dc": _decode_dataclass,
    "f": _decode_float,
    "flt": _decode_filter,
    "js": _decode_json_text,
}
