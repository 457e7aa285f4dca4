"""Static checks of deploy/: the Kubernetes manifests and the Dockerfile agree with each other and the server."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from server.config import ServerConfig, parse_args

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
DOCKERFILE = DEPLOY / "Dockerfile"
SERVICE_NAME = "washout.v1.WashoutService"


def _documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted([*K8S.glob("*.yaml"), *K8S.glob("*.yml")]):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document is not None:
                found.append((path.name, document))
    return found


DOCUMENTS = _documents()


def _only(kind: str) -> dict[str, Any]:
    matching = [document for _, document in DOCUMENTS if document.get("kind") == kind]
    assert len(matching) == 1, f"expected exactly one {kind}, found {len(matching)}"
    return matching[0]


def _container() -> dict[str, Any]:
    containers = _only("Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, "one container per pod"
    container: dict[str, Any] = containers[0]
    return container


def _container_port() -> int:
    [port] = [p for p in _container()["ports"] if p.get("name", "").startswith("grpc")]
    return int(port["containerPort"])


def _server_flags() -> list[str]:
    """The flags after ``python -m server`` in the container's command + args."""
    container = _container()
    argv = [str(item) for item in [*container.get("command", []), *container.get("args", [])]]
    assert argv[:3] == ["python", "-m", "server"], f"the container must run `python -m server`: {argv}"
    return argv[3:]


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with line continuations joined and comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    pairs = []
    for line in logical:
        instruction, _, rest = line.partition(" ")
        pairs.append((instruction.upper(), rest.strip()))
    return pairs


def _dockerfile_cmd() -> list[str]:
    commands = [rest for instruction, rest in _dockerfile_instructions() if instruction == "CMD"]
    assert commands, "the Dockerfile has no CMD"
    cmd = commands[-1]
    argv = json.loads(cmd) if cmd.startswith("[") else shlex.split(cmd)
    assert isinstance(argv, list)
    return [str(item) for item in argv]


def _image_tag_ok(image: str) -> bool:
    if "@sha256:" in image:
        return True
    name = image.rsplit("/", 1)[-1]
    return ":" in name and name.rsplit(":", 1)[1] not in ("", "latest")


def test_manifests_exist():
    kinds = {document.get("kind") for _, document in DOCUMENTS}
    assert {"Deployment", "Service", "PodDisruptionBudget"} <= kinds


@pytest.mark.parametrize(("source", "document"), DOCUMENTS, ids=[f"{s}:{d.get('kind')}" for s, d in DOCUMENTS])
def test_every_document_is_a_named_object(source, document):
    assert isinstance(document, dict), source
    assert document.get("apiVersion"), source
    assert document.get("kind"), source
    assert document.get("metadata", {}).get("name"), source


def test_deployment_selector_matches_its_pods_and_the_service():
    deployment, service = _only("Deployment"), _only("Service")
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector, "the Deployment needs a selector"
    assert selector.items() <= template_labels.items()
    assert service["spec"]["selector"], "the Service needs a selector"
    assert service["spec"]["selector"].items() <= template_labels.items()
    assert deployment["spec"]["replicas"] == 3


def test_disruption_budget_and_autoscaler_point_at_the_deployment():
    deployment = _only("Deployment")
    template_labels = deployment["spec"]["template"]["metadata"]["labels"]
    budget = _only("PodDisruptionBudget")
    assert budget["spec"]["selector"]["matchLabels"].items() <= template_labels.items()
    assert "minAvailable" in budget["spec"] or "maxUnavailable" in budget["spec"]
    for _, document in DOCUMENTS:
        if document["kind"] == "HorizontalPodAutoscaler":
            target = document["spec"]["scaleTargetRef"]
            assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])
            assert document["spec"]["minReplicas"] >= 2


