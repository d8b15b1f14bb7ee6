"""perfrun.controller."""
