"""deploy/ validated by the tools operators and CI would use: hadolint, the Compose
specification, kustomize and the Kubernetes schemas, promtool (config, rules and rule unit
tests), and the files each of them names exist where they are looked for."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from nodeproc import REPO_ROOT

pytestmark = pytest.mark.timeout(120)

DEPLOY = REPO_ROOT / "deploy"
KUSTOMIZATIONS = ["deploy/kubernetes", "deploy/kubernetes/overlays/3-nodes",
                  "deploy/kubernetes/overlays/5-nodes"]


def _tool(name: str) -> str:
    """A validator from the venv (pip extra `deploy`) or the system (`make test` installs it)."""
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is missing: `make test` installs it")
    return found


def _run(*command: str, cwd: Path = REPO_ROOT) -> str:
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, f"{' '.join(command)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_dockerfile_lints_clean_and_copies_what_exists() -> None:
    dockerfile = DEPLOY / "docker" / "Dockerfile"
    _run(_tool("hadolint"), str(dockerfile))
    ignored = [line.strip() for line in (REPO_ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    copies = re.findall(r"^COPY (?!--from)(.+) \S+$", dockerfile.read_text(), re.MULTILINE)
    sources = [source for line in copies for source in line.split()]
    assert "node" in sources and "cluster" in sources
    for source in sources:
        assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
        assert source not in ignored, f"COPY {source}: excluded by .dockerignore"
    packages = re.findall(r'include = \[(.*)\]', (REPO_ROOT / "pyproject.toml").read_text())[0]
    for package in re.findall(r'"(\w+)\*"', packages):
        assert package in sources, f"the image would miss the {package} package"
    config = yaml.safe_load((DEPLOY / "docker" / "config.yaml").read_text())
    assert config["storage"]["storage_path"] == "/qdrant/storage"
    assert 'VOLUME ["/qdrant/storage"]' in dockerfile.read_text()


def test_the_compose_file_follows_the_compose_specification() -> None:
    compose_file = DEPLOY / "compose" / "docker-compose.yml"
    _run(_tool("check-jsonschema"), "--builtin-schema", "vendor.compose-spec", str(compose_file))
    compose = yaml.safe_load(compose_file.read_text())
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                local = (compose_file.parent / source).resolve()
                if local.name == "prometheus-key":
                    continue  # the operator writes it (README)
                assert local.exists(), f"{name} mounts {source}, which does not exist"
        build = service.get("build")
        if build:
            assert (compose_file.parent / build["context"] / build["dockerfile"]).exists()
    assert (compose_file.parent / "flotilla.env.example").exists()


@pytest.mark.parametrize("directory", KUSTOMIZATIONS)
def test_kustomize_renders_objects_valid_for_kubernetes(directory: str, tmp_path: Path) -> None:
    rendered = _run(_tool("kubectl"), "kustomize", directory)
    (tmp_path / "rendered.yaml").write_text(rendered)
    _run(_tool("kubernetes-validate"), "--strict", "--quiet", str(tmp_path / "rendered.yaml"))
    objects = {doc["kind"]: doc for doc in yaml.safe_load_all(rendered) if doc}
    assert set(objects) >= {"StatefulSet", "Service", "PodDisruptionBudget", "ConfigMap",
                            "Secret", "NetworkPolicy"}
    spec = objects["StatefulSet"]["spec"]
    assert spec["podManagementPolicy"] == "Parallel"
    pod = spec["template"]["spec"]
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert {"startupProbe", "livenessProbe", "readinessProbe", "resources"} <= set(container)
    expected = {"deploy/kubernetes/overlays/5-nodes": 5}.get(directory, 3)
    assert spec["replicas"] == expected


def test_prometheus_config_rules_and_rule_tests(tmp_path: Path) -> None:
    promtool = _tool("promtool")
    for name in ("prometheus.yml", "alerts.yml", "alerts_test.yml"):
        shutil.copy(DEPLOY / "prometheus" / name, tmp_path / name)
    # The compose file mounts the read-only key beside the config.
    (tmp_path / "flotilla-read-only-key").write_text("read-only-key")
    _run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    _run(promtool, "check", "rules", "alerts.yml", cwd=tmp_path)
    output = _run(promtool, "test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert "SUCCESS" in output
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yml").read_text())
    alerts = {rule["alert"] for group in rules["groups"] for rule in group["rules"]}
    tested = set(re.findall(r"alertname: (\w+)", (DEPLOY / "prometheus" /
                                                 "alerts_test.yml").read_text()))
    assert alerts == tested, f"alerts without a unit test: {alerts - tested}"
