"""A load Job's pod as a host process: kwok holds the pod Running (it cannot run the container)
while the real `perfrun load` program runs on this machine as the rendered Job would -- its
args, its environment, its config read back from the run's ConfigMap -- against a target on
127.0.0.1."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from tests.support.cluster import KubeCluster
from tests.support.waiting import free_port

# kwok would complete the load pod at once; this annotation holds it Running
KWOK_COMPLETE_DELAY = "pod-complete.stage.kwok.x-k8s.io/delay"


def host_command(
    cluster: KubeCluster, run_ns: str, tmp: Path, target: str
) -> tuple[list[str], dict[str, str], Path]:
    """The load Job's container as a host process: its args and env as rendered, its config
    file from the run's load-config ConfigMap, and the cluster reached by the kubeconfig."""
    job = cluster.get_json("job", "load", "-n", run_ns)
    container = job["spec"]["template"]["spec"]["containers"][0]
    config = tmp / "load.yaml"
    data = cluster.get_json("configmap", "load-config", "-n", run_ns)["data"]
    load = yaml.safe_load(data["load.yaml"])
    load["target"] = target
    config.write_text(yaml.safe_dump(load))
    summary = tmp / "summary.json"
    replace = {"--config": str(config), "--summary": str(summary), "--metrics-port": None}
    args: list[str] = []
    it = iter(container["args"])
    for arg in it:
        if arg in replace:
            next(it)
            args += [arg, replace[arg] or str(free_port())]
        else:
            args.append(arg)
    env = dict(cluster.env)
    for item in container["env"]:
        if "value" in item:
            env[item["name"]] = item["value"]
        elif item["valueFrom"].get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[item["name"]] = run_ns
    assert env["PERFRUN_PROGRESS_INTERVAL"] == "15"  # as rendered; a test cannot wait that long
    env["PERFRUN_PROGRESS_INTERVAL"] = "1"
    env["JOB_COMPLETION_INDEX"] = "0"
    return [sys.executable, "-m", "perfrun.cli", *args], env, summary
