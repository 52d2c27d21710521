"""Recordings: one JSON-lines format for `--record`, the flight recorder and `replay`
(docs/recording.md). Monitor-side I/O: no Textual, no network."""
