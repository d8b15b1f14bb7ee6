"""What the operator saw of a run's children, as plain data the phase machine can judge."""

from __future__ import annotations

from dataclasses import dataclass, field

from perfrun.api.status import LoadProgress


@dataclass(frozen=True)
class JobState:
    """A Job's outcome so far."""

    succeeded: bool = False
    failed: bool = False
    message: str = ""


@dataclass(frozen=True)
class PodFailure:
    """A pod that cannot get better by waiting: ImagePullBackOff, CrashLoopBackOff, OOMKilled."""

    owner: str  # e.g. "Deployment/api"
    pod: str
    reason: str  # CamelCase, straight from the container status
    message: str = ""


@dataclass(frozen=True)
class Observed:
    """The run's namespace as last read. Empty defaults mean 'nothing there yet'."""

    namespace_exists: bool = False
    namespace_terminating: bool = False
    missing: tuple[str, ...] = ()  # rendered objects of the environment not found, "Kind/name"
    not_ready: tuple[str, ...] = ()  # workloads and components not ready, "Kind/name 1/3 ready"
    pod_failures: tuple[PodFailure, ...] = ()
    jobs: dict[str, JobState] = field(default_factory=dict)  # by Job name
    load_progress: LoadProgress | None = None
