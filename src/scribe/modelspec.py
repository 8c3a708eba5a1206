"""Model entries that carry options: `gemma3:270m@temperature=0.2,num_ctx=2048`.

So two configurations of one model can be compared side by side, in batch runs and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scribe.errors import ScribeError


@dataclass(frozen=True)
class ModelSpec:
    name: str
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """The spec as written, canonical: options sorted, so it works as a key and a file name part."""
        if not self.options:
            return self.name
        return self.name + "@" + ",".join(f"{k}={v}" for k, v in sorted(self.options.items()))

    @property
    def slug(self) -> str:
        """The label made safe for a file name."""
        return "".join(c if c.isalnum() or c in "-._=" else "_" for c in self.label)


def _value(text: str) -> Any:
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def parse_model_spec(text: str) -> ModelSpec:
    name, _, rest = text.strip().partition("@")
    if not name:
        raise ScribeError(f"--model {text!r}: missing the model name, e.g. gemma3:270m@temperature=0.2")
    options: dict[str, Any] = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ScribeError(f"--model {text!r}: option {item!r} is not KEY=VALUE, e.g. temperature=0.2")
        options[key.strip()] = _value(value.strip())
    return ModelSpec(name, options)
