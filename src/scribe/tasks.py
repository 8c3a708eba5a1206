"""The writing tasks (outline, critique, expand, and any template in prompts/): retrieve, render,
run, check, log. The CLI, the TUI, batch runs and benchmarks all go through `prepare` and `execute`.

Preparing (retrieval and prompt rendering) is apart from executing (the model call), so a batch can
retrieve once per draft and send the same grounded prompt to every model and host.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from scribe.calls import run_call
from scribe.chunking import find_section, heading_sections
from scribe import critique as critiques
from scribe import outline as outlines
from scribe.critique import Critique
from scribe.config import DEFAULT_MAX_NUM_CTX
from scribe.errors import ScribeError
from scribe.grounding import (
    ContextLimits,
    Hit,
    NumberedSource,
    choose_num_ctx,
    context_needed,
    dedupe,
    fence,
    fit_sources,
    format_sources,
    overflow_message,
    source_budget,
    sources_tokens,
)
from scribe.loops import LOOPING, before_loop, prose_loop
from scribe.models import CallResult, ModelServer, OnToken
from scribe.outline import Outline
from scribe.prompts import PromptTemplate
from scribe.runlog import CallRequest, RunLog
from scribe.runmeta import RunMeta
from scribe.tokens import count_tokens, truncate_to_tokens

Retriever = Callable[[str, int], Sequence[Hit]]
# The retriever for a task on a draft (its workspace-relative path, None for text with no file):
# the notes linked with the draft rank higher, as for the same task run from the CLI or the app.
DraftRetriever = Callable[[str | None], Retriever]
QUERY_TOKENS = 256

DEFAULT_SOURCES = 6
DEFAULT_NUM_PREDICT = 512


@dataclass(frozen=True)
class Draft:
    """The text a task works on; `rel_path` keeps the draft's own chunks out of its sources."""

    title: str
    body: str
    path: Path | None = None
    rel_path: str | None = None

    @property
    def hash(self) -> str:
        """Names this version of the text: runs on the same words share it, whatever the file is called."""
        return hashlib.sha256(self.body.encode("utf-8")).hexdigest()[:16]


def load_draft(path: Path, root: Path) -> Draft:
    from scribe.notes import parse_note

    if not path.is_file():
        raise ScribeError(f"{path}: no such draft; give the path of a markdown file")
    note = parse_note(path, root=root)
    if note is None:
        raise ScribeError(f"{path}: the draft is empty or not text; write something first")
    return Draft(title=note.title, body=note.body, path=path, rel_path=note.rel_path)


@dataclass
class TaskInput:
    task: str
    draft: Draft | None = None
    topic: str | None = None
    section: str | None = None
    sections: int = 5
    words: int = 250
    k: int = DEFAULT_SOURCES


@dataclass
class PreparedCall:
    """A rendered prompt with its sources, ready to send to any model."""

    template: PromptTemplate
    input: TaskInput
    messages: list[dict[str, str]]
    options: dict[str, Any]
    sources: list[NumberedSource]
    format: str | dict[str, Any] | None = field(repr=False)  # the template's, made for this input (task_format)
    values: dict[str, Any] = field(repr=False, default_factory=dict)


@dataclass
class TaskResult:
    run_id: int
    task: str
    model: str
    call: CallResult
    sources: list[NumberedSource]
    critique: Critique | None = None
    outline: Outline | None = None
    attempts: int = 1

    @property
    def output(self) -> str:
        """The output as the author reads it: markdown written from the JSON of a critique or an
        outline; other text as it came, up to its loop if the model was stopped for repeating itself."""
        if self.critique is not None:
            return critiques.render_markdown(self.critique)
        if self.outline is not None:
            return outlines.render_markdown(self.outline)
        return before_loop(self.call.text) if self.call.metrics.done_reason == LOOPING else self.call.text

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id, "task": self.task, "model": self.model, "status": self.call.status,
            "error": self.call.error, "output": self.output, "text": self.call.text,
            "sources": [s.as_log() for s in self.sources], "attempts": self.attempts,
            "critique": self.critique.to_dict() if self.critique is not None else None,
            "outline": asdict(self.outline) if self.outline is not None else None,
            "metrics": asdict(self.call.log_values()),
        }


def _section_of(draft: Draft, heading: str) -> str:
    span = find_section(draft.body, heading)
    if span is None:
        have = ", ".join(s.heading for s in heading_sections(draft.body) if s.heading) or "none"
        where = draft.path or "the draft"
        raise ScribeError(f"{where}: no section headed {heading!r} (sections: {have}); pass one of them to --section")
    return draft.body[span[0] : span[1]]


