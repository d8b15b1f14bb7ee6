"""The PerfRun API: pydantic models that are the one source of the CRD schema."""

from perfrun.api.analysis import AnalysisSpec, Gate, Metric
from perfrun.api.dataset import Dataset
from perfrun.api.environment import Component, ComponentKind, Environment, Workload
from perfrun.api.load import LoadSpec
from perfrun.api.perfrun import API_VERSION, GROUP, KIND, PLURAL, VERSION, PerfRun, PerfRunSpec
from perfrun.api.status import (
    TERMINAL_PHASES,
    Condition,
    ConditionType,
    PerfRunStatus,
    Phase,
    Verdict,
)

__all__ = [
    "API_VERSION",
    "GROUP",
    "KIND",
    "PLURAL",
    "TERMINAL_PHASES",
    "VERSION",
    "AnalysisSpec",
    "Component",
    "ComponentKind",
    "Condition",
    "ConditionType",
    "Dataset",
    "Environment",
    "Gate",
    "LoadSpec",
    "Metric",
    "PerfRun",
    "PerfRunSpec",
    "PerfRunStatus",
    "Phase",
    "Verdict",
    "Workload",
]
