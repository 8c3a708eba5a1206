"""The related-notes panel: what it searches for and when, what it lists, and the links it writes;
and the notes tree's marks on what the index skipped or could not read.

The app runs against the fake model server and a real notes index (or a fixed retriever where the
hits must be known exactly); results are read from what the retriever was asked and from the
panel, the editor and the screen on top, never from timings.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from fake_server import FakeModelServer
from pilot_support import DRAFT, SIZE, fake_app, until
from test_tui_fake import index_notes

from scribe.config import open_workspace
from scribe.grounding import Hit
from scribe.index_report import FileOutcome, IndexReport
from scribe.retrieval import Source
from scribe.tui.index_link import IndexLink, IndexProgress, IndexStatus, StaticIndex, WorkspaceIndex
from scribe.tui.related import RelatedHit, heading_slug, link_to, markdown_link, paragraph_at, vault_root, wikilink
from scribe.tui.screens.note import NoteScreen
from scribe.tui.widgets.related import RelatedPanel
from scribe.tui.widgets.tree import NotesTree

POISON = "notes/kafka/poison-messages-and-dlq-replay.md"


class RecordingIndex:
    """An index link that records every query searched, in front of another one."""

    def __init__(self, inner: IndexLink) -> None:
        self.inner = inner
        self.queries: list[str] = []

    def status(self) -> IndexStatus:
        return self.inner.status()

    def retriever(self, draft: str | None = None) -> Callable[[str, int], Sequence[Hit]] | None:
        retrieve = self.inner.retriever(draft)
        if retrieve is None:
            return None

        def search(query: str, k: int) -> Sequence[Hit]:
            self.queries.append(query)
            return retrieve(query, k)

        return search

    def sync(self, on_progress: Callable[[IndexProgress], None]) -> str:
        return self.inner.sync(on_progress)

    def report(self) -> IndexReport | None:
        return self.inner.report()


def source(path: str, heading_path: str, text: str = "Some words about it.", score: float = 0.03) -> Source:
    title = heading_path.split(" > ")[0]
    return Source(f"{path}#{heading_path}", path, title, heading_path, f"{heading_path}\n\n{text}", 0, score, 1, 1, 1)


@pytest.fixture
def short_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """A shorter typing pause, for the tests that do not type while the panel waits for one."""
    monkeypatch.setattr(RelatedPanel, "pause", 0.2)


def workspace_index(ws: Path, server: FakeModelServer) -> RecordingIndex:
    """The workspace's real index of its kafka notes and drafts (the others removed: fewer to embed)."""
    for path in (ws / "notes").iterdir():
        if path.name not in ("kafka", "drafts"):
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    index_notes(ws, server)
    return RecordingIndex(WorkspaceIndex(open_workspace(ws, env={}), lambda: server))


# --- in the app ----------------------------------------------------------------------------------


def test_the_panel_searches_once_typing_stops_never_during_it_and_leaves_the_draft_out(
        fake_workspace: Path, fake_server: FakeModelServer) -> None:
    index = workspace_index(fake_workspace, fake_server)
    words = "poison dlq"

    async def scenario() -> None:
        async with fake_app(fake_workspace, index=index).run_test(size=SIZE) as pilot:
            related, editor = pilot.app.main.related, pilot.app.main.editor
            searched = len(index.queries)
            editor.move_cursor((10, len(editor.document.lines[10])))  # the end of the first paragraph
            await until(pilot, lambda: len(index.queries) > searched, "the search for the paragraph at the cursor")
            before = len(index.queries)  # the typing starts from a pause, however long the machine took to get here
            for key in ["enter", "enter", *(k if k != " " else "space" for k in words)]:
                await pilot.press(key)
                await pilot.pause(0.05)  # a typist's pace: each key well within the typing pause
            assert index.queries[before:] == [], "no search while keys arrive"
            await until(pilot, lambda: index.queries[before:], "the search after the pause")
            assert index.queries[before:] == [words]  # the new paragraph, as it stands once typing stopped
            await until(pilot, lambda: related.hits and related.hits[0].path == POISON, "the panel to show the poison note first")
            assert related.display
            assert all(hit.path != DRAFT.as_posix() for hit in related.hits)
            assert len(related.hit_list.get_option_at_index(0).prompt.plain.splitlines()) == 2  # title › headings, score + snippet

    asyncio.run(scenario())


