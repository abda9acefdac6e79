"""Settings layering (defaults < YAML < QDRANT__ env < FLOTILLA__ env < flags) and the CLI."""

from __future__ import annotations

import logging
import sys
import textwrap
import types
from pathlib import Path

import pytest

import node
from node import cli
from node.settings import Settings, SettingsError, load_settings, parse_uri


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


QDRANT_LAYOUT = """
    log_level: debug
    storage:
      storage_path: /data/flotilla
      snapshots_path: ./snapshots
    service:
      host: 0.0.0.0
      http_port: 7333
      grpc_port: 6334
      api_key: s3cret
    cluster:
      enabled: true
      peers:
        - http://node-1:6335
        - http://node-2:6335
      p2p:
        port: 7335
      consensus:
        tick_period_ms: 75
    telemetry_disabled: true
"""


def test_defaults() -> None:
    s = load_settings(None, {}, {})
    assert s == Settings()
    assert s.service.host == "127.0.0.1"
    assert s.service.http_port == 6333
    assert s.service.grpc_port == 6334
    assert s.service.api_key is None
    assert s.storage.storage_path == "./storage"
    assert s.log_level == "INFO"
    assert s.cluster.enabled is False
    assert s.cluster.p2p.port == 6335
    assert s.cluster.uri is None and s.cluster.bootstrap is None and s.cluster.secret is None
    assert s.cluster.peers == []
    assert s.cluster.consensus.tick_period_ms == 50
    assert s.cluster.anti_entropy_period_ms == 2000


def test_yaml_in_qdrant_layout(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="node.settings"):
        s = load_settings(write_config(tmp_path, QDRANT_LAYOUT), {}, {})
    assert s.log_level == "DEBUG"
    assert s.storage.storage_path == "/data/flotilla"
    assert (s.service.host, s.service.http_port, s.service.api_key) == ("0.0.0.0", 7333, "s3cret")
    assert s.cluster.enabled is True
    assert s.cluster.peers == ["http://node-1:6335", "http://node-2:6335"]
    assert s.cluster.p2p.port == 7335
    assert s.cluster.consensus.tick_period_ms == 75
    assert s.storage.snapshots_path == "./snapshots"
    assert s.service.grpc_port == 6334
    # Qdrant keys Flotilla does not know are ignored, with a warning naming them.
    assert "telemetry_disabled" in caplog.text
    assert "service.grpc_port" not in caplog.text


def test_empty_yaml_and_empty_sections(tmp_path: Path) -> None:
    assert load_settings(write_config(tmp_path, ""), {}, {}) == Settings()
    assert load_settings(write_config(tmp_path, "cluster:\n"), {}, {}) == Settings()


@pytest.mark.parametrize(
    ("yaml_text", "key"),
    [
        ("service:\n  http_port: '80x'\n", "service.http_port"),
        ("service:\n  http_port: true\n", "service.http_port"),
        ("cluster:\n  enabled: 'maybe'\n", "cluster.enabled"),
        ("cluster:\n  p2p: 6335\n", "cluster.p2p"),
        ("cluster:\n  peers: [1, 2]\n", "cluster.peers"),
        ("service:\n  host: null\n", "service.host"),
        ("log_level: chatty\n", "log_level"),
        ("service:\n  http_port: 70000\n", "service.http_port"),
        ("cluster:\n  uri: node-1:6335\n", "cluster.uri"),
        ("storage:\n  quotas:\n    max_disk_usage_percent: 0\n",
         "storage.quotas.max_disk_usage_percent"),
        ("storage:\n  quotas:\n    release_margin_percent: 101\n",
         "storage.quotas.release_margin_percent"),
        ("storage:\n  quotas:\n    enabled: sometimes\n", "storage.quotas.enabled"),
        ("cluster:\n  anti_entropy_period_ms: 0\n", "cluster.anti_entropy_period_ms"),
    ],
)
def test_yaml_bad_values_name_the_key(tmp_path: Path, yaml_text: str, key: str) -> None:
    with pytest.raises(SettingsError, match=key.replace(".", r"\.")):
        load_settings(write_config(tmp_path, yaml_text), {}, {})


