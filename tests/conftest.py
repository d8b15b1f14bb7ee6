"""Root of the test suite. Fixtures that start real components live in tests/support/ and are
registered here so every test directory can use them (cluster first: operator builds on it)."""

pytest_plugins = [
    "tests.support.cluster",
    "tests.support.operator",
    "tests.support.node",
    "tests.support.prometheus",
    "tests.support.postgres",
    "tests.support.redis",
    "tests.support.loadservers",
]
