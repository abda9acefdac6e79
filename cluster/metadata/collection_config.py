"""Canonical collection config: built from a create request, changed by update requests.

The canonical config is a plain JSON-serialisable dict shaped like the `config` object of a
collection info response, so the metadata state machine can replicate it through Raft unchanged
and the API can hand it back to clients unchanged. The requests arrive decoded and checked
(node/model/collections.py); what is checked here is what depends on the collection as it is
(which vectors exist), and every problem is a BadRequest naming the JSON path of the field.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

import msgspec

from node.engine.shard_config import ShardConfig
from node.errors import BadRequest, NotFound
from node.model import decode
from node.model.collections import (
    QUANTIZATION_DISABLED,
    CreateCollection,
    OptimizersConfigDiff,
    UpdateCollection,
    VectorNameConfig,
    VectorParams,
    is_single_vector_form,
)

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



def _join(path: str, key: str) -> str:
    # An empty key is the unnamed vector; show it visibly rather than as a trailing dot.
    shown = '""' if key == "" else key
    return f"{path}.{shown}" if path else shown


def _fail(path: str, message: str) -> BadRequest:
    return BadRequest(f"{path}: {message}" if path else message)


# --- canonical parts of a request -----------------------------------------------------------


def _given(part: msgspec.Struct | None) -> dict[str, Any]:
    """The fields a client set (non-null), in the struct's order, as plain values."""
    return {} if part is None else msgspec.to_builtins(part)


def _each(parts: dict[str, msgspec.Struct]) -> dict[str, dict[str, Any]]:
    return {name: _given(part) for name, part in parts.items()}


def _vector_params(params: VectorParams) -> dict[str, Any]:
    given = _given(params)
    if given.get("hnsw_config") == {}:
        del given["hnsw_config"]  # an empty diff overrides nothing
    return given


def _optimizers(diff: OptimizersConfigDiff | None) -> dict[str, Any]:
    given = _given(diff)
    # "auto" means no fixed limit, which the output schema spells as null.
    if given.get("max_optimization_threads") == "auto":
        given["max_optimization_threads"] = None
    return given


def _quantization(given: Any) -> dict[str, Any] | None:
    """A quantization config (a struct, or one made plain already) as stored; "Disabled" (in
    an update) as None, to remove it."""
    if given == QUANTIZATION_DISABLED:
        return None
    return given if isinstance(given, dict) else _given(given)


# --- public API ---------------------------------------------------------------------------------


def build_collection_config(
    request: CreateCollection, *, default_shard_number: int = 1
) -> tuple[dict, str | None]:
    """Turn a create-collection request into (canonical config, name of the init_from
    collection)."""
    dense = request.dense
    vectors = (_vector_params(dense) if isinstance(dense, VectorParams)
               else {name: _vector_params(params) for name, params in dense.items()})
    custom = request.sharding_method == "custom"
    params: dict[str, Any] = {
        "vectors": vectors,
        # With custom sharding shard_number counts the shards of each key: one unless given.
        "shard_number": request.shard_number or (1 if custom else default_shard_number),
    }
    if request.sharding_method is not None:
        params["sharding_method"] = request.sharding_method
    params["replication_factor"] = request.replication_factor or 1
    params["write_consistency_factor"] = request.write_consistency_factor or 1
    params["on_disk_payload"] = bool(request.on_disk_payload)
    if request.sparse_vectors:
        params["sparse_vectors"] = _each(request.sparse_vectors)

    config = {
        "params": params,
        "hnsw_config": {**DEFAULT_HNSW_CONFIG, **_given(request.hnsw_config)},
        "optimizer_config": {**DEFAULT_OPTIMIZER_CONFIG, **_optimizers(request.optimizers_config)},
        "wal_config": {**DEFAULT_WAL_CONFIG, **_given(request.wal_config)},
        "quantization_config": _given(request.quantization_config) or None,
        "strict_mode_config": {"enabled": False, **_given(request.strict_mode_config)},
    }
    if request.metadata:
        config["metadata"] = request.metadata
    init_from = request.init_from.collection if request.init_from is not None else None
    return config, init_from