def test_missing_or_malformed_file(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings(str(tmp_path / "absent.yaml"), {}, {})
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(write_config(tmp_path, "service: [unclosed\n"), {}, {})
    with pytest.raises(SettingsError, match="mapping"):
        load_settings(write_config(tmp_path, "- a\n- b\n"), {}, {})


def test_env_both_prefixes_and_types() -> None:
    env = {
        "FLOTILLA__SERVICE__HTTP_PORT": "7000",
        "QDRANT__CLUSTER__P2P__PORT": "7001",
        "flotilla__log_level": "debug",  # prefix and key are case-insensitive
        "QDRANT__CLUSTER__ENABLED": "yes",
        "FLOTILLA__CLUSTER__PEERS": "http://a:6335, http://b:6335,",
        "QDRANT__CLUSTER__CONSENSUS__TICK_PERIOD_MS": "25",
        "PATH": "/usr/bin",  # unrelated variables are not looked at
    }
    s = load_settings(None, env, {})
    assert s.service.http_port == 7000
    assert s.cluster.p2p.port == 7001
    assert s.log_level == "DEBUG"
    assert s.cluster.enabled is True
    assert s.cluster.peers == ["http://a:6335", "http://b:6335"]
    assert s.cluster.consensus.tick_period_ms == 25


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("1", True), ("YES", True), ("false", False), ("0", False), ("no", False)],
)
def test_env_booleans(text: str, expected: bool) -> None:
    assert load_settings(None, {"FLOTILLA__CLUSTER__ENABLED": text}, {}).cluster.enabled is expected


def test_flotilla_env_beats_qdrant_env() -> None:
    env = {"QDRANT__SERVICE__HTTP_PORT": "7000", "FLOTILLA__SERVICE__HTTP_PORT": "7100"}
    assert load_settings(None, env, {}).service.http_port == 7100
    # Order in the mapping does not matter, only the prefix does.
    env = {"FLOTILLA__SERVICE__HTTP_PORT": "7100", "QDRANT__SERVICE__HTTP_PORT": "7000"}
    assert load_settings(None, env, {}).service.http_port == 7100


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLOTILLA__SERVICE__HTTP_PORT", "seven"),
        ("QDRANT__CLUSTER__ENABLED", "perhaps"),
        ("FLOTILLA__CLUSTER__P2P", "7001"),  # a section, not a value
    ],
)
def test_env_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        load_settings(None, {name: value}, {})


def test_env_unknown_key_warns(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="node.settings"):
        s = load_settings(None, {"QDRANT__TELEMETRY_DISABLED": "true"}, {})
    assert s == Settings()
    assert "QDRANT__TELEMETRY_DISABLED" in caplog.text


def test_empty_optional_env_means_unset() -> None:
    s = load_settings(None, {"FLOTILLA__SERVICE__API_KEY": ""}, {})
    assert s.service.api_key is None


def test_each_layer_overrides_the_one_below(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        """
        service:
          http_port: 1001
          host: 10.0.0.1
        storage:
          storage_path: from-yaml
        log_level: ERROR
        cluster:
          p2p:
            port: 2001
        """,
    )
    env = {
        "QDRANT__SERVICE__HTTP_PORT": "1002",
        "QDRANT__STORAGE__STORAGE_PATH": "from-qdrant-env",
        "QDRANT__CLUSTER__P2P__PORT": "2002",
        "FLOTILLA__SERVICE__HTTP_PORT": "1003",
        "FLOTILLA__CLUSTER__P2P__PORT": "2003",
    }
    overrides: dict[str, object] = {"service.http_port": 1004, "cluster.p2p.port": None}
    s = load_settings(config, env, overrides)
    assert s.service.http_port == 1004  # flag beats everything
    assert s.cluster.p2p.port == 2003  # None flag = not given: FLOTILLA__ env wins
    assert s.storage.storage_path == "from-qdrant-env"  # QDRANT__ env beats YAML
    assert s.service.host == "10.0.0.1"  # YAML beats default
    assert s.log_level == "ERROR"
    assert s.cluster.consensus.tick_period_ms == 50  # untouched default


def test_overrides_validate_and_parse_strings() -> None:
    s = load_settings(None, {}, {"cluster.peers": "http://a:1,http://b:2", "cluster.enabled": True})
    assert s.cluster.peers == ["http://a:1", "http://b:2"]
    with pytest.raises(SettingsError, match="service.http_port"):
        load_settings(None, {}, {"service.http_port": "x"})
    with pytest.raises(SettingsError, match="nope"):
        load_settings(None, {}, {"service.nope": 1})


def test_to_dict_masks_secrets() -> None:
    s = load_settings(None, {}, {"service.api_key": "k", "cluster.secret": "s"})
    d = s.to_dict()
    assert d["service"]["api_key"] == "***" and d["cluster"]["secret"] == "***"
    assert d["cluster"]["p2p"]["port"] == 6335
    assert s.to_dict(redact=False)["service"]["api_key"] == "k"


