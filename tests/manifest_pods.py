"""Start what deploy/ declares, without a container engine: each pod of the rendered
StatefulSet (or service of the compose file) runs its own command, arguments and environment as
a real process, in a network namespace of its own, with its DNS name in that namespace's hosts
file and its volumes bind-mounted where the container would see them.

`ip netns exec` gives each process a private mount namespace and mounts /etc/netns/<ns>/hosts
over /etc/hosts; inside it, the pod's config and storage directories are bound over
/qdrant/config and /qdrant/storage, the paths the manifests name. What is not reproduced: the
container's user (processes run as root here) and its read-only root filesystem.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from chaos.netns import NETNS_DIR, NetnsTopology

REPO_ROOT = Path(__file__).resolve().parent.parent
MOUNT_POINTS = (Path("/qdrant/config"), Path("/qdrant/storage"))
_VAR = re.compile(r"\$\((\w+)\)")


@dataclass
class PodSpec:
    """What one pod or compose service runs: its name, command and environment."""

    name: str
    command: list[str]
    env: dict[str, str]
    config_files: dict[str, str]  # file name -> content, mounted at /qdrant/config


@dataclass
class Pod:
    spec: PodSpec
    index: int
    address: str
    namespace: str
    base: Path
    proc: subprocess.Popen | None = None
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.base / f"{self.spec.name}.log"

    @property
    def url(self) -> str:
        return f"http://{self.address}:6333"

    def start(self) -> None:
        config = self.base / self.spec.name / "config"
        storage = self.base / self.spec.name / "storage"
        config.mkdir(parents=True, exist_ok=True)
        storage.mkdir(parents=True, exist_ok=True)
        for name, content in self.spec.config_files.items():
            (config / name).write_text(content)
        mount_and_exec = ('mount --bind "$1" /qdrant/config && mount --bind "$2" /qdrant/storage'
                          ' && shift 2 && exec "$@"')
        env = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
               "PYTHONUNBUFFERED": "1", **self.spec.env}
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.namespace, "/bin/sh", "-c", mount_and_exec, "pod",
                 str(config), str(storage), *self.spec.command],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()

    def get(self, path: str, headers: dict[str, str]) -> dict | None:
        try:
            answer = requests.get(f"{self.url}{path}", headers=headers, timeout=2)
        except requests.RequestException:
            return None
        return answer.json().get("result") if answer.status_code == 200 else None

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() \
            else ""


class PodNetwork:
    """Namespaces for pods on one bridge, each with a hosts file naming every pod."""

    def __init__(self, base: Path, dns_suffix: str = "") -> None:
        self.base = base
        self.dns_suffix = dns_suffix
        self.topology = NetnsTopology()
        self.pods: list[Pod] = []
        self._made_mount_points: list[Path] = []

    def __enter__(self) -> PodNetwork:
        for point in MOUNT_POINTS:
            if not point.exists():
                point.mkdir(parents=True)
                self._made_mount_points.append(point)
        self.topology.create()
        self.topology.enter_client()
        return self

    def __exit__(self, *exc_info: object) -> None:
        for pod in self.pods:
            pod.kill()
        self.topology.leave_client()
        for pod in self.pods:
            shutil.rmtree(Path("/etc/netns") / pod.namespace, ignore_errors=True)
        self.topology.destroy()
        for point in reversed(self._made_mount_points):
            point.rmdir()
        if self._made_mount_points and not any(Path("/qdrant").iterdir()):
            Path("/qdrant").rmdir()

    def add(self, spec: PodSpec) -> Pod:
        index = len(self.pods)
        namespace = self.topology.add_node(index)
        assert (NETNS_DIR / namespace).exists()
        pod = Pod(spec, index, self.topology.host(index), namespace, self.base)
        self.pods.append(pod)
        self._write_hosts()
        return pod

    def _write_hosts(self) -> None:
        lines = ["127.0.0.1 localhost"]
        lines += [f"{pod.address} {pod.spec.name}{self.dns_suffix} {pod.spec.name}"
                  for pod in self.pods]
        for pod in self.pods:
            folder = Path("/etc/netns") / pod.namespace
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "hosts").write_text("\n".join(lines) + "\n")

    def start_all(self, pods: list[Pod]) -> None:
        for pod in pods:
            pod.start()


# --- reading what the manifests declare -----------------------------------------------------


def render_kustomization(directory: str) -> list[dict]:
    rendered = subprocess.run(["kubectl", "kustomize", directory], cwd=REPO_ROOT, check=True,
                              capture_output=True, text=True, timeout=60).stdout
    return [doc for doc in yaml.safe_load_all(rendered) if doc]


def statefulset_pods(objects: list[dict]) -> tuple[int, str, list[PodSpec]]:
    """(replicas, headless service name, one PodSpec per pod) from rendered manifests."""
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    [statefulset] = by_kind["StatefulSet"]
    secrets = {s["metadata"]["name"]: s.get("stringData", {}) for s in by_kind["Secret"]}
    config_maps = {c["metadata"]["name"]: c["data"] for c in by_kind["ConfigMap"]}
    spec = statefulset["spec"]
    template = spec["template"]["spec"]
    [container] = template["containers"]
    volumes = {v["name"]: v for v in template["volumes"]}
    [config_mount] = [m for m in container["volumeMounts"] if m["mountPath"] == "/qdrant/config"]
    config_map = volumes[config_mount["name"]]["configMap"]["name"]
    pods = []
    for ordinal in range(spec["replicas"]):
        name = f"{statefulset['metadata']['name']}-{ordinal}"
        env: dict[str, str] = {}
        for entry in container.get("env", []):
            env[entry["name"]] = _env_value(entry, name, env, secrets)
        command = [*container["command"], *container.get("args", [])]
        pods.append(PodSpec(name, command, env, dict(config_maps[config_map])))
    return spec["replicas"], spec["serviceName"], pods


def _env_value(entry: dict, pod_name: str, env: dict[str, str], secrets: dict) -> str:
    if "value" in entry:
        # Kubernetes expands $(VAR) from variables defined before this one.
        return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), entry["value"])
    source = entry["valueFrom"]
    if "fieldRef" in source:
        assert source["fieldRef"]["fieldPath"] == "metadata.name"
        return pod_name
    ref = source["secretKeyRef"]
    return secrets[ref["name"]][ref["key"]]


def compose_pods(compose_file: Path) -> list[PodSpec]:
    """The flotilla services started by a plain `docker compose up` (no profile)."""
    compose = yaml.safe_load(compose_file.read_text())
    dockerfile = (REPO_ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (.+)$", dockerfile, re.MULTILINE)[1])
    image_config = (REPO_ROOT / "deploy" / "docker" / "config.yaml").read_text()
    pods = []
    for name, service in compose["services"].items():
        if "profiles" in service or "build" not in service:
            continue
        env_file = compose_file.parent / f"{service['env_file']}.example"
        env = dict(line.split("=", 1) for line in env_file.read_text().splitlines()
                   if line and not line.startswith("#"))
        env.update({key: str(value) for key, value in service["environment"].items()})
        pods.append(PodSpec(service.get("hostname", name), entrypoint, env,
                            {"config.yaml": image_config}))
    return pods

