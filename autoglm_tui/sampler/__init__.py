"""The sampler: runs on each node (standard library, plus psutil and nvidia-ml-py when present).

Entry points: ``collector.Collector`` (in-process) and ``loop.main`` (JSON lines on stdout).
Importing this package imports nothing else.
"""
