"""The fleet from a Prometheus-compatible query API (issue 14): mapping tables, queries,
assembly into samples, the HTTP client and the source."""
