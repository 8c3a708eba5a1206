"""The edits a logged run proposes for a draft, as hunks the author reviews (`scribe review`, the
`--diff` of critique, expand and rewrite). Core: no printing, no prompting.

A run is read back from the run log alone (its output, `meta.section`, and the draft text it saw,
kept under `meta.draft_hash`), so a review can come any time after the run, from any surface, and
the same run always gives the same hunks with the same ids (decisions name hunks by id).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from scribe.chunking import find_section
from scribe.critique import read_critique
from scribe.edits import Hunk, apply, from_critique, from_rewrite, locate, unified_diff
from scribe.errors import ScribeError, StaleHunks
from scribe.loops import LOOPING
from scribe.runlog import Decision, RunLog, RunRecord
from scribe.splice import replace_section, replace_selection, trim_unfinished

SUGGESTING = ("critique", "expand", "rewrite")  # the tasks whose output can be offered as edits


@dataclass(frozen=True)
class Suggestions:
    """One run's hunks for a draft, where each stands now, and what the author said of them before."""

    run: RunRecord
    hunks: list[Hunk]  # as the run made them, offsets in the draft body it saw
    located: list[Hunk | None]  # each in the draft body as it is now; None: stale
    decided: dict[int, Decision]  # earlier verdicts on these hunks, by hunk id (the latest wins)

    def pending(self) -> list[tuple[Hunk, Hunk | None]]:
        """(hunk, where it stands now or None) for each hunk not decided yet, in draft order."""
        return [(h, at) for h, at in zip(self.hunks, self.located) if h.id not in self.decided]


def hunks_of_run(run: RunRecord, draft_at_run: str) -> list[Hunk]:
    """The edits `run` proposes, as hunks over `draft_at_run` (the draft body the run saw).

    A critique gives one hunk per grounded issue with a replacement. An expansion or a rewrite
    replaces its section (`meta.section`) or the whole body by `scribe.splice`'s rules, the same
    place `expand --in-place` would put it, and is offered word by word. An output cut off by the
    token limit goes in only up to its last complete sentence, one stopped for repeating itself
    only up to its loop; such a rewrite never reached the end of its passage, so the deletion of
    that unreached end is not offered.
    """
    if run.task == "critique":
        return from_critique(read_critique(run.output_text, draft_at_run, run.done_reason), draft_at_run)
    if run.task not in SUGGESTING:
        return []
    cut_off = run.done_reason in ("length", LOOPING)  # either way it never reached the end of its passage
    output = trim_unfinished(run.output_text, cut_off=cut_off, done_reason=run.done_reason)
    if not output.strip():
        return []
    section = run.meta.section
    if section:
        span = find_section(draft_at_run, section)
        if span is None:
            return []
        splice = replace_section(draft_at_run, *span, section, output)
        where = f"section {section!r}"
    else:  # the whole body; the blank lines around it are not the model's to change
        start = len(draft_at_run) - len(draft_at_run.lstrip())
        splice = replace_selection(start, max(start, len(draft_at_run.rstrip())), output)
        where = "the draft"
    what = "expansion" if run.task == "expand" else "rewrite"
    stopped = " (stopped: it began repeating itself)" if run.done_reason == LOOPING else " (cut off by the token limit)"
    reason = f"{run.model}'s {what} of {where}" + (stopped if cut_off else "")
    hunks = from_rewrite(draft_at_run, splice.start, splice.end, splice.new, reason)
    if cut_off and run.task == "rewrite" and hunks and hunks[-1].end == splice.end and not hunks[-1].new.strip():
        hunks.pop()
    return hunks


def latest_suggestion_run(runlog: RunLog, draft_rel_path: str) -> RunRecord | None:
    """The newest finished critique, expansion or rewrite of that draft; bench runs left out (a
    bench runs many models many times, and which of them ran last says nothing)."""
    latest: RunRecord | None = None
    for task in SUGGESTING:
        for run in runlog.iter_all(task=task):
            if (run.status == "ok" and run.meta.draft == draft_rel_path and run.meta.bench is None
                    and (latest is None or run.id > latest.id)):
                latest = run
    return latest


def suggestions_for(runlog: RunLog, draft_rel_path: str, body: str, *, run_id: int | None = None,
                    ask_for: str = "scribe critique DRAFT") -> Suggestions:
    """Run `run_id`'s hunks (default: the latest suggesting run's) located in the draft's `body` as
    it is now. Raises ScribeError saying how to get suggestions (`ask_for`) when there are none."""
    if run_id is None:
        run = latest_suggestion_run(runlog, draft_rel_path)
        if run is None:
            raise ScribeError(f"no suggested edits for {draft_rel_path} yet; get some with: {ask_for}")
    else:
        run = _the_run(runlog, run_id, draft_rel_path)
    draft_at_run = runlog.draft_text(run.meta.draft_hash)
    if draft_at_run is None:
        raise ScribeError(f"run {run.id}: the run log does not keep the draft it worked on (it ran before scribe kept drafts); "
                          f"get new suggestions with: {ask_for}")
    hunks = hunks_of_run(run, draft_at_run)
    if not hunks:
        raise ScribeError(f"run {run.id} ({run.task}) proposes no edits to {draft_rel_path}; get some with: {ask_for}")
    decided = {d.hunk_id: d for d in runlog.decisions(run_id=run.id)}
    return Suggestions(run, hunks, [locate(h, body) for h in hunks], decided)


