"""Canonical collection config: built from a create body, changed by update bodies.

The canonical config is a plain JSON-serialisable dict shaped like the `config` object of a
collection info response, so the metadata state machine can replicate it through Raft unchanged
and the API can hand it back to clients unchanged. Everything here is pure: bodies are validated
field by field and every problem is a BadRequest naming the JSON path of the offending field.
"""

from __future__ import annotations

import copy
import math
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from node.engine.shard_config import ShardConfig
from node.errors import BadRequest, NotFound

# --- defaults -----------------------------------------------------------------------------------

DEFAULT_HNSW_CONFIG: dict[str, Any] = {
    "m": 16,
    "ef_construct": 100,
    "full_scan_threshold": 10000,
    "max_indexing_threads": 0,
    "on_disk": False,
}

DEFAULT_OPTIMIZER_CONFIG: dict[str, Any] = {
    "deleted_threshold": 0.2,
    "vacuum_min_vector_number": 1000,
    "default_segment_number": 0,
    "max_segment_size": None,
    "memmap_threshold": None,
    "indexing_threshold": 20000,
    "flush_interval_sec": 5,
    "max_optimization_threads": 1,
}

DEFAULT_WAL_CONFIG: dict[str, Any] = {"wal_capacity_mb": 32, "wal_segments_ahead": 0}

DISTANCES = ("Cosine", "Dot", "Euclid", "Manhattan")
DATATYPES = ("float32", "float16", "uint8")
SPARSE_MODIFIERS = ("none", "idf")
COMPRESSION_RATIOS = ("x4", "x8", "x16", "x32", "x64")
BINARY_ENCODINGS = ("one_bit", "two_bits", "one_and_half_bits")
BINARY_QUERY_ENCODINGS = ("default", "binary", "scalar4bits", "scalar8bits")
QUANTIZATION_DISABLED = "Disabled"

MAX_COLLECTION_NAME_BYTES = 255
_UNSAFE_NAME_CHARS = set('/\\<>:"|?*')
_UINT32_MAX = 2**32 - 1

# A checker validates one JSON value found at `path` and returns its canonical form.
Checker = Callable[[Any, str], Any]


# --- messages and paths -------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    # An empty key is the unnamed vector; show it visibly rather than as a trailing dot.
    shown = '""' if key == "" else key
    return f"{path}.{shown}" if path else shown


