"""`scribe review` at a terminal: each suggested edit as a word diff with its problem, the
author's answer to it, and the accepted edits written into the draft at once. The command in
`cli/task_commands.py` is wiring; the edits themselves are `scribe.suggestions`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from scribe.errors import ScribeError


def _note(message: str) -> None:
    from rich.console import Console

    Console(stderr=True, highlight=False, soft_wrap=True).print(message)


def walk(found: Any, pending: list[Any], draft: Any, *, err: bool) -> list[Any]:
    """Ask about each pending hunk in turn; the (hunk, Decision) pairs until the last or a quit.
    Ctrl-C or the end of input stops the review with nothing applied and nothing logged."""
    from rich.console import Console

    from scribe.suggestions import decide, stale_reason

    console = Console(stderr=err, highlight=False, soft_wrap=True)
    run = found.run
    console.print(f"run {run.id}: {run.task} by {escape(run.model)}, {len(found.hunks)} edit{'' if len(found.hunks) == 1 else 's'} to {escape(draft.rel_path)}"
                  + (f", {len(found.decided)} reviewed before" if found.decided else ""))
    decided: list[Any] = []
    for hunk, at in pending:
        console.print()
        console.rule(f"edit {hunk.id + 1} of {len(found.hunks)}", align="left")
        if at is None:
            console.print(f"[yellow]stale, skipped:[/yellow] {escape(stale_reason(hunk, draft.body).split(': ', 1)[1])}")
            continue
        _show_hunk(console, at, draft.body)
        try:
            choice = ""
            while choice not in ("a", "r", "e", "q"):
                choice = str(typer.prompt("a accept · r reject · e edit · q quit", err=err)).strip().lower()[:1]
            edited = _edit_text(hunk.new, err=err) if choice == "e" else None
        except typer.Abort:
            raise ScribeError("review stopped: the draft and the run log are unchanged (q quits keeping what you accepted)") from None
        if choice == "q":
            break
        answer = {"a": "accept", "r": "reject", "e": "edit"}[choice]
        decided.append((hunk, decide(run.id, draft.rel_path, hunk, answer, edited)))
    return decided


def _show_hunk(console: Any, hunk: Any, body: str) -> None:
    """A hunk as a word diff on its line of the draft: deletions struck red, insertions green (on a
    console without colour, git's word-diff marks: [-old-]{+new+}), then its problem and suggestion."""
    from rich.text import Text

    from scribe.edits import word_diff

    plain = console.color_system is None
    line_start = body.rfind("\n", 0, hunk.start) + 1
    line_end = body.find("\n", hunk.end)
    text = Text(body[max(line_start, hunk.start - 160):hunk.start], style="dim")
    for kind, part in word_diff(hunk.old, hunk.new):
        if kind == "equal":
            text.append(part)
        elif kind == "delete":
            text.append(f"[-{part}-]" if plain else part, style="strike red")
        else:
            text.append(f"{{+{part}+}}" if plain else part, style="bold green")
    text.append(body[hunk.end:min(hunk.end + 160, len(body) if line_end < 0 else line_end)], style="dim")
    console.print(text)
    if hunk.reason:
        console.print(Text.assemble(("problem: ", "bold"), hunk.reason))
    if hunk.suggestion:
        console.print(Text.assemble(("suggestion: ", "bold"), hunk.suggestion))


def _edit_text(proposed: str, *, err: bool) -> str:
    """The author's version of a hunk's new text: in $EDITOR when it spans lines and there is a
    terminal, else on the prompt line (Enter keeps the proposed text)."""
    if "\n" in proposed.strip() and sys.stdin.isatty():
        return _in_editor(proposed)
    return str(typer.prompt("new text (Enter keeps it as proposed)", default=proposed, show_default=False, err=err))


def _in_editor(text: str) -> str:
    """`text` as the author leaves it in $VISUAL or $EDITOR (else vi); unchanged if the editor fails."""
    import os
    import shlex
    import subprocess
    import tempfile

    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    with tempfile.TemporaryDirectory(prefix="scribe-edit-") as folder:
        path = Path(folder) / "edit.md"
        path.write_text(text, encoding="utf-8")
        if subprocess.call([*shlex.split(editor), str(path)]) != 0:
            _note("[yellow]note:[/yellow] the editor failed; the text stays as proposed")
            return text
        edited = path.read_text(encoding="utf-8")
    return edited if text.endswith("\n") else edited.removesuffix("\n")  # editors end the file with a newline


def apply_decisions(draft: Path, decided: list[Any]) -> Path | None:
    """Write the accepted hunks into the draft at once (atomic, after a timestamped .bak, as
    `expand --in-place` does); the backup's path, or None when nothing was accepted."""
    from scribe.files import atomic_write, backup
    from scribe.errors import StaleHunks
    from scribe.suggestions import accepted, apply_to_file, read_draft_file

    hunks = accepted(decided)
    if not hunks:
        return None
    text = read_draft_file(draft)
    try:
        new = apply_to_file(text, hunks, suffix=draft.suffix)
    except StaleHunks as exc:
        raise StaleHunks(f"{exc} (the draft changed during the review); nothing was applied", exc.hunks) from None
    if new == text:
        return None
    kept = backup(draft)
    atomic_write(draft, new)
    return kept


def review_json(found: Any, decided: list[Any], kept: Path | None) -> dict[str, Any]:
    """`review --json`: the run, its hunks (offsets in the draft's body as it is now; `number` is
    the one messages use), earlier verdicts, and the decisions this review made."""
    from dataclasses import asdict

    run = found.run
    hunks = [{**(at or hunk).to_dict(), "number": hunk.id + 1, "stale": at is None,
              "decided": found.decided[hunk.id].decision if hunk.id in found.decided else None}
             for hunk, at in zip(found.hunks, found.located)]
    decisions = [{k: v for k, v in asdict(d).items() if k in ("hunk_id", "decision", "edited_text")} for _, d in decided]
    return {"run_id": run.id, "task": run.task, "model": run.model, "draft": run.meta.draft, "hunks": hunks,
            "decisions": decisions, "updated": kept is not None, "backup": str(kept) if kept else None}
