"""What the author does with an answer in the assistant panel: put an expansion into the draft,
select a critique issue's quote in it, open a cited (or related) note. Given the widgets it works
on, so the drafting screen only routes the keys and the panel's messages here."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scribe.errors import ScribeError
from scribe.tui.runs import Run, expansion_splice, quote_location

if TYPE_CHECKING:
    from textual.screen import Screen

    from scribe.grounding import Hit
    from scribe.tui.keeper import DraftKeeper
    from scribe.tui.reviewing import Reviewing
    from scribe.tui.widgets.assistant import AssistantPanel
    from scribe.tui.widgets.editor import DraftEditor


class Outputs:
    """`open_file` opens a note in the editor (the screen's, with its checks)."""

    def __init__(self, screen: Screen[None], root: Path, editor: DraftEditor, panel: AssistantPanel,
                 reviewing: Reviewing, keeper: DraftKeeper, open_file: Callable[[Path], object]) -> None:
        self.screen = screen
        self.root = root
        self.editor = editor
        self.panel = panel
        self.reviewing = reviewing
        self.keeper = keeper
        self.open_file = open_file

    def apply_expansion(self, how: str) -> None:
        """The expansion shown, into the draft: "insert" below its section or "replace" it (one undo step)."""
        run = self.panel.expansion
        if run is None or run.result is None:
            self.screen.notify("no expansion to use; F4 expands the section at the cursor", severity="warning")
            return
        snap = self.editor.snapshot()
        try:
            splice = expansion_splice(run, run.result.call.text.strip(), how, snap, self.editor.cursor_offset(snap))
        except ScribeError as exc:
            self.screen.notify(str(exc), severity="warning")
            return
        self.reviewing.leave()  # the expansion goes in whole: its changes are no longer to review
        self.editor.replace_offsets(snap, splice.new, splice.start, splice.end)
        self.panel.drop_expansion()
        self.screen.refresh_bindings()
        self.editor.focus()

    def select_issue(self, run: Run | None, issue: Any) -> bool:
        """Select the issue's quote in the editor; False (and a notification) when it is not in the draft."""
        snap = self.editor.snapshot()
        span = quote_location(run, snap, issue.quote)
        if span is None:
            self.screen.notify("the quote is not in the draft (the model paraphrased, or it was edited away)",
                               severity="warning", title="Not found")
            return False
        self.editor.select_offsets(snap, *span)
        self.editor.focus()
        return True

    def open_source(self, index: int) -> None:
        """The note the last answer cites as source `index`, at its heading."""
        run = self.panel.last
        if run is not None and run.sources:
            self.open_note(run.sources[index])

    def open_note(self, source: Hit) -> None:
        """The note a source or a related hit came from, at its heading; "edit" opens it in the editor."""
        from scribe.tui.screens.note import NoteScreen

        try:
            note = NoteScreen.of_source(self.root, source)
        except ScribeError as exc:
            self.screen.notify(f"{exc} (re-index with F8 if the note moved)", severity="error", title="Cannot open note")
            return
        self.screen.app.push_screen(note, lambda choice: choice == "edit" and self.keeper.ensure_saved(lambda: self.open_file(note.path)))
