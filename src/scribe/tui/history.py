"""The draft's latest result, read back from the run log: after a restart the panel shows what was
last asked about this draft instead of "Nothing asked yet"."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from scribe import critique as critiques
from scribe import outline as outlines

if TYPE_CHECKING:
    from scribe.critique import Critique
    from scribe.runlog import RunLog, RunRecord

SCAN = 300  # recent runs looked through: a draft untouched for longer starts empty


@dataclass(frozen=True)
class LoggedResult:
    run_id: int
    task: str
    model: str
    started_at: str
    markdown: str  # as the panel showed it when the run ended
    critique: Critique | None


def latest_result(runlog: RunLog, draft: str) -> LoggedResult | None:
    """The newest finished run the author asked on `draft` (its workspace-relative path); bench and
    judge runs are the benchmark's, not the author's."""
    for run in runlog.recent(SCAN):
        if run.meta.draft == draft and run.status == "ok" and run.meta.bench is None and not run.task.startswith("judge-"):
            return logged_result(run, runlog.draft_text(run.meta.draft_hash) or "")
    return None


def logged_result(run: RunRecord, draft_text: str) -> LoggedResult:
    """A run as the panel shows a result: a critique's or an outline's JSON as markdown (the
    critique's quotes checked against the draft it was about), other tasks' text as it came."""
    critique = None
    if run.task == "critique":
        critique = critiques.parse_critique(run.output_text, draft_text) or critiques.unparsed(run.output_text)
        markdown = critiques.render_markdown(critique)
    elif run.task == "outline":
        markdown = outlines.render_markdown(outlines.parse_outline(run.output_text) or outlines.unparsed(run.output_text))
    else:
        markdown = run.output_text
    return LoggedResult(run.id, run.task, run.model, run.started_at, markdown, critique)