def _the_run(runlog: RunLog, run_id: int, draft_rel_path: str) -> RunRecord:
    run = runlog.get(run_id)
    if run is None:
        raise ScribeError(f"no run {run_id} in the run log; list runs with: scribe log")
    if run.task not in SUGGESTING:
        raise ScribeError(f"run {run_id} is a {run.task} run; only {', '.join(SUGGESTING)} runs propose edits")
    if run.status != "ok":
        raise ScribeError(f"run {run_id} {run.status}; only a finished run's edits can be reviewed")
    if run.meta.draft != draft_rel_path:
        raise ScribeError(f"run {run_id} worked on {run.meta.draft or 'no draft'}, not on {draft_rel_path}")
    return run


def read_draft_file(path: Path) -> str:
    """The file's text exactly as stored (byte-order mark and line endings kept), so what is written
    back, or diffed for `git apply`, differs only where a hunk changed it."""
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ScribeError(f"{path}: not valid UTF-8; scribe applies edits to UTF-8 drafts only") from None
    except OSError as exc:
        raise ScribeError(f"{path}: cannot read the draft ({exc.strerror})") from exc


def _short(text: str, limit: int = 40) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[:limit].rstrip() + "…"


def stale_reason(hunk: Hunk, body: str) -> str:
    """Why `hunk` did not apply to `body`, in one clause naming it as the author counts (from 1)."""
    if locate(hunk, body) is not None:
        return f"hunk {hunk.id + 1}: it overlaps another accepted hunk, which changes the same words"
    if not hunk.old:
        return f"hunk {hunk.id + 1}: the text around where it inserts ('{_short(hunk.context_before or hunk.context_after)}') is no longer in the draft"
    return f"hunk {hunk.id + 1}: its text '{_short(hunk.old)}' is no longer in the draft"


def decide(run_id: int, draft_path: str, hunk: Hunk, answer: str, edited: str | None = None) -> Decision:
    """The logged verdict on `hunk` for the author's answer ("accept", "reject" or "edit" with the
    `edited` text). An edit that leaves the proposal as it was is an accept, and one that puts the
    old words back a reject: the log counts what the author kept, not which key they pressed."""
    if answer == "edit" and edited is not None and edited not in (hunk.new, hunk.old):
        return Decision(run_id, hunk.id, draft_path, hunk.old, hunk.new, "edit", edited, source="cli")
    rejected = answer == "reject" or (answer == "edit" and edited == hunk.old)
    return Decision(run_id, hunk.id, draft_path, hunk.old, hunk.new, "reject" if rejected else "accept", source="cli")


def accept_all(found: Suggestions, draft_path: str, body: str) -> list[tuple[Hunk, Decision]]:
    """Every pending hunk accepted (`review --yes`); StaleHunks naming each stale one instead, since
    a script that asked for all of them did not ask for some."""
    pending = found.pending()
    stale = [hunk for hunk, at in pending if at is None]
    if stale:
        raise StaleHunks("; ".join(stale_reason(h, body) for h in stale) + "; nothing was applied", stale)
    return [(hunk, decide(found.run.id, draft_path, hunk, "accept")) for hunk, _ in pending]


def accepted(decided: Sequence[tuple[Hunk, Decision]]) -> list[Hunk]:
    """The hunks to apply after a review: those kept, each with the author's text where they edited it."""
    return [replace(h, new=d.edited_text) if d.decision == "edit" and d.edited_text is not None else h
            for h, d in decided if d.kept]


def apply_to_file(file_text: str, hunks: Sequence[Hunk], *, suffix: str = ".md") -> str:
    """`file_text` (a draft file's whole text) with the accepted `hunks` applied to its body, the
    frontmatter, byte-order mark and line endings kept. All or nothing: when any hunk is stale,
    raises StaleHunks naming each and why, since half a patch is not what the author accepted."""
    from scribe.notes import split_frontmatter

    bom = "\ufeff" if file_text.startswith("\ufeff") else ""
    text = file_text[len(bom):]
    crlf = "\r\n" in text and text.count("\r\n") == text.count("\n")
    lf = text.replace("\r\n", "\n").replace("\r", "\n")
    body = split_frontmatter(lf, suffix=suffix)[1]
    new_body, stale = apply(body, list(hunks))
    if stale:
        raise StaleHunks("; ".join(stale_reason(h, body) for h in stale), stale)
    new = lf[: len(lf) - len(body)] + new_body
    return bom + (new.replace("\n", "\r\n") if crlf else new)


def patch_of(run: RunRecord, draft_at_run: str, file_text: str, rel_path: str, *, suffix: str = ".md") -> str:
    """The unified diff (`git apply` takes it from the workspace root) of the draft file with every
    hunk of `run` applied; "" when the run proposes none."""
    return unified_diff(file_text, apply_to_file(file_text, hunks_of_run(run, draft_at_run), suffix=suffix), rel_path)