def test_parse_uri() -> None:
    assert parse_uri("http://node-1:7335") == ("node-1", 7335)
    assert parse_uri("http://node-1") == ("node-1", 6335)
    with pytest.raises(SettingsError):
        parse_uri("node-1:6335")


# --- CLI ------------------------------------------------------------------------------


def test_cli_flags_become_overrides() -> None:
    args = cli.build_parser().parse_args(
        [
            "serve",
            "--config", "c.yaml",
            "--host", "0.0.0.0",
            "--http-port", "7000",
            "--grpc-port", "7002",
            "--storage-path", "data",
            "--p2p-port", "7001",
            "--log-level", "debug",
            "--cluster-enabled",
            "--uri", "http://n1:7001",
            "--bootstrap", "http://n0:6335",
            "--peers", "http://n0:6335,http://n2:6335",
            "--cluster-secret", "s",
        ]
    )  # fmt: skip
    assert args.config == "c.yaml"
    assert cli.overrides_from_args(args) == {
        "service.host": "0.0.0.0",
        "service.http_port": 7000,
        "service.grpc_port": 7002,
        "storage.storage_path": "data",
        "cluster.p2p.port": 7001,
        "log_level": "debug",
        "cluster.enabled": True,
        "cluster.uri": "http://n1:7001",
        "cluster.bootstrap": "http://n0:6335",
        "cluster.peers": ["http://n0:6335", "http://n2:6335"],
        "cluster.secret": "s",
    }


def test_cli_absent_flags_are_none_and_do_not_override() -> None:
    args = cli.build_parser().parse_args(["serve"])
    overrides = cli.overrides_from_args(args)
    assert set(overrides.values()) == {None}
    s = load_settings(None, {"FLOTILLA__CLUSTER__ENABLED": "true"}, overrides)
    assert s.cluster.enabled is True  # an absent --cluster-enabled does not force False


def test_cli_bad_setting_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Keep the real root-logger setup out of the test process.
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    monkeypatch.setenv("FLOTILLA__SERVICE__HTTP_PORT", "not-a-port")
    assert cli.main(["serve", "--storage-path", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("flotilla: invalid configuration:")
    assert "FLOTILLA__SERVICE__HTTP_PORT" in err


def test_cli_yaml_error_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    config = write_config(tmp_path, "service: [unclosed\n")
    assert cli.main(["serve", "--config", config]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_cli_without_command_or_with_bad_flag_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([]) == 2
    assert cli.main(["serve", "--http-port", "x"]) == 2
    assert cli.main(["--help"]) == 0
    capsys.readouterr()


def test_cli_serve_hands_settings_to_app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received: list[Settings] = []
    fake_app = types.ModuleType("node.app")
    fake_app.serve = lambda settings: received.append(settings) or 0  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "node.app", fake_app)
    monkeypatch.setattr(node, "app", fake_app, raising=False)
    monkeypatch.setattr(cli, "configure_logging", lambda level: None)
    monkeypatch.setenv("QDRANT__SERVICE__HOST", "0.0.0.0")

    assert cli.main(["serve", "--http-port", "7000", "--storage-path", str(tmp_path)]) == 0
    (settings,) = received
    assert settings.service.http_port == 7000
    assert settings.service.host == "0.0.0.0"
    assert settings.storage.storage_path == str(tmp_path)


def test_grpc_port_from_each_layer_and_off(tmp_path: Path) -> None:
    assert load_settings(None, {"QDRANT__SERVICE__GRPC_PORT": "7334"}, {}).service.grpc_port \
        == 7334
    assert load_settings(None, {"FLOTILLA__SERVICE__GRPC_PORT": "null"}, {}).service.grpc_port \
        is None
    off = write_config(tmp_path, "service:\n  grpc_port: null\n")
    assert load_settings(off, {}, {}).service.grpc_port is None
    with pytest.raises(SettingsError, match="service.grpc_port"):
        load_settings(None, {"FLOTILLA__SERVICE__GRPC_PORT": "70000"}, {})
    args = cli.build_parser().parse_args(["serve", "--grpc-port", "off"])
    assert load_settings(None, {}, cli.overrides_from_args(args)).service.grpc_port is None
    args = cli.build_parser().parse_args(["serve", "--grpc-port", "7444"])
    assert load_settings(None, {}, cli.overrides_from_args(args)).service.grpc_port == 7444
