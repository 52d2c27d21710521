"""Node-side metrics outputs: Prometheus /metrics (prometheus_client) and InfluxDB 1.x."""
