"""Inference servers on this node: find them, scrape their /metrics, read the figures we need.

Standard library only (push mode ships the sampler to nodes with a bare python3). One module
per concern: ``sockets`` (listening sockets and their processes), ``discovery`` (which ports to
probe), ``targets`` (URLs and the --service syntax), ``scrape`` (one bounded HTTP GET and its
reading), ``promtext`` (a fast reader of the Prometheus text format), ``kinds`` (one name table
per server kind), ``extract`` (page -> figures), ``local`` (this node's own addresses, which
registered services must use) and ``monitor`` (the background thread).

Import from the modules themselves (``options`` is what argument parsers load: it stays light).
"""