def task_values(inp: TaskInput) -> dict[str, Any]:
    """Every value a template may use; templates declare which they need."""
    draft = inp.draft
    body = draft.body if draft else ""
    heading = inp.section or (draft.title if draft else inp.topic or "")
    section = _section_of(draft, inp.section) if draft and inp.section else body
    outline = "\n".join(f"{'  ' * max(0, s.level - 2)}- {s.heading}" for s in heading_sections(body) if s.heading)
    return {
        "title": draft.title if draft else (inp.topic or "Untitled"),
        "topic": inp.topic or "",
        "draft": fence(body, "draft"),
        "section": fence(section, "section"),
        "heading": heading,
        "outline": outline or "(no sections yet)",
        "sections": inp.sections,
        "words": inp.words,
    }


def retrieval_query(inp: TaskInput, values: dict[str, Any]) -> str:
    """What to search the notes for: the topic, or the title plus the text being worked on."""
    text = inp.topic or ""
    if inp.draft is not None:
        text = f"{values['title']}\n{values['section'] if inp.section else inp.draft.body}"
    return truncate_to_tokens(text, QUERY_TOKENS)


def task_format(template: PromptTemplate, inp: TaskInput, sources: int = 0) -> str | dict[str, Any] | None:
    """The template's JSON schema made for this input: an outline's exact number of sections and
    citations of the `sources` given, a critique's quotes drawn from the draft's sentences. Other
    formats are sent as they are."""
    fmt = template.format
    if not isinstance(fmt, dict) or template.output != "json":
        return fmt
    if template.name == "outline":
        return outlines.outline_schema(fmt, inp.sections, sources)
    if template.name == "critique" and inp.draft is not None:
        return critiques.quote_schema(fmt, inp.draft.body)
    return fmt


def _read(template: PromptTemplate, call: CallResult, draft: str) -> Critique | Outline:
    """A critique's or an outline's JSON reply as data, marked unparsed when it is not valid (a
    failed call's partial text is not read). A critique that ended early keeps its complete issues."""
    cut_off = call.metrics.done_reason == critiques.LENGTH
    if template.name == "critique":
        if call.status != "ok":
            return critiques.unparsed(call.text, cut_off=cut_off)
        return critiques.read_critique(call.text, draft, call.metrics.done_reason)
    parsed = outlines.parse_outline(call.text) if call.status == "ok" else None
    return parsed or outlines.unparsed(call.text, cut_off=cut_off)


def context_limits(client: ModelServer, model: str | None, cap: int = DEFAULT_MAX_NUM_CTX) -> ContextLimits:
    """How large a window a call to `model` may have: its trained length, as the server reports it,
    and the workspace's `max_num_ctx`. Without a model (two models share one prompt) only the cap."""
    return ContextLimits(client.show(model).context_length if model else None, cap)


def prepare(template: PromptTemplate, inp: TaskInput, retrieve: Retriever | None, *, options: dict[str, Any] | None = None,
            limits: ContextLimits | None = None) -> PreparedCall:
    """Retrieve sources and render the prompt so that prompt + sources + output fit num_ctx.

    num_ctx is sized to hold them all (`choose_num_ctx`, within `limits`: the cap alone when not
    given) unless the options pin it (`MODEL@num_ctx=...`, an options file, the template); the
    sources are then cut to what the window leaves. The num_ctx used is in the call's options, so
    the run log records it."""
    merged = {**template.options, **(options or {})}
    limits = limits or ContextLimits(None, DEFAULT_MAX_NUM_CTX)
    values = task_values(inp)
    hits: list[Hit] = []
    if retrieve is not None and inp.k > 0:
        exclude = frozenset({inp.draft.rel_path}) if inp.draft and inp.draft.rel_path else frozenset()
        hits = dedupe(retrieve(retrieval_query(inp, values), inp.k * 2), exclude_paths=exclude)[: inp.k]
    bare = template.render({**values, "sources": ""})
    prompt_tokens = sum(count_tokens(m["content"]) + 4 for m in bare)
    num_predict = int(merged.get("num_predict", DEFAULT_NUM_PREDICT))
    pinned = merged.get("num_ctx") is not None
    if pinned:
        num_ctx = int(merged["num_ctx"])
    else:
        num_ctx = choose_num_ctx(context_needed(prompt_tokens, num_predict, sources_tokens(hits)), limits)
    needed = context_needed(prompt_tokens, num_predict)
    if needed > num_ctx:
        raise ScribeError(overflow_message(template.name, needed, num_predict, num_ctx, limits, pinned=pinned))
    sources = fit_sources(hits, source_budget(num_ctx, num_predict, prompt_tokens))
    values["sources"] = format_sources(sources)
    options = {**merged, "num_ctx": num_ctx}
    return PreparedCall(template, inp, template.render(values), options, sources, task_format(template, inp, len(sources)), values)


