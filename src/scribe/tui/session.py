"""One run of the app, as its screens share it: the workspace, the core's services, what the app
remembers, and the model tasks use now. The app makes it and hands it to its screens, so no screen
or helper reaches back for the app itself."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from scribe.config import Workspace
from scribe.errors import ScribeError
from scribe.tui.services import Services
from scribe.tui.state import TuiState

AUTOSAVE_DELAY_S = 2.0
WARM_PAUSE_S = 2.0  # a pause this long on a draft sends its shared prompt start ahead (scribe.warmup)

log = logging.getLogger("scribe.tui")


@dataclass
class Session:
    workspace: Workspace
    services: Services
    state: TuiState
    task_options: dict[str, Any]
    model: str  # empty until the model server names its best writer (no model configured)
    draft: Path | None = None  # the draft to open first (else the one open last time)
    autosave_delay: float = AUTOSAVE_DELAY_S
    autoconnect: bool = True  # reach the model server right after the first paint
    warm_pause: float | None = WARM_PAUSE_S  # None: no warm-ups
    last_key_at: float = 0.0  # monotonic time of the last key pressed anywhere (the app keeps it)

    def rel(self, path: Path) -> str:
        """`path` relative to the workspace, as shown on screen."""
        try:
            return path.resolve().relative_to(self.workspace.root.resolve()).as_posix()
        except ValueError:
            return str(path)

    def note_folders(self) -> list[Path]:
        """The folders the index reads (scribe.toml's `index.notes`)."""
        return [self.workspace.root / f for f in self.workspace.settings.index.notes]

    def tree_root(self) -> Path:
        """What the notes tree shows: the one notes folder, else the whole workspace."""
        existing = [f for f in self.note_folders() if f.is_dir()]
        return existing[0] if len(existing) == 1 else self.workspace.root

    def remembered_file(self) -> Path | None:
        """The file open when the app last closed, if it is still there."""
        last = self.state.last_file
        path = self.workspace.root / last if last else None
        return path if path is not None and path.is_file() else None

    def open_folders(self) -> list[Path]:
        """The tree's folders that were open when the app last closed, those still there."""
        folders = (self.workspace.root / f for f in self.state.open_folders)
        return [f for f in folders if f.is_dir()]

    def remember_folders(self, folders: set[Path]) -> None:
        self.state.open_folders = sorted(self.rel(f) for f in folders)
        self.save_state()

    def save_state(self) -> None:
        try:
            self.state.save(self.workspace.state_dir)
        except (OSError, ScribeError) as exc:
            log.warning("cannot save tui state: %s", exc)
