"""The default writer does the job on the sample drafts: outlines have the sections asked for, and
critiques are valid JSON whose quotes are found in the draft. Checked with the bench's deterministic
checks, so nothing here depends on one model's wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import WRITER, SessionEngine
from scribe.bench.checks import check_critique, check_outline
from scribe.config import open_workspace
from scribe.index import open_index
from scribe.models import ModelClient
from scribe.prompts import get_template
from scribe.retrieval import SharedRetrieval
from scribe.runlog import RunLog
from scribe.tasks import TaskInput, execute, load_draft, prepare

DRAFT = "idempotency-in-payment-flows.md"


@pytest.fixture(scope="module")
def writer_session(indexed_notes: Path, session_engine: SessionEngine):  # type: ignore[no-untyped-def]
    client = ModelClient(session_engine.url)
    index = open_index(open_workspace(indexed_notes, env={}))
    runlog = RunLog(indexed_notes / ".scribe" / "quality-runs.sqlite")
    retrieval = SharedRetrieval(index)

    def run(task: str, draft_name: str, **options: object):  # type: ignore[no-untyped-def]
        draft = load_draft(indexed_notes / "notes" / "drafts" / draft_name, indexed_notes)
        prepared = prepare(get_template(task, indexed_notes), TaskInput(task=task, draft=draft, k=4),
                           lambda q, k: retrieval.search(client, q, k), options={"seed": 11, **options})
        return draft, execute(prepared, client, runlog, model=WRITER)

    yield run
    index.close()
    runlog.close()


def test_the_default_writer_outlines_in_the_sections_asked_for(writer_session) -> None:  # type: ignore[no-untyped-def]
    """The outline's schema asks for exactly that many sections, so the outline is a well-formed
    markdown outline of them. One draft here (each takes minutes on slow cores); the bench
    (`make demo`, benchmarks/) measures every draft."""
    _, result = writer_session("outline", DRAFT)
    assert result.call.status == "ok" and result.outline is not None and result.outline.parsed, result.call.text
    check = check_outline(result.output, expected_sections=5)
    assert check.passed, (check.detail, result.output)


def test_the_default_writer_critiques_with_quotes_from_the_draft(writer_session) -> None:  # type: ignore[no-untyped-def]
    """Quotes are drawn from the draft's own sentences by the schema, so every one is found. The
    same draft as the outline above: the server has the shared start of the prompt cached."""
    draft, result = writer_session("critique", DRAFT, num_predict=896)
    check = check_critique(result.call.text, draft.body, schema=get_template("critique", None).format)  # type: ignore[arg-type]
    assert check.parsed and check.schema_valid, check.detail
    assert check.quote_share == 1.0, (check.detail, result.call.text)