def _show(value: Any) -> str:
    """Render a received value the way a client wrote it, short."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "an array"
    return str(value)


def _fail(path: str, message: str) -> BadRequest:
    return BadRequest(f"{path}: {message}" if path else message)


# --- scalar checkers ----------------------------------------------------------------------------


def _uint(minimum: int = 0, maximum: int | None = None) -> Checker:
    def check(value: Any, path: str) -> int:
        # bool is an int subclass in Python but never a valid JSON integer here.
        in_range = isinstance(value, int) and not isinstance(value, bool) and value >= minimum
        if in_range and (maximum is None or value <= maximum):
            return value
        bound = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        raise _fail(path, f"must be an integer {bound}, got {_show(value)}")

    return check


def _uint32(minimum: int) -> Checker:
    return _uint(minimum, _UINT32_MAX)


def _number(minimum: float | None = None, maximum: float | None = None) -> Checker:
    def check(value: Any, path: str) -> float | int:
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and (minimum is None or value >= minimum)
            and (maximum is None or value <= maximum)
        )
        if ok:
            return value
        if minimum is not None and maximum is not None:
            bound = f" in [{minimum}, {maximum}]"
        elif minimum is not None:
            bound = f" >= {minimum}"
        else:
            bound = ""
        raise _fail(path, f"must be a number{bound}, got {_show(value)}")

    return check


def _boolean(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    raise _fail(path, f"must be a boolean, got {_show(value)}")


def _enum(kind: str, allowed: Iterable[str]) -> Checker:
    allowed = tuple(allowed)

    def check(value: Any, path: str) -> str:
        if isinstance(value, str) and value in allowed:
            # The plain word: the config goes into the Raft log, which holds plain data only
            # (a str subclass such as a client's enum would not be read back).
            return allowed[allowed.index(value)]
        prefix = (
            f"unknown {kind} {_show(value)}"
            if isinstance(value, str)
            else (f"{kind} must be a string, got {_show(value)}")
        )
        raise _fail(path, f"{prefix}, expected one of {', '.join(allowed)}")

    return check


def _max_optimization_threads(value: Any, path: str) -> int | None:
    # "auto" means no fixed limit, which the output schema spells as null.
    if value == "auto":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise _fail(path, f'must be an integer >= 0 or "auto", got {_show(value)}')


def _unsupported(reason: str) -> Checker:
    def check(value: Any, path: str) -> Any:
        raise _fail(path, reason)

    return check


# --- object checkers ----------------------------------------------------------------------------


def _metadata(value: Any, path: str) -> dict[str, Any]:
    # Arbitrary JSON of the user's; only its top level must be an object, as a payload's.
    return dict(_require_object(value, path))


def _require_object(value: Any, path: str) -> dict:
    if not isinstance(value, dict):
        what = "the request body" if not path else "value"
        raise _fail(path, f"{what} must be a JSON object, got {_show(value)}")
    return value


def _parse_fields(
    value: Any, path: str, spec: Mapping[str, Checker], required: Iterable[str] = ()
) -> dict[str, Any]:
    """Check an object against a field spec; returns only the given (non-null) fields, in spec
    order, so the canonical form mirrors what the client set."""
    body = _require_object(value, path)
    for key in body:
        if key not in spec:
            raise _fail(_join(path, key), f"unknown field, expected one of {', '.join(spec)}")
    for key in required:
        if body.get(key) is None:
            raise _fail(_join(path, key), "is required")
    return {
        key: check(body[key], _join(path, key))
        for key, check in spec.items()
        if body.get(key) is not None
    }


def _object(spec: Mapping[str, Checker], required: Iterable[str] = ()) -> Checker:
    def check(value: Any, path: str) -> dict[str, Any]:
        return _parse_fields(value, path, spec, required)

    return check


def _map_of(entry: Checker) -> Checker:
    def check(value: Any, path: str) -> dict[str, Any]:
        body = _require_object(value, path)
        return {name: entry(item, _join(path, name)) for name, item in body.items()}

    return check


# --- schemas of the request bodies --------------------------------------------------------------

HNSW_DIFF_FIELDS: dict[str, Checker] = {
    "m": _uint(0),
    "ef_construct": _uint(4),
    "full_scan_threshold": _uint(10),
    "max_indexing_threads": _uint(0),
    "on_disk": _boolean,
    "payload_m": _uint(0),
}

OPTIMIZERS_DIFF_FIELDS: dict[str, Checker] = {
    "deleted_threshold": _number(0, 1),
    "vacuum_min_vector_number": _uint(100),
    "default_segment_number": _uint(0),
    "max_segment_size": _uint(1),
    "memmap_threshold": _uint(0),
    "indexing_threshold": _uint(0),
    "flush_interval_sec": _uint(0),
    "max_optimization_threads": _max_optimization_threads,
}

WAL_DIFF_FIELDS: dict[str, Checker] = {
    "wal_capacity_mb": _uint(1),
    "wal_segments_ahead": _uint(0),
}

SPARSE_INDEX_FIELDS: dict[str, Checker] = {
    "full_scan_threshold": _uint(0),
    "on_disk": _boolean,
    "datatype": _enum("datatype", DATATYPES),
}

SPARSE_VECTOR_FIELDS: dict[str, Checker] = {
    "index": _object(SPARSE_INDEX_FIELDS),
    "modifier": _enum("modifier", SPARSE_MODIFIERS),
}

STRICT_MODE_FIELDS: dict[str, Checker] = {
    "enabled": _boolean,
    "max_query_limit": _uint(1),
    "max_timeout": _uint(1),
    "unindexed_filtering_retrieve": _boolean,
    "unindexed_filtering_update": _boolean,
    "search_max_hnsw_ef": _uint(0),
    "search_allow_exact": _boolean,
    "search_max_oversampling": _number(),
    "upsert_max_batchsize": _uint(0),
    "max_collection_vector_size_bytes": _uint(0),
    "read_rate_limit": _uint(1),
    "write_rate_limit": _uint(1),
    "max_collection_payload_size_bytes": _uint(0),
    "max_points_count": _uint(1),
    "filter_max_conditions": _uint(0),
    "condition_max_size": _uint(0),
    "multivector_config": _map_of(_object({"max_vectors": _uint(1)})),
    "sparse_config": _map_of(_object({"max_length": _uint(1)})),
}

PARAMS_DIFF_FIELDS: dict[str, Checker] = {
    "replication_factor": _uint32(1),
    "write_consistency_factor": _uint32(1),
    "read_fan_out_factor": _uint32(0),
    "read_fan_out_delay_ms": _uint(0),
    "on_disk_payload": _boolean,
    # Resharding is not an update: the placement of every point depends on it.
    "shard_number": _unsupported(
        "cannot be changed after the collection is created; create a new collection instead"
    ),
}

_QUANTIZATION_KINDS: dict[str, Checker] = {
    "scalar": _object(
        {
            "type": _enum("scalar type", ("int8",)),
            "quantile": _number(0.5, 1),
            "always_ram": _boolean,
        },
        required=("type",),
    ),
    "product": _object(
        {
            "compression": _enum("compression", COMPRESSION_RATIOS),
            "always_ram": _boolean,
        },
        required=("compression",),
    ),
    "binary": _object(
        {
            "always_ram": _boolean,
            "encoding": _enum("encoding", BINARY_ENCODINGS),
            "query_encoding": _enum("query encoding", BINARY_QUERY_ENCODINGS),
        }
    ),
}


def _quantization(value: Any, path: str) -> dict[str, Any]:
    """One of {"scalar": ...}, {"product": ...}, {"binary": ...}."""
    parsed = _parse_fields(value, path, _QUANTIZATION_KINDS)
    if len(parsed) != 1:
        raise _fail(path, "must hold exactly one of scalar, product, binary")
    return parsed


def _quantization_diff(value: Any, path: str) -> dict[str, Any] | None:
    """A quantization config, or "Disabled" (returned as None) to remove it."""
    if value == QUANTIZATION_DISABLED:
        return None
    if isinstance(value, str):
        raise _fail(path, f'unknown value {_show(value)}, expected an object or "Disabled"')
    return _quantization(value, path)


VECTOR_PARAMS_FIELDS: dict[str, Checker] = {
    "size": _uint(1),
    "distance": _enum("distance", DISTANCES),
    "hnsw_config": _object(HNSW_DIFF_FIELDS),
    "quantization_config": _quantization,
    "on_disk": _boolean,
    "datatype": _enum("datatype", DATATYPES),
    "multivector_config": _object(
        {"comparator": _enum("comparator", ("max_sim",))}, required=("comparator",)
    ),
}

VECTOR_PARAMS_DIFF_FIELDS: dict[str, Checker] = {
    "hnsw_config": _object(HNSW_DIFF_FIELDS),
    "quantization_config": _quantization_diff,
    "on_disk": _boolean,
}


def _init_from(value: Any, path: str) -> str:
    parsed = _parse_fields(value, path, {"collection": _any_string}, required=("collection",))
    return parsed["collection"]


def _any_string(value: Any, path: str) -> str:
    if isinstance(value, str) and value:
        return value
    raise _fail(path, f"must be a non-empty string, got {_show(value)}")


_sharding_method = _enum("sharding method", ("auto", "custom"))


CREATE_COLLECTION_FIELDS: dict[str, Checker] = {
    "vectors": lambda value, path: value,  # parsed by _vectors_config, which needs the shape
    "shard_number": _uint32(1),
    "sharding_method": _sharding_method,
    "replication_factor": _uint32(1),
    "write_consistency_factor": _uint32(1),
    "on_disk_payload": _boolean,
    "hnsw_config": _object(HNSW_DIFF_FIELDS),
    "wal_config": _object(WAL_DIFF_FIELDS),
    "optimizers_config": _object(OPTIMIZERS_DIFF_FIELDS),
    "init_from": _init_from,
    "quantization_config": _quantization,
    "sparse_vectors": _map_of(_object(SPARSE_VECTOR_FIELDS)),
    "strict_mode_config": _object(STRICT_MODE_FIELDS),
    "metadata": _metadata,
}

UPDATE_COLLECTION_FIELDS: dict[str, Checker] = {
    "vectors": _map_of(_object(VECTOR_PARAMS_DIFF_FIELDS)),
    "optimizers_config": _object(OPTIMIZERS_DIFF_FIELDS),
    "params": _object(PARAMS_DIFF_FIELDS),
    "hnsw_config": _object(HNSW_DIFF_FIELDS),
    "quantization_config": _quantization_diff,
    "sparse_vectors": _map_of(_object(SPARSE_VECTOR_FIELDS)),
    "strict_mode_config": _object(STRICT_MODE_FIELDS),
    "metadata": _metadata,
}


# --- vector params ------------------------------------------------------------------------------


def _vector_params(value: Any, path: str) -> dict[str, Any]:
    params = _parse_fields(value, path, VECTOR_PARAMS_FIELDS, required=("size", "distance"))
    _refuse_quantized_multivector(params, path)
    if params.get("hnsw_config") == {}:
        del params["hnsw_config"]  # an empty diff overrides nothing
    return params


def _refuse_quantized_multivector(params: dict[str, Any], path: str) -> None:
    # Codes per sub-vector would need a max-sim scorer of their own; a multivector is searched
    # on its stored values instead (a collection-wide quantization skips it).
    if "multivector_config" in params and "quantization_config" in params:
        raise _fail(_join(path, "quantization_config"),
                    "quantization of multivectors is not supported by Flotilla")


def _is_single_vector_form(value: dict) -> bool:
    # A VectorParams has scalar "size"/"distance"; a map of named vectors has only objects.
    return any(key in value and not isinstance(value[key], dict) for key in ("size", "distance"))


def _vectors_config(value: Any, path: str) -> dict[str, Any]:
    if value is None:
        return {}
    body = _require_object(value, path)
    if _is_single_vector_form(body):
        return _vector_params(body, path)
    vectors: dict[str, Any] = {}
    for name, params in body.items():
        if name == "":
            raise _fail(path, 'a named vector needs a non-empty name ("" is the unnamed vector)')
        if not isinstance(params, dict):
            raise _fail(
                _join(path, name),
                f"must be an object with size and distance, got {_show(params)}",
            )
        vectors[name] = _vector_params(params, _join(path, name))
    return vectors


# --- public API ---------------------------------------------------------------------------------


def validate_collection_name(name: str) -> None:
    """Reject names that are empty, too long, or unsafe as a directory name on any platform."""
    if not isinstance(name, str) or not name:
        raise BadRequest("collection name must be a non-empty string")
    if len(name.encode("utf-8")) > MAX_COLLECTION_NAME_BYTES:
        raise BadRequest(
            f"collection name must be at most {MAX_COLLECTION_NAME_BYTES} bytes in UTF-8, "
            f"got {len(name.encode('utf-8'))}"
        )
    for char in name:
        if char in _UNSAFE_NAME_CHARS:
            raise BadRequest(
                f"collection name {name!r} contains {char!r}; "
                'the characters / \\ < > : " | ? * are not allowed'
            )
        if unicodedata.category(char) == "Cc":
            raise BadRequest(
                f"collection name {name!r} contains the control character U+{ord(char):04X}"
            )
    if name in (".", "..") or ".." in name:
        raise BadRequest(f"collection name {name!r} must not be '.' or contain '..'")


def build_collection_config(
    body: dict, *, default_shard_number: int = 1
) -> tuple[dict, str | None]:
    """Turn a create-collection body into (canonical config, name of the init_from collection)."""
    given = _parse_fields(body, "", CREATE_COLLECTION_FIELDS)
    vectors = _vectors_config(given.get("vectors"), "vectors")
    sparse = given.get("sparse_vectors") or {}
    dense_names = dense_vector_params({"params": {"vectors": vectors}})
    for name in sparse:
        if name == "":
            raise _fail("sparse_vectors", "a sparse vector needs a non-empty name")
        if name in dense_names:
            raise _fail(
                _join("sparse_vectors", name), f"name {name!r} is already used by a dense vector"
            )

    custom = given.get("sharding_method") == "custom"
    if custom and "init_from" in given:
        # The copied points would need a shard key each, and there is none to give them.
        raise _fail("init_from", "cannot fill a collection with custom sharding")
    params: dict[str, Any] = {
        "vectors": vectors,
        # With custom sharding shard_number counts the shards of each key: one unless given.
        "shard_number": given.get("shard_number", 1 if custom else default_shard_number),
    }
    if "sharding_method" in given:
        params["sharding_method"] = given["sharding_method"]
    params["replication_factor"] = given.get("replication_factor", 1)
    params["write_consistency_factor"] = given.get("write_consistency_factor", 1)
    params["on_disk_payload"] = given.get("on_disk_payload", False)
    if sparse:
        params["sparse_vectors"] = sparse

    config = {
        "params": params,
        "hnsw_config": {**DEFAULT_HNSW_CONFIG, **given.get("hnsw_config", {})},
        "optimizer_config": {**DEFAULT_OPTIMIZER_CONFIG, **given.get("optimizers_config", {})},
        "wal_config": {**DEFAULT_WAL_CONFIG, **given.get("wal_config", {})},
        "quantization_config": given.get("quantization_config"),
        "strict_mode_config": {"enabled": False, **given.get("strict_mode_config", {})},
    }
    if given.get("metadata"):
        config["metadata"] = given["metadata"]
    return config, given.get("init_from")


def check_stored_config(config: object) -> None:
    """Refuse a canonical config from outside this cluster (a snapshot archive) that a create
    request could not have produced: it is read back into a create body and checked as
    strictly as one, and the engine must be able to take it."""
    if not isinstance(config, dict) or not isinstance(config.get("params"), dict):
        raise BadRequest("the collection config must be an object with `params`")
    unknown = set(config) - {"params", "hnsw_config", "optimizer_config", "wal_config",
                             "quantization_config", "strict_mode_config", "metadata"}
    if unknown:
        raise BadRequest(f"the collection config has unknown parts: {', '.join(sorted(unknown))}")
    params = dict(config["params"])
    fan_out = {key: params.pop(key) for key in ("read_fan_out_factor", "read_fan_out_delay_ms")
               if key in params}
    body = {**params, "hnsw_config": config.get("hnsw_config"),
            "optimizers_config": config.get("optimizer_config"),
            "wal_config": config.get("wal_config"),
            "quantization_config": config.get("quantization_config"),
            "strict_mode_config": config.get("strict_mode_config"),
            "metadata": config.get("metadata")}
    rebuilt, _ = build_collection_config({k: v for k, v in body.items() if v is not None})
    if fan_out:
        apply_collection_update(rebuilt, {"params": fan_out})
    try:
        ShardConfig.from_collection_config(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"the collection config cannot be used: {exc}") from None


def apply_collection_update(config: dict, patch: dict) -> dict:
    """Return a new canonical config with an update-collection body applied; `config` is left
    untouched. The whole patch is validated before anything is applied."""
    given = _parse_fields(patch, "", UPDATE_COLLECTION_FIELDS)
    new = copy.deepcopy(config)
    params = new["params"]

    if "vectors" in given:
        _update_dense_vectors(new, given["vectors"])
    if "sparse_vectors" in given:
        _update_sparse_vectors(params, given["sparse_vectors"])
    if "optimizers_config" in given:
        new["optimizer_config"].update(given["optimizers_config"])
    if "params" in given:
        params.update(given["params"])
    if "hnsw_config" in given:
        new["hnsw_config"].update(given["hnsw_config"])
    if "quantization_config" in given:
        new["quantization_config"] = given["quantization_config"]
    if "strict_mode_config" in given:
        new["strict_mode_config"] = _merge_strict_mode(
            new.get("strict_mode_config") or {"enabled": False}, given["strict_mode_config"]
        )
    if "metadata" in given:
        _merge_metadata(new, given["metadata"])
    return new


NEW_DENSE_VECTOR_FIELDS: dict[str, Checker] = {
    key: VECTOR_PARAMS_FIELDS[key] for key in ("size", "distance", "datatype", "multivector_config")
}

NEW_SPARSE_VECTOR_FIELDS: dict[str, Checker] = {
    "modifier": _enum("modifier", SPARSE_MODIFIERS),
    "datatype": _enum("datatype", DATATYPES),
}


def add_named_vector(config: dict, name: str, body: object) -> dict:
    """A new config with vector `name` added from a VectorNameConfig body ({"dense": ...} or
    {"sparse": ...}); `config` is left untouched. Points stored already do not have it."""
    given = _require_object(body, "")
    if len(given) != 1 or next(iter(given)) not in ("dense", "sparse"):
        raise _fail("", 'expected exactly one of "dense" or "sparse"')
    if not isinstance(name, str) or not name:
        raise BadRequest("a named vector needs a non-empty name")
    new = copy.deepcopy(config)
    params = new["params"]
    vectors = params.get("vectors") or {}
    if _is_single_vector_form(vectors):
        raise BadRequest(
            "the collection has a single unnamed vector; vectors can only be added to a "
            "collection whose vectors are named"
        )
    sparse = params.get("sparse_vectors") or {}
    if name in vectors or name in sparse:
        raise BadRequest(f"vector name {name!r} already exists in the collection")
    if "dense" in given:
        params["vectors"] = {**vectors, name: _parse_fields(
            given["dense"], "dense", NEW_DENSE_VECTOR_FIELDS, required=("size", "distance"))}
    else:
        spec = _parse_fields(given["sparse"], "sparse", NEW_SPARSE_VECTOR_FIELDS)
        entry: dict[str, Any] = {}
        if "modifier" in spec:
            entry["modifier"] = spec["modifier"]
        if "datatype" in spec:
            entry["index"] = {"datatype": spec["datatype"]}
        params["sparse_vectors"] = {**sparse, name: entry}
    return new


def remove_named_vector(config: dict, name: str) -> dict:
    """A new config without vector `name`; `config` is left untouched."""
    new = copy.deepcopy(config)
    params = new["params"]
    vectors = params.get("vectors") or {}
    sparse = params.get("sparse_vectors") or {}
    if not _is_single_vector_form(vectors) and name in vectors:
        params["vectors"] = {k: v for k, v in vectors.items() if k != name}
    elif name in sparse:
        params["sparse_vectors"] = {k: v for k, v in sparse.items() if k != name}
        if not params["sparse_vectors"]:
            del params["sparse_vectors"]
    else:
        names = [*([] if _is_single_vector_form(vectors) else vectors), *sparse]
        raise NotFound(f"vector name {name!r} does not exist in the collection; "
                       f"existing: {_existing_names(names)}")
    return new


def dense_vector_params(config: dict) -> dict[str, dict]:
    """Map vector name ("" for the unnamed single vector) -> its VectorParams dict."""
    vectors = config["params"]["vectors"]
    if not has_named_vectors(config):
        return {"": vectors}
    return dict(vectors)


def has_named_vectors(config: dict) -> bool:
    """False only for the single unnamed vector form (a collection without dense vectors uses
    the named form with no names)."""
    vectors = config["params"]["vectors"]
    return not _is_single_vector_form(vectors)


# --- update helpers -----------------------------------------------------------------------------


def _existing_names(names: Iterable[str]) -> str:
    shown = ", ".join('""' if name == "" else name for name in names)
    return shown or "none"


def _update_dense_vectors(config: dict, diffs: dict[str, dict]) -> None:
    vectors = dense_vector_params(config)  # the dicts are the ones inside `config`
    for name in diffs:
        if name not in vectors:
            hint = ' (use "" for the unnamed vector)' if not has_named_vectors(config) else ""
            raise _fail(
                _join("vectors", name),
                f"no dense vector named {name!r} in this collection; "
                f"existing: {_existing_names(vectors)}{hint}",
            )
    for name, diff in diffs.items():
        params = vectors[name]
        if "hnsw_config" in diff:
            # An empty diff object resets the vector to the collection's HNSW config.
            if diff["hnsw_config"]:
                params["hnsw_config"] = {**params.get("hnsw_config", {}), **diff["hnsw_config"]}
            else:
                params.pop("hnsw_config", None)
        if "quantization_config" in diff:
            if diff["quantization_config"] is None:
                params.pop("quantization_config", None)
            else:
                _refuse_quantized_multivector(
                    {**params, **diff}, _join("vectors", name)
                )
                params["quantization_config"] = diff["quantization_config"]
        if "on_disk" in diff:
            params["on_disk"] = diff["on_disk"]


def _update_sparse_vectors(params: dict, diffs: dict[str, dict]) -> None:
    sparse = params.get("sparse_vectors") or {}
    for name in diffs:
        if name not in sparse:
            raise _fail(
                _join("sparse_vectors", name),
                f"no sparse vector named {name!r} in this collection; "
                f"existing: {_existing_names(sparse)}",
            )
    for name, diff in diffs.items():
        current = sparse[name]
        if "index" in diff:
            current["index"] = {**current.get("index", {}), **diff["index"]}
        if "modifier" in diff:
            current["modifier"] = diff["modifier"]


def _merge_metadata(config: dict, diff: dict) -> None:
    # Keys merge into what is stored; a key set to null is removed.
    merged = {**config.get("metadata", {}), **diff}
    merged = {key: value for key, value in merged.items() if value is not None}
    if merged:
        config["metadata"] = merged
    else:
        config.pop("metadata", None)


def _merge_strict_mode(current: dict, diff: dict) -> dict:
    merged = {**current, **diff}
    # Per-vector limits merge by vector name, so one vector's limit can change alone.
    for key in ("multivector_config", "sparse_config"):
        if key in diff and key in current:
            merged[key] = {
                name: {**current[key].get(name, {}), **limits}
                for name, limits in {**current[key], **diff[key]}.items()
            }
    return merged
