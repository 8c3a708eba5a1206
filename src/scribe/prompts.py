"""Task templates: `prompts/*.md`, markdown with frontmatter, rendered with Jinja2 in strict mode.

A template's version is the hash of its file, logged with every run, so a change to a prompt is
visible when comparing runs. The workspace's own `prompts/` overrides the packaged ones by name,
and a new file there is a new task.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import frontmatter
import yaml

from scribe.errors import PromptError

PACKAGED_PROMPTS = Path(__file__).resolve().parents[2] / "prompts"


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    description: str
    path: Path
    version: str
    body: str
    system: str | None
    output: str  # "text" or "json"
    options: dict[str, Any] = field(default_factory=dict)
    format: dict[str, Any] | str | None = None
    variables: tuple[str, ...] = ()

    def render(self, values: dict[str, Any]) -> list[dict[str, str]]:
        """Chat messages for these values; a missing variable is an error naming it and the file."""
        import jinja2

        missing = [v for v in self.variables if v not in values]
        if missing:
            raise PromptError(f"{self.path}: variable '{missing[0]}' was not provided; pass it or drop it from `variables`")
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=False, autoescape=False)
        messages = []
        try:
            if self.system:
                messages.append({"role": "system", "content": env.from_string(self.system).render(values).strip()})
            messages.append({"role": "user", "content": env.from_string(self.body).render(values).strip()})
        except jinja2.UndefinedError as exc:
            raise PromptError(f"{self.path}: {exc.message}; add it to the values or fix the template") from exc
        except jinja2.TemplateSyntaxError as exc:
            raise PromptError(f"{self.path}:{exc.lineno}: template syntax error: {exc.message}") from exc
        return messages


def load_template(path: Path) -> PromptTemplate:
    """Parse one template file."""
    try:
        raw = path.read_bytes()
        post = frontmatter.loads(raw.decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PromptError(f"{path}: cannot read template ({exc}); fix its frontmatter") from exc
    meta = post.metadata
    output = str(meta.get("output", "text"))
    if output not in ("text", "json"):
        raise PromptError(f"{path}: output must be 'text' or 'json', not {output!r}")
    fmt = meta.get("format")
    if output == "json" and fmt is None:
        fmt = "json"
    options = meta.get("options") or {}
    variables = meta.get("variables") or []
    if not isinstance(options, dict) or not isinstance(variables, list):
        raise PromptError(f"{path}: `options` must be a mapping and `variables` a list")
    return PromptTemplate(
        name=str(meta.get("name") or path.stem),
        description=str(meta.get("description", "")),
        path=path,
        version=hashlib.sha256(raw).hexdigest()[:12],
        body=post.content,
        system=meta.get("system"),
        output=output,
        options=dict(options),
        format=fmt,
        variables=tuple(str(v) for v in variables),
    )


def prompt_dirs(workspace_root: Path | None) -> list[Path]:
    """Where templates come from, lowest priority first."""
    dirs = [PACKAGED_PROMPTS]
    if workspace_root is not None and (workspace_root / "prompts").resolve() != PACKAGED_PROMPTS:
        dirs.append(workspace_root / "prompts")
    return dirs


def find_templates(workspace_root: Path | None) -> dict[str, PromptTemplate]:
    """Every template by name; the workspace's override the packaged ones."""
    found: dict[str, PromptTemplate] = {}
    for folder in prompt_dirs(workspace_root):
        if folder.is_dir():
            for path in sorted(folder.glob("*.md")):
                template = load_template(path)
                found[template.name] = template
    return found


def get_template(name: str, workspace_root: Path | None) -> PromptTemplate:
    templates = find_templates(workspace_root)
    if name not in templates:
        have = ", ".join(sorted(templates)) or "none"
        raise PromptError(f"no prompt template '{name}' (have: {have}); add prompts/{name}.md to the workspace")
    return templates[name]
