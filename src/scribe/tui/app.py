"""The drafting app: notes tree, editor, assistant panel. A thin shell over the core.

Retrieval, prompting, model calls and logging all happen in `scribe.tasks` (through `Services`);
this module decides what to run on which text, streams the answer into the panel, and keeps the
author's file safe (autosave, conflict checks, confirmation before anything unsaved is dropped).
"""

from __future__ import annotations

import json
import logging
import threading
import time
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.theme import Theme
from textual.timer import Timer
from textual.widgets import DirectoryTree, Footer, TextArea

from scribe.config import WRITERS, Workspace
from scribe.errors import ScribeError
from scribe.tui.documents import DraftFile, EditorText, Scope, is_note_file, slug
from scribe.tui.index_link import IndexLink, IndexProgress
from scribe.tui.keeper import DraftKeeper
from scribe.tui.screens.dialogs import ChoiceScreen, NameScreen
from scribe.tui.screens.help import HelpScreen
from scribe.tui.services import BUILTIN_TASKS, Services
from scribe.tui.state import TuiState
from scribe.tui.widgets.assistant import AssistantPanel, TokenFeed, format_metrics
from scribe.tui.widgets.editor import DraftEditor, theme_for
from scribe.tui.widgets.status import StatusBar
from scribe.tui.widgets.tree import NotesTree
from scribe.tui.warming import Warming

if TYPE_CHECKING:
    from scribe.critique import Issue
    from scribe.grounding import NumberedSource
    from scribe.tasks import TaskResult

AUTOSAVE_DELAY_S = 2.0
DISK_CHECK_S = 2.0
INDEX_REFRESH_S = 30.0
AUTO_INDEX_EVERY_S = 60.0
FLUSH_HZ = 8  # markdown updates per second while streaming
TYPING_PAUSE_S = 0.6  # keys this recent mean the author is typing
TYPING_FLUSH_S = 5.0  # ...and the panel then catches up at most this often
WARM_PAUSE_S = 2.0  # a pause this long on a draft sends its shared prompt start ahead (scribe.warmup)
GC_THRESHOLDS = (20_000, 20, 50)  # fewer, later collections than Python's (700, 10, 10): see _freeze_heap
MAIN_SCREEN_ONLY = frozenset({
    "task", "choose_task", "compare", "pick_model", "reindex", "cancel", "apply_expansion", "save",
    "new_draft", "toggle_tree", "toggle_line_numbers", "toggle_wrap", "help",
})

DARK = Theme(
    name="scribe-dark", primary="#7aa2f7", secondary="#bb9af7", accent="#e0af68", warning="#e0af68",
    error="#f7768e", success="#9ece6a", foreground="#c0caf5", background="#1a1b26", surface="#1f2335",
    panel="#24283b", dark=True,
)
LIGHT = Theme(
    name="scribe-light", primary="#2e5aac", secondary="#7847bd", accent="#b15c00", warning="#b15c00",
    error="#c4314b", success="#2d7d46", foreground="#24292f", background="#fbfbf8", surface="#f2f1ec",
    panel="#e7e5dd", dark=False,
)

log = logging.getLogger("scribe.tui")


@dataclass
class Run:
    """One task in flight (or just finished): what was asked, on what, and its result."""

    task: str
    scope: Scope
    original: str  # the scoped text as it was when asked (to find it again after edits)
    model: str
    feed: TokenFeed
    cancel: threading.Event
    result: TaskResult | None = None
    timer: Timer | None = None
    sources: list[NumberedSource] | None = None
    flushed_at: float = 0.0
    is_json: bool = False  # the template answers in JSON: the stream shows raw JSON, the end shows markdown


