"""`perfrun run -f` on the local cluster, as a person and as a CI step would use it: on a
terminal (a real pseudo-terminal: tmux, as `kubectl perfrun`, the kubectl plugin) the progress
is one line redrawn in place; without a terminal it is one timestamped line per change; the
exit code is the verdict's. The runs end as in the operator's own e2e tests: kwok plays the
pods, the real `perfrun load` plays the load pod of the run that passes."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.cluster import KubeCluster
from tests.support.loadpods import KWOK_COMPLETE_DELAY, host_command
from tests.support.loadservers import TestServer
from tests.support.operator import OperatorProcess
from tests.support.perfruns import FAIL, minimal, perfrun, pod_labels
from tests.support.waiting import poll_until

pytestmark = [pytest.mark.cluster, pytest.mark.services]
VENV_BIN = Path(sys.executable).parent


def plugin_env(cluster: KubeCluster) -> dict[str, str]:
    """kubectl and kubectl-perfrun (this venv's) on PATH, as after `pip install`."""
    env = dict(cluster.env)
    env["PATH"] = f"{cluster.bin_dir}{os.pathsep}{VENV_BIN}{os.pathsep}{env['PATH']}"
    return env


def write(tmp: Path, doc: dict[str, Any]) -> Path:
    path = tmp / f"{doc['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def perfrun_cmd(*args: str) -> list[str]:
    return [str(VENV_BIN / "perfrun"), *args]


def passing(name: str) -> dict[str, Any]:
    doc = minimal(name)
    load = doc["spec"]["load"]
    load["ramp"] = {"steps": [{"rate": 20, "hold": "3s"}, {"rate": 30, "hold": "3s"}]}
    load["budget"] = {"maxRps": 100, "maxInFlight": 8, "maxDuration": "1m"}
    load["podMetadata"] = {"annotations": {KWOK_COMPLETE_DELAY: "10m"}}
    doc["spec"]["analysis"]["gates"] = [
        {"name": "p99", "metric": "latencyP99", "max": "5s"},
        {"name": "errors", "metric": "errorRate", "max": "0.01"},
    ]
    return doc


def loading(cluster: KubeCluster, ns: str, name: str) -> dict[str, Any] | None:
    """The PerfRun once it is Loading (None before, also before `perfrun run` created it)."""
    if not cluster.exists("perfrun", name, "-n", ns):
        return None
    obj = perfrun(cluster, ns, name)
    return obj if obj.get("status", {}).get("phase") == "Loading" else None


def host_load(cluster: KubeCluster, ns: str, name: str, server: TestServer, tmp: Path) -> None:
    obj = poll_until(lambda: loading(cluster, ns, name), timeout=120, what=f"{name} Loading")
    run_ns = obj["status"]["namespace"]
    (tmp / "load").mkdir(parents=True)
    command, env, _ = host_command(cluster, run_ns, tmp / "load", server.url)
    subprocess.run(command, env=env, check=True, timeout=120, capture_output=True)
    pod = cluster.get_json("pods", "-n", run_ns, "-l", "job-name=load")["items"][0]
    cluster.kubectl(
        "annotate", "-n", run_ns, "pod", pod["metadata"]["name"], "--overwrite",
        f"{KWOK_COMPLETE_DELAY}=0s",
    )  # fmt: skip


class Tmux:
    """A detached tmux session (its own server socket) running one command in a 160x20 pane."""

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.socket = str(tmp / "tmux.sock")
        self.env = env

    def tmux(self, *args: str) -> str:
        return subprocess.run(
            ["tmux", "-S", self.socket, *args],
            env=self.env, capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip

    def start(self, command: str) -> None:
        self.tmux("new-session", "-d", "-x", "160", "-y", "20", "-s", "run", command)

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-t", "run")

    def stop(self) -> None:
        subprocess.run(["tmux", "-S", self.socket, "kill-server"], check=False, timeout=30)


def start_plain(tmp: Path, ns: str, env: dict[str, str], name: str) -> subprocess.Popen[bytes]:
    """`perfrun run` as a CI step: no terminal, its output to a log file."""
    with (tmp / f"{name}.log").open("w") as out:
        return subprocess.Popen(
            perfrun_cmd("run", "-f", str(tmp / f"{name}.yaml"), "-n", ns, "--interval", "0.5"),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def has_exited(tmux: Tmux) -> str | None:
    screen = tmux.screen()
    return screen if "EXIT=" in screen else None


def check_plain_log(tmp: Path, ns: str) -> None:
    plain = (tmp / "run-passes.log").read_text()
    lines = plain.splitlines()
    assert lines[0] == f"perfrun/run-passes created in {ns}"
    progress = [line for line in lines if " | " in line]
    phases = [line.split(" | ")[1] for line in progress]
    assert {"Provisioning", "Loading", "Succeeded"} <= set(phases), plain
    assert any("step 2/2" in line and "rps" in line for line in progress), plain
    # the p99 so far while it loads (the load pod's own), before the analysis has one
    assert any(re.search(r"\| Loading \| .*\| p99 [0-9.]+ ms \|", line) for line in progress), plain
    assert "\x1b" not in plain and "\r" not in plain  # no terminal codes in a CI log
    assert any(line.startswith("run-passes: Passed (p99 ") for line in lines), plain
    assert f"report: perfrun report run-passes -n {ns} --open" in lines
    failed = (tmp / "run-load-fails.log").read_text()
    assert "run-load-fails: Failed: Job/load failed" in failed, failed


def check_screens(screens: list[str], final: str) -> None:
    """One progress line redrawn in place while it loads, then the verdict and exit code."""
    loading = [s for s in screens if "run-on-tty | Loading" in s]
    assert any("| step " in s and " rps | " in s for s in loading), "\n----\n".join(screens)
    for screen in [*loading, final]:
        rows = [r for r in screen.splitlines() if "run-on-tty | " in r]
        assert len(rows) == 1, screen  # redrawn, not scrolled
    assert "run-on-tty: Passed (p99 " in final and "EXIT=0" in final, final


def check_attach_and_ls(tmp: Path, ns: str, env: dict[str, str]) -> None:
    # attach: a second `perfrun run` on a finished run answers at once with its verdict
    again = subprocess.run(
        perfrun_cmd("run", "-f", str(tmp / "run-inconclusive.yaml"), "-n", ns),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert again.returncode == 3, again.stdout + again.stderr
    assert "exists in" in again.stderr and "following it" in again.stderr
    # kubectl perfrun ls: every run with its phase and verdict
    listed = subprocess.run(
        ["kubectl", "perfrun", "ls", "-n", ns],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = {line.split()[0]: line.split() for line in listed.splitlines()[1:]}
    assert rows["run-passes"][1:3] == ["Succeeded", "Passed"], listed
    assert rows["run-inconclusive"][1:3] == ["Failed", "Inconclusive"], listed
    assert rows["run-load-fails"][1:3] == ["Failed", "-"], listed


def test_perfrun_run_plain_lines_tty_progress_exit_codes_and_ls(
    kube_cluster: KubeCluster,
    kube_namespace: str,
    perfrun_operator: OperatorProcess,
    test_server: TestServer,
    tmp_path: Path,
) -> None:
    ns = kube_namespace
    env = plugin_env(kube_cluster)
    test_server.behaviour.latency = lambda k: 0.002
    failing = minimal("run-load-fails")
    pod_labels(failing["spec"]["load"], FAIL)
    for doc in (minimal("run-inconclusive"), failing, passing("run-passes")):
        write(tmp_path, doc)
    on_tty = write(tmp_path, passing("run-on-tty"))
    procs = {
        n: start_plain(tmp_path, ns, env, n)
        for n in ("run-inconclusive", "run-load-fails", "run-passes")
    }
    tmux = Tmux(tmp_path, env)
    tmux.start(
        f"kubectl perfrun run -f {shlex.quote(str(on_tty))} -n {ns} --interval 0.5; "
        "echo EXIT=$?; sleep 600"
    )
    screens: list[str] = []
    try:
        host_load(kube_cluster, ns, "run-passes", test_server, tmp_path / "a")
        poll_until(lambda: loading(kube_cluster, ns, "run-on-tty"), timeout=120, what="TTY run")
        # the TTY run's load on the host, in a thread, while the screen is read every 0.2 s
        loader = threading.Thread(
            target=host_load,
            args=(kube_cluster, ns, "run-on-tty", test_server, tmp_path / "b"),
            daemon=True,
        )
        loader.start()
        deadline = time.monotonic() + 180
        while (final := has_exited(tmux)) is None and time.monotonic() < deadline:
            screens.append(tmux.screen())
            time.sleep(0.2)
        loader.join(timeout=60)
        assert final is not None, "the TTY run did not exit"
        codes = {name: p.wait(timeout=240) for name, p in procs.items()}
    finally:
        tmux.stop()
        for p in procs.values():
            if p.poll() is None:
                p.kill()
        (tmp_path / "tty.txt").write_text("\n----\n".join(screens))

    assert codes == {"run-inconclusive": 3, "run-load-fails": 1, "run-passes": 0}, codes
    check_plain_log(tmp_path, ns)
    check_screens(screens, final)
    check_attach_and_ls(tmp_path, ns, env)


def test_perfrun_run_refuses_a_bad_file_naming_the_field(tmp_path: Path) -> None:
    doc = minimal("bad")
    doc["spec"]["load"]["budget"]["maxRPS"] = 5
    path = write(tmp_path, doc)
    proc = subprocess.run(
        perfrun_cmd("run", "-f", str(path)), capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "spec.load.budget.maxRPS" in proc.stderr, proc.stderr
