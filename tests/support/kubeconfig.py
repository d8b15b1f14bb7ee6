"""A kubeconfig file for a real client pointed at one address (unit tests of the client's
own set-up and of the operator against a server that does not answer)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


def write_kubeconfig(path: Path, server: str, user: dict[str, Any] | None = None) -> Path:
    """One cluster at ``server``, one user (``user``'s credentials, none by default)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server}}],
                "users": [{"name": "u", "user": user or {}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return path
