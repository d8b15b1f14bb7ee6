"""Pods fit the namespace's Pod Security level: nothing privileged or host-bound anywhere;
the images whose user we know are `restricted`-compliant even under `baseline`."""

from __future__ import annotations

from typing import Any

from tests.render.helpers import context, pod_templates, render_everything, variant

from perfrun.api import PerfRun

ALLOWED_VOLUMES = {"configMap", "emptyDir", "persistentVolumeClaim", "secret", "downwardAPI"}


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec["containers"]) + list(spec.get("initContainers", []))


def test_baseline_fit(run: PerfRun) -> None:
    for _, template in pod_templates(render_everything(run, context(run))):
        spec = template["spec"]
        for host in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(host)
        for volume in spec.get("volumes", []):
            assert set(volume) - {"name"} <= ALLOWED_VOLUMES, volume
        for c in _containers(spec):
            sc = c.get("securityContext", {})
            assert not sc.get("privileged")
            assert not sc.get("capabilities", {}).get("add")
            assert all("hostPort" not in p for p in c.get("ports", []))


def _restricted_ok(pod: dict[str, Any], c: dict[str, Any]) -> bool:
    sc, psc = c.get("securityContext", {}), pod.get("securityContext", {})
    seccomp = sc.get("seccompProfile") or psc.get("seccompProfile")
    return bool(
        (sc.get("runAsNonRoot") or psc.get("runAsNonRoot"))
        and sc.get("allowPrivilegeEscalation") is False
        and sc.get("capabilities", {}).get("drop") == ["ALL"]
        and seccomp
        and seccomp["type"] == "RuntimeDefault"
    )


def test_known_images_are_restricted_compliant(full: PerfRun) -> None:
    app_images = {w.image for w in full.spec.environment.workloads}
    for _, template in pod_templates(render_everything(full, context(full))):
        for c in _containers(template["spec"]):
            if c["image"] not in app_images:
                assert _restricted_ok(template["spec"], c), c["name"]


def test_restricted_namespace_hardens_the_application_too() -> None:
    def restrict(doc: dict[str, Any]) -> None:
        doc["spec"]["environment"]["podSecurity"] = "restricted"

    run = variant("perfrun-full.yaml", restrict)
    for owner, template in pod_templates(render_everything(run, context(run))):
        for c in _containers(template["spec"]):
            assert _restricted_ok(template["spec"], c), owner["metadata"]["name"]
