"""The `flotilla` command line: `flotilla serve` runs one node.

Subcommands are dispatched through a table so that more of them (a local `cluster up`) slot in
without touching `serve`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable

from chaos import cli as chaos_cli
from node import __version__, cluster_up, snapshot_cli
from node.settings import Settings, SettingsError, load_settings

logger = logging.getLogger(__name__)

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# argparse destination -> dotted settings key; None values mean "flag not given".
SERVE_FLAG_KEYS: dict[str, str] = {
    "host": "service.host",
    "http_port": "service.http_port",
    "storage_path": "storage.storage_path",
    "p2p_port": "cluster.p2p.port",
    "log_level": "log_level",
    "cluster_enabled": "cluster.enabled",
    "uri": "cluster.uri",
    "bootstrap": "cluster.bootstrap",
    "peers": "cluster.peers",
    "cluster_secret": "cluster.secret",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="flotilla",
        description="A distributed vector database speaking Qdrant's REST API.",
    )
    parser.add_argument("--version", action="version", version=f"flotilla {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = commands.add_parser("serve", help="run one node (HTTP API, storage, Raft member)")
    serve.add_argument("--config", metavar="FILE", help="YAML file in Qdrant's config layout")
    serve.add_argument("--host", help="address the HTTP API binds to")
    serve.add_argument("--http-port", type=int, metavar="PORT", help="HTTP API port")
    serve.add_argument("--storage-path", metavar="DIR", help="directory for this node's data")
    serve.add_argument("--p2p-port", type=int, metavar="PORT", help="Raft (peer-to-peer) port")
    serve.add_argument("--log-level", metavar="LEVEL", help="DEBUG, INFO, WARNING or ERROR")
    serve.add_argument(
        "--cluster-enabled",
        action="store_true",
        default=None,  # None: leave it to the config file and environment
        help="run as a member of a multi-node cluster",
    )
    serve.add_argument("--uri", metavar="URI", help="this node's Raft address, http://host:6335")
    serve.add_argument("--bootstrap", metavar="URI", help="Raft address of a member to join")
    serve.add_argument("--peers", metavar="URI,URI", help="static member list (Raft addresses)")
    serve.add_argument("--cluster-secret", metavar="SECRET", help="shared secret for Raft traffic")
    serve.set_defaults(handler=_run_serve)
    # `cluster up --nodes N`: several local nodes for trying things out.
    cluster_up.register(commands)
    # `chaos list|run`: fault-injection scenarios (the chaos package, README "Chaos testing").
    chaos_cli.register(commands)
    # `snapshot create|list|download|restore` against a running node (docs/snapshots.md).
    snapshot_cli.register(commands)
    return parser


def overrides_from_args(args: argparse.Namespace) -> dict[str, object]:
    """Turn parsed `serve` flags into load_settings overrides (dotted keys, None = not given)."""
    overrides: dict[str, object] = {}
    for dest, key in SERVE_FLAG_KEYS.items():
        value = getattr(args, dest, None)
        if dest == "peers" and isinstance(value, str):
            value = [uri.strip() for uri in value.split(",") if uri.strip()]
        overrides[key] = value
    return overrides


def configure_logging(level: str) -> None:
    """Log to stderr with time, level and logger name; safe to call more than once."""
    logging.basicConfig(format=LOG_FORMAT, stream=sys.stderr, force=True)
    logging.getLogger().setLevel(level)


def _run_serve(args: argparse.Namespace) -> int:
    # Logging is set up before loading so that warnings about unknown keys are shown.
    configure_logging("INFO")
    settings: Settings = load_settings(args.config, os.environ, overrides_from_args(args))
    configure_logging(settings.log_level)
    logger.info("starting flotilla %s with settings %s", __version__, settings.to_dict())

    from node import app  # heavy imports (aiohttp, engine, Raft) only when actually serving

    return app.serve(settings)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and on bad flags; report as a code
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return handler(args)
    except SettingsError as exc:
        one_line = " ".join(str(exc).split())  # YAML parser messages span several lines
        print(f"flotilla: invalid configuration: {one_line}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
