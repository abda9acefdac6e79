"""The node's configuration: defaults < YAML file < QDRANT__ env < FLOTILLA__ env < CLI flags.

The YAML layout follows Qdrant's config/config.yaml so that an existing file (or a Helm chart's
env vars) mostly just works; keys Flotilla does not know are warned about and ignored.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from node.quota.config import RANGES as QUOTA_RANGES

logger = logging.getLogger(__name__)

# Lowest precedence first: a FLOTILLA__ variable beats the QDRANT__ variable for the same key.
ENV_PREFIXES = ("QDRANT__", "FLOTILLA__")
DEFAULT_P2P_PORT = 6335
DEFAULT_CERT_TTL = 3600
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Keys whose values must never reach a log line.
SECRET_KEYS = frozenset({"service.api_key", "service.read_only_api_key", "cluster.secret"})

_TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
_FALSE_WORDS = frozenset({"false", "0", "no", "off"})


class SettingsError(ValueError):
    """A configuration value is missing, malformed or of the wrong type."""


@dataclass(frozen=True)
class ServiceSettings:
    host: str = "127.0.0.1"
    http_port: int = 6333
    # The gRPC face (node/grpc) on this port, beside REST in the same process; null turns it off.
    grpc_port: int | None = 6334
    # Full access; with `jwt_rbac`, also the key that signs access tokens (HS256).
    api_key: str | None = None
    # Reads only: every write and metadata change is refused with 403.
    read_only_api_key: str | None = None
    jwt_rbac: bool = False
    max_request_size_mb: int = 32
    # Connections served at once; more are answered 503 and closed.
    max_connections: int = 1024
    # A connection idle or still sending headers is closed, and a body still arriving is
    # answered 408, after this long.
    client_timeout_sec: int = 30
    # HTTPS on the REST port with `tls.cert` and `tls.key`.
    enable_tls: bool = False
    # Mutual TLS on the REST port: every client must present a certificate `tls.ca_cert` signed.
    verify_https_client_certificate: bool = False


@dataclass(frozen=True)
class QuotaSettings:
    """Qdrant's `storage.quotas` (node/quota): this node's quota until one is set through
    `PUT /quotas`, which then holds for every node of the cluster."""

    enabled: bool = False
    max_resident_memory_percent: int | None = None
    max_disk_usage_percent: int | None = None
    release_margin_percent: int | None = None


@dataclass(frozen=True)
class StorageSettings:
    storage_path: str = "./storage"
    # Where snapshot archives live; None: a `snapshots` folder inside storage_path.
    snapshots_path: str | None = None
    # Largest snapshot archive an upload may send, in MB.
    snapshot_max_size_mb: int = 102400
    quotas: QuotaSettings = field(default_factory=QuotaSettings)

    @property
    def snapshots_dir(self) -> Path:
        return Path(self.snapshots_path or Path(self.storage_path) / "snapshots")


@dataclass(frozen=True)
class P2PSettings:
    port: int = DEFAULT_P2P_PORT
    # Node-to-node HTTP over https; peers verify each other against `tls.ca_cert`.
    enable_tls: bool = False
    # Hot shard reads over one WebSocket per pair of nodes (node/api/internal_stream.py); off,
    # this node neither offers nor uses it, and every call goes over HTTP.
    stream: bool = True


@dataclass(frozen=True)
class ConsensusSettings:
    tick_period_ms: int = 50


@dataclass(frozen=True)
class ClusterSettings:
    enabled: bool = False
    # This node's Raft address, written the way Qdrant writes it: "http://host:6335".
    uri: str | None = None
    # Raft address of a running member to join through.
    bootstrap: str | None = None
    # Static member list (Raft URIs); empty means "self only" or "join via bootstrap".
    peers: list[str] = field(default_factory=list)
    # Shared secret that encrypts and authenticates Raft traffic between members.
    secret: str | None = None
    p2p: P2PSettings = field(default_factory=P2PSettings)
    consensus: ConsensusSettings = field(default_factory=ConsensusSettings)
    # How often anti-entropy compares the replicas of the shards this node checks
    # (cluster/replication/anti_entropy.py); an idle replica answers from its cached digest.
    anti_entropy_period_ms: int = 2000


@dataclass(frozen=True)
class TlsSettings:
    """PEM files, as in Qdrant's `tls` section; relative paths are from the working directory."""

    cert: str | None = None
    key: str | None = None
    ca_cert: str | None = None
    # Seconds between checks of the files for a new certificate; None never reloads.
    cert_ttl: int | None = DEFAULT_CERT_TTL


