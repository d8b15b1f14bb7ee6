"""Analysis: Prometheus queries, gates, baselines, verdicts and reports.

The entry point is :func:`perfrun.analysis.run.analyze`; everything else is a small module with
one job, pure where it can be (gates, baseline, verdict, promql, reports) and I/O at the edges
(queries, summaries, cli)."""
