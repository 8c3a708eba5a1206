"""The machine a benchmark ran on, for the line every benchmark table ends with.

The description lives in the package (reports state it too); this keeps `from machine import machine`
working for the scripts here.
"""

from __future__ import annotations

from scribe.bench.machine import machine

__all__ = ["machine"]
