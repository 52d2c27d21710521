"""Alert sinks (non-UI I/O): the JSON-lines alert log, Alertmanager, silences, the pipeline."""