@pytest.mark.usefixtures("short_pause")
def test_enter_on_a_related_note_opens_it_at_its_heading(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    hit = source(POISON, "Poison messages and DLQ replay > Replaying safely")

    async def scenario() -> None:
        async with fake_app(fake_workspace, index=StaticIndex(lambda query, k: [hit])).run_test(size=SIZE) as pilot:
            related = pilot.app.main.related
            await until(pilot, lambda: related.hits, "the related notes")
            related.hit_list.focus()
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(pilot.app.screen, NoteScreen), "the note")
            note = pilot.app.screen
            assert note.rel_path == POISON
            area = note.query_one("#note-text")
            assert area.selected_text.strip() == "## Replaying safely"

    asyncio.run(scenario())


@pytest.mark.parametrize("vault", [False, True], ids=["markdown-link", "obsidian-vault"])
@pytest.mark.usefixtures("short_pause")
def test_alt_l_puts_a_link_to_the_highlighted_note_at_the_cursor(fake_workspace: Path, fake_server: FakeModelServer,
                                                                 vault: bool) -> None:
    if vault:
        (fake_workspace / "notes" / ".obsidian").mkdir()
    own = source(DRAFT.as_posix(), "Idempotency in payment flows > The idempotency key")
    hits = [own, source(POISON, "Poison messages and DLQ replay > What poison looks like"),
            source("notes/sql/reading-explain-analyze.md", "Reading EXPLAIN ANALYZE")]

    async def scenario() -> None:
        async with fake_app(fake_workspace, index=StaticIndex(lambda query, k: hits)).run_test(size=SIZE) as pilot:
            related, editor = pilot.app.main.related, pilot.app.main.editor
            await until(pilot, lambda: related.hits, "the related notes")
            assert [hit.path for hit in related.hits] == [POISON, "notes/sql/reading-explain-analyze.md"]  # never the draft's own
            editor.move_cursor((10, 0))
            await pilot.press("alt+l")
            related.hit_list.highlighted = 1
            editor.move_cursor((12, 0))
            await pilot.press("alt+l")
            return editor.document.lines

    lines = asyncio.run(scenario())
    if vault:
        assert lines[10].startswith("[[poison-messages-and-dlq-replay#What poison looks like]]Every payment")
        assert lines[12].startswith("[[reading-explain-analyze]]## Why retries")
    else:
        assert lines[10].startswith("[Poison messages and DLQ replay](../kafka/poison-messages-and-dlq-replay.md#what-poison-looks-like)Every")
        assert lines[12].startswith("[Reading EXPLAIN ANALYZE](../sql/reading-explain-analyze.md)## Why retries")


