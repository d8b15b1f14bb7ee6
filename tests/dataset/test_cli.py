"""perfrun seed/restore config handling: exit 2 naming the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from perfrun.cli import main


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], cmd: str, text: str) -> tuple[int, str]:
    config = tmp_path / "dataset.yaml"
    config.write_text(text)
    code = main([cmd, "--config", str(config), "--dsn", "postgresql://127.0.0.1:1/x"])
    return code, capsys.readouterr().err


def test_invalid_config_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = json.dumps(
        {
            "into": "db",
            "synthetic": {
                "seed": 1,
                "tables": [
                    {
                        "name": "a",
                        "rows": 1,
                        "columns": [{"name": "id", "generator": "enum"}],
                    }
                ],
            },
        }
    )
    code, err = run(tmp_path, capsys, "seed", text)
    assert code == 2
    assert "dataset.synthetic.tables[0].columns[0].values: an enum column needs values" in err


def test_percentile_max_below_p99(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = """
into: db
synthetic:
  seed: 1
  tables:
    - {name: a, rows: 1, columns: [{name: id, generator: sequence}]}
    - name: b
      perParent: {table: a, count: {percentiles: {p50: 1, p95: 2, p99: 30, max: 10}}}
      columns: [{name: a_id, generator: parent}]
"""
    code, err = run(tmp_path, capsys, "seed", text)
    assert code == 2
    assert "dataset.synthetic.tables[1].perParent.count.percentiles.max: max must not be" in err


def test_wrong_section_for_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(tmp_path, capsys, "restore", "into: db\nsnapshot: {volumeSnapshot: gold}\n")
    assert code == 2
    assert "dataset.dump: required for perfrun restore" in err
    code, err = run(tmp_path, capsys, "seed", "into: db\ndump: {path: /x.dump}\n")
    assert code == 2
    assert "dataset.synthetic: required for perfrun seed" in err


def test_unknown_field_and_bad_yaml(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run(tmp_path, capsys, "restore", "into: db\ndump: {path: /x, jbos: 3}\n")
    assert code == 2
    assert "dataset.dump.jbos: unknown field" in err
    code, err = run(tmp_path, capsys, "restore", "into: [db\n")
    assert code == 2
    assert "not valid YAML or JSON" in err