def test_probes_are_grpc_health_probes_on_the_container_port():
    container, port = _container(), _container_port()
    for probe_name in ("startupProbe", "readinessProbe", "livenessProbe"):
        probe = container.get(probe_name)
        assert probe is not None, f"{probe_name} is missing"
        assert set(probe) & {"grpc", "httpGet", "tcpSocket", "exec"} == {"grpc"}, f"{probe_name} must be a grpc probe"
        assert int(probe["grpc"]["port"]) == port, f"{probe_name} probes another port"
        assert probe["grpc"].get("service", "") in ("", SERVICE_NAME)


def test_server_flags_parse_and_bind_the_container_port():
    config = parse_args(_server_flags())
    assert config.port == _container_port()
    assert config.host in ("0.0.0.0", "::")


def test_service_is_headless_grpc_on_the_container_port():
    service = _only("Service")
    assert service["metadata"]["name"] == "washout"
    assert service["spec"].get("clusterIP") == "None", "the Service must be headless for client-side round_robin"
    ports = [p for p in service["spec"]["ports"] if int(p["port"]) == _container_port()]
    assert ports, "the Service must expose the container port"
    [port] = ports
    assert str(port.get("appProtocol", "")).startswith("grpc") or str(port.get("name", "")).startswith("grpc")
    assert port.get("targetPort", port["port"]) in (port["port"], "grpc")


def test_termination_grace_exceeds_the_server_drain():
    pod = _only("Deployment")["spec"]["template"]["spec"]
    flags = _server_flags()
    grace = parse_args(flags).grace_seconds
    if "--grace" not in flags and not any(flag.startswith("--grace=") for flag in flags):
        assert grace == ServerConfig.grace_seconds  # the default applies
    pre_stop = 0.0
    hook = _container().get("lifecycle", {}).get("preStop", {})
    command = hook.get("exec", {}).get("command", [])
    if command[:1] == ["sleep"]:
        pre_stop = float(command[1])
    pre_stop += float(hook.get("sleep", {}).get("seconds", 0))
    assert pod["terminationGracePeriodSeconds"] > grace + pre_stop


def test_pods_run_as_non_root_on_a_read_only_root_fs():
    pod = _only("Deployment")["spec"]["template"]["spec"]
    container = _container()
    assert pod.get("securityContext", {}).get("runAsNonRoot") or container["securityContext"].get("runAsNonRoot")
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["resources"]["requests"] and container["resources"]["limits"]


def test_no_latest_image_tags():
    for _, document in DOCUMENTS:
        pod = document.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            assert _image_tag_ok(container["image"]), f"pin the image tag: {container['image']}"
    for instruction, rest in _dockerfile_instructions():
        if instruction == "FROM":
            image = rest.split()[0]
            assert _image_tag_ok(image), f"pin the base image tag: {image}"


def test_dockerfile_serves_on_the_same_port_as_non_root():
    argv = _dockerfile_cmd()
    assert argv[:3] == ["python", "-m", "server"]
    config = parse_args(argv[3:])
    assert config.port == _container_port()
    assert config.host == "0.0.0.0"
    instructions = _dockerfile_instructions()
    exposed = {
        int(port.split("/")[0])
        for instruction, rest in instructions
        if instruction == "EXPOSE"
        for port in rest.split()
    }
    assert config.port in exposed
    users = [rest for instruction, rest in instructions if instruction == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image must run as a non-root user"
    uid = _only("Deployment")["spec"]["template"]["spec"]["securityContext"].get("runAsUser")
    if uid is not None and users[-1].split(":")[0].isdigit():
        assert int(users[-1].split(":")[0]) == uid


def test_dockerfile_generates_protos_like_the_makefile():
    runs = " ".join(rest for instruction, rest in _dockerfile_instructions() if instruction == "RUN")
    assert "grpc_tools.protoc -I protos --python_out=protos --pyi_out=protos --grpc_python_out=protos" in runs
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "grpc_tools.protoc -I protos --python_out=protos --pyi_out=protos --grpc_python_out=protos" in makefile
