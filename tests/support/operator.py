"""pytest plugin: run the real `perfrun operator` process against the local cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.cluster import KubeCluster

REPO_ROOT = Path(__file__).resolve().parents[2]


class OperatorProcess:
    """`perfrun operator --standalone -n NS` as a child process that a test may kill.

    ``standalone=False`` leaves peering on (pass ``--peering NAME`` in ``args``): kopf then
    coordinates with the other operators registered in that peering object."""

    def __init__(
        self,
        cluster: KubeCluster,
        namespace: str,
        log: Path,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        *,
        standalone: bool = True,
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.log = log
        self.args = args
        self.env = dict(env or {})
        self.standalone = standalone
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        env = dict(
            self.cluster.env,
            PERFRUN_RECONCILE_INTERVAL="1",
            PERFRUN_IMAGE="perfrun:test",
            # the test cluster's admin allows the private network the examples' egressAllow
            # names (issue 14: egress is none by default)
            PERFRUN_POLICY_EGRESS_CIDRS="10.0.0.0/8",
        )
        env.update(self.env)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "perfrun.cli",
                    "operator",
                    *(["--standalone"] if self.standalone else []),
                    "-n",
                    self.namespace,
                    *self.args,
                ],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        self.starts += 1

    def kill(self) -> None:
        """SIGKILL: no cleanup, no goodbye -- the worst moment to die."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=30)
            self.proc = None

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.proc = None

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture(scope="session")
def perfrun_crds(kube_cluster: KubeCluster) -> None:
    """The project's CRDs (crds/: PerfRun, PerfBaseline, kopf's peerings), applied once and
    Established."""
    applied = kube_cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "--field-manager=perfrun-tests",
        "-o",
        "name",
        "-f",
        str(REPO_ROOT / "crds"),
    )
    crds = [n for n in applied.stdout.split() if n.startswith("customresourcedefinition")]
    kube_cluster.kubectl("wait", "--for=condition=Established", *crds, "--timeout=60s")


@pytest.fixture
def perfrun_operator(
    kube_cluster: KubeCluster, kube_namespace: str, perfrun_crds: None, tmp_path: Path
) -> Iterator[OperatorProcess]:
    """An operator watching only this test's namespace; stopped after the test, once the
    test's PerfRuns (and their finalizers) are gone."""
    op = OperatorProcess(kube_cluster, kube_namespace, tmp_path / "operator.log")
    op.start()
    yield op
    if op.proc is None:
        op.start()
    kube_cluster.kubectl(
        "delete", "perfrun", "--all", "-n", kube_namespace, "--timeout=120s", check=False
    )
    op.stop()
    if os.environ.get("PERFRUN_SHOW_OPERATOR_LOG"):
        print(op.logs())
