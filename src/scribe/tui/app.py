"""The drafting app: themes, what it remembers, signals and shutdown. Its screen is the drafting
screen (`screens/main.py`), which does the work, and hands it the `Session`, so nothing reaches back here.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.theme import Theme

from scribe.config import Workspace
from scribe.tui.crashlog import CrashLog
from scribe.tui.index_link import IndexLink
from scribe.tui.screens.main import MainScreen
from scribe.tui.services import Services
from scribe.tui.session import AUTOSAVE_DELAY_S, WARM_PAUSE_S, Session
from scribe.tui.state import TuiState
from scribe.tui.widgets.stream import StreamView

GC_THRESHOLDS = (20_000, 20, 50)  # fewer, later collections than Python's (700, 10, 10): see freeze_heap

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


class ScribeApp(App[None]):
    """`ScribeApp(workspace, draft)`; tests pass `services`, `task_options` and a short autosave delay."""

    CSS_PATH = "scribe.tcss"
    TITLE = "scribe"
    BINDINGS = [
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
        owns_process: bool = False,
        warm_pause: float | None = WARM_PAUSE_S,
    ) -> None:
        super().__init__()
        if services is None:
            services = Services(workspace, index=index, say=lambda line: self.notify(line.removeprefix("scribe: "), title="Model server"))
        elif index is not None:
            services.index = index
        state = TuiState.load(workspace.state_dir)
        self.session = Session(
            workspace, services, state, {**state.task_options, **(task_options or {})},
            model=state.model or workspace.settings.model or "",  # empty: the server's best writer, once connected
            draft=draft, autosave_delay=autosave_delay, autoconnect=autoconnect, warm_pause=warm_pause,
        )
        self.main = MainScreen(self.session)
        # Run as the process's own program (`run_tui`): it may catch signals and tune the garbage
        # collector, both process-wide. Tests run many apps in one process and leave both alone.
        self.owns_process = owns_process
        self._crash_log = CrashLog(workspace)
        self.register_theme(DARK)
        self.register_theme(LIGHT)

    def get_default_screen(self) -> MainScreen:
        return self.main

    def on_mount(self) -> None:
        logging.getLogger("scribe.tui").addHandler(self._crash_log)
        state = self.session.state
        self.theme = state.theme if state.theme in (DARK.name, LIGHT.name) else DARK.name
        if self.owns_process:
            self._catch_signals()
        self.call_after_refresh(self.freeze_heap)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key):
            self.session.last_key_at = time.monotonic()
        await super().on_event(event)

    def freeze_heap(self) -> None:
        """Keep garbage collection out of the way of keys. Every keystroke leaves cyclic garbage
        (Textual's events and renders), and with Python's default thresholds a full collection ran
        about once a second of typing, walking every live object: a ~100 ms pause with Textual,
        Rich, tree-sitter and the core loaded (measured: benchmarks/tui_bench.py). So the
        long-lived objects are moved out of the collector's way (gc.freeze, after the first paint
        and after each task, when the panel has settled), and the young generation is collected
        less often, which catches the keystroke garbage there, in a few ms."""
        if not self.owns_process:
            return
        gc.collect()
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        """Textual's commands but its theme picker: scribe has two themes, and "Toggle light/dark
        theme" (ctrl+t) is the one command for them."""
        return (command for command in super().get_system_commands(screen) if command.title != "Theme")

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT.name if self.current_theme.dark else DARK.name
        self.session.state.theme = self.theme
        self.session.save_state()

    # --- leaving -------------------------------------------------------------------------------

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
        self.main.keeper.last_save()
        self._stop_streams()
        self.exit()

    async def action_quit(self) -> None:
        self.main.keeper.ensure_saved(self._exit_now, quitting=True)

    def _exit_now(self) -> None:
        self._stop_streams()
        self.session.save_state()
        self.exit()

    def _stop_streams(self) -> None:
        """Streams run in worker threads, which the process waits for: stop them on the way out,
        a warm-up in flight included (it can wait minutes for a busy engine)."""
        self.main.warming.stop()
        for screen in self.screen_stack:
            for view in screen.query(StreamView):
                view.cancel()

    def on_unmount(self) -> None:
        # Last line of defence (the app exited some other way than ctrl+q): never drop edits.
        self.main.keeper.last_save()
        self._stop_streams()
        self.session.services.close()  # deferred until a stopping stream has logged its row ("cancelled")
        logging.getLogger("scribe.tui").removeHandler(self._crash_log)
