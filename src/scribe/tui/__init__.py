"""The drafting TUI. Textual is imported only when the app runs, so the CLI stays fast.

`run_tui(path, draft)` is what `scribe` (no arguments) and `scribe tui [WORKSPACE | FILE]` call.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn


def run_tui(path: Path | None, draft: Path | None = None) -> NoReturn:
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

    app = ScribeApp(ws, draft, owns_process=True)
    app.run()
    _leave(app.return_code or 0)


def _leave(code: int) -> NoReturn:
    """End the process now. By the time the app returns, the draft is saved, the run log written and
    the stream threads have ended; what is left is the interpreter tearing down Textual, Chroma and
    the rest object by object, which made quitting take 0.2-0.4 s longer (benchmarks/tui_bench.py)."""
    import logging
    import os
    import sys

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
