"""The `scribe` command: one small function per command, wiring only.

`common.py` is what every command shares (the Typer apps, common options, the workspace, model
server and output helpers); each other module is one group of commands. Heavy modules (chromadb,
llama_cpp, textual, even the ollama client) are imported inside the commands that need them, so
`scribe --help` stays fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import cache
from typing import Any

import typer

# Importing a command module registers its commands, and `scribe --help` lists them in the order
# they registered: keep this order.
from scribe.cli import (  # noqa: F401
    drafting,
    asking,
    model_commands,
    index_commands,
    task_commands,
    bench_commands,
    log_views,
    serving,
)
from scribe.cli.common import _close_open_line, _state, _stderr, app
from scribe.errors import ScribeError


@cache
def _command() -> Callable[..., Any]:
    """The Click command tree, built once a process. Typer rebuilds it from the signatures on every
    call, which costs more than most commands when `main` runs many times in one process (the tests)."""
    return typer.main.get_command(app)


def main() -> None:
    """Entry point: ScribeErrors become one line on stderr and a non-zero exit (tracebacks with --debug)."""
    try:
        _command()()
    except ScribeError as exc:
        _close_open_line()
        if _state["debug"]:
            raise
        from rich.markup import escape

        _stderr(f"[red]error:[/red] {escape(str(exc))}")
        sys.exit(1)
    except SystemExit as exc:
        if exc.code == 130:  # Typer turns Ctrl-C into a silent exit 130 before it gets here
            _close_open_line()
            _stderr("interrupted: what finished is kept; run the same command again to go on")
        raise
    except KeyboardInterrupt:  # a Ctrl-C that Typer did not see (outside the command itself)
        _close_open_line()
        _stderr("interrupted: what finished is kept; run the same command again to go on")
        sys.exit(130)
