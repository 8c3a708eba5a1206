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
    """Run the checks in order (a failure stops the checks that depend on it), then sum up offline readiness."""
    hosts: list[str] = []
    checks = _service_checks(workspace_path, host=host, engine=engine, say=say, hosts=hosts)
    engine_check = background_engine(workspace_path)
    if engine_check is not None:
        checks.append(engine_check)
    links = links_check(workspace_path)
    if links is not None:
        checks.append(links)
    checks.append(offline_ready(checks, hosts[0] if hosts else None))
    return checks


def _service_checks(
    workspace_path: Path | None, *, host: str | None, engine: str | None, say: Callable[[str], None], hosts: list[str]
) -> list[Check]:
    from scribe.config import DEFAULT_EMBED_MODEL, WRITERS, open_workspace
    from scribe.connect import resolve_host
    from scribe.models import open_server, pick_writer

    checks: list[Check] = []
    try:
        ws = open_workspace(workspace_path)
    except ScribeError as exc:
        return [Check("settings", False, str(exc), "fix scribe.toml or the SCRIBE_* environment variables")]
    checks.append(Check("settings", True, f"workspace {ws.root}, engine = {ws.settings.engine}"))
    checks.append(_state_writable(ws.state_dir))

    try:
        client = open_server(resolve_host(ws, engine=engine, host=host, say=say))
        hosts.append(client.host)
        version = client.version()
    except ScribeError as exc:
        checks.append(Check("model server", False, str(exc), "start Ollama or install scribe[engine]"))
        return checks
    checks.append(Check("model server", True, f"{client.host} answers (version {version})"))

    try:
        models = client.list_models()
        names = [m.name for m in models]
    except ScribeError as exc:
        checks.append(Check("models", False, str(exc)))
        return checks
    writer = ws.settings.model or pick_writer(models, WRITERS)
    for role, name, best in (("chat model", writer, WRITERS[0]), ("embed model", ws.settings.embed_model, DEFAULT_EMBED_MODEL)):
        present = name in names or f"{name}:latest" in names
        chosen = "" if ws.settings.model or role != "chat model" else " (the best writer this server has)"
        advice = "" if name == best else f"; {best} is recommended: scribe pull {best}"
        checks.append(Check(role, present, f"{name} {'present' if present else 'missing'}{chosen}{advice if present else ''}",
                            "" if present else f"scribe pull {name} (with scribe's engine: {_engine_install(name)}), or set model/embed_model in scribe.toml"))

    try:
        vectors = client.embed(ws.settings.embed_model, ["doctor check"])
        checks.append(Check("embeddings", True, f"{ws.settings.embed_model} returns {len(vectors[0])}-dimension vectors"))
    except ScribeError as exc:
        checks.append(Check("embeddings", False, str(exc), f"check that {ws.settings.embed_model} supports embeddings"))
    return checks


def _engine_install(name: str) -> str:
    from scribe.engine.weights import BUNDLED

    for model in BUNDLED:
        if name in (model.name, model.name.removesuffix(":latest")):
            return model.install
    return "scribe serve --model NAME=PATH to serve a GGUF file"


def background_engine(workspace_path: Path | None) -> Check | None:
    """The engine commands start in the background for this workspace: informational, never a failure."""
    from scribe.config import open_workspace
    from scribe.connect import engine_status

    try:
        ws = open_workspace(workspace_path)
    except ScribeError:
        return None  # the settings check has said why
    status = engine_status(ws, remove_stale=False)
    if status.answering is False:
        return Check("background engine", True, f"not answering at {status.url} (pid {status.pid}); scribe serve stop stops it")
    if not status.running:
        return Check("background engine", True, "not running for this workspace")
    rss = f", RSS {status.rss_bytes / 1e6:.0f} MB" if status.rss_bytes is not None else ""
    return Check("background engine", True, f"running at {status.url} (pid {status.pid}{rss}); scribe serve stop stops it")


def links_check(workspace_path: Path | None) -> Check | None:
    """Links in the notes that name no note: informational (a link to a note not written yet is
    common in a vault), so never a failure; None without settings or an index."""
    from scribe.config import open_workspace
    from scribe.index import open_index
    from scribe.linkgraph import dangling, dangling_line

    try:
        ws = open_workspace(workspace_path)
    except ScribeError:
        return None  # the settings check has said why
    with open_index(ws) as index:
        if not index.exists():
            return None
        try:
            lines = [dangling_line(link) for link in dangling(index.keyword)]
            unread = len(index.keyword.unlinked_paths())
        except ScribeError as exc:
            return Check("links", False, str(exc), "run `scribe index --rebuild`")
    if unread:
        return Check("links", True, f"{unread} notes were indexed before scribe kept links; `scribe index` reads their links")
    if not lines:
        return Check("links", True, "no dangling links")
    more = f"; and {len(lines) - 3} more" if len(lines) > 3 else ""
    return Check("links", True, f"{len(lines)} dangling (a link to no note): {'; '.join(lines[:3])}{more}; "
                 "write those notes or fix the links (`scribe index --json` lists them all)")


def _state_writable(state_dir: Path) -> Check:
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=state_dir, prefix=".doctor-"):
            pass
    except OSError as exc:
        return Check("state folder", False, f"{state_dir} is not writable ({exc.strerror})",
                     "make the workspace writable or pass --workspace")
    return Check("state folder", True, f"{state_dir} is writable")


def offline_ready(checks: list[Check], host: str | None) -> Check:
    """Whether scribe works with the network unplugged: "yes", or "no (the first reason)".

    Needs: the tokenizer's vocabulary loads from the installed package, Chroma's telemetry is off,
    the model server is this machine, and it answers with both models (the service checks above).
    """
    from scribe.connect import is_on_this_machine
    from scribe.tokens import ENCODING_NAME, encoding
    from scribe.vectors import chroma_settings

    reasons: list[str] = []
    try:
        if encoding().name != ENCODING_NAME:
            reasons.append(f"the tokenizer is {encoding().name}, not the offline {ENCODING_NAME}")
    except Exception as exc:  # noqa: BLE001 - any failure here means a download would be needed
        reasons.append(f"the offline tokenizer {ENCODING_NAME} does not load ({exc})")
    if chroma_settings().anonymized_telemetry:
        reasons.append("Chroma telemetry is on")
    if host is not None and not is_on_this_machine(host):
        reasons.append(f"the model server {host} is not this machine")
    reasons += [f"{c.name} failed" for c in checks if not c.ok]
    if reasons:
        return Check("offline-ready", False, f"no ({'; '.join(reasons)})",
                     "fix the checks above; use Ollama or the embedded engine on 127.0.0.1")
    return Check("offline-ready", True, "yes")
