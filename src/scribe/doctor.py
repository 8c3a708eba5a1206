"""`scribe doctor`: each thing scribe needs, checked for real, with the fix when it fails."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scribe.errors import ScribeError


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(
    workspace_path: Path | None,
    *,
    host: str | None = None,
    engine: str | None = None,
    say: Callable[[str], None] = print,
) -> list[Check]:
    """Run the checks in order; a failure stops the checks that depend on it."""
    from scribe.config import open_workspace
    from scribe.connect import resolve_host
    from scribe.models import ModelClient

    checks: list[Check] = []
    try:
        ws = open_workspace(workspace_path)
    except ScribeError as exc:
        return [Check("settings", False, str(exc), "fix scribe.toml or the SCRIBE_* environment variables")]
    checks.append(Check("settings", True, f"workspace {ws.root}, engine = {ws.settings.engine}"))
    checks.append(_state_writable(ws.state_dir))

    try:
        client = ModelClient(resolve_host(ws, engine=engine, host=host, say=say))
        version = client.version()
    except ScribeError as exc:
        checks.append(Check("model server", False, str(exc), "start Ollama or install scribe[engine]"))
        return checks
    checks.append(Check("model server", True, f"{client.host} answers (version {version})"))

    try:
        names = [m.name for m in client.list_models()]
    except ScribeError as exc:
        checks.append(Check("models", False, str(exc)))
        return checks
    for role, name in (("chat model", ws.settings.model), ("embed model", ws.settings.embed_model)):
        present = name in names or f"{name}:latest" in names
        checks.append(Check(role, present, f"{name} {'present' if present else 'missing'}",
                            "" if present else f"ollama pull {name}, or set model/embed_model in scribe.toml"))

    try:
        vectors = client.embed(ws.settings.embed_model, ["doctor check"])
        checks.append(Check("embeddings", True, f"{ws.settings.embed_model} returns {len(vectors[0])}-dimension vectors"))
    except ScribeError as exc:
        checks.append(Check("embeddings", False, str(exc), f"check that {ws.settings.embed_model} supports embeddings"))
    return checks


def _state_writable(state_dir: Path) -> Check:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("state folder", False, f"{state_dir} is not writable ({exc.strerror})",
                     "make the workspace writable or pass --workspace")
    return Check("state folder", True, f"{state_dir} is writable")
