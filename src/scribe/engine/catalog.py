"""Which models the engine serves: the bundled ones that are installed, plus any GGUF named on the command line."""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from scribe.engine.templates import QWEN_DEFAULT_SYSTEM, ChatFormat, chat_format
from scribe.engine.weights import BUNDLED, BundledModel, ensure_file
from scribe.errors import ConfigError

# Ollama's library Modelfile for gemma3 sets these; a request's options override them.
GEMMA_DEFAULTS: dict[str, Any] = {"temperature": 1.0, "top_k": 64, "top_p": 0.95}

# Architectures that only embed (Ollama reports them with the "embedding" capability alone).
EMBEDDING_ARCHS = ("bert", "nomic-bert", "jina-bert-v2")


def canonical_name(name: str) -> str:
    """Ollama's naming: a name without a tag means the `latest` tag."""
    name = name.strip()
    return name if ":" in name else f"{name}:latest"


@dataclass
class CatalogEntry:
    """One servable model. Details that need the file opened are read once, on first use."""

    name: str
    path: Path
    _digest: str | None = field(default=None, repr=False)
    _metadata: dict[str, str] | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def size(self) -> int:
        return self.path.stat().st_size

    @property
    def modified_at(self) -> str:
        return datetime.fromtimestamp(self.path.stat().st_mtime, UTC).isoformat()

    @property
    def digest(self) -> str:
        """sha256 of the GGUF file, as Ollama names blobs by their sha256."""
        with self._lock:
            if self._digest is None:
                sha = hashlib.sha256()
                with self.path.open("rb") as handle:
                    while block := handle.read(1 << 20):
                        sha.update(block)
                self._digest = sha.hexdigest()
            return self._digest

    @property
    def metadata(self) -> dict[str, str]:
        """The GGUF key/value metadata, read through llama.cpp without loading the weights."""
        with self._lock:
            if self._metadata is None:
                from llama_cpp import Llama

                probe = Llama(model_path=str(self.path), vocab_only=True, verbose=False)
                self._metadata = dict(probe.metadata)
                probe.close()
            return self._metadata

    @property
    def family(self) -> str:
        return self.metadata.get("general.architecture", "unknown")

    @property
    def chat_format(self) -> ChatFormat:
        return chat_format(self.metadata)

    @property
    def embeds_only(self) -> bool:
        return self.family in EMBEDDING_ARCHS

    @property
    def capabilities(self) -> list[str]:
        return ["embedding"] if self.embeds_only else ["completion", "embedding"]

    @property
    def context_length(self) -> int | None:
        value = self.metadata.get(f"{self.family}.context_length")
        return int(value) if value and value.isdigit() else None

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(GEMMA_DEFAULTS) if self.chat_format == "gemma" else {}

    @property
    def default_system(self) -> str | None:
        """Qwen's own template opens with a system turn when the request brings none."""
        template = self.metadata.get("tokenizer.chat_template", "")
        return QWEN_DEFAULT_SYSTEM if QWEN_DEFAULT_SYSTEM in template else None

    def details(self) -> dict[str, Any]:
        """Ollama's `details` object."""
        meta = self.metadata
        return {
            "parent_model": "",
            "format": "gguf",
            "family": self.family,
            "families": [self.family],
            "parameter_size": _parameter_size(meta.get("general.size_label"), self.name),
            "quantization_level": _quantization(meta.get("general.file_type"), self.path.name),
        }

    def tag(self) -> dict[str, Any]:
        """This model as one entry of `/api/tags`."""
        return {
            "name": self.name,
            "model": self.name,
            "modified_at": self.modified_at,
            "size": self.size,
            "digest": self.digest,
            "details": self.details(),
        }


# llama.cpp's `general.file_type` numbers for the common quantizations.
FILE_TYPES = {
    "0": "F32", "1": "F16", "2": "Q4_0", "3": "Q4_1", "7": "Q8_0", "8": "Q5_0", "9": "Q5_1",
    "10": "Q2_K", "11": "Q3_K_S", "12": "Q3_K_M", "13": "Q3_K_L", "14": "Q4_K_S", "15": "Q4_K_M",
    "16": "Q5_K_S", "17": "Q5_K_M", "18": "Q6_K", "32": "BF16",
}


def _quantization(file_type: str | None, filename: str) -> str:
    if file_type in FILE_TYPES:
        return FILE_TYPES[str(file_type)]
    upper = filename.upper()
    for label in sorted(FILE_TYPES.values(), key=len, reverse=True):
        if label in upper:
            return label
    return "unknown"


def _parameter_size(size_label: str | None, name: str) -> str:
    if size_label:
        return size_label
    tag = name.split(":", 1)[1]
    return tag.upper() if tag != "latest" else "unknown"


class Catalog:
    """Name -> model file, in the order the engine lists them (the bundled writers first, best first)."""

    def __init__(self, entries: list[CatalogEntry], missing: list[BundledModel] | None = None) -> None:
        self._entries = {entry.name: entry for entry in entries}
        self._missing = {canonical_name(model.name): model for model in missing or []}

    @classmethod
    def build(cls, extra: list[str], *, include_bundled: bool = True) -> Catalog:
        """The installed bundled models (assembled on first use) plus `NAME=PATH` pairs from `--model`."""
        entries: list[CatalogEntry] = []
        missing: list[BundledModel] = []
        for model in BUNDLED if include_bundled else ():
            if model.installed():
                entries.append(CatalogEntry(canonical_name(model.name), ensure_file(model), _digest=model.sha256))
            else:
                missing.append(model)
        for item in extra:
            name, sep, path = item.partition("=")
            if not sep or not name or not path:
                raise ConfigError(f"--model {item!r}: expected NAME=PATH, e.g. mymodel:1b=/models/my.gguf")
            file = Path(path).expanduser()
            if not file.is_file():
                raise ConfigError(f"--model {item!r}: {file} is not a file; give the path of a .gguf model")
            entries.append(CatalogEntry(canonical_name(name), file.resolve()))
        return cls(entries, missing)

    def get(self, name: str) -> CatalogEntry | None:
        return self._entries.get(name) or self._entries.get(canonical_name(name))

    def missing(self, name: str) -> BundledModel | None:
        """A bundled model by this name whose package is not installed (to say how to get it)."""
        return self._missing.get(canonical_name(name))

    def unavailable(self, name: str) -> str:
        """Why this engine cannot serve `name`, and what would provide it."""
        missing = self.missing(name)
        if missing is not None:
            return missing.missing_message()
        bundled = ", ".join(model.name for model in BUNDLED)
        return (f'scribe\'s engine has no model "{name}": it serves the models scribe\'s packages bring ({bundled}) '
                "and GGUF files given to `scribe serve --model NAME=PATH`; for other models run Ollama and pull it there")

    def names(self) -> list[str]:
        return list(self._entries)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._entries.values())
