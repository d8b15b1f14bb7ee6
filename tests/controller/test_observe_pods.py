"""Which waiting containers fail a run at once (controller/observe.py): a kubelet's passing
CreateContainerConfigError (its Secret or ConfigMap cache not synced yet, seen on a real node
for a fresh run's first pod) is not one; a Secret, ConfigMap or key that is missing is."""

from __future__ import annotations

from typing import Any

import pytest

from perfrun.controller.observe import pod_failures


def _pod(reason: str, message: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "api-1", "ownerReferences": [{"kind": "ReplicaSet", "name": "api-x"}]},
        "status": {
            "containerStatuses": [
                {"name": "api", "state": {"waiting": {"reason": reason, "message": message}}}
            ]
        },
    }


@pytest.mark.parametrize(
    "message",
    [
        "failed to sync secret cache: timed out waiting for the condition",
        "failed to sync configmap cache: timed out waiting for the condition",
    ],
)
def test_a_cache_the_kubelet_has_not_synced_yet_is_waited_for(message: str) -> None:
    assert pod_failures([_pod("CreateContainerConfigError", message)]) == ()


@pytest.mark.parametrize(
    ("reason", "message"),
    [
        ("CreateContainerConfigError", 'secret "db-credentials" not found'),
        ("CreateContainerConfigError", 'configmap "settings" not found'),
        ("CreateContainerConfigError", "couldn't find key password in Secret perf-x/db"),
        ("CreateContainerConfigError", "container has runAsNonRoot and image will run as root"),
        ("ImagePullBackOff", "Back-off pulling image"),
        ("CrashLoopBackOff", "back-off 10s restarting failed container"),
    ],
)
def test_what_waiting_will_not_fix_fails_the_run_naming_it(reason: str, message: str) -> None:
    (failure,) = pod_failures([_pod(reason, message)])
    assert (failure.reason, failure.message, failure.pod) == (reason, message, "api-1")