def asked(prepared: PreparedCall, meta: RunMeta) -> RunMeta:
    """`meta` (why the call runs) with what it asks, from the task's input: the draft and section,
    and the heading, sections and words where the template uses them (an expansion asks no sections)."""
    inp, uses, draft = prepared.input, set(prepared.template.variables), prepared.input.draft
    return replace(
        meta,
        draft=draft.rel_path if draft else None,
        draft_hash=draft.hash if draft else None,
        section=inp.section,
        heading=prepared.values.get("heading") if "heading" in uses else None,
        sections=inp.sections if "sections" in uses else None,
        words=inp.words if "words" in uses else None,
    )


def execute(
    prepared: PreparedCall,
    client: ModelServer,
    runlog: RunLog,
    *,
    model: str,
    options: dict[str, Any] | None = None,
    meta: RunMeta | Mapping[str, Any] | None = None,
    on_token: OnToken | None = None,
    cancel: threading.Event | None = None,
) -> TaskResult:
    """Run a prepared call and log it. A critique's or an outline's JSON is read into data (a
    critique's quotes checked against the draft); invalid JSON gets one retry, unless the reply was
    cut off by `num_predict` (the retry would be cut off at the same length).

    `meta` says why the call runs (a bench item, `via="tui"`, ...): a RunMeta, or a plain dict of
    RunMeta field names, read as a logged meta is (`RunMeta.from_json`: other keys go to `extra`),
    which is what the TUI passes. What the call asks is added here (`asked`) for every consumer.
    """
    template, inp = prepared.template, prepared.input
    given = RunMeta.from_json(meta) if isinstance(meta, Mapping) else meta or RunMeta()
    if inp.draft is not None:
        runlog.keep_draft(inp.draft.hash, inp.draft.body)
    request = CallRequest(
        task=inp.task, model=model, messages=prepared.messages, options={**prepared.options, **(options or {})},
        format=prepared.format, prompt_name=template.name, prompt_version=template.version,
        sources=[s.as_log() for s in prepared.sources], meta=asked(prepared, given),
    )
    critiquing = template.name == "critique" and template.output == "json"
    stop_when = critiques.looping if critiquing else prose_loop if template.output == "text" else None
    run_id, call = run_call(client, runlog, request, on_token=on_token, cancel=cancel, stop_when=stop_when)
    result = TaskResult(run_id, inp.task, model, call, prepared.sources)
    if template.name not in ("critique", "outline") or template.output != "json" or call.status != "ok":
        return result
    draft_text = inp.draft.body if inp.draft else ""
    read = _read(template, call, draft_text)
    if not read.parsed and call.metrics.done_reason not in (critiques.LENGTH, critiques.LOOPING):
        request.meta = replace(request.meta, retry_of=run_id)
        if request.options.get("seed") is not None:  # the same seed would only repeat the same answer
            request.options = {**request.options, "seed": int(request.options["seed"]) + 1}
        run_id, call = run_call(client, runlog, request, on_token=on_token, cancel=cancel, stop_when=stop_when)
        result = TaskResult(run_id, inp.task, model, call, prepared.sources, attempts=2)
        read = _read(template, call, draft_text)
    if isinstance(read, Critique):
        result.critique = read
    else:
        result.outline = read
    return result


def apply_expansion(file_text: str, body: str, section: str | None, output: str, *, done_reason: str | None = None) -> str:
    """The draft file with `output` in place of `section` (or of the whole body), frontmatter kept.

    The section keeps its heading line unless the output brings its own (`scribe.splice`), so the
    draft keeps its structure even when a model leaves the heading out. An output cut off by the
    token limit goes in only up to its last complete sentence, and one stopped for repeating
    itself only up to its loop (`splice.trim_unfinished`).
    """
    from scribe.splice import replace_body, replace_section, trim_unfinished

    output = trim_unfinished(output, cut_off=done_reason == critiques.LENGTH, done_reason=done_reason)

    start = file_text.find(body)
    if start < 0:
        raise ScribeError("the draft changed on disk while scribe worked; run the command again")
    if section is None:
        return replace_body(start, len(file_text), output).apply(file_text)
    span = find_section(body, section)
    if span is None:
        raise ScribeError(f"no section headed {section!r} in the draft")
    return replace_section(file_text, start + span[0], start + span[1], section, output).apply(file_text)
