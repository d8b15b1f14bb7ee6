"""perfrun.analysis."""