@dataclass(frozen=True)
class Settings:
    service: ServiceSettings = field(default_factory=ServiceSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    cluster: ClusterSettings = field(default_factory=ClusterSettings)
    tls: TlsSettings = field(default_factory=TlsSettings)
    log_level: str = "INFO"

    def to_dict(self, redact: bool = True) -> dict[str, Any]:
        """Nested plain dict; secrets are masked unless `redact` is False."""
        data = dataclasses.asdict(self)
        if redact:
            for key in SECRET_KEYS:
                *parents, leaf = key.split(".")
                section = data
                for name in parents:
                    section = section[name]
                if section[leaf] is not None:
                    section[leaf] = "***"
        return data


def parse_uri(uri: str, default_port: int = DEFAULT_P2P_PORT) -> tuple[str, int]:
    """Split a peer URI such as "http://node-1:6335" into (host, port)."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingsError(f"{uri!r} is not a URI like http://host:{default_port}")
    try:
        port = parts.port
    except ValueError as exc:
        raise SettingsError(f"{uri!r} has an invalid port") from exc
    return parts.hostname, port if port is not None else default_port


def load_settings(
    config_file: str | None,
    env: Mapping[str, str],
    overrides: dict[str, object],
) -> Settings:
    """Build the node's Settings from every layer; raise SettingsError naming the bad key."""
    schema = _leaf_schema(Settings)
    values: dict[str, Any] = {}
    if config_file is not None:
        values.update(_from_yaml(config_file, schema))
    values.update(_from_env(env, schema))
    for key, raw in overrides.items():
        if raw is None:
            continue
        if key not in schema:
            raise SettingsError(f"unknown setting {key!r}")
        values[key] = _coerce_text(key, schema[key], raw) if isinstance(raw, str) else raw
        _check_type(key, schema[key], values[key])
    _validate(values)
    _validate_tls(values)
    return _build(Settings, values, prefix="")


# --- schema -------------------------------------------------------------------------------


def _leaf_schema(cls: type, prefix: str = "") -> dict[str, Any]:
    """Map each dotted leaf key ("cluster.p2p.port") to its resolved type hint."""
    schema: dict[str, Any] = {}
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        key = f"{prefix}{f.name}"
        if dataclasses.is_dataclass(hint):
            schema.update(_leaf_schema(hint, prefix=f"{key}."))
        else:
            schema[key] = hint
    return schema


def _is_section(key: str, schema: Mapping[str, Any]) -> bool:
    return any(k.startswith(f"{key}.") for k in schema)


def _optional(hint: Any) -> tuple[Any, bool]:
    """(inner type, whether None is allowed) for `X | None` hints."""
    args = typing.get_args(hint)
    if type(None) in args:
        inner = [a for a in args if a is not type(None)]
        return inner[0], True
    return hint, False


def _type_name(hint: Any) -> str:
    inner, _ = _optional(hint)
    if typing.get_origin(inner) is list:
        return "a list of strings"
    return {int: "an integer", bool: "a boolean", str: "a string"}.get(inner, str(inner))


def _check_type(key: str, hint: Any, value: Any) -> None:
    inner, nullable = _optional(hint)
    if value is None:
        if nullable:
            return
        raise SettingsError(f"{key}: must be {_type_name(hint)}, got null")
    if typing.get_origin(inner) is list:
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
    elif inner is int:
        # bool is a subclass of int; `http_port: true` is a mistake, not port 1.
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, inner)
    if not ok:
        raise SettingsError(
            f"{key}: must be {_type_name(hint)}, got {type(value).__name__} {value!r}"
        )


def _coerce_text(key: str, hint: Any, text: str) -> Any:
    """Parse a string from the environment or the command line into the field's type."""
    inner, nullable = _optional(hint)
    stripped = text.strip()
    if nullable and (stripped == "" or (inner is not str and stripped.lower() == "null")):
        return None
    if typing.get_origin(inner) is list:
        return [item.strip() for item in stripped.split(",") if item.strip()]
    if inner is bool:
        word = stripped.lower()
        if word in _TRUE_WORDS:
            return True
        if word in _FALSE_WORDS:
            return False
        raise SettingsError(f"{key}: expected true/false/1/0/yes/no, got {text!r}")
    if inner is int:
        try:
            return int(stripped)
        except ValueError:
            raise SettingsError(f"{key}: expected an integer, got {text!r}") from None
    return text


