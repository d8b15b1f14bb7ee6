"""perfrun.load."""
