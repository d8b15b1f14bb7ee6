"""Fixtures that start real components for the tests."""
