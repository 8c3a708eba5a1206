"""Prompt templates: packaged files, workspace overrides, strict rendering, versions."""

from __future__ import annotations

from pathlib import Path

import pytest

from scribe.prompts import find_templates, get_template, load_template
from scribe.modelspec import parse_model_spec
from scribe.errors import PromptError, ScribeError


def test_packaged_templates_load_with_versions() -> None:
    templates = find_templates(None)
    assert {"outline", "critique", "expand", "judge-pairwise"} <= set(templates)
    critique = templates["critique"]
    assert critique.output == "json" and critique.format["required"] == ["summary", "issues"]
    assert len(critique.version) == 12 and critique.options["num_predict"] == 1024
    assert "num_ctx" not in critique.options  # scribe sizes it per call
    assert "draft" in critique.variables


def test_render_makes_system_and_user_messages() -> None:
    outline = get_template("outline", None)
    messages = outline.render({"title": "T", "topic": "", "draft": "body", "sources": "[1] x", "sections": 4})
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "exactly 4 sections" in messages[1]["content"] and "body" in messages[1]["content"]


def test_missing_variable_names_template_and_variable() -> None:
    with pytest.raises(PromptError) as info:
        get_template("critique", None).render({"title": "T", "draft": "d"})
    assert "critique.md" in str(info.value) and "'sources'" in str(info.value)


def test_undeclared_undefined_variable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "haiku.md").write_text("---\nname: haiku\n---\nA haiku about {{ subject }}.\n")
    with pytest.raises(PromptError, match="subject"):
        get_template("haiku", tmp_path).render({})


def test_workspace_overrides_and_adds(tmp_path: Path) -> None:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "outline.md").write_text("---\nname: outline\noptions: {num_predict: 64}\n---\nMine: {{ title }}\n")
    (tmp_path / "prompts" / "tweet.md").write_text("---\nname: tweet\ndescription: a tweet\n---\nTweet {{ title }}\n")
    templates = find_templates(tmp_path)
    assert templates["outline"].options == {"num_predict": 64}
    assert templates["outline"].path.parent == tmp_path / "prompts"
    assert templates["tweet"].description == "a tweet"
    assert templates["critique"].path.parent.name == "prompts"


def test_version_changes_with_the_file(tmp_path: Path) -> None:
    path = tmp_path / "t.md"
    path.write_text("---\nname: t\n---\nOne\n")
    first = load_template(path).version
    path.write_text("---\nname: t\n---\nTwo\n")
    assert load_template(path).version != first


def test_bad_template_files(tmp_path: Path) -> None:
    path = tmp_path / "bad.md"
    path.write_text("---\nname: [unclosed\n---\nx\n")
    with pytest.raises(PromptError, match="bad.md"):
        load_template(path)
    path.write_text("---\noutput: xml\n---\nx\n")
    with pytest.raises(PromptError, match="output must be"):
        load_template(path)
    with pytest.raises(PromptError, match="no prompt template 'nope'"):
        get_template("nope", tmp_path)


def test_model_specs_carry_options() -> None:
    spec = parse_model_spec("gemma3:270m@temperature=0.2,num_ctx=2048,stop=END")
    assert spec.name == "gemma3:270m" and spec.options == {"temperature": 0.2, "num_ctx": 2048, "stop": "END"}
    assert spec.label == "gemma3:270m@num_ctx=2048,stop=END,temperature=0.2"
    assert "/" not in spec.slug and ":" not in spec.slug
    assert parse_model_spec("llama3").options == {}
    with pytest.raises(ScribeError):
        parse_model_spec("gemma3:270m@temperature")
