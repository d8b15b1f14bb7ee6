"""shop: the sample application the PerfRun examples test -- an HTTP API and a worker on
PostgreSQL, Redis and RabbitMQ, with regressions that one environment variable plants."""

__version__ = "1.8.0"