def check_stored_config(config: object) -> None:
    """Refuse a canonical config from outside this cluster (a snapshot archive) that a create
    request could not have produced: it is read back into a create body and decoded as
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
    rebuilt, _ = build_collection_config(
        decode(CreateCollection, {k: v for k, v in body.items() if v is not None}))
    if fan_out:
        apply_collection_update(rebuilt, decode(UpdateCollection, {"params": fan_out}))
    try:
        ShardConfig.from_collection_config(config)
    except (KeyError, TypeError, ValueError) as exc:
        raise BadRequest(f"the collection config cannot be used: {exc}") from None


def apply_collection_update(config: dict, patch: UpdateCollection) -> dict:
    """Return a new canonical config with an update-collection request applied; `config` is
    left untouched. The whole patch is checked before anything is applied."""
    new = copy.deepcopy(config)
    params = new["params"]

    if patch.vectors is not None:
        _update_dense_vectors(new, _each(patch.vectors))
    if patch.sparse_vectors is not None:
        _update_sparse_vectors(params, _each(patch.sparse_vectors))
    if patch.optimizers_config is not None:
        new["optimizer_config"].update(_optimizers(patch.optimizers_config))
    if patch.params is not None:
        params.update(_given(patch.params))
    if patch.hnsw_config is not None:
        new["hnsw_config"].update(_given(patch.hnsw_config))
    if patch.quantization_config is not None:
        new["quantization_config"] = _quantization(patch.quantization_config)
    if patch.strict_mode_config is not None:
        new["strict_mode_config"] = _merge_strict_mode(
            new.get("strict_mode_config") or {"enabled": False},
            _given(patch.strict_mode_config),
        )
    if patch.metadata is not None:
        _merge_metadata(new, patch.metadata)
    return new


def add_named_vector(config: dict, name: str, request: VectorNameConfig) -> dict:
    """A new config with vector `name` added from a VectorNameConfig request; `config` is left
    untouched. Points stored already do not have it."""
    if not isinstance(name, str) or not name:
        raise BadRequest("a named vector needs a non-empty name")
    new = copy.deepcopy(config)
    params = new["params"]
    vectors = params.get("vectors") or {}
    if is_single_vector_form(vectors):
        raise BadRequest(
            "the collection has a single unnamed vector; vectors can only be added to a "
            "collection whose vectors are named"
        )
    sparse = params.get("sparse_vectors") or {}
    if name in vectors or name in sparse:
        raise BadRequest(f"vector name {name!r} already exists in the collection")
    if request.dense is not None:
        params["vectors"] = {**vectors, name: _given(request.dense)}
    else:
        spec = request.sparse
        entry: dict[str, Any] = {}
        if spec.modifier is not None:
            entry["modifier"] = spec.modifier
        if spec.datatype is not None:
            entry["index"] = {"datatype": spec.datatype}
        params["sparse_vectors"] = {**sparse, name: entry}
    return new


def remove_named_vector(config: dict, name: str) -> dict:
    """A new config without vector `name`; `config` is left untouched."""
    new = copy.deepcopy(config)
    params = new["params"]
    vectors = params.get("vectors") or {}
    sparse = params.get("sparse_vectors") or {}
    if not is_single_vector_form(vectors) and name in vectors:
        params["vectors"] = {k: v for k, v in vectors.items() if k != name}
    elif name in sparse:
        params["sparse_vectors"] = {k: v for k, v in sparse.items() if k != name}
        if not params["sparse_vectors"]:
            del params["sparse_vectors"]
    else:
        names = [*([] if is_single_vector_form(vectors) else vectors), *sparse]
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
    return not is_single_vector_form(vectors)


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
            quantization = _quantization(diff["quantization_config"])
            if quantization is None:
                params.pop("quantization_config", None)
            else:
                params["quantization_config"] = quantization
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
