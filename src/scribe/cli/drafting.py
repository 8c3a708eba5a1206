"""`scribe tui`: the drafting app, which `scribe` with no arguments opens too (the root callback)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from scribe.cli.common import _state, app


@app.command()
def tui(
    workspace_dir: Annotated[Optional[Path], typer.Argument(metavar="WORKSPACE|FILE", help="Workspace folder (default: as for --workspace), or a draft to open in the workspace around it.", show_default=False)] = None,
    draft: Annotated[Optional[Path], typer.Option("--draft", "-d", help="Open this draft first.", show_default=False)] = None,
) -> None:
    """Open the drafting app (the same as `scribe` with no arguments); `scribe tui notes/drafts/x.md`
    opens that draft.

    Keys: **F2** outline, **F3** critique, **F4** expand, **F5** other tasks, **F6** compare two
    models blind, **F7** pick the model, **Esc** cancels a stream, **ctrl+p** command palette,
    **F1** all keys. Drafts autosave a few seconds after you stop typing.
    """
    from scribe.tui import run_tui

    run_tui(workspace_dir or _state["workspace"], draft)
