"""Root of the test suite. Fixtures that start real components live in tests/support/ and are
registered here so every test directory can use them."""

pytest_plugins = [
    "tests.support.cluster",  # first: the other fixture modules import it
    "tests.support.operator",
    # one line per fixture module under tests/support/
    "tests.support.prometheus",
    "tests.support.postgres",
    "tests.support.loadservers",
]
