"""perfrun.render."""
