"""Never lose a word: the open draft's autosave, conflict checks, and the questions before anything
unsaved could be dropped. The screen owns the widgets and hands the keeper the editor and the
status bar; `DraftKeeper` decides when to write and when to ask.

- Edits are written atomically a few seconds after typing stops, on switching files, and on exit.
- A file changed on disk since it was read is never overwritten silently: the author chooses to
  keep theirs (the disk version goes to a `.bak`), take the disk version (theirs goes to a
  `.mine.bak`, and one undo brings it back), or decide later (autosave then waits).
- If the editor holds no unsaved edits, a change on disk is simply reloaded.
- When no one can answer (SIGTERM, SIGHUP, the app closing by other means), a conflicting text is
  written beside the file instead of over it.
- Between saves, the editor's text goes to a journal (`scribe.tui.journal`) within a few hundred
  milliseconds of typing; after a crash, opening the file offers to recover it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.css.query import NoMatches

from scribe.errors import ScribeError
from scribe.tui.documents import DraftFile, FileConflict
from scribe.tui.journal import read_journal, recovered_path, remove_journal, text_diff, write_journal
from scribe.tui.screens.dialogs import confirm_screen, conflict_screen, recovery_screen

if TYPE_CHECKING:
    from textual.timer import Timer

    from scribe.tui.widgets.editor import DraftEditor
    from scribe.tui.widgets.status import StatusBar

Then = Callable[[], object]
JOURNAL_DELAY_S = 0.25  # the most typing a crash can take
log = logging.getLogger("scribe.tui")


class DraftKeeper:
    """`rel` names a file as the status line shows it; `on_saved` runs after each write; the
    journal lives in `state_dir` (None: no journal)."""

    def __init__(self, editor: DraftEditor, status: StatusBar, *, rel: Callable[[Path], str],
                 on_saved: Callable[[], None] = lambda: None, state_dir: Path | None = None) -> None:
        self.editor = editor
        self.status = status
        self.rel = rel
        self.on_saved = on_saved
        self.state_dir = state_dir
        self._journal_timer: Timer | None = None
        self.file: DraftFile | None = None
        self.dirty = False
        self.asking = False  # a save question is on screen
        self.conflict_later = False  # the author put off a conflict: autosave waits
        self._kept_aside: str | None = None  # text last written beside the file on the way out
        self._timer: Timer | None = None

    @property
    def text(self) -> str:
        return self.editor.text

    # --- the file in the editor ------------------------------------------------------------------

    def opened(self, file: DraftFile) -> None:
        self.file = file
        self.dirty = False
        self.conflict_later = False
        self.show_status()

    def show_status(self) -> None:
        if self.file is None:
            text: str | Text = "no file"
        elif self.conflict_later:
            text = Text(self.rel(self.file.path)) + Text(" ● changed on disk — ctrl+s decides", "bold red")
        elif self.dirty:
            text = Text(self.rel(self.file.path)) + Text(" ● unsaved", "yellow")
        else:
            text = Text(self.rel(self.file.path)) + Text(" saved", "green")
        try:
            self.status.set_file(text)
        except NoMatches:  # saving on exit, after the status line is gone: the file is saved, nothing to show
            pass

    def edited(self, delay: float) -> None:
        """The editor changed: mark it unsaved and (re)start the autosave countdown."""
        if self.file is None:
            return
        if not self.dirty:
            if self.text == self.file.saved_text:
                return  # a load, or an edit undone back to the saved text
            self.dirty = True
            self.show_status()
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.editor.set_timer(delay, self._autosave)
        if self._journal_timer is None and self.state_dir is not None:  # not reset by each key: typing on
            self._journal_timer = self.editor.set_timer(JOURNAL_DELAY_S, self.sync_journal)  # is journaled too

    def sync_journal(self) -> None:
        """The journal holds the editor's text while it differs from the file, and nothing after."""
        self._journal_timer = None
        file = self.file
        if file is None or self.state_dir is None:
            return
        try:
            if self.text == file.saved_text:
                remove_journal(self.state_dir, file.path)
            else:
                write_journal(self.state_dir, file.path, self.text)
        except OSError as exc:  # the file itself is still autosaved
            log.warning("cannot write the journal for %s: %s", file.path, exc)

    def offer_recovery(self) -> None:
        """The file was just opened: edits a crash left in the journal are offered back."""
        file = self.file
        entry = read_journal(self.state_dir, file.path) if file is not None and self.state_dir else None
        if file is None or entry is None:
            return
        if entry.text == file.saved_text:
            self.sync_journal()
            return
        self.asking = True

        def decided(choice: str | None) -> None:
            self.asking = False
            if self.file is not file:
                return
            if choice == "recover":
                self._recover(entry.text.replace("\r\n", "\n"))
                return
            if choice != "discard":  # keep both, or Esc: nothing may be lost by closing the question
                from scribe.files import atomic_write

                aside = recovered_path(file.path)
                try:
                    atomic_write(aside, entry.text)
                except OSError as exc:
                    self.editor.notify(f"cannot write {aside.name} ({exc}); the edits stay in the journal", severity="error")
                    return
                self.editor.notify(f"your recovered edits are in {aside.name}, beside the file", title="Kept both")
            self.sync_journal()

        self.editor.app.push_screen(recovery_screen(file.path.name, entry.written_at, text_diff(file.saved_text, entry.text, file.path.name)),
                                    decided)

    def _recover(self, text: str) -> None:
        """The journal's text into the editor as one undoable edit, the cursor where they differ."""
        snap = self.editor.snapshot()
        first = next((i for i, (a, b) in enumerate(zip(snap.text, text)) if a != b), min(len(snap.text), len(text)))
        self.editor.replace_offsets(snap, text, 0, len(snap.text))
        self.editor.move_cursor(self.editor.snapshot().location(first))
        self.editor.notify("recovered your unsaved edits (ctrl+z shows the file as it was on disk)", title="Recovered")

    def _autosave(self) -> None:
        self._timer = None
        if self.asking or self.conflict_later:
            return
        self.save(None)

    # --- saving, and asking ----------------------------------------------------------------------

    def save(self, then: Then | None, *, quitting: bool = False) -> None:
        """Save now; on a conflict ask; on a write error ask before going on to `then`."""
        if self.file is None:
            if then:
                then()
            return
        try:
            self.file.save(self.text)
        except FileConflict:
            self.ask_conflict(then, quitting=quitting)
            return
        except ScribeError as exc:
            self.editor.notify(f"{exc}", severity="error", title="Not saved", timeout=10)
            if then is not None:
                self._ask_discard(then, str(exc))
            return
        self.dirty = self.text != self.file.saved_text
        self.show_status()
        self.sync_journal()
        self.on_saved()
        if then:
            then()

    def ensure_saved(self, then: Then, *, quitting: bool = False) -> None:
        """Run `then` once the draft is safe: saved, resolved, or knowingly let go."""
        if self.asking:
            return
        if self.conflict_later and self.file is not None and self.text != self.file.saved_text:
            self.ask_conflict(then, quitting=quitting)
            return
        self.save(then, quitting=quitting)

    def save_now(self) -> None:
        """ctrl+s: save, or settle a conflict that was put off."""
        if self.file is None:
            self.editor.notify("no file open; ctrl+n starts a new draft", severity="warning")
            return
        if self.conflict_later:
            self.conflict_later = False
            self.ask_conflict(None)
            return
        self.save(None)
        if not self.dirty:
            self.editor.notify(f"saved {self.file.path.name}", timeout=2)

    def ask_conflict(self, then: Then | None, *, quitting: bool = False) -> None:
        assert self.file is not None
        if self.asking:
            return
        self.asking = True
        file = self.file
        editor = self.editor

        def decided(choice: str | None) -> None:
            self.asking = False
            if self.file is not file:
                return
            try:
                if choice == "mine":
                    file.save(editor.text, force=True)
                    editor.notify(f"saved {file.path.name}; the version from disk is kept as a .bak beside it", title="Saved")
                elif choice == "theirs":
                    theirs, side = file.reload(keep_mine=editor.text)
                    snap = editor.snapshot()
                    editor.replace_offsets(snap, theirs.replace("\r\n", "\n"), 0, len(snap.text))  # one undo: yours again
                    file.saved_text = editor.text
                    where = f"; yours is in {side.name}" if side else ""
                    editor.notify(f"loaded {file.path.name} from disk{where} (ctrl+z brings yours back)", title="Reloaded")
                else:
                    self.conflict_later = True
                    self.show_status()
                    return
            except ScribeError as exc:
                editor.notify(str(exc), severity="error", title="Not saved")
                return
            self.conflict_later = False
            self.dirty = editor.text != file.saved_text
            self.show_status()
            self.sync_journal()
            if then is not None:
                then()

        editor.app.push_screen(conflict_screen(file.path.name, quitting=quitting or then is not None), decided)

    def _ask_discard(self, then: Then, reason: str) -> None:
        self.asking = True

        def decided(choice: str | None) -> None:
            self.asking = False
            if choice == "yes":
                then()

        self.editor.app.push_screen(
            confirm_screen("Unsaved changes", f"Your changes could not be saved:\n{reason}\n\nGo on and lose them?", "Lose them"),
            decided,
        )

    def check_disk(self) -> None:
        """A file changed on disk while the editor holds no unsaved edits is simply reloaded."""
        file = self.file
        if file is None or self.asking or not file.disk_changed():
            return
        if self.text == file.saved_text:
            try:
                theirs, _ = file.reload()
            except (OSError, ScribeError) as exc:
                self.editor.notify(f"{file.path.name} changed on disk and cannot be read ({exc})", severity="warning")
                return
            self._reload_in_place(theirs)
            self.dirty = False
            self.show_status()
            row = self.editor.cursor_location[0] + 1
            self.editor.notify(f"{file.path.name} changed on disk; reloaded it (cursor kept at line {row})", title="Reloaded")

    def _reload_in_place(self, text: str) -> None:
        """Load `text`, keeping the cursor and the scroll where the new text allows."""
        editor = self.editor
        (row, column), scroll = editor.cursor_location, editor.scroll_offset
        editor.load_text(text)
        row = min(row, editor.document.line_count - 1)
        editor.move_cursor((row, min(column, len(editor.document.get_line(row)))))
        editor.scroll_to(scroll.x, scroll.y, animate=False)

    def last_save(self) -> None:
        """Save without asking (no one is there to answer): on a conflict ours goes beside the file."""
        file, text = self.file, self.text
        if file is None or text in (file.saved_text, self._kept_aside):
            return
        try:
            file.save(text)
            self.sync_journal()
        except FileConflict:
            try:
                file.write_aside(text)
                self._kept_aside = text
            except ScribeError:
                pass
        except ScribeError:
            pass
