"""The deploy files mean what leaderless reads: every leaderless container's command parses
with the `leaderless` parser and its mounted config loads; the proxies' nodes are the Valkey
servers beside them; each compose proxy has its own id and hints volume; the port the config
listens on is the one the image exposes and its health check PINGs. The schemas (make
deploy-check) see only the files' shape; these see their contents."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from leaderless.config.loader import load_settings
from leaderless.config.settings import Settings
from leaderless.proxy.app.cli import build_parser

DOCKER = Path(__file__).resolve().parents[2] / "docker"
CONFIG_MOUNT = Path("/etc/leaderless")


@dataclass(frozen=True)
class Container:
    """A container that runs the leaderless image: its name, `leaderless` arguments and the
    settings they load."""

    name: str
    args: list[str]
    settings: Settings


def load_container(name: str, args: list[str], config_dir: Path) -> Container:
    """The settings the container's command loads, with its config file read from `config_dir`
    where it is mounted under /etc/leaderless."""
    parsed = build_parser().parse_args(args)
    overrides = {key: value for key, value in vars(parsed).items() if "." in key}
    config = config_dir / Path(parsed.config).relative_to(CONFIG_MOUNT)
    return Container(name, args, load_settings(config, overrides))


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    return loaded


def compose_containers() -> list[Container]:
    containers = []
    for name, service in compose()["services"].items():
        if not service["image"].startswith("leaderless"):
            continue
        mounts = dict(volume.split(":")[:2] for volume in service["volumes"])
        sources = [source for source, target in mounts.items() if target.startswith("/etc/")]
        assert len(sources) == 1, f"{name} mounts one config file"
        config = DOCKER / sources[0]
        assert mounts[sources[0]] == str(CONFIG_MOUNT / config.name)
        containers.append(load_container(name, service["command"], config.parent))
    return containers


def manifests() -> list[dict[str, Any]]:
    documents = []
    for path in sorted((DOCKER / "k8s").glob("*.yaml")):
        documents += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return documents


def manifest(kind: str, name: str) -> dict[str, Any]:
    (found,) = [m for m in manifests() if m["kind"] == kind and m["metadata"]["name"] == name]
    return found


def k8s_containers(tmp_path: Path) -> list[Container]:
    config = manifest("ConfigMap", "leaderless-config")
    for file_name, text in config["data"].items():
        (tmp_path / file_name).write_text(text)
    containers = []
    for deployment in (m for m in manifests() if m["kind"] == "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            containers.append(load_container(container["name"], container["args"], tmp_path))
    return containers


def node_hosts(settings: Settings) -> set[str]:
    return {f"{node.host}:{node.port}" for node in settings.replication.nodes}


def image_port() -> int:
    dockerfile = (DOCKER / "Dockerfile").read_text()
    (exposed,) = re.findall(r"^EXPOSE (\d+)$", dockerfile, re.MULTILINE)
    (pinged,) = re.findall(r"port=(\d+)", dockerfile)
    assert exposed == pinged
    return int(exposed)


def listen_port(settings: Settings) -> int:
    return int(settings.listen.address.rpartition(":")[2])


def test_compose_runs_a_proxy_pair_and_a_sidecar() -> None:
    commands = sorted(container.args[0] for container in compose_containers())
    assert commands == ["anti-entropy", "proxy", "proxy"]


def test_compose_nodes_are_its_valkey_services() -> None:
    services = compose()["services"]
    valkeys = {f"{name}:6379" for name, s in services.items() if s["image"].startswith("valkey/")}
    assert len(valkeys) == 3
    for container in compose_containers():
        assert node_hosts(container.settings) == valkeys, container.name
        assert container.settings.replication.n == len(valkeys)


def test_compose_proxies_have_their_own_ids_and_hint_volumes() -> None:
    services = compose()["services"]
    proxies = [c for c in compose_containers() if c.args[0] == "proxy"]
    ids = {proxy.settings.replication.proxy_id for proxy in proxies}
    assert None not in ids and len(ids) == len(proxies)
    hint_volumes = set()
    for proxy in proxies:
        hints_dir = proxy.settings.hints.dir
        assert hints_dir is not None
        mounts = {
            target: source
            for source, target in (v.split(":")[:2] for v in services[proxy.name]["volumes"])
        }
        hint_volumes.add(mounts[str(hints_dir)])
    assert len(hint_volumes) == len(proxies)


def test_k8s_nodes_are_the_statefulset_pods(tmp_path: Path) -> None:
    valkey = manifest("StatefulSet", "valkey")
    service = valkey["spec"]["serviceName"]
    assert manifest("Service", service)["spec"]["clusterIP"] == "None"
    pods = {f"valkey-{i}.{service}:6379" for i in range(valkey["spec"]["replicas"])}
    containers = k8s_containers(tmp_path)
    assert sorted(c.args[0] for c in containers) == ["anti-entropy", "proxy"]
    for container in containers:
        assert node_hosts(container.settings) == pods, container.name


@pytest.mark.parametrize("where", ["compose", "k8s"])
def test_proxies_listen_on_the_port_the_image_checks(where: str, tmp_path: Path) -> None:
    containers = compose_containers() if where == "compose" else k8s_containers(tmp_path)
    proxies = [c for c in containers if c.args[0] == "proxy"]
    assert proxies
    for proxy in proxies:
        assert listen_port(proxy.settings) == image_port(), proxy.name
