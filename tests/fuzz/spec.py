"""Qdrant's OpenAPI spec, cut down to the operations a Flotilla node serves.

The spec is Qdrant 1.19's, the version a node answers as; Flotilla grew from 1.15's API and
does not serve every operation of the spec. Which ones is decided by asking the node once per
operation: an operation no route serves answers aiohttp's own 404 (or 405), which the envelope
middleware words as the bare reason phrase, while a served one answers from its handler (an
error there always names what was wrong).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nodeproc import REPO_ROOT, HttpSession

SPEC_NAME = "qdrant-openapi-v1.19.json"
# shared/ sits next to the repository, in a checkout as on CI.
SPEC_PATH = REPO_ROOT.parent / "shared" / "reference" / SPEC_NAME
METHODS = ("get", "put", "post", "patch", "delete")
UNROUTED_REASONS = {404: "Not Found", 405: "Method Not Allowed"}
# Parts of the 1.19 spec that came after 1.15 and Flotilla does not take yet: generated bodies
# holding them are all refused as unknown fields, so they are cut from what is fuzzed.
NEWER_PROPERTIES = {"CreateCollection": ("payload", "metadata"), "UpdateCollection": ("metadata",)}
NEWER_ALTERNATIVES = {
    "Condition": ("#/components/schemas/SliceCondition",),
    "Query": ("#/components/schemas/RrfQuery", "#/components/schemas/RelevanceFeedbackQuery"),
}
# Stand-ins for path parameters while probing: a collection that does not exist, so nothing
# the probe sends can change a real one.
PROBE_VALUES = {
    "collection_name": "fuzz_probe",
    "id": "1",
    "field_name": "probe_field",
    "peer_id": "123456789",
    "vector_name": "probe_vector",
    "shard_id": "0",
    "snapshot_name": "probe.snapshot",
}


class SpecMissing(RuntimeError):
    """The OpenAPI spec is not where the fuzzer expects it."""


@dataclass(frozen=True)
class Probe:
    """What one operation of the spec answered when asked once."""

    method: str
    path: str
    status: int
    body: Any

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"

    @property
    def served(self) -> bool:
        reason = UNROUTED_REASONS.get(self.status)
        return reason is None or _error_text(self.body) != reason

    @property
    def unserved_problem(self) -> str | None:
        """Why an unserved operation's answer is not a 404 in Qdrant's envelope, if it is not."""
        if self.status != 404:
            return f"{self.label}: answered {self.status}, expected 404"
        if not isinstance(self.body, dict) or not isinstance(self.body.get("time"), float):
            return f"{self.label}: the 404 is not in Qdrant's envelope: {self.body!r}"
        return None


def load_spec(path: Path = SPEC_PATH) -> dict[str, Any]:
    if not path.is_file():
        raise SpecMissing(
            f"the fuzzer needs Qdrant's OpenAPI spec at ../shared/reference/{SPEC_NAME} next to "
            f"the repository root (looked for {path}); put the spec there and run again"
        )
    return json.loads(path.read_text())


def probe_operations(http: HttpSession, spec: dict[str, Any]) -> list[Probe]:
    """Send every operation of the spec once, with stand-in path parameters and an empty body."""
    probes = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method not in item:
                continue
            url = path.format(**PROBE_VALUES)
            body = {} if "requestBody" in item[method] else None
            response = http.request(method.upper(), url, json=body)
            try:
                payload = response.json()
            except ValueError:
                payload = response.text
            probes.append(Probe(method, path, response.status_code, payload))
    # The probe of `PUT /collections/{collection_name}` may have created the stand-in.
    http.delete(f"/collections/{PROBE_VALUES['collection_name']}")
    return probes


def restrict(spec: dict[str, Any], probes: list[Probe]) -> dict[str, Any]:
    """A copy of `spec` holding only the operations the probes found served, without the newer
    parts Flotilla does not take."""
    spec = json.loads(json.dumps(spec))
    schemas = spec["components"]["schemas"]
    for name, properties in NEWER_PROPERTIES.items():
        for prop in properties:
            del schemas[name]["properties"][prop]
    for name, refs in NEWER_ALTERNATIVES.items():
        schemas[name]["anyOf"] = [a for a in schemas[name]["anyOf"] if a.get("$ref") not in refs]
    served = {(p.path, p.method) for p in probes if p.served}
    paths: dict[str, Any] = {}
    for path, item in spec["paths"].items():
        kept = {key: value for key, value in item.items()
                if key not in METHODS or (path, key) in served}
        if any(key in METHODS for key in kept):
            paths[path] = kept
    return {**spec, "paths": paths}


def _error_text(body: Any) -> str | None:
    if isinstance(body, dict) and isinstance(body.get("status"), dict):
        return body["status"].get("error")
    return None
