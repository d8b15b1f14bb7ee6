"""A rendered pod, run by runc: each container of a pod template the renderer emitted (its
command, args with $(VAR) expanded, env from values and the run's Secret, emptyDir and
ConfigMap mounts, its user) started from the locally built image, all containers in one
network namespace as in a pod. So the tests check the images against the very pods a run
renders, not against a hand-written idea of them."""

from __future__ import annotations

import base64
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.images.runc import Container, Image, Netns, container

_VAR = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' $(VAR) expansion (an unknown name stays as written)."""
    return _VAR.sub(lambda m: env.get(m.group(1), m.group(0)), text)


def secret_data(manifests: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {
        m["metadata"]["name"]: {k: base64.b64decode(v).decode() for k, v in m["data"].items()}
        for m in manifests
        if m["kind"] == "Secret"
    }


def config_maps(manifests: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {m["metadata"]["name"]: m.get("data", {}) for m in manifests if m["kind"] == "ConfigMap"}


def container_env(spec: dict[str, Any], secrets: dict[str, dict[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in spec.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def _mounts(
    template: dict[str, Any],
    spec: dict[str, Any],
    maps: dict[str, dict[str, str]],
    files: Path,
) -> tuple[list[str], list[tuple[Path, str]]]:
    """emptyDir (and a volume claim) -> tmpfs; configMap -> its files, read-only."""
    volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
    tmpfs: list[str] = []
    binds: list[tuple[Path, str]] = []
    for mount in spec.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if "configMap" in volume:
            folder = files / volume["configMap"]["name"]
            folder.mkdir(parents=True, exist_ok=True)
            for key, text in maps[volume["configMap"]["name"]].items():
                (folder / key).write_text(text)
            source = folder / mount["subPath"] if "subPath" in mount else folder
            binds.append((source, mount["mountPath"]))
        elif mount["mountPath"] != "/dev/shm":  # emptyDir, or a claim: a fresh writable dir
            tmpfs.append(mount["mountPath"])
    return tmpfs, binds


@contextlib.contextmanager
def run_container(
    template: dict[str, Any],
    name: str,
    image: Image,
    manifests: list[dict[str, Any]],
    ns: Netns,
    cache: Path,
    workdir: Path,
) -> Iterator[Container]:
    """One container of a rendered pod template, from ``image`` instead of the rendered one."""
    spec = next(c for c in template["spec"]["containers"] if c["name"] == name)
    env = container_env(spec, secret_data(manifests))
    tmpfs, binds = _mounts(template, spec, config_maps(manifests), workdir / "files")
    security = {**template["spec"].get("securityContext", {}), **spec.get("securityContext", {})}
    user = (int(security["runAsUser"]), int(security.get("runAsGroup", security["runAsUser"])))
    with container(
        image,
        cache,
        workdir,
        ns,
        command=spec.get("command"),
        args=[expand(a, env) for a in spec["args"]] if "args" in spec else None,
        env=env,
        tmpfs=tmpfs,
        binds=binds,
        user=user,
        read_only=bool(spec.get("securityContext", {}).get("readOnlyRootFilesystem")),
    ) as c:
        yield c


def probe_command(spec: dict[str, Any]) -> list[str]:
    """The container's readiness probe as a command: exec runs in the container (the caller
    runs it with Container.exec); tcpSocket and httpGet become a client in the namespace."""
    probe = spec["readinessProbe"]
    if "exec" in probe:
        return list(probe["exec"]["command"])
    if "tcpSocket" in probe:
        port = probe["tcpSocket"]["port"]
        return ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"]
    get = probe["httpGet"]
    port = get["port"]
    if isinstance(port, str):
        port = next(p["containerPort"] for p in spec["ports"] if p["name"] == port)
    return ["curl", "-fsS", "-o", "/dev/null", f"http://127.0.0.1:{port}{get['path']}"]
