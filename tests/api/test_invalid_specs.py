"""Every invalid spec is refused offline with the line its header promises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from perfrun.api.validate import load_documents, problems

INVALID = sorted((Path(__file__).parent / "invalid").glob("*.yaml"))


def header(path: Path, key: str) -> str:
    for line in path.read_text().splitlines():
        if line.startswith(f"# {key}: "):
            return line[len(f"# {key}: ") :]
    raise AssertionError(f"{path.name} has no '# {key}:' header")


def test_there_are_invalid_specs() -> None:
    assert len(INVALID) >= 20


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_refused_offline_with_its_message(path: Path) -> None:
    (doc,) = load_documents(path.read_text())
    found = problems(doc)
    assert header(path, "offline") in found


@pytest.mark.parametrize("path", INVALID[:3], ids=[p.stem for p in INVALID[:3]])
def test_cli_exits_nonzero_and_prints_the_field(path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "perfrun.cli", "validate", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert header(path, "offline") in result.stderr