# --- layers -------------------------------------------------------------------------------


def _from_yaml(path: str, schema: Mapping[str, Any]) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SettingsError(f"cannot read config file {path!r}: {exc.strerror or exc}") from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise SettingsError(f"config file {path!r} is not valid YAML: {exc}") from exc
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise SettingsError(f"config file {path!r} must hold a mapping at the top level")
    values: dict[str, Any] = {}
    _flatten_yaml(document, "", schema, values, path)
    return values


def _flatten_yaml(
    node: dict[Any, Any],
    prefix: str,
    schema: Mapping[str, Any],
    out: dict[str, Any],
    path: str,
) -> None:
    for raw_key, value in node.items():
        key = f"{prefix}{raw_key}"
        if key in schema:
            hint = schema[key]
            inner, _ = _optional(hint)
            # A comma-separated string is as good as a YAML list, as in the env layer.
            if typing.get_origin(inner) is list and isinstance(value, str):
                value = _coerce_text(key, hint, value)
            _check_type(key, hint, value)
            out[key] = value
        elif _is_section(key, schema):
            if value is None:
                continue  # an empty section (all of its keys commented out)
            if not isinstance(value, dict):
                raise SettingsError(f"{key}: must be a section (mapping), got {value!r}")
            _flatten_yaml(value, f"{key}.", schema, out, path)
        else:
            logger.warning("config file %s: ignoring unknown setting %r", path, key)


