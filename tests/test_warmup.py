"""The shared prompt start that a warm-up sends: pure prefix logic, and the real templates."""

from __future__ import annotations

from pathlib import Path

from scribe.prompts import get_template
from scribe.retrieval import Source
from scribe.tasks import Draft, TaskInput, prepare
from scribe.warmup import shared_prefix, warm_request

REPO = Path(__file__).resolve().parents[1]
SYSTEM = {"role": "system", "content": "You help."}
BODY = "The draft's text, line one.\n" * 20


def test_the_shared_start_ends_at_a_line_end_before_the_turns_differ() -> None:
    a = [SYSTEM, {"role": "user", "content": BODY + "Task: outline it."}]
    b = [SYSTEM, {"role": "user", "content": BODY + "Task: critique it."}]
    assert shared_prefix([a, b]) == [SYSTEM, {"role": "user", "content": BODY}]


def test_equal_turns_are_kept_whole_and_a_single_conversation_is_its_own_prefix() -> None:
    a = [SYSTEM, {"role": "user", "content": BODY}]
    assert shared_prefix([a]) == a
    assert shared_prefix([a, list(a)]) == a


def test_too_little_in_common_is_not_worth_a_request() -> None:
    a = [SYSTEM, {"role": "user", "content": "short\nTask: outline"}]
    b = [SYSTEM, {"role": "user", "content": "short\nTask: critique"}]
    assert shared_prefix([a, b]) is None
    other_system = [{"role": "system", "content": "Another."}, {"role": "user", "content": BODY}]
    assert shared_prefix([[SYSTEM, {"role": "user", "content": BODY}], other_system]) is None
    assert shared_prefix([]) is None


def test_the_warm_up_is_the_outlines_whole_prompt_and_the_critique_shares_its_start() -> None:
    """The real templates put the task's own words after the draft: warming the outline's prompt
    leaves the critique only its own instructions to read."""
    draft_path = REPO / "notes" / "drafts" / "idempotency-in-payment-flows.md"
    body = draft_path.read_text(encoding="utf-8").split("---", 2)[2]
    draft = Draft("Idempotency in payment flows", body)
    hits = [Source("c1", "notes/idempotency-keys.md", "Keys", "Keys", "A key names one operation; a retry reuses it.",
                   0, 0.9, 1, 1, 1)]

    def retrieve(query: str, k: int) -> list[Source]:
        return hits

    templates = [get_template(name, REPO) for name in ("outline", "critique")]
    request = warm_request(templates, draft, retrieve)
    assert request is not None
    outline, critique = (prepare(t, TaskInput(t.name, draft), retrieve) for t in templates)
    assert request.messages == outline.messages
    assert request.options["num_predict"] == 1
    assert request.options["num_ctx"] == max(outline.options["num_ctx"], critique.options["num_ctx"])
    shared = shared_prefix([outline.messages, critique.messages])
    assert shared is not None and shared[0] == critique.messages[0]
    assert body.strip().splitlines()[-1] in shared[1]["content"] and hits[0].text in shared[1]["content"]
    assert "Task:" not in shared[1]["content"]


def test_no_warm_up_when_the_tasks_share_too_little() -> None:
    draft = Draft("Tiny", "One line.\n")
    templates = [get_template(name, REPO) for name in ("outline", "critique")]
    assert warm_request(templates, draft, None) is None
