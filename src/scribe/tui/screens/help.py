"""The help screen: every binding of the app, the editor basics, and where things are kept."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Markdown

EDITOR_KEYS = [
    ("ctrl+z / ctrl+y", "undo / redo (an inserted expansion, an accepted change: one step each)"),
    ("shift+arrows", "select text (a selection is what tasks work on)"),
    ("ctrl+x / ctrl+c / ctrl+v", "cut / copy / paste"),
    ("tab / shift+tab", "move between tree, editor and assistant"),
    ("enter (in Issues)", "select the issue's quote in the draft"),
    ("enter (in Sources)", "open the note at the cited heading"),
    ("enter (in Related notes)", "open the related note at its heading"),
]

CONVERSATION_KEYS = [
    ("ctrl+f, then enter", "send a follow-up on the answer shown; it streams into the panel like a task (esc cancels)"),
    ("enter (in Turns)", "show that turn's answer"),
    ("f (in Turns)", "fork from that turn: the next follow-up starts a new conversation there"),
    ("esc (in the follow-up box)", "don't fork after all"),
    ("ctrl+g", "this draft's conversations: enter reopens one"),
]

CONVERSATIONS = (
    "Every result is the first turn of a **conversation**: type a follow-up under it (\"shorter\", "
    "\"why is this one high severity?\") and the model answers with the task's prompt, the draft, the "
    "sources and the earlier turns. The panel lists the turns; a turn cut off by Esc, an error or a crash "
    "is kept and marked ✂, and the next follow-up tells the model so. **Forking** from an earlier turn "
    "starts a new conversation from there and leaves the original as it was. Conversations live in the "
    "run log: on opening a draft the panel reopens its latest one, and ctrl+g lists the others "
    "(`scribe ask -c` continues the latest from the command line)."
)

SCOPE = (
    "Tasks work on the **selection** if there is one; otherwise Expand and Rewrite (F9) work on the "
    "**section at the cursor** and the others on the **whole draft**. The command palette (ctrl+p) has "
    "each task for each scope that applies now, and every custom task found in `prompts/`."
)

REVIEW = (
    "When a critique, an expansion or a rewrite finishes, its suggested edits become **tracked changes**: "
    "each one is underlined in the draft (the current one lit), and the assistant panel shows the current "
    "one word by word, deleted words struck through and new ones highlighted, with the problem it fixes. "
    "Accept, reject or edit each change, in any order; each accepted change is **one undo step** (ctrl+z "
    "takes it back out). You can keep typing: the changes move with your text, and one whose words you "
    "changed turns **stale** (it is never applied; alt+r sets it aside). Esc leaves the review and drops "
    "what is still pending; the draft keeps what you accepted. Every accept, reject and edit is recorded "
    "in the run log (`scribe report` counts what you keep). On macOS, alt keys need the terminal's "
    "\"Option as Meta\" setting; the command palette has every review step too."
)


RELATED = (
    "Under the assistant, the **related notes** are the notes nearest the paragraph at the cursor (or the "
    "selection), found by the same search as `scribe search`, the draft's own chunks left out. The panel "
    "searches once you pause typing, never while keys arrive. **Enter** on one opens it at its heading; "
    "**alt+l** links the highlighted one at the cursor: `[[Note#Heading]]` in an Obsidian vault (a "
    "`.obsidian/` folder), else a markdown link relative to the draft. **alt+o** hides or shows the panel. "
    "Without a notes index, F8 builds one."
)

FOCUS = (
    "Keys go to the pane with the coloured edge: the **notes tree** (left), the **draft** (middle) or "
    "the **assistant** (right: the follow-up box, the Turns, Issues and Sources lists, and the related notes "
    "under them). **Tab** moves right, **shift+tab** left. "
    "With no draft open, the tree has the focus: arrows move, **Enter** opens a file in the editor. "
    "Dialogs close with **Esc** (it never throws anything away)."
)

def bindings_markdown(bindings: list[Binding]) -> str:
    rows = ["| key | action |", "| --- | --- |"] + key_rows([b for b in bindings if not is_review(b)])
    review = ["| key | while reviewing |", "| --- | --- |"] + key_rows([b for b in bindings if is_review(b)])
    rows.append("| `ctrl+p` | command palette: every action, custom tasks, themes |")
    rows.append("| `ctrl+q` | quit (saves first; asks if it cannot) |")
    editor = ["| key | in the editor |", "| --- | --- |"] + [f"| `{k}` | {v} |" for k, v in EDITOR_KEYS]
    talk = ["| key | in a conversation |", "| --- | --- |"] + [f"| `{k}` | {v} |" for k, v in CONVERSATION_KEYS]
    return "\n".join(
        ["# scribe — keys", "", "## Where keys go", "", FOCUS, "", *rows, "", *editor, "",
         "## What a task works on", "", SCOPE, "",
         "## Related notes", "", RELATED, "",
         "## Follow-ups and conversations", "", CONVERSATIONS, "", *talk, "",
         "## Reviewing suggested changes", "", REVIEW, "", *review, "",
         "## Never losing a word", "",
         ("Edits are saved atomically a few seconds after you stop typing, when you switch files, and on exit. "
          "If the file changed on disk, scribe asks instead of overwriting, and keeps the other version as a `.bak`. "
          "Between saves your typing is journaled in `.scribe/journal/` within a fraction of a second: "
          "after a crash, opening the file offers to recover it."),
         "", "Every model call is in the run log (`scribe log`); the model you pick is remembered in `.scribe/tui.json`.",
         "", "*Esc closes this screen.*"]
    )


def is_review(binding: Binding) -> bool:
    return binding.action.startswith("review(")


def key_rows(bindings: list[Binding]) -> list[str]:
    """A table row per described binding (its tooltip, where it has one, says more)."""
    return [f"| `{b.key_display or b.key.replace(',', ' / ')}` | {b.tooltip or b.description} |" for b in bindings if b.description]


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,f1,q", "dismiss", "Close")]

    def __init__(self, bindings: list[Binding]) -> None:
        super().__init__(classes="dialog-screen")
        self.bindings_list = bindings

    @classmethod
    def of(cls, screen: Screen[Any]) -> HelpScreen:
        """The help for `screen`: its bindings and the app's."""
        return cls([b for b in [*screen.BINDINGS, *screen.app.BINDINGS] if isinstance(b, Binding)])

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog help"):
            yield Markdown(bindings_markdown(self.bindings_list))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
