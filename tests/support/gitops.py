"""The Go harness in tests/gitops/harness: Argo CD's Lua engine (gopher-lua, run as Argo CD
runs a check from argocd-cm) on the chart's health.lua, and kstatus (sigs.k8s.io/cli-utils,
what Flux uses) -- built once per session with the Go build cache, run on objects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
HARNESS = REPO_ROOT / "tests" / "gitops" / "harness"
CUSTOMIZATIONS = REPO_ROOT / "charts" / "perfrun-operator" / "resource_customizations"
PERFRUN_CHECK = CUSTOMIZATIONS / "perfrun.dev" / "PerfRun"
CACHE = Path(os.environ.get("PERFRUN_CACHE", Path.home() / ".cache" / "perfrun"))


def go_env() -> dict[str, str]:
    """The machine's Go, never a downloaded toolchain; modules from the module cache or proxy."""
    return dict(os.environ, GOTOOLCHAIN="local", GOFLAGS="-mod=readonly")


def go() -> str:
    found = shutil.which("go")
    if found is None:
        raise RuntimeError("go is not on PATH: the gitops harness needs Go (>= 1.26)")
    return found


def build_verdicts() -> Path:
    """``go build`` the verdicts command (seconds when the build cache is warm)."""
    out = CACHE / "gitops" / "verdicts"
    out.parent.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [go(), "build", "-o", str(out), "./cmd/verdicts"],
        cwd=HARNESS,
        env=go_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"go build of the gitops harness failed:\n{proc.stderr}")
    return out


@dataclass(frozen=True)
class Verdicts:
    """The Argo CD health (None when no health.lua matches the kind) and the kstatus status."""

    name: str
    kind: str
    health: dict[str, str] | None
    kstatus: dict[str, str]

    @property
    def health_status(self) -> str | None:
        return None if self.health is None else self.health["status"]


@dataclass(frozen=True)
class Harness:
    binary: Path
    root: Path = CUSTOMIZATIONS

    def judge_text(self, text: str) -> list[Verdicts]:
        """Judge every object in ``text`` (YAML stream, JSON object or kubectl List)."""
        proc = subprocess.run(
            [str(self.binary), "-root", str(self.root), "-"],
            input=text,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if proc.returncode != 0:
            raise AssertionError(f"verdicts failed: {proc.stderr}")
        out = []
        for line in proc.stdout.splitlines():
            row = json.loads(line)
            out.append(Verdicts(row["name"], row["kind"], row.get("health"), row["kstatus"]))
        return out

    def judge(self, obj: dict[str, Any]) -> Verdicts:
        (one,) = self.judge_text(json.dumps(obj))
        return one
