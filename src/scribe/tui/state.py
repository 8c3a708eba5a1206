"""What the TUI remembers per workspace, in `.scribe/tui.json`: the chosen model, the theme, the
editor toggles, and optional generation options for its tasks (e.g. a smaller num_predict)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

STATE_FILE = "tui.json"


@dataclass
class TuiState:
    model: str | None = None
    compare_model: str | None = None
    theme: str | None = None
    line_numbers: bool = False
    soft_wrap: bool = True
    last_file: str | None = None
    tree_width: int = 30  # columns; alt+left / alt+right narrow and widen it
    open_folders: list[str] = field(default_factory=list)  # the tree's, workspace-relative
    auto_index: bool = True  # re-index changed notes in the background (at most once a minute)
    related_notes: bool = True  # the related-notes panel is shown (alt+o)
    task_options: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, state_dir: Path) -> TuiState:
        """The remembered state; a missing or unreadable file gives the defaults (never an error)."""
        try:
            data = json.loads((state_dir / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        if not isinstance(data, dict):
            return cls()
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if not isinstance(known.get("task_options", {}), dict):
            known.pop("task_options")
        if not isinstance(known.get("open_folders", []), list) or not all(isinstance(f, str) for f in known.get("open_folders", [])):
            known.pop("open_folders")
        try:
            return cls(**known)
        except TypeError:
            return cls()

    def save(self, state_dir: Path) -> None:
        from scribe.files import atomic_write

        state_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(state_dir / STATE_FILE, json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
