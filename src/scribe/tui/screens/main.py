"""The drafting screen: notes tree, editor, assistant and related-notes panels, status line, and what the keys do.

It decides what to run on which text (`scribe.tui.runs`) and where an answer goes back into the
draft (`scribe.splice`); the assistant panel streams the run, the keeper keeps the file safe, and
`Indexing` keeps the notes index in step. Retrieval, prompting, model calls and logging all happen
in the core, through the session's `Services`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import DirectoryTree, TextArea

from scribe.config import WRITERS
from scribe.errors import ScribeError
from scribe.tui.commands import ScribeCommands
from scribe.tui.documents import DraftFile, create_draft, is_note_file, slug
from scribe.tui.followups import FOLLOW_UP_BINDINGS, FollowUps
from scribe.tui.indexing import Indexing
from scribe.tui.keeper import DraftKeeper
from scribe.tui.outputs import Outputs
from scribe.tui.reviewing import REVIEW_BINDINGS, Reviewing
from scribe.tui.runs import Run, choose_scope, draft_of, task_input
from scribe.tui.screens.dialogs import ChoiceScreen, NameScreen
from scribe.tui.screens.help import HelpScreen
from scribe.tui.screens.models import ModelChoice, choose_model
from scribe.tui.warming import Warming, WarmTarget
from scribe.tui.widgets.assistant import AssistantPanel
from scribe.tui.widgets.editor import DraftEditor, theme_for
from scribe.tui.widgets.followup import ConversationBox
from scribe.tui.widgets.footer import KeysFooter
from scribe.tui.widgets.related import RELATED_BINDINGS, RelatedPanel
from scribe.tui.widgets.status import StatusBar
from scribe.tui.widgets.stream import StreamCall, StreamView
from scribe.tui.widgets.tree import NotesTree

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from scribe.prompts import PromptTemplate
    from scribe.tui.session import Session

DISK_CHECK_S = 1.0  # one stat() a second: a change made by another program shows within a second
INDEX_REFRESH_S = 30.0


class MainScreen(Screen[None]):
    COMMANDS = {ScribeCommands}
    BINDINGS = [
        *REVIEW_BINDINGS,  # first in the footer while a review is open (hidden otherwise)
        Binding("f1", "help", "Help", priority=True),
        Binding("f2", "task('outline')", "Outline", priority=True),
        Binding("f3", "task('critique')", "Critique", priority=True),
        Binding("f4", "task('expand')", "Expand", priority=True),
        Binding("f5", "choose_task", "Tasks…", priority=True),
        # Priority: the TextArea binds f6/f7 (select line/all).
        Binding("f6", "compare", "Compare", priority=True),
        Binding("f7", "pick_model", "Model", priority=True),
        Binding("f8", "reindex", "Re-index", priority=True),
        *FOLLOW_UP_BINDINGS,  # shown while a conversation is in the panel
        *RELATED_BINDINGS,
        Binding("f9", "task('rewrite')", "Rewrite", show=False, priority=True),
        Binding("escape", "cancel", "Cancel", show=True),
        Binding("ctrl+o", "apply_expansion('insert')", "Insert", show=True),
        Binding("ctrl+r", "apply_expansion('replace')", "Replace", show=True),
        Binding("ctrl+s", "save", "Save", show=False),
        Binding("ctrl+n", "new_draft", "New draft", show=False),
        Binding("ctrl+b", "toggle_tree", "Toggle tree", show=False),
        Binding("ctrl+l", "toggle_line_numbers", "Line numbers", show=False),
        Binding("alt+z", "toggle_wrap", "Soft wrap", show=False),
        Binding("alt+right", "tree_width(8)", "Wider tree", show=False),
        Binding("alt+left", "tree_width(-8)", "Narrower tree", show=False),
    ]

    def __init__(self, session: Session) -> None:
        super().__init__(id="drafting")
        self.session = session
        self.editor = DraftEditor(id="editor")
        self.status = StatusBar(id="status")
        self.panel = AssistantPanel(id="assistant", last_key_at=lambda: session.last_key_at, runlog=session.services.runlog)
        self.keeper = DraftKeeper(self.editor, self.status, rel=session.rel, on_saved=self._saved,
                                  state_dir=session.workspace.state_dir)
        self.indexing = Indexing(self.status, lambda: session.services.index, session.note_folders(),
                                 auto=session.state.auto_index,
                                 busy=lambda: self.panel.current is not None)
        self.warming = Warming(self.status, session.services, self._warm_target, pause=session.warm_pause,
                               options=session.task_options or None)
        self.models = ModelChoice(self, session, self.status, changed=self.warming.restart)
        self.reviewing = Reviewing(self.editor, self.panel, runlog=session.services.runlog, rel=session.rel,
                                   changed=self.refresh_bindings)
        self.followups = FollowUps(self, session, self.panel, self.editor, changed=self.refresh_bindings)
        self.outputs = Outputs(self, session.workspace.root, self.editor, self.panel, self.reviewing, self.keeper, self.open_file)
        self.related = RelatedPanel(session, self.editor, self.outputs.open_note, id="related")

    @property
    def file(self) -> DraftFile | None:
        """The file in the editor (kept by the DraftKeeper)."""
        return self.keeper.file

    @property
    def model(self) -> str:
        return self.session.model

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield NotesTree(self.session.tree_root(), remember=self.session.remember_folders, report=self.session.services.index.report, id="tree")
            yield self.editor
            yield Vertical(self.panel, self.related, id="side")
        yield self.status
        yield KeysFooter()

    def on_mount(self) -> None:
        state = self.session.state
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._match_editor_theme())
        self._match_editor_theme()
        self.query_one(NotesTree).set_width(state.tree_width)
        self.editor.show_line_numbers = state.line_numbers
        self.editor.soft_wrap = state.soft_wrap
        self.status.set_model(self.model)
        draft = self.session.draft or self.session.remembered_file()
        if draft is not None:
            self.open_file(draft)
        # Keys go where something is ready for them: the draft, else the tree to choose one in.
        (self.editor if self.file is not None else self.query_one(NotesTree)).focus()
        self.set_interval(DISK_CHECK_S, self.keeper.check_disk)
        self.set_interval(INDEX_REFRESH_S, self.indexing.refresh)
        # Background work (a probe of the model server, a scan of the notes) waits for the first
        # frame, so the author sees the draft at once.
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        self.indexing.refresh()
        if self.session.autoconnect:
            self.models.connect()

    def _match_editor_theme(self) -> None:
        self.editor.theme = theme_for(self.app.current_theme.dark)

    # --- files ---------------------------------------------------------------------------------

    def open_file(self, path: Path) -> bool:
        try:
            file = DraftFile.open(path)
        except ScribeError as exc:
            self.notify(str(exc), severity="error", title="Cannot open")
            return False
        editor = self.editor
        editor.path = path
        editor.read_only = False
        editor.load_text(file.saved_text)
        snap = editor.snapshot()
        editor.move_cursor(snap.location(snap.body_start))
        self.keeper.opened(file)
        self.keeper.offer_recovery()
        self.query_one(NotesTree).reveal(path, self.session.open_folders())
        self.panel.show_history(self.session.rel(path))
        self.panel.drop_expansion()
        self.session.state.last_file = self.session.rel(path)
        self.session.save_state()
        self.warming.restart()
        return True

    @on(DirectoryTree.FileSelected)
    def _file_chosen(self, event: DirectoryTree.FileSelected) -> None:
        event.stop()
        path = Path(event.path)
        if not is_note_file(path):
            self.notify(f"{path.name}: scribe edits .md, .markdown and .txt notes", severity="warning")
            return
        if self.file is not None and path.resolve() == self.file.path.resolve():
            self.editor.focus()
            return
        self.keeper.ensure_saved(lambda: self.open_file(path) and self.editor.focus())

    @on(TextArea.Changed, "#editor")
    def _edited(self, event: TextArea.Changed) -> None:
        self.keeper.edited(self.session.autosave_delay)
        self.warming.restart()

    def _saved(self) -> None:
        if self.file is not None:
            self.indexing.saved(self.file.path)

    def action_save(self) -> None:
        self.keeper.save_now()

    def action_new_draft(self) -> None:
        def named(title: str | None) -> None:
            if not title:
                return
            path = self.session.note_folders()[0] / "drafts" / f"{slug(title)}.md"
            if path.exists():
                self.notify(f"{self.session.rel(path)} exists already; opened it", severity="warning")
                self.keeper.ensure_saved(lambda: self.open_file(path))
                return

            def create() -> None:
                try:
                    create_draft(path, title)
                except ScribeError as exc:
                    self.notify(str(exc), severity="error")
                    return
                self.open_file(path)
                self.editor.move_cursor(self.editor.document.end)
                self.editor.focus()
                self.query_one(NotesTree).reload()

            self.keeper.ensure_saved(create)

        self.app.push_screen(NameScreen("Title of the new draft", "e.g. Why retries need idempotency keys"), named)

    # --- toggles -------------------------------------------------------------------------------

    def action_toggle_line_numbers(self) -> None:
        self.editor.show_line_numbers = self.session.state.line_numbers = not self.editor.show_line_numbers
        self.session.save_state()

    def action_toggle_wrap(self) -> None:
        self.editor.soft_wrap = self.session.state.soft_wrap = not self.editor.soft_wrap
        self.session.save_state()

    def action_tree_width(self, step: int) -> None:
        """Long note names need a wider tree; the width is remembered."""
        self.session.state.tree_width = self.query_one(NotesTree).set_width(self.session.state.tree_width + step)
        self.session.save_state()

    def action_toggle_tree(self) -> None:
        tree = self.query_one(NotesTree)
        tree.display = not tree.display
        if not tree.display and tree.has_focus:
            self.editor.focus()

    def action_related(self, what: str) -> None:
        self.related.act(what)

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen.of(self))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.panel.current is not None
        if action == "apply_expansion":
            return self.panel.expansion is not None
        if action == "review":
            return self.reviewing.allows(str(parameters[0]))
        if action in ("follow_up", "conversations", "fork"):
            return self.followups.allows(action)
        if action == "task" and parameters[1:2] == ("selection",):
            return self.editor.selected_offsets(self.editor.snapshot()) is not None
        return True

    # --- tasks ---------------------------------------------------------------------------------

    def task_templates(self) -> Mapping[str, PromptTemplate]:
        """The author's tasks, builtin first, for the palette and the task menus."""
        return self.session.services.templates()

    def _ask_task(self, title: str, then: Callable[[str], None], *, described: bool, note: str = "") -> None:
        try:
            templates = self.task_templates()
        except ScribeError as exc:
            self.notify(str(exc), severity="error", title="Templates")
            return
        options = [(n, f"{n} — {t.description}" if described and t.description else n) for n, t in templates.items()]
        self.app.push_screen(ChoiceScreen(title, options, note=note), lambda name: name and then(name))

    def action_choose_task(self) -> None:
        self._ask_task("Run which task?", self.action_task, described=True,
                       note="on the selection, the section at the cursor (expand) or the whole draft")

    def action_task(self, task: str, kind: str = "auto") -> None:
        if self.panel.current is not None:
            self.notify("a task is running; Esc cancels it", severity="warning")
            return
        prepared = self._prepare_task(task, kind)
        if prepared is None:
            return
        run, template, inp = prepared
        services, options = self.session.services, self.session.task_options or None
        model = run.model
        call = StreamCall(
            task, model, template.output == "json",
            prepare=lambda: services.prepare(template, inp, options=options, model=model),
            execute=lambda p, on_token, cancel: services.execute(p, model=model, on_token=on_token, cancel=cancel),
        )
        self.panel.start(run, call)
        self.refresh_bindings()

    def _prepare_task(self, task: str, kind: str) -> tuple[Run, PromptTemplate, Any] | None:
        """The run, its template and the core's input for `task` on the scope asked; None (and a
        notification saying what to do) when there is nothing to run it on."""
        if self.file is None:
            self.notify("open a draft first: choose one in the tree, or ctrl+n for a new one", severity="warning")
            return None
        try:
            template = self.session.services.template(task)
            snap = self.editor.snapshot()
            scope = choose_scope(task, kind, snap, self.editor.selected_offsets(snap), self.editor.cursor_offset(snap))
        except ScribeError as exc:
            self.notify(str(exc), severity="warning", title="Task")
            return None
        rel = self.session.rel(snap.path) if snap.path else None
        model = self.model or WRITERS[0]  # no server answered yet: the best writer, by name
        run = Run(task, scope, snap.text[scope.start : scope.end], model)
        return run, template, task_input(task, scope, snap, rel)

    @on(StreamView.Finished)
    @on(StreamView.Failed)
    def _run_ended(self, event: StreamView.Finished | StreamView.Failed) -> None:
        last = self.panel.last
        if isinstance(event, StreamView.Finished) and last is not None and last.follows is None and self.panel.current is None:
            self.reviewing.offer(last)  # a task's suggested edits, as tracked changes (a follow-up's answer is words)
        self.refresh_bindings()
        self.call_after_refresh(self.app.freeze_heap)  # type: ignore[attr-defined]

    def action_cancel(self) -> None:
        self.panel.cancel()

    def action_review(self, step: str) -> None:
        self.reviewing.step(step)

    def action_follow_up(self) -> None:
        self.followups.focus()

    def action_fork(self) -> None:
        self.followups.fork()

    def action_conversations(self) -> None:
        self.followups.choose()

    @on(ConversationBox.Asked)
    def _asked(self, event: ConversationBox.Asked) -> None:
        self.followups.ask(event.text, event.after, event.forking)

    def _warm_target(self) -> WarmTarget | None:
        """What a warm-up would send now; None while a task runs (it reads its prompt already)."""
        if self.panel.current is not None or self.file is None or not self.model:
            return None
        snap = self.editor.snapshot()
        return WarmTarget(self.model, snap.text, draft_of(snap, self.session.rel(snap.path) if snap.path else None))

    # --- using the output ----------------------------------------------------------------------

    def action_apply_expansion(self, how: str) -> None:
        self.outputs.apply_expansion(how)

    @on(AssistantPanel.IssueChosen)
    def _issue_chosen(self, event: AssistantPanel.IssueChosen) -> None:
        self.select_issue(self.panel.last, self.panel.issues[event.index])

    def select_issue(self, run: Run | None, issue: Any) -> bool:
        return self.outputs.select_issue(run, issue)

    @on(AssistantPanel.SourceChosen)
    def _source_chosen(self, event: AssistantPanel.SourceChosen) -> None:
        self.outputs.open_source(event.index)

    # --- models and compare --------------------------------------------------------------------

    def action_pick_model(self) -> None:
        self.models.pick()

    def action_compare(self) -> None:
        if self.panel.current is not None:
            self.notify("a task is running; Esc cancels it", severity="warning")
            return
        if self.file is None:
            self.notify("open a draft first", severity="warning")
            return
        self._ask_task("Compare: which task?", self._choose_second, described=False)

    def _choose_second(self, task: str) -> None:
        from scribe.tui.screens.compare import second_model_note

        choose_model(self, self.session.services, "Compare: second model",
                     lambda second: second and self.start_compare(task, second),
                     highlight=self.session.state.compare_model, last=self.model,
                     note=lambda models: second_model_note(self.model, models))

    def start_compare(self, task: str, second: str, *, rng: Any = None) -> None:
        from scribe.tui.screens.compare import blind_compare

        self.session.state.compare_model = second
        self.session.save_state()
        prepared = self._prepare_task(task, "auto")
        if prepared is not None:
            self.app.push_screen(blind_compare(self.session, prepared, self.model, second, rng))

    # --- the index -----------------------------------------------------------------------------

    def action_reindex(self) -> None:
        self.indexing.reindex()

