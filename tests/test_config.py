"""Settings: defaults, then scribe.toml, then the environment; bad values named with their fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from scribe.config import find_workspace_root, load_settings, normalize_host, open_workspace
from scribe.errors import ConfigError


def test_defaults_without_a_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path, env={})
    assert settings.engine == "auto"
    assert settings.model is None and settings.embed_model == "all-minilm"  # None: the server's best writer
    assert settings.ollama_host == "http://127.0.0.1:11434"
    assert settings.index.notes == ["notes"] and settings.index.embed_batch_size == 16


def test_file_then_environment(tmp_path: Path) -> None:
    (tmp_path / "scribe.toml").write_text('engine = "embedded"\nmodel = "from-file:1b"\n[index]\nembed_batch_size = 8\n')
    settings = load_settings(tmp_path, env={"SCRIBE_MODEL": "from-env:2b", "OLLAMA_HOST": "10.0.0.5"})
    assert settings.engine == "embedded"
    assert settings.model == "from-env:2b"
    assert settings.ollama_host == "http://10.0.0.5:11434"
    assert settings.index.embed_batch_size == 8


@pytest.mark.parametrize(
    "text, fragment",
    [("engine = 'cloud'", "engine"), ("engine = [", "not valid TOML"), ("colour = 'red'", "colour"),
     ("[index]\nembed_batch_size = 0", "index.embed_batch_size")],
)
def test_bad_settings_name_the_file_and_key(tmp_path: Path, text: str, fragment: str) -> None:
    (tmp_path / "scribe.toml").write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(tmp_path, env={})
    assert "scribe.toml" in str(info.value) and fragment in str(info.value)


def test_bad_environment_value(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="engine"):
        load_settings(tmp_path, env={"SCRIBE_ENGINE": "gpu"})


@pytest.mark.parametrize(
    "given, expected",
    [("127.0.0.1", "http://127.0.0.1:11434"), ("0.0.0.0:9000", "http://127.0.0.1:9000"),
     ("http://example.internal", "http://example.internal:11434"), ("https://box", "https://box:443"),
     ("http://[::1]:8080/", "http://[::1]:8080"), ("fake://writer", "fake://writer")],
)
def test_ollama_host_forms(given: str, expected: str) -> None:
    assert normalize_host(given) == expected


def test_workspace_found_from_a_subfolder(tmp_path: Path) -> None:
    (tmp_path / "scribe.toml").write_text("")
    sub = tmp_path / "notes" / "deep"
    sub.mkdir(parents=True)
    assert find_workspace_root(sub) == tmp_path.resolve()
    assert open_workspace(sub, env={}).root == tmp_path.resolve()


def test_missing_workspace_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        open_workspace(tmp_path / "absent", env={})
