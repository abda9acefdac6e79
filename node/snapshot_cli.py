"""`flotilla snapshot create|list|download|restore`: snapshots of a running node, for operators.

It talks to the node's REST API (the same routes as any client), so it needs nothing but the
node's URL and, when the node has one, an API key (`--api-key` or QDRANT__SERVICE__API_KEY).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

TIMEOUT_SECONDS = 3600


def register(commands: argparse._SubParsersAction) -> None:
    snapshot = commands.add_parser("snapshot", help="create, list, download or restore snapshots "
                                                    "of a running node")
    snapshot.add_argument("--url", default="http://127.0.0.1:6333", help="the node's REST URL")
    snapshot.add_argument("--api-key", default=os.environ.get("QDRANT__SERVICE__API_KEY"),
                          help="the node's API key (default: QDRANT__SERVICE__API_KEY)")
    actions = snapshot.add_subparsers(dest="action", metavar="ACTION", required=True)
    for action, text in (("create", "create a snapshot"), ("list", "list snapshots")):
        parser = actions.add_parser(action, help=text)
        _target(parser)
    parser = actions.add_parser("download", help="download a snapshot to a file")
    _target(parser)
    parser.add_argument("name", help="the snapshot's name")
    parser.add_argument("--output", "-o", help="file to write (default: the snapshot's name)")
    parser = actions.add_parser("restore", help="recover a collection (or, without one, a whole "
                                                "node) from a local archive or a URL")
    _target(parser)
    parser.add_argument("source", help="a local .snapshot file, or an http(s)/file:// location "
                                       "the node reads itself")
    parser.add_argument("--priority", choices=("replica", "snapshot", "no_sync"))
    parser.add_argument("--checksum", help="sha256 the archive must have")
    snapshot.set_defaults(handler=run)


def _target(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--collection", "-c", help="a collection (default: full storage)")
    parser.add_argument("--shard", type=int, help="one shard of the collection")


def _base(args: argparse.Namespace) -> str:
    if args.collection is None:
        if args.shard is not None:
            raise SystemExit("flotilla snapshot: --shard needs --collection")
        return "/snapshots"
    path = f"/collections/{urllib.parse.quote(args.collection, safe='')}"
    if args.shard is not None:
        path += f"/shards/{args.shard}"
    return path + "/snapshots"


def _request(args: argparse.Namespace, method: str, path: str, *, data=None,
             headers: dict | None = None):
    headers = dict(headers or {})
    if args.api_key:
        headers["api-key"] = args.api_key
    request = urllib.request.Request(args.url.rstrip("/") + path, data=data, method=method,
                                     headers=headers)
    return urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)  # noqa: S310 - operator URL


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except urllib.error.HTTPError as exc:
        body = exc.read().decode(errors="replace")
        with contextlib.suppress(ValueError, KeyError, TypeError):
            body = json.loads(body)["status"]["error"]
        print(f"flotilla snapshot: HTTP {exc.code}: {body}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(f"flotilla snapshot: {exc}", file=sys.stderr)
        return 1


def _run(args: argparse.Namespace) -> int:
    base = _base(args)
    if args.action == "create":
        with _request(args, "POST", base) as response:
            print(json.dumps(json.load(response)["result"]))
    elif args.action == "list":
        with _request(args, "GET", base) as response:
            for item in json.load(response)["result"]:
                print(json.dumps(item))
    elif args.action == "download":
        name = Path(args.name).name
        output = Path(args.output or name)
        partial = output.with_name(output.name + ".partial")
        with _request(args, "GET", f"{base}/{urllib.parse.quote(name)}") as response, \
                open(partial, "wb") as out:
            shutil.copyfileobj(response, out, 1 << 20)
        os.replace(partial, output)
        print(output)
    else:
        _restore(args, base)
    return 0


def _restore(args: argparse.Namespace, base: str) -> None:
    query = {k: v for k, v in (("priority", args.priority), ("checksum", args.checksum)) if v}
    source = args.source
    if "://" in source:
        body = json.dumps({"location": source, **query}).encode()
        with _request(args, "PUT", f"{base}/recover", data=body,
                      headers={"Content-Type": "application/json"}) as response:
            print(json.dumps(json.load(response)["result"]))
        return
    if args.collection is None:
        raise SystemExit("flotilla snapshot: a whole node is restored from a location the node "
                         "reads (file:// inside its snapshots directory, or http(s))")
    path = Path(source)
    suffix = "?" + urllib.parse.urlencode(query) if query else ""
    with open(path, "rb") as archive, _request(
        args, "POST", f"{base}/upload{suffix}", data=archive,
        headers={"Content-Type": "application/octet-stream",
                 "Content-Length": str(path.stat().st_size)},
    ) as response:
        print(json.dumps(json.load(response)["result"]))
