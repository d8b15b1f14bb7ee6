"""What every renderer needs to know about one run besides its spec: names and labels that
are deterministic functions of the PerfRun, so a restarted operator renders the same objects."""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass, field

from perfrun.render.images import ImageMap
from perfrun.render.placement import Placement

MANAGED_BY = "perfrun-operator"
LABEL_RUN = "perfrun.dev/run"
LABEL_PERFRUN = "perfrun.dev/perfrun"
LABEL_PERFRUN_NAMESPACE = "perfrun.dev/perfrun-namespace"
LABEL_COMPONENT = "perfrun.dev/component"
LABEL_ROLE = "perfrun.dev/role"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
ANNOTATION_PERFRUN_UID = "perfrun.dev/perfrun-uid"
FIELD_MANAGER = "perfrun-operator"
_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"


def run_suffix(uid: str) -> str:
    """Five base-36 characters derived from the PerfRun's uid: stable across restarts, and
    different for a PerfRun deleted and re-created under the same name."""
    number = int.from_bytes(hashlib.sha256(uid.encode()).digest()[:8], "big")
    out = ""
    for _ in range(5):
        number, digit = divmod(number, 36)
        out += _ALPHABET[digit]
    return out


def namespace_for(name: str, uid: str) -> str:
    """``perf-<name>-<suffix>``: a valid namespace name (dots in the PerfRun name become '-')."""
    safe = re.sub(r"[^a-z0-9-]", "-", name.lower()).strip("-")[:40]
    return f"perf-{safe}-{run_suffix(uid)}"


@dataclass(frozen=True)
class RunContext:
    """Identity of one run and the operator settings renderers use."""

    name: str  # the PerfRun's name
    perfrun_namespace: str  # where the PerfRun lives
    uid: str  # the PerfRun's uid
    image: str  # the perfrun image running `perfrun seed|restore|load` in Jobs
    storage_class: str | None = None  # for PVCs; None means the cluster default
    extra_labels: dict[str, str] = field(default_factory=dict)
    # Mixed into the derived passwords so that knowing a PerfRun's uid is not enough to know
    # its database passwords; the operator passes a value it keeps (e.g. from its own Secret).
    secret_seed: str = ""
    # The API server's endpoint addresses (as CIDRs) and ports, from the `default/kubernetes`
    # EndpointSlice (or PERFRUN_API_SERVER_CIDRS/_PORTS): the load pods and the embedded
    # Prometheus may reach these and nothing else outside the namespace. Empty: no such
    # policy is rendered (never its ports to every address).
    api_server_cidrs: tuple[str, ...] = ()
    api_server_ports: tuple[int, ...] = ()
    # The operator's image map (role -> image) and what every pod gets: nodeSelector,
    # tolerations, image pull secrets.
    images: ImageMap = field(default_factory=ImageMap)
    placement: Placement = field(default_factory=Placement)
    # How long the run's report ConfigMap is kept (it outlives the PerfRun); 30 days.
    report_retention_s: float = 30 * 86400

    # computed once per context (a hash of the uid): a run's renderers ask ~150 times
    @functools.cached_property
    def namespace(self) -> str:
        return namespace_for(self.name, self.uid)

    @functools.cached_property
    def run_id(self) -> str:
        return self.namespace.removeprefix("perf-")

    def labels(self, **extra: str) -> dict[str, str]:
        """Labels every object of the run carries (the janitor and teardown select on them)."""
        out = {
            LABEL_MANAGED_BY: MANAGED_BY,
            LABEL_RUN: self.run_id,
            LABEL_PERFRUN: self.name[:63],
            LABEL_PERFRUN_NAMESPACE: self.perfrun_namespace,
            **self.extra_labels,
        }
        out.update(extra)
        return out

    def part_labels(self, component: str, role: str) -> dict[str, str]:
        """The run's labels plus which part of the environment an object belongs to."""
        return self.labels(**{LABEL_COMPONENT: component, LABEL_ROLE: role})

    def selector(self, component: str) -> dict[str, str]:
        """A stable, minimal pod selector for one part (selectors are immutable)."""
        return {LABEL_RUN: self.run_id, LABEL_COMPONENT: component}
