"""The writing tasks (`scribe outline`, `expand`, `critique`, `run`), `scribe review` of the edits
they suggest, and `scribe prompts`, the templates they use."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from scribe.cli.common import EngineOpt, HostOpt, JsonOpt, ModelOpt, SourcesOpt, _escape, _print_json, _stderr, _workspace, app
from scribe.cli.task_runs import critique_batch, run_task
from scribe.errors import ScribeError
from scribe.loops import LOOPING


DiffOpt = Annotated[bool, typer.Option("--diff", help="Print the run's edits to the draft as a unified diff (`git apply` takes it from the workspace root) instead of the output; the draft is not changed.")]
TagsOpt = Annotated[Optional[list[str]], typer.Option("--tag", help="Ground the prompt only in notes with this tag ('project' takes 'project/alpha' too; repeat it: all must match).", show_default=False)]


@app.command()
def outline(
    draft: Annotated[Optional[Path], typer.Argument(help="The draft to outline (or use --topic).", show_default=False)] = None,
    topic: Annotated[Optional[str], typer.Option("--topic", help="Outline a topic instead of a draft.", show_default=False)] = None,
    sections: Annotated[int, typer.Option(min=1, max=20, help="How many sections to ask for.")] = 5,
    model: ModelOpt = None,
    k: SourcesOpt = 6,
    tag: TagsOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the outline to this file (an existing one is backed up).", show_default=False)] = None,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """A markdown outline (headings and bullets) for a draft or a topic, grounded in your notes."""
    if draft is None and not topic:
        raise ScribeError("give a draft to outline, or --topic \"...\"")
    run_task("outline", draft, topic=topic, sections=sections, model=model, k=k, as_json=as_json, out=out, host=host, engine=engine, tags=tag)


@app.command()
def expand(
    draft: Annotated[Path, typer.Argument(help="The draft to expand.")],
    section: Annotated[Optional[str], typer.Option("--section", help="The heading of the section to expand (default: the whole draft).", show_default=False)] = None,
    words: Annotated[int, typer.Option(min=20, help="About how many words to write.")] = 250,
    in_place: Annotated[bool, typer.Option("--in-place", help="Write the result into the draft (a timestamped .bak copy is kept).")] = False,
    diff: DiffOpt = False,
    model: ModelOpt = None,
    k: SourcesOpt = 6,
    tag: TagsOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the new text to this file.", show_default=False)] = None,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """New prose for one section of a draft (or the whole draft), grounded in your notes.

    `--in-place` writes it into the draft; `--diff` prints it as a patch instead, and
    `scribe review DRAFT` then takes it change by change.
    """
    from scribe.files import atomic_write, backup
    from scribe.tasks import apply_expansion, load_draft

    if diff and in_place:
        raise ScribeError("--diff prints the edits and --in-place makes them; pick one (or review them: scribe review DRAFT)")
    result = run_task("expand", draft, section=section, words=words, model=model, k=k, as_json=as_json, out=out, host=host, engine=engine,
                      diff=diff, tags=tag)
    if in_place:
        ws = _workspace()
        current = load_draft(draft, ws.root)
        text = draft.read_text(encoding="utf-8-sig")
        ended = result.call.metrics.done_reason
        updated = apply_expansion(text, current.body, section, result.call.text, done_reason=ended)
        kept = backup(draft)
        atomic_write(draft, updated)
        if ended == "length":
            _stderr("[yellow]note:[/yellow] the expansion was cut off by the token limit (num_predict), so the draft got it "
                    "only up to its last complete sentence (or marked where it stops); for the rest raise it: --model NAME@num_predict=1024")
        elif ended == LOOPING:
            _stderr("[yellow]note:[/yellow] the model began repeating itself, so it was stopped and the draft got the expansion "
                    "only up to the paragraph where the repeat began; try again, or another model with --model")
        _stderr(f"updated {draft} (previous version kept as {kept.name})")


@app.command()
def critique(
    drafts: Annotated[list[Path], typer.Argument(help="One or more drafts.")],
    model: ModelOpt = None,
    k: SourcesOpt = 6,
    tag: TagsOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="One draft and model: a file for the critique. Several: a folder for one file per draft and model plus summary.json.", show_default=False)] = None,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Batch: how many calls run at once.")] = 2,
    host: Annotated[Optional[list[str]], typer.Option("--host", help="Model server URL; repeat it to spread a batch over several servers.", show_default=False)] = None,
    force: Annotated[bool, typer.Option("--force", help="Batch: redo items whose result is already in --out.")] = False,
    diff: DiffOpt = False,
    engine: EngineOpt = None,
) -> None:
    """A structured critique: issues with severity, the exact quote, the problem and a fix.

    With several drafts, models (`--model A --model B`) or hosts it runs as a resumable batch into
    `--out` (default `critiques/`), skipping results already there for the same draft text, model
    and prompt version.

    `--diff` prints the rewrites the issues propose as a patch instead: `scribe critique d.md --diff
    | git apply` takes them all, `scribe review d.md` one by one.
    """
    batch = len(drafts) > 1 or len(model or []) > 1 or len(host or []) > 1 or (out is not None and (out.is_dir() or str(out).endswith("/")))
    if not batch:
        run_task("critique", drafts[0], model=model, k=k, as_json=as_json, out=out, host=(host or [None])[0], engine=engine, diff=diff, tags=tag)
        return
    if diff:
        raise ScribeError("--diff works on one draft with one model and host; review a batch's critiques with: scribe review DRAFT --run ID")
    critique_batch(drafts, model=model, k=k, as_json=as_json, out=out or Path("critiques"), jobs=jobs, hosts=host, force=force, engine=engine,
                   tags=tag)


@app.command("run")
def run_template(
    template: Annotated[str, typer.Argument(help="A template name from `scribe prompts` (e.g. one you added in prompts/).")],
    draft: Annotated[Optional[Path], typer.Argument(help="The draft it works on.", show_default=False)] = None,
    topic: Annotated[Optional[str], typer.Option("--topic", show_default=False, help="A topic, for templates that take one.")] = None,
    section: Annotated[Optional[str], typer.Option("--section", show_default=False, help="Work on this section only.")] = None,
    model: ModelOpt = None,
    k: SourcesOpt = 6,
    tag: TagsOpt = None,
    as_json: JsonOpt = False,
    out: Annotated[Optional[Path], typer.Option("--out", help="Also write the output to this file.", show_default=False)] = None,
    diff: DiffOpt = False,
    host: HostOpt = None,
    engine: EngineOpt = None,
) -> None:
    """Run any task template, including your own from the workspace's prompts/ folder.

    `scribe run rewrite d.md --section "Retries" --diff` prints a tightened section as a patch
    (critique, expand and rewrite runs have one); `scribe review d.md` takes it change by change.
    """
    run_task(template, draft, topic=topic, section=section, model=model, k=k, as_json=as_json, out=out, host=host, engine=engine,
             diff=diff, tags=tag)


@app.command()
def review(
    draft: Annotated[Path, typer.Argument(help="The draft whose suggested edits to review.")],
    run_id: Annotated[Optional[int], typer.Option("--run", help="Review this run's edits (default: the latest critique, expand or rewrite of the draft).", show_default=False)] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Accept every edit without asking, for scripts; if one no longer fits the draft, none is applied.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the edits and your decisions as JSON. Without --yes and without a terminal it only lists the edits.")] = False,
) -> None:
    """Review a run's suggested edits one by one, like tracked changes: accept, reject or edit each.

    Each edit shows as a word diff (deleted words struck out, new ones green) with the problem it
    fixes; answer **a** accept, **r** reject, **e** edit the new text first, **q** quit (what you
    accepted so far is kept). The accepted edits go into the draft together at the end, with a
    timestamped `.bak` copy beside it, and every decision goes in the run log, where `scribe report`
    counts what you kept per model. An edit whose words are no longer in the draft is skipped.

    - `scribe critique d.md`, then `scribe review d.md`: walk the critique's rewrites
    - `scribe review d.md --yes`: accept them all, as a script would
    - `scribe review d.md --json`: list them (with `--yes`: accept, then print the decisions)
    - `scribe review d.md --run 12`: run 12's edits, not the latest run's (`scribe log` lists runs)
    """
    from scribe.runlog import RunLog
    from scribe.suggestions import accept_all, suggestions_for
    from scribe.tasks import load_draft
    from scribe.terminal_review import apply_decisions, review_json, walk

    ws = _workspace()
    current = load_draft(draft, ws.root)
    ask_for = f"scribe critique {draft}"
    if not ws.runlog_path.is_file():
        raise ScribeError(f"no suggested edits for {current.rel_path} yet; get some with: {ask_for}")
    with RunLog(ws.runlog_path) as runlog:
        found = suggestions_for(runlog, current.rel_path, current.body, run_id=run_id, ask_for=ask_for)
        if as_json and not yes and not sys.stdin.isatty():
            _print_json(review_json(found, [], None))
            return
        pending = found.pending()
        if not pending:
            raise ScribeError(f"every edit run {found.run.id} proposed for {current.rel_path} was reviewed already; for new ones: {ask_for}")
        decided = accept_all(found, current.rel_path, current.body) if yes else walk(found, pending, current, err=as_json)
        kept = apply_decisions(draft, decided)
        for _, decision in decided:
            runlog.add_decision(decision)
    if as_json:
        _print_json(review_json(found, decided, kept))
        return
    taken, stale = sum(1 for _, d in decided if d.kept), sum(1 for _, at in pending if at is None)
    left = len(pending) - len(decided) - stale
    tally = f"{taken} accepted, {len(decided) - taken} rejected" + (f", {stale} stale" if stale else "") + (f", {left} left for later" if left > 0 else "")
    _stderr(f"updated {_escape(str(draft))}: {tally} (previous version kept as {_escape(kept.name)})" if kept
            else f"{_escape(str(draft))} unchanged: {tally}")


@app.command()
def prompts(as_json: JsonOpt = False) -> None:
    """List the task templates: packaged ones and the workspace's prompts/ (which override them)."""
    from rich.console import Console
    from rich.table import Table

    from scribe.prompts import find_templates

    ws = _workspace()
    templates = find_templates(ws.root)
    if as_json:
        _print_json([{"name": t.name, "description": t.description, "path": str(t.path), "version": t.version,
                      "output": t.output, "options": t.options, "variables": list(t.variables)} for t in templates.values()])
        return
    table = Table("name", "output", "version", "description", "file", box=None)
    for t in templates.values():
        table.add_row(t.name, t.output, t.version, t.description, str(t.path))
    Console().print(table)
