"""autoglm-tui: a terminal cluster monitor for GPU inference and training nodes."""

__version__ = "0.1.0"
