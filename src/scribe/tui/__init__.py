"""The drafting TUI. Textual is imported only when the app runs, so the CLI stays fast.

`run_tui(path, draft)` is what `scribe` (no arguments) and `scribe tui [WORKSPACE | FILE]` call.
"""

from __future__ import annotations

from pathlib import Path


def run_tui(path: Path | None, draft: Path | None = None) -> None:
    """Open the app on the workspace `path` (default: found from the current folder), optionally
    on `draft`. A file as `path` opens that file, in the workspace around it (as `vim FILE` does)."""
    from scribe.config import open_workspace
    from scribe.errors import ScribeError

    if path is not None and path.is_file():
        path, draft = path.resolve().parent, path
    ws = open_workspace(path)
    if draft is not None:
        draft = draft if draft.is_absolute() else (Path.cwd() / draft)
        if not draft.is_file():
            raise ScribeError(f"{draft}: no such draft; give the path of a markdown file, or leave it out")
    from scribe.tui.app import ScribeApp

    ScribeApp(ws, draft, handle_signals=True).run()
