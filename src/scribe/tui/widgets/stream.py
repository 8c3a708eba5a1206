"""One model call streamed as markdown: the view in the assistant panel and in each compare pane.

`StreamView.start(call)` runs the call in the view's own worker thread (prepare: retrieval and the
prompt; execute: the model), moves the tokens into the markdown a few times a second, and reports
each step with a Message that bubbles up to whoever shows more of it:

- `Started`: the prompt is ready (its sources known) and the model has it;
- `Finished`: a result, "ok" or "failed" mid-stream (the partial text kept);
- `Cancelled`: a result with the text that arrived before the cancel;
- `Failed`: no result (no server, no such model, a bug), with the message for the author.

The view shows each step itself before its message goes on up.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Markdown, Static

from scribe.errors import ScribeError
from scribe.loops import LOOPING
from scribe.tui.crashlog import unexpected

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.widgets.markdown import MarkdownStream

    from scribe.grounding import NumberedSource
    from scribe.tasks import TaskResult

IDLE_TEXT = "Nothing asked yet. F2 outline · F3 critique · F4 expand · F5 any task · ctrl+p all commands."
FLUSH_HZ = 8  # markdown updates per second while streaming
TYPING_PAUSE_S = 0.6  # keys this recent mean the author is typing
TYPING_FLUSH_S = 5.0  # ...and the view then catches up at most this often
LIVE_BLOCKS = 4  # blocks the streaming Markdown widget holds before its settled part is split off


def format_metrics(model: str | None, ttft_ms: float | None, tps: float | None, tokens: int, status: str) -> Text:
    """One line: model · TTFT · tokens/s · tokens · status."""
    parts: list[tuple[str, str]] = []
    if model:
        parts.append((model, "bold"))
    parts.append((f"TTFT {ttft_ms:.0f} ms" if ttft_ms is not None else "TTFT –", ""))
    parts.append((f"{tps:.1f} tok/s" if tps else "– tok/s", ""))
    parts.append((f"{tokens} tok", ""))
    style = {"ok": "green", "cancelled": "yellow", "failed": "red"}.get(status, "italic")
    parts.append((status, style))
    text = Text()
    for i, (chunk, chunk_style) in enumerate(parts):
        if i:
            text.append(" · ", "dim")
        text.append(chunk, chunk_style)
    return text


@dataclass
class TokenFeed:
    """Tokens from a worker thread, drained by the UI a few times a second (batched repaint)."""

    started: float = field(default_factory=time.perf_counter)
    first_at: float | None = None
    last_at: float | None = None
    count: int = 0
    _pending: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def restart_clock(self) -> None:
        self.started = time.perf_counter()

    def push(self, piece: str) -> None:
        now = time.perf_counter()
        with self._lock:
            if self.first_at is None:
                self.first_at = now
            self.last_at = now
            self.count += 1
            self._pending.append(piece)

    def drain(self) -> str:
        with self._lock:
            text = "".join(self._pending)
            self._pending.clear()
        return text

    @property
    def ttft_ms(self) -> float | None:
        return None if self.first_at is None else (self.first_at - self.started) * 1000

    @property
    def tps(self) -> float | None:
        if self.first_at is None or self.last_at is None or self.count < 2 or self.last_at <= self.first_at:
            return None
        return (self.count - 1) / (self.last_at - self.first_at)


def block_cut(text: str) -> int | None:
    """Where `text` can be split so that both halves render as they do together: the start of its
    last top-level block (after a blank line, outside code fences, not an indented continuation)."""
    cut = None
    fence: str | None = None
    offset = 0
    blank_before = False
    for line in text.splitlines(keepends=True):
        stripped = line.strip()
        if fence is None and stripped.startswith(("```", "~~~")):
            if blank_before and not line[0].isspace() and offset > 0:
                cut = offset  # a fence is a block of its own
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and blank_before and stripped and not line[0].isspace() and offset > 0:
            cut = offset
        blank_before = fence is None and not stripped
        offset += len(line)
    return cut


def final_markdown(result: TaskResult, is_json: bool) -> str | None:
    """What the view ends on: the markdown written from a parsed JSON answer (critique, outline),
    the text before its loop for a model stopped for repeating itself, a note over a cancelled JSON
    reply, or None to keep the streamed text as it stands."""
    if result.critique is not None or result.outline is not None or result.call.metrics.done_reason == LOOPING:
        return result.output
    if result.call.status == "cancelled" and is_json:
        return "*Cancelled; the partial reply is kept in the run log.*\n\n```json\n" + result.call.text + "\n```"
    return None


class Prepared(Protocol):
    """What the view reads of a prepared call (a task's `PreparedCall`, a follow-up's history): the
    messages, whose size it shows while the model reads them, and the sources they hold."""

    @property
    def messages(self) -> list[dict[str, str]]: ...

    @property
    def sources(self) -> list[NumberedSource]: ...


P = TypeVar("P", bound=Prepared)


def prompt_size(prepared: Prepared) -> int:
    from scribe.tokens import count_tokens

    return sum(count_tokens(m["content"]) for m in prepared.messages)


@dataclass(frozen=True)
class StreamCall(Generic[P]):
    """One model call for a StreamView; `prepare` and `execute` run in the view's worker thread."""

    task: str
    model: str
    is_json: bool  # the template answers in JSON: the stream shows raw JSON, the end shows markdown
    prepare: Callable[[], P]
    execute: Callable[[P, Callable[[str], None], threading.Event], TaskResult]  # (prepared, on_token, cancel)


