"""Review from the CLI (issue 16, item 3): `--diff` on critique, expand and rewrite prints a patch
`git apply` takes, and `scribe review` walks a run's edits, writes what the author accepts, and
logs every decision. Against the fake model server, with scripted replies, except the last test,
which checks the same patch property with the real engine's small model."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cli_support import Ran, ok, one_line_error, scribe
from fake_server import FakeModelServer, Reply

from conftest import run_scribe
from scribe.edits import make_hunk
from scribe.runlog import RunLog
from scribe.suggestions import apply_to_file
from scribe.tasks import apply_expansion, load_draft

DRAFT = Path("notes") / "drafts" / "idempotency-in-payment-flows.md"
SECTION = "Why retries are unavoidable"
# Sentences of the draft, each with the rewrite a critique proposes for it, in the draft's order.
EDITS = [
    ("Networks drop responses.", "Networks lose responses all the time."),
    ("In my experience roughly 40% of payment incidents trace back to retries that weren't handled properly.",
     "Many payment incidents trace back to retries that were not handled properly."),
    ("Most teams only find this out after their first large incident.",
     "Most teams learn this from their first large incident."),
]


def critique_reply(edits: list[tuple[str, str]] = EDITS) -> str:
    issues = [{"severity": "medium", "quote": quote, "problem": f"problem {n}", "suggestion": f"suggestion {n}",
               "replacement": new} for n, (quote, new) in enumerate(edits, start=1)]
    return json.dumps({"summary": "Tighten the retries section.", "issues": issues})


def with_edits(text: str, edits: list[tuple[str, str]]) -> str:
    for old, new in edits:
        assert text.count(old) == 1
        text = text.replace(old, new)
    return text


def git(ws: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args], cwd=ws, input=stdin,
                          capture_output=True, text=True)


def git_workspace(ws: Path) -> Path:
    """`ws` as a git repository with its notes committed, so a patch is checked as the author would."""
    for args in (("init", "-q"), ("add", "notes"), ("commit", "-q", "-m", "notes")):
        assert git(ws, *args).returncode == 0
    return ws


def typing(ws: Path, keys: str, *args: str) -> Ran:
    """`scribe --workspace WS ARGS` with `keys` on its stdin, as an author at the prompts."""
    return scribe(ws, *args, stdin=keys)


def decisions(ws: Path) -> list[tuple[int, str, str | None, str]]:
    with RunLog(ws / ".scribe" / "runs.sqlite") as log:
        return [(d.hunk_id, d.decision, d.edited_text, d.source) for d in log.decisions()]


@pytest.fixture
def critiqued(fake_workspace: Path, fake_server: FakeModelServer) -> Path:
    """A workspace whose draft has a critique run proposing the three EDITS."""
    fake_server.script(critique_reply())
    ok(fake_workspace, "critique", str(fake_workspace / DRAFT), "-k", "0")
    return fake_workspace


# --diff


def test_critique_diff_passes_git_apply_check(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ws = git_workspace(fake_workspace)
    fake_server.script(critique_reply())
    diff = ok(ws, "critique", str(ws / DRAFT), "-k", "0", "--diff").stdout
    checked = git(ws, "apply", "--check", "-", stdin=diff)
    assert diff.startswith(f"--- a/{DRAFT.as_posix()}\n+++ b/{DRAFT.as_posix()}\n") and checked.returncode == 0, checked.stderr


def test_critique_diff_applied_by_git_gives_every_rewrite_and_leaves_the_draft_alone_until_then(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ws = git_workspace(fake_workspace)
    before = (ws / DRAFT).read_text(encoding="utf-8")
    fake_server.script(critique_reply())
    diff = ok(ws, "critique", str(ws / DRAFT), "-k", "0", "--diff").stdout
    assert (ws / DRAFT).read_text(encoding="utf-8") == before
    assert git(ws, "apply", "-", stdin=diff).returncode == 0
    assert (ws / DRAFT).read_text(encoding="utf-8") == with_edits(before, EDITS)


def test_expand_diff_on_a_section_applies_to_what_in_place_would_write(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ws = git_workspace(fake_workspace)
    draft = ws / DRAFT
    before, body = draft.read_text(encoding="utf-8"), load_draft(draft, ws).body
    output = "Networks drop responses, and a client cannot tell a lost answer from a lost request. So it retries."
    fake_server.script(output)
    diff = ok(ws, "expand", str(draft), "--section", SECTION, "-k", "0", "--diff").stdout
    assert git(ws, "apply", "-", stdin=diff).returncode == 0
    assert draft.read_text(encoding="utf-8") == apply_expansion(before, body, SECTION, output)


def test_rewrite_diff_on_a_section_changes_only_that_section(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ws = git_workspace(fake_workspace)
    draft = ws / DRAFT
    before = draft.read_text(encoding="utf-8")
    section_edits = EDITS[:2]
    body = load_draft(draft, ws).body
    start = body.index(f"## {SECTION}")
    end = body.index("## The idempotency key")
    fake_server.script(with_edits(body[start:end], section_edits).strip())
    diff = ok(ws, "run", "rewrite", str(draft), "--section", SECTION, "-k", "0", "--diff").stdout
    assert git(ws, "apply", "-", stdin=diff).returncode == 0
    assert draft.read_text(encoding="utf-8") == with_edits(before, section_edits)


def test_a_cut_off_rewrite_does_not_offer_to_delete_what_it_never_reached(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ws = git_workspace(fake_workspace)
    draft = ws / DRAFT
    before, body = draft.read_text(encoding="utf-8"), load_draft(draft, ws).body
    first = body[body.index(EDITS[0][0]):body.index("\n\nSo retries")]
    fake_server.script(Reply(with_edits(first, EDITS[:1]) + "\n\nSo retries aren't a bug you", done_reason="length"))
    diff = ok(ws, "run", "rewrite", str(draft), "--section", SECTION, "-k", "0", "--diff").stdout
    assert git(ws, "apply", "-", stdin=diff).returncode == 0
    assert draft.read_text(encoding="utf-8") == with_edits(before, EDITS[:1])


def test_diff_of_a_task_that_proposes_no_edits_is_refused_before_any_model_runs(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    error = one_line_error(scribe(fake_workspace, "run", "outline", str(fake_workspace / DRAFT), "--diff"))
    assert "--diff" in error and fake_server.chats == []


# review --yes


def test_review_yes_applies_every_edit(critiqued: Path) -> None:
    before = (critiqued / DRAFT).read_text(encoding="utf-8")
    ok(critiqued, "review", str(critiqued / DRAFT), "--yes")
    assert (critiqued / DRAFT).read_text(encoding="utf-8") == with_edits(before, EDITS)


def test_review_yes_keeps_the_previous_text_in_a_timestamped_bak(critiqued: Path) -> None:
    before = (critiqued / DRAFT).read_text(encoding="utf-8")
    ok(critiqued, "review", str(critiqued / DRAFT), "--yes")
    (bak,) = (critiqued / DRAFT).parent.glob(f"{DRAFT.name}.*.bak")
    assert bak.read_text(encoding="utf-8") == before


def test_review_yes_logs_an_accept_for_every_edit(critiqued: Path) -> None:
    ok(critiqued, "review", str(critiqued / DRAFT), "--yes")
    assert decisions(critiqued) == [(0, "accept", None, "cli"), (1, "accept", None, "cli"), (2, "accept", None, "cli")]


def test_a_reviewed_run_is_not_offered_again(critiqued: Path) -> None:
    ok(critiqued, "review", str(critiqued / DRAFT), "--yes")
    assert "reviewed already" in one_line_error(scribe(critiqued, "review", str(critiqued / DRAFT), "--yes"))


# review, interactively


def test_review_accept_reject_edit_gives_the_text_the_author_chose(critiqued: Path) -> None:
    before = (critiqued / DRAFT).read_text(encoding="utf-8")
    ran = typing(critiqued, "a\nr\ne\nMost teams learn it the hard way.\n", "review", str(critiqued / DRAFT))
    assert ran.code == 0, ran.stderr
    expected = with_edits(before, [EDITS[0], (EDITS[2][0], "Most teams learn it the hard way.")])
    assert (critiqued / DRAFT).read_text(encoding="utf-8") == expected


def test_review_accept_reject_edit_logs_the_three_decisions(critiqued: Path) -> None:
    typing(critiqued, "a\nr\ne\nMost teams learn it the hard way.\n", "review", str(critiqued / DRAFT))
    assert decisions(critiqued) == [(0, "accept", None, "cli"), (1, "reject", None, "cli"),
                                    (2, "edit", "Most teams learn it the hard way.", "cli")]


def test_review_shows_the_word_diff_and_the_problem(critiqued: Path) -> None:
    shown = typing(critiqued, "q\n", "review", str(critiqued / DRAFT)).stdout
    assert "Networks [-drop-]{+lose+} responses{+ all the time+}." in shown and "problem: problem 1" in shown


def test_quit_keeps_what_was_accepted_so_far_and_logs_only_that(critiqued: Path) -> None:
    before = (critiqued / DRAFT).read_text(encoding="utf-8")
    typing(critiqued, "a\nq\n", "review", str(critiqued / DRAFT))
    assert ((critiqued / DRAFT).read_text(encoding="utf-8"), decisions(critiqued)) == (
        with_edits(before, EDITS[:1]), [(0, "accept", None, "cli")])


def test_input_ending_mid_review_changes_nothing(critiqued: Path) -> None:
    before = (critiqued / DRAFT).read_bytes()
    error = one_line_error(typing(critiqued, "a\n", "review", str(critiqued / DRAFT)))
    assert "unchanged" in error and (critiqued / DRAFT).read_bytes() == before and decisions(critiqued) == []


def test_a_stale_edit_is_shown_as_stale_and_skipped(critiqued: Path) -> None:
    draft = critiqued / DRAFT
    draft.write_text(draft.read_text(encoding="utf-8").replace(EDITS[0][0], "Packets vanish."), encoding="utf-8")
    ran = typing(critiqued, "a\na\n", "review", str(draft))
    assert "stale, skipped" in ran.stdout and decisions(critiqued) == [(1, "accept", None, "cli"), (2, "accept", None, "cli")]


# stale, nothing, --json


def test_a_stale_patch_fails_in_one_line_naming_the_hunk_and_changes_nothing(critiqued: Path) -> None:
    draft = critiqued / DRAFT
    draft.write_text(draft.read_text(encoding="utf-8").replace(EDITS[1][0], "Retries cause incidents."), encoding="utf-8")
    before = draft.read_bytes()
    error = one_line_error(scribe(critiqued, "review", str(draft), "--yes"))
    assert error.startswith("error: hunk 2: its text 'In my experience roughly 40% of payment…' is no longer in the draft")
    assert draft.read_bytes() == before and decisions(critiqued) == [] and not list(draft.parent.glob("*.bak"))


def test_review_without_suggestions_says_how_to_get_some(fake_workspace: Path) -> None:
    error = one_line_error(scribe(fake_workspace, "review", str(fake_workspace / DRAFT)))
    assert error.endswith(f"get some with: scribe critique {fake_workspace / DRAFT}")


def test_review_json_without_a_terminal_lists_the_hunks_and_decides_nothing(critiqued: Path) -> None:
    listed = ok(critiqued, "review", str(critiqued / DRAFT), "--json").json()
    hunk = listed["hunks"][0]
    assert (listed["task"], listed["draft"], listed["decisions"], listed["updated"]) == ("critique", DRAFT.as_posix(), [], False)
    assert [h["number"] for h in listed["hunks"]] == [1, 2, 3] and [h["new"] for h in listed["hunks"]] == [new for _, new in EDITS]
    assert (hunk["old"], hunk["reason"], hunk["suggestion"], hunk["stale"], hunk["decided"]) == (EDITS[0][0], "problem 1", "suggestion 1", False, None)
    assert decisions(critiqued) == []


def test_review_yes_json_prints_the_decisions_and_the_backup(critiqued: Path) -> None:
    done = ok(critiqued, "review", str(critiqued / DRAFT), "--yes", "--json").json()
    assert done["decisions"] == [{"hunk_id": n, "decision": "accept", "edited_text": None} for n in range(3)]
    assert done["updated"] and Path(done["backup"]).is_file()


def test_applying_edits_keeps_the_frontmatter_byte_order_mark_and_crlf_line_endings() -> None:
    text = "\ufeff---\r\ntitle: Retries\r\n---\r\n\r\nNetworks drop responses.\r\nClients retry.\r\n"
    body = "Networks drop responses.\nClients retry.\n"
    hunk = make_hunk(body, 9, 13, "lose")
    assert apply_to_file(text, [hunk]) == text.replace("drop", "lose")


# the real engine


def test_critique_diff_from_the_small_model_passes_git_apply_check(workspace: Path) -> None:
    """Whatever the model proposes, the patch applies: an empty one (no rewrite) is fine too."""
    draft = workspace / "notes" / "retries.md"
    draft.parent.mkdir()
    draft.write_text(
        "# Retries\n\nNetworks drop responses all of the time. A client that gets no answer cannot tell if the charge "
        "went through or not, and so it will try again. That is why the server has to recognise a retry when it sees one.\n\n"
        "## Keys\n\nThe client makes a key once for each action and it sends the same key with every single attempt.\n",
        encoding="utf-8",
    )
    git_workspace(workspace)
    ran = run_scribe("critique", str(draft), "--diff", "-k", "0", cwd=workspace)
    assert ran.returncode == 0, ran.stderr
    checked = git(workspace, "apply", "--check", "-", stdin=ran.stdout) if ran.stdout else None
    assert checked is None or checked.returncode == 0, (checked.stderr, ran.stdout)
