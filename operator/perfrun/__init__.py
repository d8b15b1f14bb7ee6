"""perfrun-operator: one PerfRun object becomes an isolated, self-cleaning performance test."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("perfrun-operator")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
