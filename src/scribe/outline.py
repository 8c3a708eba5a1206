"""An outline as data: the model answers in JSON held to a schema, and code writes the markdown (pure).

A small writer asked for "exactly 5 `##` sections" in free text keeps the draft's own count, or puts
everything under one heading; a JSON schema with exactly that many sections, enforced by the model
server's grammar, cannot be answered any other way. The author, the CLI, `--out` files and the
bench's checks all read the markdown that `render_markdown` writes from it.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Section:
    heading: str
    bullets: list[str] = field(default_factory=list)


@dataclass
class Outline:
    title: str
    sections: list[Section] = field(default_factory=list)
    parsed: bool = True
    raw: str = ""
    cut_off: bool = False  # unparsed because the reply reached num_predict


def outline_schema(base: dict[str, Any], sections: int, sources: int = 0) -> dict[str, Any]:
    """The template's schema asking for exactly `sections` sections, each bullet held to
    `bullet_pattern(sources)`.

    A schema without a `sections` array (a workspace's own template) is returned as it is, and a
    bullet schema of its own (not a plain string) is kept.
    """
    schema = copy.deepcopy(base)
    array = schema.get("properties", {}).get("sections")
    if isinstance(array, dict) and array.get("type") == "array":
        array["minItems"] = array["maxItems"] = sections
        bullet = array.get("items", {}).get("properties", {}).get("bullets", {}).get("items")
        if isinstance(bullet, dict) and bullet.get("type") == "string" and len(bullet) == 1:
            bullet["pattern"] = bullet_pattern(sources)
    return schema


def bullet_pattern(sources: int) -> str:
    """A bullet's text, then at most two citations, each of a source that was given.

    Left free, the 1.5B writer that cited once counted on ("... [3] [4] [5] ... [190]") until
    num_predict cut the whole outline off. The text holds no brackets, quotes, backslashes or
    control characters, so the string needs no escapes. Its length is left to the prompt: a cap on
    words made a writer past the cap glue the rest of a copied sentence into one word.
    """
    text = r'[^\[\]"\\\x00-\x1f]+'
    if sources <= 0:
        return f"^{text}$"
    numbers = "|".join(str(n) for n in range(1, sources + 1))
    return rf"^{text}( \[({numbers})\]){{0,2}}$"


def _line(text: Any) -> str:
    """One markdown line: a newline inside a heading or bullet would break the outline's structure."""
    return " ".join(str(text).split())


def parse_outline(raw: str) -> Outline | None:
    """The outline in `raw`, or None when it is not JSON of the expected shape."""
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("sections"), list):
        return None
    sections = [
        Section(_line(item.get("heading", "")), [_line(b) for b in item.get("bullets", []) if _line(b)])
        for item in data["sections"]
        if isinstance(item, dict) and isinstance(item.get("bullets", []), list)
    ]
    return Outline(title=_line(data.get("title", "")), sections=sections, raw=raw)


def unparsed(raw: str, *, cut_off: bool = False) -> Outline:
    """What is kept when the model never produced valid outline JSON: its raw text, marked unparsed."""
    return Outline(title="", parsed=False, raw=raw, cut_off=cut_off)


def render_markdown(outline: Outline) -> str:
    """The outline as the author reads it: the title as `# `, each section as `## ` with `- ` bullets."""
    if not outline.parsed:
        why = " (it was cut off by the token limit: raise num_predict)" if outline.cut_off else ""
        return f"**The model's reply was not a valid outline{why}; its raw text follows.**\n\n" + outline.raw
    lines = [f"# {outline.title or 'Outline'}"]
    for section in outline.sections:
        lines += ["", f"## {section.heading or 'Untitled section'}", *(f"- {bullet}" for bullet in section.bullets)]
    return "\n".join(lines) + "\n"


def as_markdown(text: str) -> str:
    """A logged outline reply as the author saw it. A reply that is not outline JSON (from a text
    template, or logged before outlines were JSON) was itself the markdown, so it is returned as is."""
    outline = parse_outline(text)
    return render_markdown(outline) if outline is not None else text