class ScribeApp(App[None]):
    """`ScribeApp(workspace, draft)`; tests pass `services`, `task_options` and a short autosave delay."""

    CSS_PATH = "scribe.tcss"
    TITLE = "scribe"
    BINDINGS = [
        Binding("f1", "help", "Help", priority=True),
        Binding("f2", "task('outline')", "Outline", priority=True),
        Binding("f3", "task('critique')", "Critique", priority=True),
        Binding("f4", "task('expand')", "Expand", priority=True),
        Binding("f5", "choose_task", "Tasks…", priority=True),
        # Priority: the TextArea binds f6/f7 (select line/all); check_action keeps them off under dialogs.
        Binding("f6", "compare", "Compare", priority=True),
        Binding("f7", "pick_model", "Model", priority=True),
        Binding("f8", "reindex", "Re-index", priority=True),
        Binding("escape", "cancel", "Cancel", show=True),
        Binding("ctrl+o", "apply_expansion('insert')", "Insert", show=True),
        Binding("ctrl+r", "apply_expansion('replace')", "Replace", show=True),
        Binding("ctrl+s", "save", "Save", show=False),
        Binding("ctrl+n", "new_draft", "New draft", show=False),
        Binding("ctrl+b", "toggle_tree", "Toggle tree", show=False),
        Binding("ctrl+l", "toggle_line_numbers", "Line numbers", show=False),
        Binding("alt+z", "toggle_wrap", "Soft wrap", show=False),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
        Binding("ctrl+q", "quit", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        workspace: Workspace,
        draft: Path | None = None,
        *,
        services: Services | None = None,
        index: IndexLink | None = None,
        task_options: dict[str, Any] | None = None,
        autosave_delay: float = AUTOSAVE_DELAY_S,
        autoconnect: bool = True,
        handle_signals: bool = False,
        warm_pause: float | None = WARM_PAUSE_S,
    ) -> None:
        super().__init__()
        self.workspace = workspace
        self.initial_draft = draft
        self.services = services or Services(workspace, index=index, say=self._say)
        if services is not None and index is not None:
            self.services.index = index
        self.state = TuiState.load(workspace.state_dir)
        self.task_options = {**self.state.task_options, **(task_options or {})}
        # Empty until connect() asks the model server for its best writer (no model configured).
        self.model = self.state.model or workspace.settings.model or ""
        self.autosave_delay = autosave_delay
        self.autoconnect = autoconnect
        self.keeper = DraftKeeper(self, on_saved=self._index_soon)
        self.current: Run | None = None
        self.last: Run | None = None  # the last finished run (its issues, sources, expansion)
        self.expansion: Run | None = None
        self._main_thread = threading.get_ident()
        self._editor: DraftEditor | None = None
        self.last_key_at = 0.0  # monotonic time of the last key pressed anywhere
        self._auto_indexed_at = 0.0
        self.handle_signals = handle_signals
        self.warming = Warming(self, warm_pause)
        import gc

        self._gc_thresholds = gc.get_threshold()
        self.register_theme(DARK)
        self.register_theme(LIGHT)

    # --- layout --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="main"):
            yield NotesTree(self._tree_root(), id="tree")
            yield DraftEditor(id="editor")
            yield AssistantPanel(id="assistant")
        yield StatusBar(id="status")
        yield Footer()

    def _tree_root(self) -> Path:
        folders = [self.workspace.root / f for f in self.workspace.settings.index.notes]
        existing = [f for f in folders if f.is_dir()]
        return existing[0] if len(existing) == 1 else self.workspace.root

    def on_mount(self) -> None:
        self.theme = self.state.theme if self.state.theme in (DARK.name, LIGHT.name) else DARK.name
        self.theme_changed_signal.subscribe(self, lambda _theme: self._match_editor_theme())
        self._match_editor_theme()
        editor = self.editor
        editor.show_line_numbers = self.state.line_numbers
        editor.soft_wrap = self.state.soft_wrap
        self.status.set_model(f"model: {self.model}")
        draft = self.initial_draft or self._remembered_file()
        if draft is not None:
            self.open_file(draft)
        editor.focus()
        self.set_interval(DISK_CHECK_S, self.keeper.check_disk)
        self.set_interval(INDEX_REFRESH_S, self.refresh_index_status)
        if self.handle_signals:
            self._catch_signals()
        # Background work (imports, a probe of the model server, a scan of the notes) waits for the
        # first frame, so the author sees the draft at once.
        self.call_after_refresh(self._after_first_paint)

    def _after_first_paint(self) -> None:
        self.refresh_index_status()
        if self.autoconnect:
            self.connect()
        self._freeze_heap()

    def _freeze_heap(self) -> None:
        """Keep garbage collection out of the way of keys. Every keystroke leaves cyclic garbage
        (Textual's events and renders), and with Python's default thresholds a full collection ran
        about once a second of typing, walking every live object: a ~100 ms pause with Textual,
        Rich, tree-sitter and the core loaded (measured: benchmarks/tui_bench.py). So the
        long-lived objects are moved out of the collector's way (gc.freeze, after the first paint
        and after each task, when the panel has settled), and the young generation is collected
        less often, which catches the keystroke garbage there, in a few ms."""
        import gc

        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    def _catch_signals(self) -> None:
        """A terminal closed (SIGHUP) or a polite kill (SIGTERM) saves the draft before leaving."""
        import asyncio
        import signal

        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            try:
                loop.add_signal_handler(sig, self._save_and_leave)
            except (NotImplementedError, RuntimeError, ValueError):
                pass

    def _save_and_leave(self) -> None:
        self.keeper.last_save(self._editor.text if self._editor is not None else None)
        self._stop_streams()
        self.exit()

    @property
    def file(self) -> DraftFile | None:
        """The file in the editor (kept by the DraftKeeper)."""
        return self.keeper.file

    def _remembered_file(self) -> Path | None:
        if self.state.last_file:
            path = self.workspace.root / self.state.last_file
            if path.is_file():
                return path
        return None

    @property
    def editor(self) -> DraftEditor:
        if self._editor is None:
            self._editor = self.query_one("#editor", DraftEditor)
        return self._editor

    @property
    def panel(self) -> AssistantPanel:
        return self.query_one("#assistant", AssistantPanel)

    @property
    def status(self) -> StatusBar:
        return self.query_one("#status", StatusBar)

    def _match_editor_theme(self) -> None:
        self.editor.theme = theme_for(self.current_theme.dark)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.last_key_at = time.monotonic()
        await super().on_event(event)

    # --- messages from threads, errors ---------------------------------------------------------

    def _say(self, line: str) -> None:
        self._notify_any_thread(line.removeprefix("scribe: "), "information", "Model server")

    def _notify_any_thread(self, message: str, severity: str = "information", title: str = "") -> None:
        if threading.get_ident() == self._main_thread:
            self.notify(message, severity=severity, title=title)  # type: ignore[arg-type]
        else:
            self._deliver(lambda: self.notify(message, severity=severity, title=title, timeout=8))  # type: ignore[arg-type]

    def _unexpected(self, exc: BaseException, what: str) -> str:
        """Log a traceback to .scribe/tui.log and return a message for a notification."""
        try:
            self.workspace.ensure_state_dir()
            with (self.workspace.state_dir / "tui.log").open("a", encoding="utf-8") as fh:
                fh.write(f"--- {what}\n{''.join(traceback.format_exception(exc))}\n")
        except (OSError, ScribeError):
            pass
        return f"{what}: unexpected error ({exc}); details in .scribe/tui.log"

    @work(thread=True, group="connect")
    def connect(self) -> None:
        """Resolve (and if need be start) the model server early, so the first task starts at once."""
        try:
            client = self.services.client()
            if not self.model:
                name = client.default_writer()
                self._deliver(lambda: self._use_default_model(name))
        except ScribeError as exc:
            self._notify_any_thread(str(exc), "error", "Model server")
        except Exception as exc:  # noqa: BLE001 - the app must not crash on a connection problem
            self._notify_any_thread(self._unexpected(exc, "connecting"), "error", "Model server")

    # --- files ---------------------------------------------------------------------------------

    def rel(self, path: Path) -> str:
        """`path` relative to the workspace, as shown on screen."""
        try:
            return path.resolve().relative_to(self.workspace.root.resolve()).as_posix()
        except ValueError:
            return str(path)

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
        self.expansion = None
        self.panel.show_expansion_bar(False)
        self.state.last_file = self.rel(path)
        self._save_state()
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
        self.keeper.edited(self.autosave_delay)
        self.warming.restart()

    def action_save(self) -> None:
        self.keeper.save_now()

    async def action_quit(self) -> None:
        self.keeper.ensure_saved(self._exit_now, quitting=True)

    def _stop_streams(self) -> bool:
        """Streams run in worker threads, which the process waits for: stop them on the way out.
        True if any was running."""
        events_ = [self.current.cancel] if self.current is not None else []
        for screen in self.screen_stack:
            cancel = getattr(screen, "cancel", None)
            if isinstance(cancel, threading.Event) and len(getattr(screen, "done", ())) < 2:
                events_.append(cancel)
        for event in events_:
            event.set()
        return bool(events_)

    def _exit_now(self) -> None:
        self._stop_streams()
        self._save_state()
        self.exit()

    def on_unmount(self) -> None:
        # Last line of defence (the app exited some other way than ctrl+q): never drop edits.
        self.keeper.last_save(self._editor.text if self._editor is not None else None)
        import gc

        gc.unfreeze()  # hand the heap back as found (tests run many apps in one process)
        gc.set_threshold(*self._gc_thresholds)
        streaming = self._stop_streams()
        if not streaming:  # a stopping stream still writes its run log row ("cancelled") as it ends
            self.services.close()

    def action_new_draft(self) -> None:
        def named(title: str | None) -> None:
            if not title:
                return
            folder = self.workspace.root / self.workspace.settings.index.notes[0] / "drafts"
            path = folder / f"{slug(title)}.md"
            if path.exists():
                self.notify(f"{self.rel(path)} exists already; opened it", severity="warning")
                self.keeper.ensure_saved(lambda: self.open_file(path))
                return

            def create() -> None:
                from scribe.files import atomic_write

                try:
                    folder.mkdir(parents=True, exist_ok=True)
                    atomic_write(path, f"---\ntitle: {json.dumps(title)}\nstatus: draft\n---\n\n# {title}\n\n")  # JSON strings are YAML
                except (OSError, ScribeError) as exc:
                    self.notify(f"cannot create {self.rel(path)} ({exc})", severity="error")
                    return
                self.open_file(path)
                self.editor.move_cursor(self.editor.document.end)
                self.editor.focus()
                self.query_one(NotesTree).reload()

            self.keeper.ensure_saved(create)

        self.push_screen(NameScreen("Title of the new draft", "e.g. Why retries need idempotency keys"), named)

    # --- toggles -------------------------------------------------------------------------------

    def _save_state(self) -> None:
        try:
            self.state.save(self.workspace.state_dir)
        except (OSError, ScribeError) as exc:
            log.warning("cannot save tui state: %s", exc)

    def action_toggle_line_numbers(self) -> None:
        self.editor.show_line_numbers = not self.editor.show_line_numbers
        self.state.line_numbers = self.editor.show_line_numbers
        self._save_state()

    def action_toggle_wrap(self) -> None:
        self.editor.soft_wrap = not self.editor.soft_wrap
        self.state.soft_wrap = self.editor.soft_wrap
        self._save_state()

    def action_toggle_tree(self) -> None:
        tree = self.query_one(NotesTree)
        tree.display = not tree.display
        if not tree.display and tree.has_focus:
            self.editor.focus()

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT.name if self.current_theme.dark else DARK.name
        self.state.theme = self.theme
        self._save_state()

    def action_help(self) -> None:
        self.push_screen(HelpScreen([b for b in self.BINDINGS if isinstance(b, Binding)]))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_SCREEN_ONLY and len(self.screen_stack) > 1:
            return False  # app bindings stay live under a dialog; these must not fire there
        if action == "cancel":
            return self.current is not None
        if action == "apply_expansion":
            return self.expansion is not None
        return True

    # --- the command palette -------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        if screen.id == "compare" or screen.is_modal:
            return  # the palette over a dialog or the compare screen offers the app's basics only
        try:
            templates = self.services.templates()
        except ScribeError:
            templates = {}
        for name, template in templates.items():
            pretty = name.replace("-", " ").capitalize()
            help_text = template.description or f"the {name} task from prompts/"
            yield SystemCommand(f"{pretty}: whole draft", help_text, lambda n=name: self.action_task(n, "draft"))
            yield SystemCommand(f"{pretty}: current section", help_text, lambda n=name: self.action_task(n, "section"))
            yield SystemCommand(f"{pretty}: selection", help_text, lambda n=name: self.action_task(n, "selection"))
        yield SystemCommand("Compare two models (blind A/B)", "run a task on two models; pick the better", self.action_compare)
        yield SystemCommand("Choose model", f"now: {self.model}", self.action_pick_model)
        yield SystemCommand("Re-index notes", "bring the notes index in step with the files", self.action_reindex)
        yield SystemCommand("Cancel generation", "stop the model; the partial output is kept", self.action_cancel)
        yield SystemCommand("Insert expansion below the section", "one undo step", lambda: self.action_apply_expansion("insert"))
        yield SystemCommand("Replace section with expansion", "one undo step", lambda: self.action_apply_expansion("replace"))
        yield SystemCommand("Save", "write the draft now", self.action_save)
        yield SystemCommand("New draft", "create a draft in the drafts folder", self.action_new_draft)
        yield SystemCommand("Toggle line numbers", "in the editor", self.action_toggle_line_numbers)
        yield SystemCommand("Toggle soft wrap", "in the editor", self.action_toggle_wrap)
        yield SystemCommand("Toggle notes tree", "show or hide the tree", self.action_toggle_tree)
        yield SystemCommand("Toggle light/dark theme", "scribe-light or scribe-dark", self.action_toggle_theme)
        yield SystemCommand("Help: keys", "every binding", self.action_help)

    # --- tasks ---------------------------------------------------------------------------------

    def action_choose_task(self) -> None:
        try:
            templates = self.services.templates()
        except ScribeError as exc:
            self.notify(str(exc), severity="error", title="Templates")
            return
        order = [n for n in BUILTIN_TASKS if n in templates] + sorted(n for n in templates if n not in BUILTIN_TASKS)
        options = [(n, f"{n} — {templates[n].description}" if templates[n].description else n) for n in order]
        def chosen(name: str | None) -> None:
            if name:
                self.action_task(name)

        self.push_screen(ChoiceScreen("Run which task?", options, note="on the selection, the section at the cursor (expand) or the whole draft"),
                         chosen)

    def _scope(self, task: str, kind: str, snap: EditorText) -> Scope | None:
        editor = self.editor
        selected = editor.selected_offsets(snap)
        if kind == "auto":
            if selected is not None:
                kind = "selection"
            elif task == "expand":
                kind = "section" if snap.section_at(editor.cursor_offset(snap)) else "draft"
            else:
                kind = "draft"
        if kind == "selection":
            if selected is None:
                self.notify("select some text first (shift+arrows)", severity="warning")
                return None
            return Scope("selection", *selected)
        if kind == "section":
            scope = snap.section_at(editor.cursor_offset(snap))
            if scope is None:
                self.notify("the cursor is not under a heading; move it into a section", severity="warning")
            return scope
        return snap.draft_scope()

    def action_task(self, task: str, kind: str = "auto", on_model: str | None = None) -> None:
        if self.current is not None:
            self.notify("a task is running; Esc cancels it", severity="warning")
            return
        if self.file is None:
            self.notify("open a draft first: choose one in the tree, or ctrl+n for a new one", severity="warning")
            return
        try:
            template = self.services.template(task)
        except ScribeError as exc:
            self.notify(str(exc), severity="error", title="Task")
            return
        snap = self.editor.snapshot()
        scope = self._scope(task, kind, snap)
        if scope is None:
            return
        inp = self._task_input(task, scope, snap)
        model = on_model or self.model or WRITERS[0]  # no server answered yet: the best writer, by name
        run = Run(task, scope, snap.text[scope.start : scope.end], model, TokenFeed(), threading.Event(),
                  is_json=template.output == "json")
        self.current = run
        self.expansion = None
        self.panel.show_expansion_bar(False)
        self.panel.set_title(f"{task.capitalize()} · {scope.label}")
        self.panel.show_issues([])
        self.panel.show_sources([])
        self.refresh_bindings()
        self._task_worker(run, template, inp)

    def _task_input(self, task: str, scope: Scope, snap: EditorText) -> Any:
        """The core's TaskInput for a scope. Expand gets the whole draft with `section` named (the
        template shows the outline around it); other tasks, and selections, get just the scoped text."""
        from scribe.tasks import Draft, TaskInput

        rel = self.rel(snap.path) if snap.path else None
        if scope.kind == "draft" or (task == "expand" and scope.kind == "section"):
            draft = Draft(snap.title, snap.body, snap.path, rel)
            return TaskInput(task, draft, section=scope.heading if scope.kind == "section" else None)
        return TaskInput(task, Draft(snap.title, snap.text[scope.start : scope.end], snap.path, rel))

    async def _start_stream(self, run: Run, is_json: bool) -> None:
        view = self.panel.view
        await view.begin("```json\n" if is_json else "")
        view.show_metrics(format_metrics(run.model, None, None, 0, "preparing"))
        run.timer = self.set_interval(1 / FLUSH_HZ, lambda: self._flush_tokens(run))

    async def _flush_tokens(self, run: Run) -> None:
        """Move streamed text into the panel, a few times a second. Keys come first: while the
        author types, the panel waits (it catches up when typing pauses, or every few seconds).
        Any repaint of the panel in the same frame as a keystroke widens that frame's repaint to
        both, and a panel of markdown blocks is costly to repaint."""
        if run.timer is None:
            return
        now = time.monotonic()
        if now - self.last_key_at < TYPING_PAUSE_S and now - run.flushed_at < TYPING_FLUSH_S:
            return
        run.flushed_at = now
        view = self.panel.view
        await view.feed(run.feed.drain())
        if run.feed.count:
            view.show_metrics(format_metrics(run.model, run.feed.ttft_ms, run.feed.tps, run.feed.count, "streaming"))

    @work(thread=True, group="task")
    def _task_worker(self, run: Run, template: Any, inp: Any) -> None:
        try:
            self.call_from_thread(self._start_stream, run, run.is_json)  # type: ignore[arg-type]
            prepared = self.services.prepare(template, inp, options=self.task_options or None)
            self.call_from_thread(self._show_sources, run, prepared.sources)
            run.feed.restart_clock()
            result = self.services.execute(prepared, model=run.model, on_token=run.feed.push, cancel=run.cancel)
        except ScribeError as exc:
            self._deliver(self._run_failed, run, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not take the author's draft down with it
            if self.is_running:
                self._deliver(self._run_failed, run, self._unexpected(exc, f"{run.task}"))
            return
        self._deliver(self._run_finished, run, result)

    def _deliver(self, callback: Callable[..., Any], *args: Any) -> None:
        """From a worker thread, run `callback` on the UI thread. If the app has closed meanwhile
        there is nothing to show (the run log keeps every result); a bug is logged, never raised."""
        if not self.is_running:
            return
        try:
            self.call_from_thread(callback, *args)
        except Exception as exc:  # noqa: BLE001
            if self.is_running:
                self._unexpected(exc, "updating the screen")

    def _show_sources(self, run: Run, sources: list[NumberedSource]) -> None:
        run.sources = sources
        self.panel.show_sources(sources)
        self.panel.view.show_metrics(format_metrics(run.model, None, None, 0, "waiting for the model"))

    async def _stop_stream(self, run: Run) -> None:
        # The stream may not have started yet (a very fast failure): wait for it.
        while run.timer is None:
            await self._wait_a_tick()
        run.timer.stop()
        await self.panel.view.feed(run.feed.drain())
        run.timer = None

    async def _wait_a_tick(self) -> None:
        import asyncio

        await asyncio.sleep(0.01)

    async def _run_failed(self, run: Run, message: str) -> None:
        await self._stop_stream(run)
        partial = self.panel.view.text
        await self.panel.view.end(
            (f"{partial}\n\n" if partial else "") + f"**Failed:** {message}"
        )
        self.panel.view.show_metrics(format_metrics(run.model, run.feed.ttft_ms, run.feed.tps, run.feed.count, "failed"))
        self.notify(message, severity="error", title=f"{run.task} failed", timeout=10)
        self._run_done(run)

    async def _run_finished(self, run: Run, result: TaskResult) -> None:
        await self._stop_stream(run)
        run.result = result
        call = result.call
        # Tasks that answer in JSON (critique, outline) end with the markdown built from it.
        parsed = result.critique is not None or result.outline is not None
        final = result.output if parsed else None
        if call.status == "cancelled" and not parsed and run.is_json:
            final = "*Cancelled; the partial reply is kept in the run log.*\n\n```json\n" + call.text + "\n```"
        await self.panel.view.end(final)
        m = call.metrics
        self.panel.view.show_metrics(format_metrics(
            call.model, m.ttft_ms if m.ttft_ms is not None else run.feed.ttft_ms,
            m.eval_tps or run.feed.tps, m.eval_count or run.feed.count, call.status,
        ))
        self.panel.set_title(f"{run.task.capitalize()} · {run.scope.label} · run {result.run_id}")
        if result.critique is not None:
            self.panel.show_issues(result.critique.issues)
        if call.status == "failed":
            self.notify(f"{call.error}; the partial output is kept", severity="error", title=f"{run.task} failed")
        elif call.status == "cancelled":
            self.notify(f"cancelled; the partial output is kept (run {result.run_id})", title=run.task)
        if run.task == "expand" and call.text.strip():
            self.expansion = run
            self.panel.show_expansion_bar(True)
        self._run_done(run)

    def _run_done(self, run: Run) -> None:
        self.last = run
        if self.current is run:
            self.current = None
        self.refresh_bindings()
        self.call_after_refresh(self._freeze_heap)

    def action_cancel(self) -> None:
        if self.current is None:
            return
        self.current.cancel.set()
        self.panel.view.show_metrics(format_metrics(self.current.model, self.current.feed.ttft_ms, self.current.feed.tps,
                                                    self.current.feed.count, "cancelling"))

    # --- using the output ----------------------------------------------------------------------

    def _locate(self, run: Run, snap: EditorText) -> tuple[int, int] | None:
        """Where the run's scoped text stands now (the author may have typed meanwhile)."""
        start, end = run.scope.start, run.scope.end
        if snap.text[start:end] == run.original:
            return start, end
        found = snap.text.find(run.original)
        return (found, found + len(run.original)) if found >= 0 and run.original else None

    def action_apply_expansion(self, how: str) -> None:
        run = self.expansion
        if run is None or run.result is None:
            self.notify("no expansion to use; F4 expands the section at the cursor", severity="warning")
            return
        out = run.result.call.text.strip()
        snap = self.editor.snapshot()
        span = self._locate(run, snap)
        if span is None:
            if how == "replace":
                self.notify("the section changed since it was expanded; use insert (ctrl+o), or expand again", severity="warning")
                return
            cursor = self.editor.cursor_offset(snap)
            span = (cursor, cursor)
        start, end = span
        if how == "insert":
            before = snap.text[:end]
            lead = "" if before.endswith("\n\n") or not before else ("\n" if before.endswith("\n") else "\n\n")
            tail = "\n\n" if end < len(snap.text) else "\n"
            self.editor.replace_offsets(snap, lead + out + tail, end, end)
        else:
            if run.scope.kind == "section" and not out.lstrip().startswith("#"):
                start = snap.text.find("\n", start) + 1 or end  # keep the heading line
            tail = "\n\n" if end < len(snap.text) and run.scope.kind != "selection" else ""
            self.editor.replace_offsets(snap, out + tail, start, end)
        self.expansion = None
        self.panel.show_expansion_bar(False)
        self.refresh_bindings()
        self.editor.focus()

    @on(AssistantPanel.IssueChosen)
    def _issue_chosen(self, event: AssistantPanel.IssueChosen) -> None:
        run = self.last
        if run is None or run.result is None or run.result.critique is None:
            return
        self.select_issue(run, run.result.critique.issues[event.index])

    def select_issue(self, run: Run, issue: Issue) -> bool:
        """Select the issue's quote in the editor; False (and a notification) when it is not in the draft."""
        from scribe.critique import quote_span

        snap = self.editor.snapshot()
        span = None
        located = self._locate(run, snap)
        if located is not None:  # first inside the text the critique was about, as it stands now
            inner = quote_span(snap.text[located[0] : located[1]], issue.quote)
            span = (inner[0] + located[0], inner[1] + located[0]) if inner else None
        if span is None:
            inner = quote_span(snap.body, issue.quote)
            span = snap.body_span_to_editor(inner) if inner else None
        if span is None:
            self.notify("the quote is not in the draft (the model paraphrased, or it was edited away)", severity="warning", title="Not found")
            return False
        self.editor.select_offsets(snap, *span)
        self.editor.focus()
        return True

    @on(AssistantPanel.SourceChosen)
    def _source_chosen(self, event: AssistantPanel.SourceChosen) -> None:
        run = self.last
        if run is None or not run.sources:
            return
        self.open_source(run.sources[event.index])

    def open_source(self, source: NumberedSource) -> None:
        from scribe.tui.screens.note import NoteScreen

        path = self.workspace.root / source.path
        try:
            file = DraftFile.open(path)
        except ScribeError as exc:
            self.notify(f"{exc} (re-index with F8 if the note moved)", severity="error", title="Cannot open note")
            return

        def closed(choice: str | None) -> None:
            if choice == "edit":
                self.keeper.ensure_saved(lambda: self.open_file(path))

        self.push_screen(NoteScreen(path, source.path, file.saved_text, source.heading_path), closed)

    # --- models and compare --------------------------------------------------------------------

    def action_pick_model(self) -> None:
        self._list_models(lambda models: self.push_screen(
            ChoiceScreen("Model for tasks", [(m.name, self._model_label(m)) for m in models], highlight=self.model),
            self._set_model,
        ))

    @staticmethod
    def _model_label(m: Any) -> str:
        details = " · ".join(x for x in (m.parameter_size, m.quantization, f"{m.size / 1e6:.0f} MB") if x)
        return f"{m.name}  ({details})"

    def _use_default_model(self, name: str) -> None:
        """The server's best writer, for this session only (F7 makes a choice that is remembered)."""
        if not self.model:
            self.model = name
            self.status.set_model(f"model: {name}")
            self.warming.restart()

    def _set_model(self, name: str | None) -> None:
        if not name:
            return
        self.model = name
        self.state.model = name
        self._save_state()
        self.status.set_model(f"model: {name}")
        self.notify(f"tasks now use {name} (remembered for this workspace)", timeout=3)
        self.warming.restart()

    @work(thread=True, group="models", exclusive=True)
    def _list_models(self, then: Callable[[list[Any]], object]) -> None:
        """The models that can write (embedding-only ones are no choice for a task)."""
        from scribe.models import writers

        try:
            models = writers(self.services.list_models())
        except ScribeError as exc:
            self._notify_any_thread(str(exc), "error", "Models")
            return
        except Exception as exc:  # noqa: BLE001
            self._notify_any_thread(self._unexpected(exc, "listing models"), "error", "Models")
            return
        if not models:
            self._notify_any_thread("the model server has no models; pull one with `ollama pull NAME`", "error", "Models")
            return
        self._deliver(then, models)

    def action_compare(self) -> None:
        if self.current is not None:
            self.notify("a task is running; Esc cancels it", severity="warning")
            return
        if self.file is None:
            self.notify("open a draft first", severity="warning")
            return
        try:
            templates = self.services.templates()
        except ScribeError as exc:
            self.notify(str(exc), severity="error")
            return
        order = [n for n in BUILTIN_TASKS if n in templates] + sorted(n for n in templates if n not in BUILTIN_TASKS)

        def task_chosen(task: str | None) -> None:
            if task:
                self._list_models(lambda models: self._choose_second(task, models))

        self.push_screen(ChoiceScreen("Compare: which task?", [(n, n) for n in order]), task_chosen)

    def _choose_second(self, task: str, models: list[Any]) -> None:
        others = [m for m in models if m.name != self.model] + [m for m in models if m.name == self.model]
        note = f"Against {self.model}. Names stay hidden until you pick."
        if len(models) == 1:
            note += " Only one model is installed: both sides use it (the pick then measures sampling noise)."
        def chosen(second: str | None) -> None:
            if second:
                self.start_compare(task, second)

        self.push_screen(
            ChoiceScreen("Compare: second model", [(m.name, self._model_label(m)) for m in others],
                         highlight=self.state.compare_model, note=note),
            chosen,
        )

    def start_compare(self, task: str, second: str, *, rng: Any = None) -> None:
        from scribe.tui.screens.compare import CompareJob, CompareScreen

        self.state.compare_model = second
        self._save_state()
        try:
            template = self.services.template(task)
        except ScribeError as exc:
            self.notify(str(exc), severity="error")
            return
        snap = self.editor.snapshot()
        scope = self._scope(task, "auto", snap)
        if scope is None:
            return
        inp = self._task_input(task, scope, snap)
        options = self.task_options or None
        job = CompareJob.blind(
            task, scope.label, self.model, second, rng,
            prepare=lambda: self.services.prepare(template, inp, options=options),
            execute=self.services.execute,
        )
        self.push_screen(CompareScreen(job, store=self._store_preference))

    def _store_preference(self, winner: str, job: Any) -> None:
        from scribe.runlog import Preference

        a, b = job.results["A"], job.results["B"]
        self.services.runlog().add_preference(
            Preference(task=job.task, run_a=a.run_id, run_b=b.run_id, model_a=job.models[0], model_b=job.models[1], winner=winner)
        )

    # --- the index -----------------------------------------------------------------------------

    @work(thread=True, group="index-status", exclusive=True)
    def refresh_index_status(self) -> None:
        try:
            status = self.services.index.status()
        except Exception as exc:  # noqa: BLE001 - a status line must never take the app down
            self._unexpected(exc, "index status")
            self._deliver(lambda: self.status.set_index("index: error"))
            return
        self._deliver(lambda: self.status.set_index(status.label))
        if status.state == "ready" and status.stale and self.state.auto_index:
            self._deliver(self._auto_reindex)

    def _reindexing(self) -> bool:
        return any(w.group == "reindex" and w.is_running for w in self.workers)

    def action_reindex(self) -> None:
        if self._reindexing():
            self.notify("the index is being updated already", severity="warning")
            return
        self.status.set_progress(0, None)
        self._reindex(quiet=False)

    def _auto_reindex(self) -> None:
        """New or changed notes are picked up without a restart: an incremental re-index in the
        background, at most once a minute, never while a model is writing."""
        now = time.monotonic()
        if self.current is not None or self._reindexing() or now - self._auto_indexed_at < AUTO_INDEX_EVERY_S:
            return
        self._auto_indexed_at = now
        self.status.set_progress(0, None)
        self._reindex(quiet=True)

    def _index_soon(self) -> None:
        """After saving a note, refresh the index status (and so pick the note up)."""
        if self.file is None:
            return
        roots = [(self.workspace.root / f).resolve() for f in self.workspace.settings.index.notes]
        if any(self.file.path.resolve().is_relative_to(r) for r in roots):
            self.refresh_index_status()

    @work(thread=True, group="reindex", exclusive=True)
    def _reindex(self, quiet: bool) -> None:
        def progress(p: IndexProgress) -> None:
            self._deliver(lambda: self.status.set_progress(p.files_done, p.files_total))

        try:
            summary = self.services.index.sync(progress)
        except ScribeError as exc:
            self._notify_any_thread(str(exc), "error", "Re-index")
        except Exception as exc:  # noqa: BLE001
            self._notify_any_thread(self._unexpected(exc, "re-index"), "error", "Re-index")
        else:
            if not quiet:
                self._notify_any_thread(summary, "information", "Re-index")
        self._deliver(lambda: self.status.set_progress(None))
        self._deliver(self.refresh_index_status)
