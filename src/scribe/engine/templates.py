"""Chat turns as the model was trained to read them, one known format per model family (pure).

Ollama formats chat with each model's own template. The engine does the same per family, from the
GGUF's architecture and chat template, but renders turns as segments: turn markers are tokenized as
special tokens and message text as plain text, so a `<|im_start|>` written inside a note cannot
open a turn of its own (rendering the GGUF's Jinja template to one string could not promise that).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

Segment = tuple[str, bool]  # (text, is made of special tokens)
ChatFormat = Literal["gemma", "chatml", "plain"]

# Qwen2.5's template puts this system turn first when the conversation brings none.
QWEN_DEFAULT_SYSTEM = "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

# The tokens that end a reply in each format (beside the model's end-of-text token).
END_OF_TURN = {"gemma": ("<end_of_turn>",), "chatml": ("<|im_end|>", "<|endoftext|>"), "plain": ()}

# What /api/show reports as `template`, in Ollama's Go-template notation.
OLLAMA_TEMPLATES = {
    "gemma": (
        "{{- range .Messages }}<start_of_turn>{{ if eq .Role \"assistant\" }}model{{ else }}user{{ end }}\n"
        "{{ .Content }}<end_of_turn>\n{{ end }}<start_of_turn>model\n"
    ),
    "chatml": (
        "{{- if not (and .Messages (eq (index .Messages 0).Role \"system\")) }}<|im_start|>system\n"
        f"{QWEN_DEFAULT_SYSTEM}<|im_end|>\n{{{{ end }}}}"
        "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end }}<|im_start|>assistant\n"
    ),
    "plain": "{{ .Prompt }}",
}


def chat_format(metadata: Mapping[str, str]) -> ChatFormat:
    """Which turn format a GGUF wants: from its architecture, else from its own chat template."""
    arch = metadata.get("general.architecture", "")
    template = metadata.get("tokenizer.chat_template", "")
    if arch.startswith("gemma") or "<start_of_turn>" in template:
        return "gemma"
    if arch.startswith("qwen") or "<|im_start|>" in template:
        return "chatml"
    return "plain"


def _content(message: Mapping[str, Any]) -> str:
    return str(message.get("content", ""))


def render(fmt: ChatFormat, messages: Sequence[Mapping[str, Any]], *, default_system: str | None = None) -> list[Segment]:
    """The conversation as segments, ending where the model's reply begins."""
    if fmt == "gemma":
        return _gemma(messages)
    if fmt == "chatml":
        return _chatml(messages, default_system)
    segments: list[Segment] = [(f"{str(m.get('role', 'user')).capitalize()}: {_content(m)}\n", False) for m in messages]
    return [*segments, ("Assistant:", False)]


def _gemma(messages: Sequence[Mapping[str, Any]]) -> list[Segment]:
    """Gemma has no system role: system text opens the first user turn, as Gemma's template does."""
    system = "\n\n".join(_content(m) for m in messages if m.get("role") == "system")
    turns = [dict(m) for m in messages if m.get("role") != "system"]
    if system and turns and turns[0].get("role") == "user":
        turns[0]["content"] = f"{system}\n\n{_content(turns[0])}"
    elif system:
        turns.insert(0, {"role": "user", "content": system})
    segments: list[Segment] = []
    for m in turns:
        role = "model" if m.get("role") == "assistant" else "user"
        segments += [(f"<start_of_turn>{role}\n", True), (_content(m), False), ("<end_of_turn>\n", True)]
    return [*segments, ("<start_of_turn>model\n", True)]


def _chatml(messages: Sequence[Mapping[str, Any]], default_system: str | None) -> list[Segment]:
    segments: list[Segment] = []
    if default_system and not (messages and messages[0].get("role") == "system"):
        segments += [("<|im_start|>", True), ("system\n" + default_system, False), ("<|im_end|>", True), ("\n", False)]
    for m in messages:
        role = str(m.get("role", "user"))
        role = role if role in ("system", "user", "assistant", "tool") else "user"
        segments += [("<|im_start|>", True), (f"{role}\n{_content(m)}", False), ("<|im_end|>", True), ("\n", False)]
    return [*segments, ("<|im_start|>", True), ("assistant\n", False)]
