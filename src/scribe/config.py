"""Workspace discovery and settings: defaults, then `scribe.toml`, then environment variables.

Later sources win, so a one-off `SCRIBE_MODEL=... scribe ...` overrides the workspace file
and CLI flags override both (the CLI passes them in).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from scribe.errors import ConfigError

CONFIG_FILE = "scribe.toml"
STATE_DIR = ".scribe"
VAULT_DIR = ".obsidian"  # what makes a folder an Obsidian vault
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
# The writers scribe knows, best first: with no `model` set, tasks use the first the server has.
WRITERS = ("qwen2.5-coder:1.5b", "qwen2.5-coder:0.5b", "gemma3:270m")
DEFAULT_EMBED_MODEL = "all-minilm"
# The largest context scribe sizes a call to (it asks for less when the prompt is shorter). 16,384
# tokens take a draft of up to about 9,800 words with the packaged templates; the KV cache of such a
# context is 448 MiB for the 1.5B writer (28 layers x K and V x 2 heads x 128 x 2 bytes = 28 KiB a
# token) and 192 MiB for the 0.5B (benchmarks/num_ctx_memory.py: +98 MB RSS from 8,192 to 16,384).
DEFAULT_MAX_NUM_CTX = 16384

EngineMode = Literal["auto", "ollama", "embedded"]


class IndexSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    notes: list[str] = Field(default_factory=lambda: ["notes"])  # ["."] in an Obsidian vault (load_settings)
    chroma_url: str | None = None
    embed_batch_size: int = Field(default=16, ge=1, le=4096)
    chunk_tokens: int = Field(default=350, ge=32, le=8192)
    # Index what a symlink in the notes points at outside the workspace (it would go into prompts).
    follow_symlinks: bool = False


class Settings(BaseModel):
    """Everything scribe reads from scribe.toml and the environment."""

    model_config = ConfigDict(extra="forbid")

    engine: EngineMode = "auto"
    ollama_host: str = DEFAULT_OLLAMA_HOST
    model: str | None = None  # None: the best of WRITERS the model server has
    embed_model: str = DEFAULT_EMBED_MODEL
    max_num_ctx: int = Field(default=DEFAULT_MAX_NUM_CTX, ge=512)  # the context a call may grow to (memory)
    warn_remote_host: bool = True
    index: IndexSettings = Field(default_factory=IndexSettings)


# Environment variable -> dotted settings key. OLLAMA_HOST is Ollama's own variable, honoured as is.
ENV_VARS: dict[str, str] = {
    "SCRIBE_ENGINE": "engine",
    "OLLAMA_HOST": "ollama_host",
    "SCRIBE_MODEL": "model",
    "SCRIBE_EMBED_MODEL": "embed_model",
    "SCRIBE_CHROMA_URL": "index.chroma_url",
}


class Workspace:
    """A folder holding the author's notes, drafts, `scribe.toml` and scribe's state in `.scribe/`
    (or an Obsidian vault as it is, with scribe's state in `.scribe/` beside `.obsidian/`)."""

    def __init__(self, root: Path, settings: Settings) -> None:
        self.root = root
        self.settings = settings

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR

    @property
    def is_vault(self) -> bool:
        """An Obsidian vault: links are written `[[Note#Heading]]`, and its notes are all its markdown files."""
        return (self.root / VAULT_DIR).is_dir()

    def ensure_state_dir(self) -> Path:
        try:
            self.state_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"{self.state_dir}: cannot create scribe's state folder ({exc.strerror}); "
                "make the workspace writable or pass --workspace"
            ) from exc
        return self.state_dir

    @property
    def runlog_path(self) -> Path:
        return self.state_dir / "runs.sqlite"


def find_workspace_root(start: Path) -> Path:
    """The nearest folder at or above `start` holding scribe.toml, .scribe/ or .obsidian/ (an
    Obsidian vault), else `start` itself.

    A vault inside a folder with a scribe.toml (its `notes/` kept as a vault) belongs to that
    workspace, whose scribe.toml says where the notes are; a `.scribe/` above a vault does not
    claim it (any command run there once leaves one).
    """
    start = start.resolve()
    folders = (start, *start.parents)
    for i, folder in enumerate(folders):
        if (folder / CONFIG_FILE).is_file() or (folder / STATE_DIR).is_dir():
            return folder
        if (folder / VAULT_DIR).is_dir():
            return next((above for above in folders[i + 1 :] if (above / CONFIG_FILE).is_file()), folder)
    return start


def normalize_host(host: str) -> str:
    """Accept Ollama's forms of OLLAMA_HOST (`0.0.0.0`, `host:port`, `http://host`) as a full URL.
    A host of another scheme (a server registered with `scribe.models.register_server`) is kept
    as given: ports and addresses mean nothing there."""
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = f"http://{host}"
    parts = urlsplit(host)
    if parts.scheme.lower() not in ("http", "https"):
        return host
    name = parts.hostname or "127.0.0.1"
    if name in ("0.0.0.0", "::"):
        name = "127.0.0.1"  # a listen-on-all address is reached through loopback
    if ":" in name:
        name = f"[{name}]"
    port = parts.port or (443 if parts.scheme == "https" else 11434)
    return f"{parts.scheme}://{name}:{port}{parts.path}"


def _set_dotted(data: dict, dotted: str, value: str) -> None:
    *parents, leaf = dotted.split(".")
    for key in parents:
        data = data.setdefault(key, {})
    data[leaf] = value


def load_settings(root: Path, env: dict[str, str] | None = None) -> Settings:
    """Read `root/scribe.toml` (if any) and the environment into validated settings."""
    env = dict(os.environ) if env is None else env
    data: dict = {}
    path = root / CONFIG_FILE
    if path.is_file():
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc}); fix the file or remove it") from exc
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    for var, key in ENV_VARS.items():
        if env.get(var):
            _set_dotted(data, key, env[var])
    if (root / VAULT_DIR).is_dir() and isinstance(data.get("index", {}), dict):
        data.setdefault("index", {}).setdefault("notes", ["."])  # a vault's notes are its markdown files
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"{path}: setting '{where}': {first['msg']}; fix it in {CONFIG_FILE} or the environment"
        ) from exc
    settings.ollama_host = normalize_host(settings.ollama_host)
    return settings


def open_workspace(path: Path | None = None, env: dict[str, str] | None = None) -> Workspace:
    """The workspace for `path` (or $SCRIBE_WORKSPACE, or the current folder) with its settings."""
    env = dict(os.environ) if env is None else env
    if path is None:
        path = Path(env["SCRIBE_WORKSPACE"]) if env.get("SCRIBE_WORKSPACE") else Path.cwd()
    if not path.is_dir():
        raise ConfigError(f"{path}: workspace folder does not exist; pass an existing folder to --workspace")
    root = find_workspace_root(path)
    return Workspace(root, load_settings(root, env))
