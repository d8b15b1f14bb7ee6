"""`perfrun run`, `perfrun ls`: a person's (or a CI step's) view of PerfRuns on a cluster."""
