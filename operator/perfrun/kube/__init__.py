"""perfrun.kube."""
