"""Edits as data: hunks from a critique or a rewrite, found again after the text moves, applied."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scribe.critique import Critique, Issue, parse_critique
from scribe.edits import (
    Hunk,
    apply,
    follow_edit,
    from_critique,
    from_rewrite,
    is_stale,
    locate,
    make_hunk,
    unified_diff,
    word_diff,
)

DRAFT = (
    "# Retries\n\nRetries are safe. A retry charged the card twice in 2023.\n\n"
    "## Keys\n\nWe keep keys for a while. Idempotency keys make a retry safe.\n"
)
SETTINGS = settings(max_examples=150, deadline=None)


def issue(quote: str, replacement: str, problem: str = "p", severity: str = "medium") -> dict[str, str]:
    return {"severity": severity, "quote": quote, "problem": problem, "suggestion": "s", "replacement": replacement}


# from a critique


def test_a_critique_with_replacements_becomes_hunks_in_the_drafts_order() -> None:
    raw = json.dumps({"summary": "s", "issues": [
        issue("We keep keys for a while.", "We keep keys for 24 hours.", problem="vague"),
        issue("Retries are safe.", "Retries are safe only with an idempotency key.", problem="too broad"),
        issue("A retry charged the card twice in 2023.", ""),  # not a local rewrite
        issue("Idempotency keys make a retry safe.", "Idempotency  keys make a retry safe. "),  # changes nothing
        issue("words the draft never had", "other words"),  # ungrounded
    ]})
    critique = parse_critique(raw, DRAFT)
    assert critique is not None
    hunks = from_critique(critique, DRAFT)
    assert [(h.id, h.old, h.new, h.reason) for h in hunks] == [
        (0, "Retries are safe.", "Retries are safe only with an idempotency key.", "too broad"),
        (1, "We keep keys for a while.", "We keep keys for 24 hours.", "vague"),
    ]
    assert all(DRAFT[h.start:h.end] == h.old for h in hunks)
    text, stale = apply(DRAFT, hunks)
    assert not stale
    assert text == DRAFT.replace("Retries are safe.", hunks[0].new).replace("for a while", "for 24 hours")


def test_of_two_overlapping_quotes_the_first_keeps_its_hunk() -> None:
    critique = Critique(summary="s", issues=[
        Issue("high", "A retry charged the card twice", "p1", "s", grounded=True, replacement="A retry charged twice"),
        Issue("low", "the card twice in 2023.", "p2", "s", grounded=True, replacement="the card once."),
    ])
    assert [h.reason for h in from_critique(critique, DRAFT)] == ["p1"]


def test_the_critique_template_asks_for_a_replacement_string() -> None:
    from scribe.prompts import get_template

    template = get_template("critique", None)
    assert isinstance(template.format, dict)
    items = template.format["properties"]["issues"]["items"]
    # Required and never empty: a small model under a grammar skips an optional field, and given ""
    # as a way out it took it for every issue (qwen2.5-coder 1.5b on notes/drafts). A replacement
    # equal to the quote is how it says "no rewrite here": `from_critique` makes no hunk of it.
    assert items["properties"]["replacement"] == {"type": "string", "minLength": 8}
    assert "replacement" in items["required"]
    assert "replacement" in template.body


# found again, stale


def test_typing_before_a_hunk_moves_it_and_it_still_applies() -> None:
    (hunk,) = from_rewrite(DRAFT, 0, len(DRAFT), DRAFT.replace("for a while", "for 24 hours"))
    typed = DRAFT.replace("# Retries\n", "# Retries, and why they hurt\n\nA new paragraph.\n")
    found = locate(hunk, typed)
    assert found is not None and found.start > hunk.start and typed[found.start:found.end] == hunk.old
    text, stale = apply(typed, [hunk])
    assert not stale and text == typed.replace("for a while", "for 24 hours")


def test_a_hunk_whose_words_are_gone_is_stale_and_never_applied() -> None:
    (hunk,) = from_rewrite(DRAFT, 0, len(DRAFT), DRAFT.replace("for a while", "for 24 hours"))
    edited = DRAFT.replace("We keep keys for a while. ", "")
    assert is_stale(hunk, edited) and not is_stale(hunk, DRAFT)
    assert apply(edited, [hunk]) == (edited, [hunk])


def test_the_same_words_elsewhere_without_the_hunks_context_are_not_its_place() -> None:
    text = "Keys expire. Retries are safe here.\n\nLater on, keys are kept for a while.\n"
    hunk = make_hunk(text, text.index("for a while"), text.index("for a while") + 11, "for a day")
    moved = "A different text that says for a while somewhere else entirely.\n"
    assert locate(hunk, moved) is None


def test_an_insertion_is_found_by_its_context() -> None:
    new = DRAFT.replace("in 2023.", "in 2023. The bank refunded it.")
    (hunk,) = from_rewrite(DRAFT, 0, len(DRAFT), new, reason="say what happened next")
    assert hunk.old == "" and "refunded" in hunk.new and hunk.reason == "say what happened next"
    typed = "Preface.\n\n" + DRAFT
    assert apply(typed, [hunk]) == ("Preface.\n\n" + new, [])
    gone = DRAFT.replace("A retry charged the card twice in 2023.\n\n## Keys", "## Keys")
    assert is_stale(hunk, gone)


def test_a_rewrite_becomes_word_level_hunks_near_changes_merged() -> None:
    start, end = DRAFT.index("We keep"), len(DRAFT)
    new = "We keep keys for 24 hours. Idempotency keys make a retried payment safe, if the server stores them.\n"
    hunks = from_rewrite(DRAFT, start, end, new, reason="expand")
    assert [(h.old, h.new) for h in hunks] == [
        ("a while", "24 hours"),
        ("retry safe", "retried payment safe, if the server stores them"),
    ]
    assert [h.id for h in hunks] == [0, 1] and all(DRAFT[h.start:h.end] == h.old for h in hunks)
    assert from_rewrite(DRAFT, start, end, DRAFT[start:end]) == []


def test_accepting_one_at_a_time_follows_the_text() -> None:
    new = DRAFT.replace("Retries are safe.", "Retries are risky.").replace("a while", "a day").replace("in 2023", "")
    hunks = from_rewrite(DRAFT, 0, len(DRAFT), new)
    assert len(hunks) == 3
    text = DRAFT
    for hunk in (hunks[2], hunks[0], hunks[1]):  # not in the text's order; each re-located by apply
        text, stale = apply(text, [hunk])
        assert not stale
    assert text == new


def test_overlapping_accepted_hunks_the_later_placed_goes_stale() -> None:
    first = make_hunk(DRAFT, 11, 28, "Retries can be safe.", id=0)
    later = make_hunk(DRAFT, 20, 40, "x", id=1)
    for order in ([first, later], [later, first]):
        assert apply(DRAFT, order) == (DRAFT.replace("Retries are safe.", "Retries can be safe."), [later])


def test_hunks_round_trip_through_json() -> None:
    (hunk,) = from_rewrite(DRAFT, 0, len(DRAFT), DRAFT.replace("twice", "two times"), reason="r")
    assert Hunk.from_dict(json.loads(json.dumps(hunk.to_dict()))) == hunk
    with pytest.raises(ValueError, match="start"):
        Hunk.from_dict({**hunk.to_dict(), "start": "3"})
    with pytest.raises(ValueError, match="span"):
        Hunk.from_dict({**hunk.to_dict(), "end": hunk.end + 1})


def test_word_diff_segments() -> None:
    assert word_diff("Retries are safe here.", "Retries are never safe here!") == [
        ("equal", "Retries are "), ("insert", "never "), ("equal", "safe here"), ("delete", "."), ("insert", "!"),
    ]
    assert word_diff("keep a while", "keep 24 hours") == [("equal", "keep "), ("delete", "a while"), ("insert", "24 hours")]


# unified diff for git apply


@pytest.mark.parametrize("text", [DRAFT, DRAFT.rstrip("\n"), "one line", ""])
def test_unified_diff_is_a_patch_git_applies(tmp_path: Path, text: str) -> None:
    path = "notes/drafts/my draft.md"
    new = (text.replace("for a while", "for 24 hours").replace("twice", "two times") + "\nA last line") if text else "New."
    target = tmp_path / path
    target.parent.mkdir(parents=True)
    target.write_text(text, encoding="utf-8", newline="")
    patch = unified_diff(text, new, path)
    assert patch.startswith(f"--- a/{path}\n+++ b/{path}\n")
    assert ("\\ No newline at end of file" in patch) == (not new.endswith("\n"))
    git = ["git", "-c", "core.autocrlf=false"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    (tmp_path / "p.diff").write_text(patch, encoding="utf-8", newline="")
    subprocess.run([*git, "apply", "--check", "p.diff"], cwd=tmp_path, check=True, capture_output=True)
    subprocess.run([*git, "apply", "p.diff"], cwd=tmp_path, check=True, capture_output=True)
    assert target.read_text(encoding="utf-8") == new
    assert unified_diff(text, text, path) == ""


# properties

TEXTS = st.one_of(
    st.text(alphabet="ab .\n", max_size=60),
    st.lists(st.sampled_from(["the", "key", "is", "safe", ".", ",", "\n", "\n\n", "retry", "a"]), max_size=30).map(" ".join),
)


@st.composite
def hunk_sets(draw: st.DrawFn) -> tuple[str, list[Hunk]]:
    """A text and non-overlapping hunks made against it, some insertions; hunk i's new text holds
    the marker "[i]", which the text's alphabet never has."""
    text = draw(TEXTS)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    hunks: list[Hunk] = []
    for start, end in zip(cuts[::2], cuts[1::2], strict=False):
        if hunks and (start <= hunks[-1].start or start < hunks[-1].end):
            continue
        end = start if draw(st.booleans()) and draw(st.booleans()) else end
        new = draw(st.text(alphabet="xy \n", max_size=4)) + f"[{len(hunks)}]" + draw(st.text(alphabet="xy .", max_size=4))
        hunks.append(make_hunk(text, start, end, new, id=len(hunks)))
    return text, hunks


