"""The related-notes panel: notes that bear on the paragraph at the cursor, found while the author writes.

Keys never wait for it. A key only sets a timer going; once the author has paused
(`TYPING_PAUSE_S`, as the assistant panel waits) and the paragraph at the cursor (or the
selection) is not the one last searched for, the search runs in a worker thread
(`scribe.tui.related.find_related`: the hybrid retrieval of `scribe search`). Only the newest
search's answer is shown, and not while keys arrive: it waits for the next pause, so the panel
never repaints in the same frame as a keystroke. Enter opens the highlighted note at its heading;
alt+l puts a link to it at the cursor; alt+o hides or shows the panel (remembered).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.widgets import Label, OptionList, Static
from textual.widgets.option_list import Option

from scribe.chunking import HEADING_SEPARATOR
from scribe.errors import ScribeError
from scribe.tui.crashlog import unexpected
from scribe.tui.related import RelatedHit, RelatedQuery, RelatedResult, find_related, link_to, paragraph_at, vault_root
from scribe.tui.widgets.stream import TYPING_PAUSE_S

if TYPE_CHECKING:
    from textual.timer import Timer

    from scribe.tui.session import Session
    from scribe.tui.widgets.editor import DraftEditor

RELATED_BINDINGS = [
    Binding("alt+o", "related('toggle')", "Related notes", show=False, priority=True,
            tooltip="show or hide the related-notes panel (notes near the paragraph at the cursor)"),
    Binding("alt+l", "related('link')", "Link related note", show=False, priority=True,
            tooltip="insert a link to the highlighted related note at the cursor (`[[Note#Heading]]` in an Obsidian vault)"),
]
TITLE = "Related: enter opens, alt+l links"  # 33 columns: the panel's room at 80x24
NO_INDEX = "No notes index yet: F8 builds it"  # one line at 80x24, in place of the panel


class RelatedPanel(Vertical):
    """Given the session (its index, the time of the last key, what the app remembers), the
    editor whose cursor it follows, and `open_note`, which shows a hit's note at its heading."""

    pause = TYPING_PAUSE_S  # keys this recent mean the author is typing: no search, no repaint

    def __init__(self, session: Session, editor: DraftEditor, open_note: Callable[[RelatedHit], object], *,
                 id: str | None = None) -> None:
        super().__init__(id=id)
        self.session = session
        self.editor = editor
        self.open_note = open_note
        self.hits: tuple[RelatedHit, ...] = ()
        self.note = ""
        self.index_state = ""  # the index's, as the last search found it ("" before one)
        self.asked: RelatedQuery | None = None  # the last query searched for
        self.searches = 0  # searches started: only the newest one's answer is shown
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        yield Label(TITLE, id="related-title", classes="list-label")
        yield Static("", id="related-note")
        yield OptionList(id="related-hits")

    def on_mount(self) -> None:
        self.display = False  # until a search says there is an index to show hits from
        self.query_one("#related-note").display = self.hit_list.display = False
        self.watch(self.editor, "selection", lambda _selection: self.schedule(), init=False)

    @property
    def hit_list(self) -> OptionList:
        return self.query_one("#related-hits", OptionList)

    # --- when to search --------------------------------------------------------------------------

    def schedule(self) -> None:
        """The text or the cursor moved: search once the author pauses. Costs a key next to nothing."""
        if self._timer is None and self.session.state.related_notes:
            self._timer = self.set_timer(self.pause, self._paused)

    def _paused(self) -> None:
        self._timer = None
        typing_for = self.pause - (time.monotonic() - self.session.last_key_at)
        if typing_for > 0:  # keys came meanwhile: wait for the pause after them
            self._timer = self.set_timer(typing_for, self._paused)
            return
        query = self.query_here()
        if query is None or query == self.asked or not self.session.state.related_notes:
            return
        self.asked = query
        self.searches += 1
        self.run_worker(partial(self._search, query, self.searches), thread=True, group="related", exit_on_error=False)

    def query_here(self) -> RelatedQuery | None:
        """The selection, else the paragraph at the cursor, of the draft open; None where there is neither."""
        editor = self.editor
        if editor.path is None or editor.read_only:
            return None
        text = editor.selected_text.strip() or paragraph_at(editor.document.lines, editor.cursor_location[0])
        return RelatedQuery(text, self.session.rel(editor.path)) if text else None

    def _search(self, query: RelatedQuery, number: int) -> None:
        try:
            result = find_related(self.session.services.index, query)
        except ScribeError as exc:
            result = RelatedResult(query, state="error", note=str(exc))
        except Exception as exc:  # noqa: BLE001 - a courtesy panel must never take the draft down
            result = RelatedResult(query, state="error", note=unexpected(exc, "related notes"))
        self.call_later(self._arrived, result, number)

    def _arrived(self, result: RelatedResult, number: int) -> None:
        if number != self.searches:
            return  # a newer search is under way: its answer wins
        if time.monotonic() - self.session.last_key_at < self.pause:
            self.set_timer(self.pause, partial(self._arrived, result, number))  # keys first: show it in the pause
            return
        self.show(result)

    # --- what it shows ----------------------------------------------------------------------------

    def show(self, result: RelatedResult) -> None:
        self.index_state = result.state
        if result.state != "ready":
            self.asked = None  # the same paragraph is searched again once there is an index, or the error passed
        self.set_class(result.state != "ready", "off")  # the one line that says why, in place of the panel
        self.query_one("#related-title").display = result.state == "ready"
        shown = self.session.state.related_notes and result.state != "unavailable"
        if self.display != shown:
            self.display = shown
        note = NO_INDEX if result.state == "missing" else f"Related notes: {result.note}" if result.state == "error" else result.note
        if note != self.note:
            self.note = note
            self.query_one("#related-note", Static).update(Text(note, "dim" if result.state == "ready" else "italic"))
            self.query_one("#related-note").display = bool(note)
        if result.hits == self.hits:
            return  # the same notes: no repaint
        self.hits = result.hits
        hit_list = self.hit_list
        hit_list.clear_options()
        hit_list.add_options(Option(hit_label(hit), id=f"related-{i}") for i, hit in enumerate(self.hits))
        hit_list.highlighted = 0 if self.hits else None
        hit_list.display = bool(self.hits)

    @on(OptionList.OptionSelected, "#related-hits")
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.open_note(self.hits[event.option_index])

    # --- the keys ---------------------------------------------------------------------------------

    def act(self, what: str) -> None:
        """alt+o ("toggle") and alt+l ("link"), from anywhere on the drafting screen."""
        if what == "toggle":
            self.toggle()
        elif what == "link":
            self.insert_link()

    def toggle(self) -> None:
        state = self.session.state
        state.related_notes = not state.related_notes
        self.session.save_state()
        if not state.related_notes:
            if self.has_focus_within:
                self.editor.focus()
            self.display = False
            return
        if self.index_state == "unavailable":
            self.notify("no notes index in this session: there is nothing to relate the draft to", severity="warning")
            return
        self.display = True
        self.asked = None  # search for the cursor's paragraph as it is now
        self.schedule()

    def insert_link(self) -> None:
        """A link to the highlighted hit (the best one unless another is highlighted) at the cursor."""
        editor = self.editor
        if not self.display or not self.hits:
            self.notify("no related note to link to (alt+o shows the panel)", severity="warning")
            return
        if editor.path is None or editor.read_only:
            self.notify("open a draft first", severity="warning")
            return
        hit = self.hits[self.hit_list.highlighted or 0]
        workspace = self.session.workspace.root
        editor.insert(link_to(hit, self.session.rel(editor.path), workspace, vault_root(workspace, self.session.note_folders())))
        editor.focus()


def hit_label(hit: RelatedHit) -> Text:
    """Two lines: the note's title and the heading path under it; the score and the snippet."""
    headings = hit.heading_path.split(HEADING_SEPARATOR)
    if headings and headings[0].strip() == hit.title.strip():
        headings = headings[1:]
    line = Text(hit.title, "bold")
    if headings:
        line.append(" › " + " › ".join(headings), "italic")
    line.append(f"\n{hit.score:.3f} ", "dim bold")
    line.append(hit.snippet, "dim")
    return line
