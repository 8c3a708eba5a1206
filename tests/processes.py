"""Whether a process the tests started has ended, as the tests that kill or quit one ask it."""

from __future__ import annotations

import os
from pathlib import Path


def gone(pid: int) -> bool:
    """The process has exited. An unreaped zombie counts as exited: its parent (tmux, the engine's
    launcher) reaps it on its own schedule, sometimes seconds later."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
