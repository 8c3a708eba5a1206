"""The assistant panel: what ran, live metrics, the output as streaming markdown, issues and sources."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Label, Markdown, OptionList, Static
from textual.widgets.markdown import MarkdownStream
from textual.widgets.option_list import Option

IDLE_TEXT = "Nothing asked yet. F2 outline · F3 critique · F4 expand · F5 any task · ctrl+p all commands."


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


LIVE_BLOCKS = 4  # blocks the streaming Markdown widget holds before its settled part is split off


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


class OutputView(Vertical):
    """A metrics line and the markdown output, fed from a TokenFeed.

    Output streams through `Markdown.get_stream` into a Markdown widget. Textual's Markdown is made
    of one widget per block, and every update lays out all of them, so a long output would make each
    update slower. Once the live widget holds LIVE_BLOCKS blocks, its settled part moves into a
    static rendering above it (Rich's markdown, rendered once, one widget per settled piece) and
    streaming carries on below: the cost of an update stays flat however long the output grows.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.stream: MarkdownStream | None = None
        self.text = ""
        self._settled = ""
        self._live_source = ""

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

    def show_metrics(self, text: Text | str) -> None:
        self.query_one(".metrics", Static).update(text, layout=False)  # one fixed line: no reflow

    async def _reset(self, markdown: str) -> None:
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None
        self._settled = ""
        await self.query(".settled").remove()
        await self.markdown.update(markdown)
        self._live_source = markdown

    async def begin(self, prefix: str = "") -> None:
        self.text = ""
        await self._reset(prefix)
        scroll = self.query_one(".output-scroll", VerticalScroll)
        scroll.anchor(False)
        scroll.scroll_home(animate=False)
        self.stream = Markdown.get_stream(self.markdown)

    async def feed(self, fragment: str) -> None:
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
        if self.stream is not None:
            await self.stream.stop()
            self.stream = None
        if final_markdown is not None:
            scroll = self.query_one(".output-scroll", VerticalScroll)
            scroll.anchor(False)
            await self._reset(final_markdown)
            scroll.scroll_home(animate=False)


class AssistantPanel(Vertical):
    """Output of the last task, its critique issues and its numbered sources."""

    class IssueChosen(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    class SourceChosen(Message):
        def __init__(self, index: int) -> None:
            super().__init__()
            self.index = index

    def compose(self) -> ComposeResult:
        yield Label("Assistant", id="run-title")
        yield OutputView(id="output-view")
        yield Static("", id="expansion-bar")
        yield Label("Issues", id="issues-label", classes="list-label")
        yield OptionList(id="issues")
        yield Label("Sources", id="sources-label", classes="list-label")
        yield OptionList(id="sources")

    def on_mount(self) -> None:
        self.query_one(OutputView).show_metrics(Text("idle", "dim"))
        self.show_issues([])
        self.show_sources([])
        self.show_expansion_bar(False)

    @property
    def view(self) -> OutputView:
        return self.query_one(OutputView)

    def set_title(self, title: str) -> None:
        self.query_one("#run-title", Label).update(title)

    def show_expansion_bar(self, shown: bool) -> None:
        bar = self.query_one("#expansion-bar", Static)
        bar.update("[b]ctrl+o[/b] insert below · [b]ctrl+r[/b] replace the section (one undo step)" if shown else "")
        bar.display = shown

    def show_issues(self, issues: list[Any]) -> None:
        options = self.query_one("#issues", OptionList)
        options.clear_options()
        for i, issue in enumerate(issues):
            quote = " ".join(issue.quote.split())
            if len(quote) > 60:
                quote = quote[:57] + "…"
            line = Text()
            line.append(f"{issue.severity:<6} ", {"high": "bold red", "medium": "yellow", "low": "green"}.get(issue.severity, ""))
            line.append(f"“{quote}”", "" if issue.grounded else "dim strike")
            if issue.problem:
                line.append(f" — {issue.problem}", "dim")
            options.add_option(Option(line, id=f"issue-{i}"))
        shown = bool(issues)
        options.display = shown
        self.query_one("#issues-label", Label).display = shown
        self.query_one("#issues-label", Label).update(f"Issues ({len(issues)}) — enter selects the quote in the draft")

    def show_sources(self, sources: list[Any]) -> None:
        options = self.query_one("#sources", OptionList)
        options.clear_options()
        for i, source in enumerate(sources):
            line = Text()
            line.append(f"[{source.number}] ", "bold")
            line.append(source.path, "underline")
            if source.heading_path:
                line.append(f"  {source.heading_path}", "dim")
            options.add_option(Option(line, id=f"source-{i}"))
        shown = bool(sources)
        options.display = shown
        self.query_one("#sources-label", Label).display = shown
        self.query_one("#sources-label", Label).update(f"Sources ({len(sources)}) — enter opens the note")

    @on(OptionList.OptionSelected, "#issues")
    def _issue(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.IssueChosen(event.option_index))

    @on(OptionList.OptionSelected, "#sources")
    def _source(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.post_message(self.SourceChosen(event.option_index))
