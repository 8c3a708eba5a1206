"""Unexpected errors in the TUI: the traceback goes to `.scribe/tui.log`, the author gets one line.

The app installs `CrashLog` on the `scribe.tui` logger while it runs, so any screen, widget or
worker thread can call `unexpected()` without knowing where the workspace is.
"""

from __future__ import annotations

import logging

from scribe.config import Workspace
from scribe.errors import ScribeError

LOG_FILE = "tui.log"

log = logging.getLogger("scribe.tui")


class CrashLog(logging.Handler):
    """Error records with their tracebacks, appended to the workspace's `.scribe/tui.log`."""

    def __init__(self, workspace: Workspace) -> None:
        super().__init__(logging.ERROR)
        self.workspace = workspace
        self.setFormatter(logging.Formatter("--- %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.workspace.ensure_state_dir()
            with (self.workspace.state_dir / LOG_FILE).open("a", encoding="utf-8") as fh:
                fh.write(self.format(record) + "\n")
        except (OSError, ScribeError):
            pass  # the notification still tells the author what happened


def unexpected(exc: BaseException, what: str) -> str:
    """Log `exc` with its traceback; the one-line message for a notification."""
    log.error(what, exc_info=exc)
    return f"{what}: unexpected error ({exc}); details in .scribe/tui.log"
