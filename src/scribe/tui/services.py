"""The core as the TUI uses it: one model server, one run log, the templates, the index link.

No logic of its own beyond wiring and laziness: connecting may start the embedded engine (seconds),
so it happens in a worker on first need, never while the app paints. Safe to call from worker threads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from scribe.config import Workspace
from scribe.tui.index_link import IndexLink, WorkspaceIndex

if TYPE_CHECKING:
    from scribe.grounding import ContextLimits, NumberedSource
    from scribe.models import ModelInfo, ModelServer
    from scribe.prompts import PromptTemplate
    from scribe.runlog import RunLog
    from scribe.tasks import Draft, PreparedCall, TaskInput, TaskResult
    from scribe.tui.runs import FollowUpPrompt
    from scribe.warmup import WarmRequest

BUILTIN_TASKS = ("outline", "critique", "expand")
INTERNAL_PREFIX = "judge-"


class Services:
    def __init__(
        self,
        workspace: Workspace,
        *,
        host: str | None = None,
        index: IndexLink | Callable[[Services], IndexLink] | None = None,
        say: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.workspace = workspace
        self.say = say
        self._host = host
        self._client: ModelServer | None = None
        self._runlog: RunLog | None = None
        self._lock = threading.Lock()
        self._calls = 0  # model calls in flight, each still to write its run log row
        self._closing = False
        if index is None:
            self.index: IndexLink = WorkspaceIndex(workspace, self.client)
        elif callable(index) and not hasattr(index, "status"):
            self.index = index(self)
        else:
            self.index = index  # type: ignore[assignment]

    # connections
    def client(self) -> ModelServer:
        """The model server, resolved (and if need be started) on first use. Workers call it from
        their threads: a stream they must stop at once gets `cancel=`, which cuts its connection."""
        from scribe.connect import resolve_host
        from scribe.models import open_server

        with self._lock:
            if self._client is None:
                self._client = open_server(resolve_host(self.workspace, host=self._host, say=self.say))
            return self._client

    def runlog(self) -> RunLog:
        from scribe.runlog import RunLog

        with self._lock:
            if self._runlog is None:
                self.workspace.ensure_state_dir()
                self._runlog = RunLog(self.workspace.runlog_path)
            return self._runlog

    def close(self) -> None:
        """Close the run log now, or when the last call in flight has written its row: the app
        unmounts before a cancelled stream's thread ends, and that thread still logs it."""
        with self._lock:
            self._closing = True
            if self._calls == 0:
                self._close_runlog()

    def _close_runlog(self) -> None:
        if self._runlog is not None:
            self._runlog.close()
            self._runlog = None

    @contextmanager
    def _call(self) -> Iterator[None]:
        """One model call in flight, holding the run log open until it is logged."""
        with self._lock:
            self._calls += 1
        try:
            yield
        finally:
            with self._lock:
                self._calls -= 1
                if self._closing and self._calls == 0:
                    self._close_runlog()

    def list_models(self) -> list[ModelInfo]:
        return self.client().list_models()

    # tasks
    def templates(self) -> dict[str, PromptTemplate]:
        """The user's tasks, builtin first then custom ones by name (the order of every menu), read
        fresh so a new prompts/*.md shows up at once."""
        from scribe.prompts import find_templates

        found = {name: t for name, t in find_templates(self.workspace.root).items() if not name.startswith(INTERNAL_PREFIX)}
        order = [n for n in BUILTIN_TASKS if n in found] + sorted(n for n in found if n not in BUILTIN_TASKS)
        return {name: found[name] for name in order}

    def template(self, name: str) -> PromptTemplate:
        from scribe.prompts import get_template

        return get_template(name, self.workspace.root)

    def prepare(self, template: PromptTemplate, inp: TaskInput, options: dict[str, Any] | None = None,
                model: str | None = None) -> PreparedCall:
        """The call, its num_ctx sized for `model` (None: two models will share it, so the cap alone)."""
        from scribe.tasks import prepare

        retriever = self.index.retriever(inp.draft.rel_path if inp.draft else None)
        return prepare(template, inp, retriever, options=options, limits=self._limits(model))

    def warm_request(self, draft: Draft, options: dict[str, Any] | None = None, model: str | None = None) -> WarmRequest | None:
        """What to send ahead for the whole-draft tasks on `draft` (None if they share too little)."""
        from scribe.warmup import WARM_TASKS, warm_request

        found = self.templates()
        templates = [found[name] for name in WARM_TASKS if name in found]
        return warm_request(templates, draft, self.index.retriever(draft.rel_path), options, self._limits(model)) if templates else None

    def _limits(self, model: str | None) -> ContextLimits:
        from scribe.tasks import context_limits

        return context_limits(self.client(), model, self.workspace.settings.max_num_ctx)

    def execute(self, prepared: PreparedCall, *, model: str, on_token: Callable[[str], None] | None = None,
                cancel: threading.Event | None = None, meta: dict[str, Any] | None = None) -> TaskResult:
        from scribe.tasks import execute

        with self._call():
            return execute(prepared, self.client(), self.runlog(), model=model, on_token=on_token, cancel=cancel,
                           meta={"via": "tui", **(meta or {})})

    # follow-ups
    def follow_up_prompt(self, after: int, text: str, sources: list[NumberedSource]) -> FollowUpPrompt:
        """A follow-up after run `after` as it will be sent: the conversation's history, then `text`."""
        from scribe.conversations import follow_up_messages
        from scribe.tui.runs import FollowUpPrompt

        messages = follow_up_messages(self.runlog().chain(after), text)
        return FollowUpPrompt(messages, sources, after, text)

    def follow_up(self, prompt: FollowUpPrompt, *, model: str, options: dict[str, Any] | None = None,
                  on_token: Callable[[str], None] | None = None, cancel: threading.Event | None = None) -> TaskResult:
        """Run and log the follow-up (a fork when `prompt.after` is not its conversation's last turn)."""
        from scribe.conversations import FOLLOW_UP_TASK, follow_up
        from scribe.tasks import TaskResult

        with self._call():
            run_id, call = follow_up(self.client(), self.runlog(), prompt.after, prompt.text, model=model, options=options,
                                     meta={"via": "tui"}, max_num_ctx=self.workspace.settings.max_num_ctx,
                                     on_token=on_token, cancel=cancel)
        return TaskResult(run_id, FOLLOW_UP_TASK, model, call, prompt.sources)
