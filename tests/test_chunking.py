"""Tests for scribe.chunking: sections, blocks, budgets, overlap, coverage and stable ids."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scribe.chunking import (
    Chunk,
    chunk_markdown,
    find_section,
    first_heading,
    heading_sections,
)
from scribe.tokens import count_tokens, truncate_to_tokens

FENCE_LINE = re.compile(r"^ {0,3}(```|~~~)")


def prefix_of(chunk: Chunk, budget: int) -> str:
    return truncate_to_tokens(chunk.heading_path, budget // 4) + "\n\n"


def assert_text_matches_body(chunks: list[Chunk], body: str, budget: int) -> None:
    for chunk in chunks:
        assert chunk.overlap_start <= chunk.start < chunk.end <= len(body)
        assert chunk.text == prefix_of(chunk, budget) + body[chunk.overlap_start : chunk.end]
        assert chunk.token_count == count_tokens(chunk.text)


def test_empty_and_whitespace_bodies_have_no_chunks() -> None:
    assert chunk_markdown("", path="a.md", title="A") == []
    assert chunk_markdown(" \n\n\t\n", path="a.md", title="A") == []
    assert chunk_markdown("# Only a heading\n", path="a.md", title="A") == []


def test_rejects_unusable_budgets() -> None:
    with pytest.raises(ValueError):
        chunk_markdown("text", path="a.md", title="A", budget=4)
    with pytest.raises(ValueError):
        chunk_markdown("text", path="a.md", title="A", overlap=-1)


DOC = """# Garden

Intro about the garden.

## Soil

Clay is heavy. Add compost.

### Testing

Use a kit.

## Water

