"""perfrun.dataset."""