class StreamMessage(Message):
    def __init__(self, view: StreamView) -> None:
        super().__init__()
        self.view = view

    @property
    def control(self) -> StreamView:
        return self.view


class StreamView(Vertical):
    """A metrics line and the markdown output of one call at a time.

    Output streams through `Markdown.get_stream` into a Markdown widget. Textual's Markdown is made
    of one widget per block, and every update lays out all of them, so a long output would make each
    update slower. Once the live widget holds LIVE_BLOCKS blocks, its settled part moves into a
    static rendering above it (Rich's markdown, rendered once, one widget per settled piece) and
    streaming carries on below: the cost of an update stays flat however long the output grows.
    """

    class Started(StreamMessage):
        def __init__(self, view: StreamView, prepared: Prepared, prompt_tokens: int) -> None:
            super().__init__(view)
            self.prepared = prepared
            self.prompt_tokens = prompt_tokens  # tiktoken's count: the model's own is close, not equal

    class Finished(StreamMessage):
        def __init__(self, view: StreamView, result: TaskResult) -> None:
            super().__init__(view)
            self.result = result

    class Cancelled(Finished):
        pass

    class Failed(StreamMessage):
        def __init__(self, view: StreamView, error: str) -> None:
            super().__init__(view)
            self.error = error

    def __init__(self, *, show_model: bool = True, last_key_at: Callable[[], float] = lambda: 0.0,
                 id: str | None = None, classes: str | None = None) -> None:
        """`show_model=False` keeps the model's name off the metrics line (blind comparison);
        `last_key_at` is when the author last pressed a key: while they type, the view waits."""
        super().__init__(id=id, classes=classes)
        self.show_model = show_model
        self.last_key_at = last_key_at
        self.call: StreamCall | None = None
        self.feed = TokenFeed()
        self.text = ""  # the streamed text
        self.stream: MarkdownStream | None = None
        self._settled = ""
        self._live_source = ""
        self._cancel = threading.Event()
        self._timer: Timer | None = None
        self._flushed_at = 0.0
        self._prompt_tokens: int | None = None  # known once the prompt is ready

    def compose(self) -> ComposeResult:
        yield Static("", classes="metrics")
        with VerticalScroll(classes="output-scroll"):
            yield Markdown(IDLE_TEXT, classes="output")

    @property
    def markdown(self) -> Markdown:
        """The live markdown widget."""
        return self.query_one(".output", Markdown)

    @property
    def source(self) -> str:
        """The markdown shown: the settled part and the live part."""
        return self._settled + self.markdown.source

    @property
    def streaming(self) -> bool:
        return self._timer is not None

    def show_metrics(self, text: Text | str) -> None:
        self.query_one(".metrics", Static).update(text, layout=False)  # one fixed line: no reflow

    # --- one call -------------------------------------------------------------------------------

    async def start(self, call: StreamCall) -> None:
        """Clear the view and stream `call` into it."""
        self.call = call
        self.feed = TokenFeed()
        self._cancel = threading.Event()
        self._flushed_at = 0.0
        self._prompt_tokens = None
        await self._begin("```json\n" if call.is_json else "")
        self._show_progress("preparing")
        self._timer = self.set_interval(1 / FLUSH_HZ, self._flush)
        self._run(call, self.feed, self._cancel)

    def cancel(self) -> None:
        """Stop the call; its partial text stays, and the run log records it as cancelled."""
        if self.streaming:
            self._cancel.set()
            self._show_progress("cancelling")

    def on_unmount(self) -> None:
        self._cancel.set()  # the app is closing: the worker thread must not keep it waiting

    @work(thread=True, group="stream")
    def _run(self, call: StreamCall, feed: TokenFeed, cancel: threading.Event) -> None:
        try:
            prepared = call.prepare()
            feed.restart_clock()
            self.post_message(self.Started(self, prepared, prompt_size(prepared)))
            result = call.execute(prepared, feed.push, cancel)
        except ScribeError as exc:
            self.post_message(self.Failed(self, str(exc)))
            return
        except Exception as exc:  # noqa: BLE001 - a bug must not take the author's draft down with it
            self.post_message(self.Failed(self, unexpected(exc, call.task)))
            return
        ended = self.Cancelled if result.call.status == "cancelled" else self.Finished
        self.post_message(ended(self, result))

    @on(Started)
    def _started(self, event: Started) -> None:
        self._prompt_tokens = event.prompt_tokens
        self._show_waiting()

    def _show_waiting(self) -> None:
        """Before the first token the model reads the prompt, which can take many seconds on a
        small machine: say so first (a narrow panel cuts the line's end), how big the prompt is,
        and for how long it has been reading."""
        elapsed = time.perf_counter() - self.feed.started
        line = Text(f"reading the prompt (~{self._prompt_tokens:,} tokens) · {elapsed:.0f} s", "italic")
        if self.call is not None and self.show_model:
            line.append(" · ", "dim").append(self.call.model, "bold")
        self.show_metrics(line)

    @on(Finished)
    async def _finished(self, event: Finished) -> None:
        await self._stop_flushing()
        call, feed = event.result.call, self.feed
        await self.end(final_markdown(event.result, self.call is not None and self.call.is_json))
        m = call.metrics
        self.show_metrics(format_metrics(
            call.model if self.show_model else None, m.ttft_ms if m.ttft_ms is not None else feed.ttft_ms,
            m.eval_tps or feed.tps, m.eval_count or feed.count,
            "stopped: it began repeating itself" if m.done_reason == LOOPING else call.status,
        ))

    @on(Failed)
    async def _failed(self, event: Failed) -> None:
        await self._stop_flushing()
        await self.end((f"{self.text}\n\n" if self.text else "") + f"**Failed:** {event.error}")
        self._show_progress("failed")

    def _show_progress(self, status: str) -> None:
        model = self.call.model if self.call is not None and self.show_model else None
        self.show_metrics(format_metrics(model, self.feed.ttft_ms, self.feed.tps, self.feed.count, status))

    async def _flush(self) -> None:
        """Move streamed text into the markdown, a few times a second. Keys come first: while the
        author types, the view waits (it catches up when typing pauses, or every few seconds).
        Any repaint of the view in the same frame as a keystroke widens that frame's repaint to
        both, and a view of markdown blocks is costly to repaint."""
        if self._timer is None:
            return
        now = time.monotonic()
        if now - self.last_key_at() < TYPING_PAUSE_S and now - self._flushed_at < TYPING_FLUSH_S:
            return
        self._flushed_at = now
        await self.write(self.feed.drain())
        if self.feed.count:
            self._show_progress("streaming")
        elif self._prompt_tokens is not None and not self._cancel.is_set():
            self._show_waiting()

    async def _stop_flushing(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        await self.write(self.feed.drain())

    # --- the markdown ---------------------------------------------------------------------------

    async def _reset(self, markdown: str) -> None:
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None
        self._settled = ""
        await self.query(".settled").remove()
        await self.markdown.update(markdown)
        self._live_source = markdown

    async def _begin(self, prefix: str) -> None:
        self.text = ""
        await self._reset(prefix)
        scroll = self.query_one(".output-scroll", VerticalScroll)
        scroll.anchor(False)
        scroll.scroll_home(animate=False)
        self.stream = Markdown.get_stream(self.markdown)

    async def write(self, fragment: str) -> None:
        if not fragment or self.stream is None:
            return
        scroll = self.query_one(".output-scroll", VerticalScroll)
        if not scroll.is_anchored and scroll.max_scroll_y > 0 and scroll.scroll_y >= scroll.max_scroll_y - 1:
            scroll.anchor()  # follow the output (in the same frame) until the reader scrolls up
        self.text += fragment
        self._live_source += fragment
        await self.stream.write(fragment)
        if len(self.markdown.children) > LIVE_BLOCKS:
            await self._settle()

    async def _settle(self) -> None:
        from rich.markdown import Markdown as RichMarkdown

        cut = block_cut(self._live_source)
        if cut is None or self.stream is None:
            return
        await self.stream.stop()
        head, tail = self._live_source[:cut], self._live_source[cut:]
        self._settled += head
        piece = Static(RichMarkdown(head, code_theme="ansi_dark", hyperlinks=False), classes="settled")
        await self.query_one(".output-scroll", VerticalScroll).mount(piece, before=self.markdown)
        await self.markdown.update(tail)
        self._live_source = tail
        self.stream = Markdown.get_stream(self.markdown)

    async def end(self, final_markdown: str | None = None) -> None:
        """Stop streaming; show `final_markdown` instead of the streamed text if given."""
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None
        if final_markdown is not None:
            scroll = self.query_one(".output-scroll", VerticalScroll)
            scroll.anchor(False)
            await self._reset(final_markdown)
            scroll.scroll_home(animate=False)