Water in the morning.
"""


def test_heading_paths_put_the_title_first_and_once() -> None:
    chunks = chunk_markdown(DOC, path="garden.md", title="Garden")
    assert [c.heading_path for c in chunks] == [
        "Garden",
        "Garden > Soil",
        "Garden > Soil > Testing",
        "Garden > Water",
    ]
    assert chunks[1].text == "Garden > Soil\n\nClay is heavy. Add compost."
    assert [c.ordinal for c in chunks] == [0, 1, 2, 3]
    assert all(c.path == "garden.md" for c in chunks)


def test_a_top_heading_other_than_the_title_is_kept() -> None:
    chunks = chunk_markdown(DOC, path="garden.md", title="Allotment")
    assert chunks[1].heading_path == "Allotment > Garden > Soil"


def test_text_before_the_first_heading_is_under_the_title() -> None:
    chunks = chunk_markdown("Preamble.\n\n## Later\n\nMore.", path="p.md", title="P")
    assert [(c.heading_path, c.text) for c in chunks] == [
        ("P", "P\n\nPreamble."),
        ("P > Later", "P > Later\n\nMore."),
    ]


def test_hash_lines_inside_a_fence_are_not_headings() -> None:
    body = "## Real\n\n```sh\n# comment, not a heading\nls\n```\n\n~~~\n## nor this\n~~~\n"
    sections = heading_sections(body)
    assert [s.heading for s in sections] == ["Real"]
    chunks = chunk_markdown(body, path="c.md", title="C")
    assert len(chunks) == 1
    assert "# comment, not a heading" in chunks[0].text
    assert "## nor this" in chunks[0].text


def test_a_fence_with_blank_lines_and_a_table_stay_whole() -> None:
    fence = "```python\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n```"
    table = "| a | b |\n|---|---|\n| 1 | 2 |\n| 3 | 4 |"
    prose = "Some words here. " * 4
    body = "\n\n".join([prose, fence, prose, table, prose])
    budget = count_tokens("D\n\n" + fence) + 5
    chunks = chunk_markdown(body, path="d.md", title="D", budget=budget, overlap=0)
    assert len(chunks) > 1
    assert any(fence in c.text for c in chunks)
    assert any(table in c.text for c in chunks)
    for chunk in chunks:
        assert chunk.token_count <= budget
        fence_lines = [ln for ln in chunk.text.splitlines() if FENCE_LINE.match(ln)]
        assert len(fence_lines) % 2 == 0


def test_an_oversized_paragraph_is_split_at_sentences() -> None:
    sentences = [f"Sentence number {i} talks about item {i} at some length." for i in range(40)]
    body = " ".join(sentences)
    chunks = chunk_markdown(body, path="s.md", title="S", budget=60, overlap=0)
    assert len(chunks) > 1
    for chunk in chunks:
        assert chunk.token_count <= 60
        own = body[chunk.start : chunk.end]
        assert own.startswith("Sentence number") and own.endswith(".")
    assert_text_matches_body(chunks, body, 60)


def test_an_oversized_fence_is_split_by_lines_as_a_last_resort() -> None:
    body = "```\n" + "\n".join(f"line_{i} = compute({i}, {i * 7})" for i in range(200)) + "\n```"
    chunks = chunk_markdown(body, path="f.md", title="F", budget=80, overlap=0)
    assert len(chunks) > 1
    assert all(c.token_count <= 80 for c in chunks)
    for chunk in chunks:
        own = body[chunk.start : chunk.end]
        assert chunk.start == 0 or body[chunk.start - 1] == "\n"  # whole lines
        assert chunk.end == len(body) or body[chunk.end] == "\n"
        assert own.strip() == own


def test_one_huge_line_is_split_at_token_boundaries() -> None:
    body = "x" * 20000
    chunks = chunk_markdown(body, path="x.md", title="X", budget=50, overlap=10)
    assert all(c.token_count <= 50 for c in chunks)
    assert chunks[0].start == 0 and chunks[-1].end == len(body)
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
    assert_text_matches_body(chunks, body, 50)


def test_overlap_is_a_tail_of_the_previous_chunk_in_the_same_section() -> None:
    paragraphs = [
        f"Paragraph {i} opens here. It adds a second thought. And ends on a third." for i in range(12)
    ]
    body = "## One\n\n" + "\n\n".join(paragraphs) + "\n\n## Two\n\n" + "\n\n".join(paragraphs)
    chunks = chunk_markdown(body, path="o.md", title="O", budget=80, overlap=20)
    assert_text_matches_body(chunks, body, 80)
    assert all(c.token_count <= 80 for c in chunks)
    overlapped = 0
    for previous, chunk in zip(chunks, chunks[1:]):
        if previous.heading_path != chunk.heading_path:
            assert chunk.overlap_start == chunk.start  # never across sections
            continue
        if chunk.overlap_start < chunk.start:
            overlapped += 1
            assert previous.start < chunk.overlap_start < previous.end
            assert count_tokens(body[chunk.overlap_start : previous.end]) <= 20
            assert body[chunk.overlap_start : previous.end].startswith(("Paragraph", "It", "And"))
    assert overlapped > 0
    first_of_two = next(c for c in chunks if c.heading_path == "O > Two")
    assert first_of_two.overlap_start == first_of_two.start


def test_zero_overlap_means_no_overlap() -> None:
    body = "\n\n".join("A sentence here. Another one there." for _ in range(30))
    chunks = chunk_markdown(body, path="z.md", title="Z", budget=40, overlap=0)
    assert len(chunks) > 1
    assert all(c.overlap_start == c.start for c in chunks)


def test_ids_are_stable_unique_and_short_hex() -> None:
    body = "## Notes\n\nSame text.\n\n## Notes\n\nSame text.\n\n## Other\n\nSame text."
    first = chunk_markdown(body, path="i.md", title="I")
    second = chunk_markdown(body, path="i.md", title="I")
    assert [c.id for c in first] == [c.id for c in second]
    assert len({c.id for c in first}) == len(first) == 3
    assert all(re.fullmatch(r"[0-9a-f]{20}", c.id) for c in first)
    assert chunk_markdown(body, path="other.md", title="I")[0].id != first[0].id


def test_duplicate_text_in_one_section_gets_distinct_ids() -> None:
    paragraph = "Repeated paragraph, long enough to matter. It has two sentences to it."
    body = "\n\n".join([paragraph] * 6)
    budget = count_tokens("R\n\n" + paragraph) + 2  # one paragraph per chunk
    chunks = chunk_markdown(body, path="r.md", title="R", budget=budget, overlap=0)
    assert len(chunks) == 6
    assert len({c.text for c in chunks}) == 1
    assert len({c.id for c in chunks}) == 6


def test_editing_one_section_changes_only_its_chunk_ids() -> None:
    sections = {
        name: "\n\n".join(f"{name} paragraph {i} has some words in it." for i in range(8))
        for name in ("Alpha", "Beta", "Gamma")
    }

    def render(texts: dict[str, str]) -> str:
        return "# Doc\n\n" + "".join(f"## {name}\n\n{text}\n\n" for name, text in texts.items())

    before = chunk_markdown(render(sections), path="e.md", title="Doc", budget=60, overlap=15)
    edited = dict(sections, Beta=sections["Beta"].replace("paragraph 3", "paragraph three, edited"))
    after = chunk_markdown(render(edited), path="e.md", title="Doc", budget=60, overlap=15)

    def ids(chunks: list[Chunk], section: str) -> list[str]:
        return [c.id for c in chunks if c.heading_path == f"Doc > {section}"]

    assert ids(before, "Alpha") == ids(after, "Alpha")
    assert ids(before, "Gamma") == ids(after, "Gamma")
    assert ids(before, "Beta") != ids(after, "Beta")
    assert before[-1].start != after[-1].start  # offsets moved, ids did not


def test_a_long_heading_path_is_cut_to_keep_room_for_text() -> None:
    title = "word " * 60
    chunks = chunk_markdown("Body text.", path="l.md", title=title.strip(), budget=40)
    assert len(chunks) == 1
    assert chunks[0].token_count <= 40
    assert chunks[0].text.endswith("\n\nBody text.")


def test_heading_sections_tile_the_body() -> None:
    sections = heading_sections(DOC)
    assert [s.heading for s in sections] == ["Garden", "Soil", "Testing", "Water"]
    assert [s.level for s in sections] == [1, 2, 3, 2]
    assert sections[2].path == ("Garden", "Soil", "Testing")
    assert sections[0].start == 0 and sections[-1].end == len(DOC)
    assert all(a.end == b.start for a, b in zip(sections, sections[1:]))
    assert DOC[sections[1].start : sections[1].content_start] == "## Soil\n"


def test_heading_sections_with_preamble_and_closing_hashes() -> None:
    body = "intro\n## Closed ##\ntext"
    sections = heading_sections(body)
    assert [(s.heading, s.level) for s in sections] == [(None, 0), ("Closed", 2)]
    assert heading_sections("") == []


def test_find_section() -> None:
    soil = find_section(DOC, "soil")
    assert soil is not None
    assert DOC[soil[0] : soil[1]] == "## Soil\n\nClay is heavy. Add compost.\n\n### Testing\n\nUse a kit.\n\n"
    assert find_section(DOC, "## TESTING") == find_section(DOC, "Testing")
    testing = find_section(DOC, "testing")
    assert testing is not None and DOC[testing[0] : testing[1]] == "### Testing\n\nUse a kit.\n\n"
    water = find_section(DOC, "Water")
    assert water is not None and water[1] == len(DOC)
    assert find_section(DOC, "Missing") is None
    assert find_section("```\n# Fenced\n```\n", "Fenced") is None


def test_first_heading() -> None:
    assert first_heading("```\n# no\n```\n\n#tag is not one\n\n## Yes ##\n") == "Yes"
    assert first_heading("plain text") is None


# --- properties over generated documents -------------------------------------------------------

WORDS = ["alpha", "beta", "gamma", "note", "draft", "idea", "café", "ünïcode", "日本語", "x42", "(aside)"]


@dataclass
class Doc:
    body: str = ""
    title: str = "Title"
    headings: list[tuple[int, int, int, str]] = field(default_factory=list)  # start, end, level, text
    fences: list[tuple[int, int]] = field(default_factory=list)
    tables: list[tuple[int, int]] = field(default_factory=list)


words = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
sentence = words.map(lambda w: w[0].upper() + w[1:] + ".")
paragraph = st.lists(sentence, min_size=1, max_size=8).map(" ".join)
bullet_list = st.lists(words, min_size=1, max_size=5).map(lambda items: "\n".join(f"- {i}" for i in items))
fence = st.lists(
    st.one_of(words, st.just(""), st.just("# not a heading"), st.just("| not | a table |")),
    min_size=1,
    max_size=8,
).map(lambda lines: "```text\n" + "\n".join(lines) + "\n```")
table = st.lists(words, min_size=1, max_size=4).map(
    lambda rows: "| h | v |\n|---|---|\n" + "\n".join(f"| {r} | 1 |" for r in rows)
)
heading = st.tuples(st.integers(min_value=1, max_value=3), st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join))


@st.composite
def documents(draw: st.DrawFn) -> Doc:
    doc = Doc(title=draw(st.sampled_from(["Title", "alpha", "Note"])))
    parts: list[tuple[str, object]] = []
    if draw(st.booleans()):
        parts.append(("heading", (1, doc.title)))
    items = st.one_of(
        heading.map(lambda h: ("heading", h)),
        paragraph.map(lambda p: ("paragraph", p)),
        bullet_list.map(lambda p: ("paragraph", p)),
        fence.map(lambda f: ("fence", f)),
        table.map(lambda t: ("table", t)),
    )
    parts.extend(draw(st.lists(items, max_size=14)))
    for kind, value in parts:
        if doc.body:
            doc.body += "\n\n"
        start = len(doc.body)
        if kind == "heading":
            level, text = cast(tuple[int, str], value)
            doc.body += "#" * level + " " + text
            doc.headings.append((start, len(doc.body), level, text))
            continue
        doc.body += str(value)
        if kind == "fence":
            doc.fences.append((start, len(doc.body)))
        elif kind == "table":
            doc.tables.append((start, len(doc.body)))
    return doc


def expected_heading_path(doc: Doc, offset: int) -> str:
    stack: list[tuple[int, str]] = []
    for start, _, level, text in doc.headings:
        if start > offset:
            break
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, text))
    names = [text for _, text in stack]
    if names and names[0].casefold() == doc.title.casefold():
        names = names[1:]
    return " > ".join([doc.title, *names])


@settings(deadline=None, max_examples=200)
@given(documents(), st.integers(min_value=16, max_value=250), st.integers(min_value=0, max_value=40))
def test_chunk_properties(doc: Doc, budget: int, overlap: int) -> None:
    body = doc.body
    chunks = chunk_markdown(body, path="gen.md", title=doc.title, budget=budget, overlap=overlap)

    # Own spans: ordered, disjoint, trimmed; text is prefix + overlap + own span; within budget.
    assert_text_matches_body(chunks, body, budget)
    for previous, chunk in zip(chunks, chunks[1:]):
        assert previous.end <= chunk.start
    for chunk in chunks:
        own = body[chunk.start : chunk.end]
        assert own == own.strip()
        assert chunk.token_count <= budget
        assert chunk.heading_path == expected_heading_path(doc, chunk.start)
        if chunk.overlap_start < chunk.start:
            assert count_tokens(body[chunk.overlap_start : chunk.start].rstrip()) <= overlap

    # Every non-whitespace character is on a heading line or in exactly one chunk.
    on_heading = {i for start, end, _, _ in doc.headings for i in range(start, end)}
    owners = [0] * len(body)
    for chunk in chunks:
        for i in range(chunk.start, chunk.end):
            owners[i] += 1
    for i, ch in enumerate(body):
        if not ch.isspace() and i not in on_heading:
            assert owners[i] == 1, (i, ch)

    # A fence or table that fits the budget with its heading prefix lands whole in one chunk.
    whole_blocks_fit = True
    for start, end in doc.fences + doc.tables:
        prefix = truncate_to_tokens(expected_heading_path(doc, start), budget // 4) + "\n\n"
        if count_tokens(prefix + body[start:end]) <= budget:
            assert any(c.start <= start and end <= c.end for c in chunks)
        else:
            whole_blocks_fit = False
    if whole_blocks_fit:
        for chunk in chunks:
            assert sum(1 for ln in chunk.text.splitlines() if FENCE_LINE.match(ln)) % 2 == 0

    # Ids: deterministic and unique within the file.
    again = chunk_markdown(body, path="gen.md", title=doc.title, budget=budget, overlap=overlap)
    assert [c.id for c in again] == [c.id for c in chunks]
    assert len({c.id for c in chunks}) == len(chunks)