def _from_env(env: Mapping[str, str], schema: Mapping[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for prefix in ENV_PREFIXES:  # later prefixes override earlier ones
        for name, text in sorted(env.items()):
            if not name.upper().startswith(prefix):
                continue
            key = ".".join(name[len(prefix) :].lower().split("__"))
            if key in schema:
                values[key] = _coerce_text(f"{name} ({key})", schema[key], text)
            elif _is_section(key, schema):
                raise SettingsError(f"{name}: {key!r} is a section, not a single setting")
            else:
                logger.warning("environment: ignoring unknown setting %s", name)
    return values


# --- validation and construction ------------------------------------------------------


def _validate(values: dict[str, Any]) -> None:
    """Range and format checks that types alone cannot express; normalises in place."""
    for key in ("service.http_port", "service.grpc_port", "cluster.p2p.port"):
        port = values.get(key)
        if port is not None and not 0 <= port <= 65535:
            raise SettingsError(f"{key}: {port} is not a TCP port (0-65535)")
    for key in ("cluster.consensus.tick_period_ms", "cluster.anti_entropy_period_ms"):
        if values.get(key) is not None and values[key] <= 0:
            raise SettingsError(f"{key}: must be positive, got {values[key]}")
    if "log_level" in values:
        level = values["log_level"].strip().upper()
        level = "WARNING" if level == "WARN" else level
        if level not in LOG_LEVELS:
            raise SettingsError(f"log_level: {values['log_level']!r} is not one of {LOG_LEVELS}")
        values["log_level"] = level
    for key in SECRET_KEYS:
        if values.get(key) == "":
            values[key] = None  # an empty secret is no secret, not a valid one
    for key in ("service.max_request_size_mb", "service.max_connections",
                "service.client_timeout_sec", "storage.snapshot_max_size_mb"):
        if values.get(key) is not None and values[key] <= 0:
            raise SettingsError(f"{key}: must be positive, got {values[key]}")
    for name, (low, high) in QUOTA_RANGES.items():
        value = values.get(f"storage.quotas.{name}")
        if value is not None and not low <= value <= high:
            raise SettingsError(f"storage.quotas.{name}: must be from {low} to {high}, "
                                f"got {value}")
    for key in ("cluster.uri", "cluster.bootstrap"):
        if values.get(key):
            _check_uri(key, values[key])
    for uri in values.get("cluster.peers") or []:
        _check_uri("cluster.peers", uri)
    _check_credentials(values)


def _check_credentials(values: Mapping[str, Any]) -> None:
    """Refuse configurations that would leave a port open to code execution or a credential
    with nothing to check it against."""
    if values.get("service.jwt_rbac") and not values.get("service.api_key"):
        raise SettingsError("service.jwt_rbac: tokens are signed with service.api_key; set it too")
    if not values.get("cluster.enabled") or values.get("cluster.secret"):
        return
    uri = values.get("cluster.uri")
    if uri and not is_loopback(parse_uri(uri)[0]):
        raise SettingsError(
            f"cluster.uri: {uri} is reachable from other machines, and without a cluster "
            "secret anyone who reaches the Raft port can change the cluster's metadata. Set "
            "the same secret on every node: cluster.secret in the config file, "
            "FLOTILLA__CLUSTER__SECRET (or QDRANT__CLUSTER__SECRET) or --cluster-secret"
        )
    if values.get("service.read_only_api_key") and not values.get("service.api_key"):
        raise SettingsError(
            "service.read_only_api_key: in a cluster, nodes call each other with the cluster "
            "secret or, without one, the API key; set cluster.secret or service.api_key"
        )


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach ("localhost", 127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def internal_credential(settings: Settings) -> str | None:
    """What nodes present to each other's internal API: the cluster secret, else the API key."""
    return settings.cluster.secret or settings.service.api_key


def _check_uri(key: str, uri: str) -> None:
    try:
        parse_uri(uri)
    except SettingsError as exc:
        raise SettingsError(f"{key}: {exc}") from None


def _validate_tls(values: dict[str, Any]) -> None:
    """TLS settings that cannot work together, and PEM files the node could not read, stop the
    start here rather than at the first handshake."""
    ttl = values.get("tls.cert_ttl")
    if ttl is not None and ttl <= 0:
        raise SettingsError(f"tls.cert_ttl: must be a positive number of seconds, or null to "
                            f"never reload, got {ttl}")
    for key in ("tls.cert", "tls.key", "tls.ca_cert"):
        if values.get(key) == "":
            values[key] = None
    service_tls = values.get("service.enable_tls", False)
    p2p_tls = values.get("cluster.p2p.enable_tls", False)
    verify_clients = values.get("service.verify_https_client_certificate", False)
    # Peers call the internal API on the public port, so the two switches go together.
    if p2p_tls and not service_tls:
        raise SettingsError("cluster.p2p.enable_tls needs service.enable_tls: peers call each "
                            "other on the REST port, which must then serve https")
    if verify_clients and not service_tls:
        raise SettingsError("service.verify_https_client_certificate needs "
                            "service.enable_tls: client certificates are checked by TLS")
    if not service_tls:
        return
    if values.get("cluster.enabled", False) and not p2p_tls:
        raise SettingsError("service.enable_tls in a cluster needs cluster.p2p.enable_tls "
                            "(and tls.ca_cert): peers call each other on the REST port, which "
                            "then speaks only https")
    _check_pem_file(values, "tls.cert", "service.enable_tls is on")
    _check_pem_file(values, "tls.key", "service.enable_tls is on")
    if verify_clients:
        _check_pem_file(values, "tls.ca_cert", "service.verify_https_client_certificate is on "
                        "(client certificates are checked against it)")
    if p2p_tls:
        _check_pem_file(values, "tls.ca_cert", "cluster.p2p.enable_tls is on (peers "
                        "verify each other against it)")


def _check_pem_file(values: Mapping[str, Any], key: str, reason: str) -> None:
    path = values.get(key)
    env = "FLOTILLA__" + key.upper().replace(".", "__")
    if path is None:
        raise SettingsError(f"{key}: a PEM file is required when {reason}; set {key} in the "
                            f"config file or {env}")
    try:
        with open(path, "rb") as pem:
            pem.read(1)
    except OSError as exc:
        raise SettingsError(f"{key}: cannot read {path!r}: {exc.strerror or exc}") from None


def _build(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        key = f"{prefix}{f.name}"
        hint = hints[f.name]
        if dataclasses.is_dataclass(hint):
            kwargs[f.name] = _build(hint, values, prefix=f"{key}.")
        elif key in values:
            value = values[key]
            kwargs[f.name] = list(value) if isinstance(value, list) else value
    return cls(**kwargs)
