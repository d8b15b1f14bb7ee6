"""The status-class vocabulary the recorder counts in and the metrics label with: 1xx..5xx
for an answer, ``error`` for none. At the bottom of the load package: both sides use it."""

from __future__ import annotations

# In the order of ``class_index`` (the Prometheus ``status_class`` label).
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx", "error")
ERROR_CLASS = 5


def class_index(status: int | None) -> int:
    """0..4 for 1xx..5xx, ``ERROR_CLASS`` for no answer (or a status outside 100..599)."""
    if status is None or not 100 <= status <= 599:
        return ERROR_CLASS
    return status // 100 - 1


def status_class(status: int | None) -> str:
    """``2xx`` etc. for an answer, ``error`` for no answer (refused, reset, timeout)."""
    return STATUS_CLASSES[class_index(status)]
