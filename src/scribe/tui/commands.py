"""The command palette's scribe commands (ctrl+p on the drafting screen): every task in each scope,
custom tasks from `prompts/` included, and the screen's actions, found by their words.

The drafting screen lists `ScribeCommands` in its COMMANDS, so the palette opened over a dialog or
the compare screen offers Textual's basics only. The palette lists what the screen's
`check_action` allows now, as the footer does: "Cancel generation" only while a model writes,
"Insert expansion" only with one ready, "Follow up" only with a conversation in the panel, the
selection tasks only with text selected, the "Review:" steps only while suggested changes are
under review.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Protocol, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider

from scribe.errors import ScribeError

if TYPE_CHECKING:
    from scribe.prompts import PromptTemplate

SCOPES = (("whole draft", "draft"), ("current section", "section"), ("selection", "selection"))
REVIEW_STEPS = (  # (title, help, step): offered only while a review is open
    ("accept change", "alt+a · one undo step", "accept"),
    ("reject change", "alt+r · a stale one is set aside", "reject"),
    ("edit change, then accept", "alt+e", "edit"),
    ("next change", "alt+n", "next"),
    ("previous change", "alt+p", "previous"),
    ("accept all changes", "alt+shift+a · stale ones skipped · one undo step", "accept_all"),
    ("reject all changes", "alt+shift+r", "reject_all"),
    ("leave", "esc · the pending changes are dropped, the draft stays as it is", "leave"),
)


@dataclass(frozen=True)
class PaletteCommand:
    title: str
    help: str
    action: str  # an action of the screen, or of the app ("app.toggle_theme")
    params: tuple[str, ...] = ()


def palette_commands(templates: Mapping[str, PromptTemplate], model: str) -> list[PaletteCommand]:
    """Each task in each scope, then the screen's actions."""
    commands = []
    for name, template in templates.items():
        pretty = name.replace("-", " ").capitalize()
        help_text = template.description or f"the {name} task from prompts/"
        commands += [PaletteCommand(f"{pretty}: {label}", help_text, "task", (name, kind)) for label, kind in SCOPES]
    return commands + [
        PaletteCommand("Compare two models (blind A/B)", "run a task on two models; pick the better", "compare"),
        PaletteCommand("Choose model", f"now: {model}", "pick_model"),
        PaletteCommand("Re-index notes", "bring the notes index in step with the files", "reindex"),
        PaletteCommand("Cancel generation", "stop the model; the partial output is kept", "cancel"),
        PaletteCommand("Follow up on the answer", "ctrl+f · the earlier turns go with it", "follow_up"),
        PaletteCommand("Conversations of this draft", "ctrl+g · reopen one to read or continue it", "conversations"),
        PaletteCommand("Fork the conversation from the highlighted turn", "f in the turns list · the original stays as it was", "fork"),
        *[PaletteCommand(f"Review: {title}", help_text, "review", (step,)) for title, help_text, step in REVIEW_STEPS],
        PaletteCommand("Insert expansion below the section", "one undo step", "apply_expansion", ("insert",)),
        PaletteCommand("Replace section with expansion", "one undo step", "apply_expansion", ("replace",)),
        PaletteCommand("Save", "write the draft now", "save"),
        PaletteCommand("New draft", "create a draft in the drafts folder", "new_draft"),
        PaletteCommand("Toggle line numbers", "in the editor", "toggle_line_numbers"),
        PaletteCommand("Toggle soft wrap", "in the editor", "toggle_wrap"),
        PaletteCommand("Toggle notes tree", "show or hide the tree", "toggle_tree"),
        PaletteCommand("Toggle related notes", "alt+o · the notes nearest the paragraph at the cursor", "related", ("toggle",)),
        PaletteCommand("Link the related note at the cursor", "alt+l · [[Note#Heading]] in a vault, else a markdown link",
                       "related", ("link",)),
        PaletteCommand("Toggle light/dark theme", "scribe-light or scribe-dark", "app.toggle_theme"),
        PaletteCommand("Help: keys", "every binding", "help"),
    ]


class PaletteHost(Protocol):
    """What the palette asks of the screen it is opened on."""

    @property
    def model(self) -> str: ...

    def task_templates(self) -> Mapping[str, PromptTemplate]: ...

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None: ...


class ScribeCommands(Provider):
    commands: list[PaletteCommand]  # read once when the palette opens

    async def startup(self) -> None:
        host = cast(PaletteHost, self.screen)
        try:
            templates = host.task_templates()
        except ScribeError:
            templates = {}
        # Only what applies now: no "Cancel" with nothing running, no selection tasks without one.
        self.commands = [c for c in palette_commands(templates, host.model)
                         if c.action.startswith("app.") or host.check_action(c.action, c.params) is True]

    def _runner(self, command: PaletteCommand) -> Callable[[], object]:
        target, _, name = command.action.rpartition(".")
        node = self.app if target == "app" else self.screen
        return partial(getattr(node, f"action_{name}"), *command.params)

    async def discover(self) -> Hits:
        for command in self.commands:
            yield DiscoveryHit(command.title, self._runner(command), help=command.help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for command in self.commands:
            score = matcher.match(command.title)
            if score > 0:
                yield Hit(score, matcher.highlight(command.title), self._runner(command), help=command.help)
