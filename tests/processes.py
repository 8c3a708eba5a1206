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


def child_env() -> dict[str, str]:
    """This process's environment for a `scribe` child, without SCRIBE_* and OLLAMA_* settings:
    the test's workspace says which server and model it uses."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("SCRIBE_", "OLLAMA_"))}


def terminal_env() -> dict[str, str]:
    """`child_env` for an app in a tmux pane: the pane's size is the terminal's, so COLUMNS and LINES
    (which pytest-xdist's workers carry, 80 wide) go, and TERM is a colour terminal."""
    return {k: v for k, v in child_env().items() if k not in ("COLUMNS", "LINES")} | {"TERM": "xterm-256color"}