@pytest.mark.usefixtures("short_pause")
def test_a_newer_search_wins_and_the_same_paragraph_is_not_searched_again(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    release = threading.Event()

    def retrieve(query: str, k: int) -> list[Source]:
        if query.startswith("# Idempotency"):  # the first search, at the title, answers last
            release.wait(10)
            return [source("notes/sql/reading-explain-analyze.md", "Reading EXPLAIN ANALYZE")]
        return [source(POISON, "Poison messages and DLQ replay")]

    async def scenario() -> None:
        async with fake_app(fake_workspace, index=StaticIndex(retrieve)).run_test(size=SIZE) as pilot:
            related = pilot.app.main.related
            await until(pilot, lambda: related.searches == 1, "the first search")
            pilot.app.main.editor.move_cursor((10, 0))
            await until(pilot, lambda: related.hits, "the second search's hits")
            release.set()
            await until(pilot, lambda: not any(w.group == "related" and w.is_running for w in related.workers),
                        "the first search to end")
            await pilot.pause(0.1)
            assert [hit.path for hit in related.hits] == [POISON]
            pilot.app.main.editor.move_cursor((10, 5))  # the same paragraph: nothing new to search for
            await pilot.pause(2 * RelatedPanel.pause)
            assert related.searches == 2

    asyncio.run(scenario())


@pytest.mark.usefixtures("short_pause")
def test_without_an_index_the_panel_is_one_line_saying_how_to_build_one_and_alt_o_hides_it(
        fake_workspace: Path, fake_server: FakeModelServer) -> None:
    async def scenario() -> None:
        async with fake_app(fake_workspace).run_test(size=SIZE) as pilot:
            related = pilot.app.main.related
            await until(pilot, lambda: related.display, "the panel")
            assert related.index_state == "missing" and not related.hits
            assert "F8" in related.note and not related.query_one("#related-title").display
            await pilot.press("alt+o")
            assert not related.display and pilot.app.session.state.related_notes is False

    asyncio.run(scenario())
    assert '"related_notes": false' in (fake_workspace / ".scribe" / "tui.json").read_text()


def test_the_tree_marks_what_the_index_skipped_or_could_not_read(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    skipped, failed, indexed = (fake_workspace / "notes" / name for name in (
        "drafts/when-not-to-use-a-local-llm.md", "writing-clear-postmortems.md", "rbac-for-admin-workflows.md"))
    report = IndexReport(fake_workspace, (
        FileOutcome("notes/drafts/when-not-to-use-a-local-llm.md", "skipped", "too_large", "larger than the 1 MB limit"),
        FileOutcome("notes/rbac-for-admin-workflows.md", "indexed", chunks=3),
        FileOutcome("notes/writing-clear-postmortems.md", "failed", "unreadable", "not valid UTF-8"),
    ))

    class ReportedIndex(StaticIndex):
        def report(self) -> IndexReport:
            return report

    async def scenario() -> None:
        async with fake_app(fake_workspace, index=ReportedIndex(lambda query, k: [])).run_test(size=SIZE) as pilot:
            tree = pilot.app.query_one(NotesTree)

            def node(path: Path):  # type: ignore[no-untyped-def]
                stack = [tree.root]
                while stack:
                    found = stack.pop()
                    if found.data is not None and found.data.path == path:
                        return found
                    stack.extend(found.children)
                return None

            await until(pilot, lambda: tree.marks and node(skipped) and node(failed), "the marks and the files")
            assert tree.outcome(indexed) is None and tree.outcome(skipped).reason == "too_large"
            for path, mark in ((skipped, "notes-tree--skipped"), (failed, "notes-tree--failed")):
                label = tree.render_label(node(path), tree.rich_style, tree.rich_style)
                assert tree.get_component_rich_style(mark, partial=True) in [span.style for span in label.spans]
            tree.move_cursor(node(failed))
            await until(pilot, lambda: "failed by the index: not valid UTF-8" in str(tree.tooltip), "the reason in the tooltip")

    asyncio.run(scenario())


# --- pure parts ----------------------------------------------------------------------------------


def test_the_query_is_the_paragraph_at_the_cursor_or_the_nearest_one_from_a_blank_line() -> None:
    lines = ["---", "title: T", "---", "", "# T", "", "one", "two", "", "", "three"]
    assert [paragraph_at(lines, row) for row in range(len(lines))] == [
        None, None, None, "# T", "# T", "# T", "one\ntwo", "one\ntwo", "one\ntwo", "one\ntwo", "three"]
    assert paragraph_at(["", ""], 1) is None


def related(path: str, heading_path: str, title: str = "Poison, (and) [DLQ]") -> RelatedHit:
    return RelatedHit("id", path, title, heading_path, "", "", 0.03)


def test_markdown_links_are_relative_to_the_drafts_folder_with_a_heading_anchor() -> None:
    hit = related("notes/kafka/poison and dlq.md", "Poison, (and) [DLQ] > Replaying: the DLQ (safely)")
    assert markdown_link(hit, "notes/drafts/d.md") == r"[Poison, (and) \[DLQ\]](../kafka/poison%20and%20dlq.md#replaying-the-dlq-safely)"
    assert markdown_link(related("notes/a.md", "A"), "notes/b.md") == "[Poison, (and) \\[DLQ\\]](a.md)"
    assert heading_slug("Step 2 — Retry_topics & DLQs") == "step-2--retry_topics--dlqs"


def test_wikilinks_name_the_note_and_clean_the_heading_as_obsidian_does() -> None:
    hit = related("notes/kafka/poison.md", "Poison > Replay: the #1 [fix]|now")
    assert wikilink(hit, "kafka/poison.md", unique_name=True) == "[[poison#Replay the 1 fix now]]"
    assert wikilink(hit, "kafka/poison.md", unique_name=False) == "[[kafka/poison#Replay the 1 fix now]]"
    assert wikilink(related("notes/ownership.txt", "Ownership"), "ownership.txt", unique_name=True) == "[[ownership.txt]]"


def test_in_a_vault_a_note_name_shared_in_any_case_is_written_as_its_path(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    for path in ("kafka/dlq.md", "sql/explain.md", ".trash/explain.md", "old/DLQ.md", ".obsidian/app.json"):
        (notes / path).parent.mkdir(parents=True, exist_ok=True)
        (notes / path).write_text("x", encoding="utf-8")
    vault = vault_root(tmp_path, [notes])
    assert vault == notes and vault_root(tmp_path / "notes" / "kafka", []) is None
    assert link_to(related("notes/kafka/dlq.md", "DLQ > Replay"), "notes/drafts/d.md", tmp_path, vault) == "[[kafka/dlq#Replay]]"
    assert link_to(related("notes/sql/explain.md", "Explain"), "notes/drafts/d.md", tmp_path, vault) == "[[explain]]"
    outside = related("other/explain.md", "Explain", title="Explain")
    assert link_to(outside, "notes/drafts/d.md", tmp_path, vault) == "[Explain](../../other/explain.md)"
