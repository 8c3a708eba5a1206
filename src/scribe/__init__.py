"""scribe: a local-first writing assistant over local models and your own notes."""

__version__ = "0.1.0"
