"""e2e/lib/processes.sh: a pid file names one process for ever, not whichever process has that
pid now. After a reboot the pid of a dead kube-proxy was reused by the cluster's new etcd, and
`cluster.sh up --with-node` "stopped the stale kube-proxy": it killed etcd (`make demo` then
timed out waiting for the node's objects)."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

E2E = Path(__file__).resolve().parents[2] / "e2e"
# a process whose command line names the run dir, as the cluster's daemons' do
SLEEPER = [sys.executable, "-c", "import time; time.sleep(30)"]


def _bash(run_dir: Path, script: str) -> subprocess.CompletedProcess[str]:
    lib = E2E / "lib"
    prelude = f"set -euo pipefail; RUN_DIR={run_dir}; . {lib}/common.sh; . {lib}/processes.sh;"
    return subprocess.run(
        ["bash", "-c", prelude + script], capture_output=True, text=True, timeout=30
    )


def test_a_started_process_is_alive_by_its_pid_file(tmp_path: Path) -> None:
    out = _bash(
        tmp_path,
        f"start_process sleeper {shlex.join(SLEEPER)} {tmp_path}/x; sleep 0.2; "
        "alive_pid sleeper; kill $(alive_pid sleeper)",
    )
    assert out.returncode == 0, out.stderr
    pid = (tmp_path / "pids" / "sleeper.pid").read_text().strip()
    started = (tmp_path / "pids" / "sleeper.start").read_text().strip()
    assert out.stdout.strip() == pid and started.isdigit()


def test_a_reused_pid_is_not_taken_for_the_recorded_process(tmp_path: Path) -> None:
    """Another live process of this run dir (so its command line names the run dir) under
    the pid recorded for a dead one: not alive, and the stale pid file goes."""
    other = subprocess.Popen([*SLEEPER, f"{tmp_path}/etcd"])
    try:
        pids = tmp_path / "pids"
        pids.mkdir()
        (pids / "kube-proxy.pid").write_text(f"{other.pid}\n")
        (pids / "kube-proxy.start").write_text("1\n")  # it was started at another time
        (pids / "old-format.pid").write_text(f"{other.pid}\n")  # a pid alone proves nothing
        out = _bash(
            tmp_path, "alive_pid kube-proxy || echo stale; alive_pid old-format || echo old"
        )
        assert out.stdout.split() == ["stale", "old"], out.stderr
        assert not (pids / "kube-proxy.pid").exists() and not (pids / "kube-proxy.start").exists()
        assert other.poll() is None  # and nothing was done to it
    finally:
        other.kill()
        other.wait()


def test_processes_of_the_run_dir_that_no_pid_file_records_are_found(tmp_path: Path) -> None:
    """What `cluster.sh up` stops before starting anything: a daemon of this run dir whose
    pid file was lost (or written by an older cluster.sh, without its start time)."""
    lost = subprocess.Popen([*SLEEPER, f"{tmp_path}/etcd"])
    try:
        out = _bash(
            tmp_path,
            f"BIN_ROOT={Path(sys.executable).parent}; "
            f"start_process kept {shlex.join(SLEEPER)} {tmp_path}/x; sleep 0.2; "
            "unrecorded_pids kept gone; kill $(alive_pid kept)",
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [str(lost.pid)]
    finally:
        lost.kill()
        lost.wait()