def splice(text: str, hunks: list[Hunk]) -> str:
    """The hunks applied at their own offsets: what the text must read once they are accepted."""
    for hunk in sorted(hunks, key=lambda h: h.start, reverse=True):
        text = text[:hunk.start] + hunk.new + text[hunk.end:]
    return text


@SETTINGS
@given(hunk_sets(), st.data())
def test_accepting_the_same_hunks_in_any_order_gives_the_same_text(case: tuple[str, list[Hunk]], data: st.DataObject) -> None:
    text, hunks = case
    accepted = [h for h in hunks if data.draw(st.booleans())]
    order = data.draw(st.permutations(accepted))
    # (c): outside the accepted hunks the text is unchanged, byte for byte
    assert apply(text, accepted) == apply(text, order) == (splice(text, accepted), [])
    current, pending = text, list(order)
    while pending:  # one accept at a time, as the editor does, the others following each edit
        hunk = pending.pop(0)
        at = locate(hunk, current)
        assert at is not None
        current, stale = apply(current, [at])
        assert not stale
        followed = [follow_edit(p, current, at.start, at.end, len(at.new)) for p in pending]
        assert all(f is not None for f in followed)
        pending = [f for f in followed if f is not None]
    assert current == splice(text, accepted)


@SETTINGS
@given(hunk_sets(), st.data())
def test_a_stale_hunk_is_never_applied(case: tuple[str, list[Hunk]], data: st.DataObject) -> None:
    text, hunks = case
    replacing = [h for h in hunks if h.old]
    if not replacing:
        return
    gone = data.draw(st.sampled_from(replacing))
    edited = text[:gone.start] + text[gone.end:]
    if gone.old in edited:
        return  # its words are still there: not stale
    result, stale = apply(edited, hunks)
    assert gone in stale and f"[{gone.id}]" not in result


@SETTINGS
@given(TEXTS, TEXTS, st.data())
def test_accepting_all_of_a_rewrite_gives_the_rewrite(text: str, new: str, data: st.DataObject) -> None:
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    hunks = from_rewrite(text, start, end, new)
    assert [h.id for h in hunks] == list(range(len(hunks)))
    assert all(text[h.start:h.end] == h.old for h in hunks)
    assert apply(text, hunks) == (text[:start] + new + text[end:], [])


@SETTINGS
@given(TEXTS, TEXTS)
def test_word_diff_reads_old_one_way_and_new_the_other(old: str, new: str) -> None:
    segments = word_diff(old, new)
    assert "".join(s for tag, s in segments if tag != "insert") == old
    assert "".join(s for tag, s in segments if tag != "delete") == new
    assert all(s for _, s in segments)
