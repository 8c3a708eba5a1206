"""The help screen: every binding of the app, the editor basics, and where things are kept."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

EDITOR_KEYS = [
    ("ctrl+z / ctrl+y", "undo / redo (an inserted expansion is one step)"),
    ("shift+arrows", "select text (a selection is what tasks work on)"),
    ("ctrl+x / ctrl+c / ctrl+v", "cut / copy / paste"),
    ("tab / shift+tab", "move between tree, editor and assistant"),
    ("enter (in Issues)", "select the issue's quote in the draft"),
    ("enter (in Sources)", "open the note at the cited heading"),
]

SCOPE = (
    "Tasks work on the **selection** if there is one; otherwise Expand works on the **section at the "
    "cursor** and the others on the **whole draft**. The command palette (ctrl+p) has each task for "
    "each scope that applies now, and every custom task found in `prompts/`."
)

FOCUS = (
    "Keys go to the pane with the coloured edge: the **notes tree** (left), the **draft** (middle) or "
    "the **assistant** (right: its Issues and Sources lists). **Tab** moves right, **shift+tab** left. "
    "With no draft open, the tree has the focus: arrows move, **Enter** opens a file in the editor. "
    "Dialogs close with **Esc** (it never throws anything away)."
)

def bindings_markdown(bindings: list[Binding]) -> str:
    rows = ["| key | action |", "| --- | --- |"]
    for binding in bindings:
        if binding.description:
            keys = binding.key_display or binding.key.replace(",", " / ")
            rows.append(f"| `{keys}` | {binding.description} |")
    rows.append("| `ctrl+p` | command palette: every action, custom tasks, themes |")
    rows.append("| `ctrl+q` | quit (saves first; asks if it cannot) |")
    editor = ["| key | in the editor |", "| --- | --- |"] + [f"| `{k}` | {v} |" for k, v in EDITOR_KEYS]
    return "\n".join(
        ["# scribe — keys", "", "## Where keys go", "", FOCUS, "", *rows, "", *editor, "",
         "## What a task works on", "", SCOPE, "",
         "## Never losing a word", "",
         ("Edits are saved atomically a few seconds after you stop typing, when you switch files, and on exit. "
          "If the file changed on disk, scribe asks instead of overwriting, and keeps the other version as a `.bak`. "
          "Between saves your typing is journaled in `.scribe/journal/` within a fraction of a second: "
          "after a crash, opening the file offers to recover it."),
         "", "Every model call is in the run log (`scribe log`); the model you pick is remembered in `.scribe/tui.json`.",
         "", "*Esc closes this screen.*"]
    )


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__(classes="dialog-screen")
        self.bindings_list = bindings

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Markdown(bindings_markdown(self.bindings_list))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
