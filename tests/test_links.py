"""Links as data: parsing (examples and properties), resolution as Obsidian resolves links, links kept
in the index (replaced, removed, re-resolved), `scribe links`, dangling links in `scribe index` and
doctor, and links as a retrieval signal. The index tests use the fake model server's embeddings
(bag of words): the point is the plumbing, not a model."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cli_support import ok, one_line_error, scribe
from fake_server import EMBED_MODEL, HOST, FakeModelServer
from hypothesis import given, settings
from hypothesis import strategies as st

from scribe.config import open_workspace
from scribe.doctor import links_check
from scribe.fts import StoredChunk
from scribe.index import open_index
from scribe.links import Link, NoteName, Resolver, parse_links
from scribe.notes import ATTACHMENT_KINDS
from scribe.retrieval import link_ranking, retrieve
from scribe.runlog import RunLog

# --- parsing: examples -------------------------------------------------------------------------


def parsed(text: str) -> list[tuple[str, str | None, str | None, bool, str]]:
    return [(link.target, link.heading, link.alias, link.embed, link.kind) for link in parse_links(text, source="n.md")]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see [[Target]].", ("Target", None, None, False, "wikilink")),
        ("[[Target#Heading]]", ("Target", "Heading", None, False, "wikilink")),
        ("[[Target|the alias]]", ("Target", None, "the alias", False, "wikilink")),
        ("[[ Target # Heading | alias ]]", ("Target", "Heading", "alias", False, "wikilink")),
        ("| a | [[Target\\|alias]] |", ("Target", None, "alias", False, "wikilink")),
        ("![[Target#Heading]]", ("Target", "Heading", None, True, "wikilink")),
        ("[[folder/Target.md#^block]]", ("folder/Target.md", "^block", None, False, "wikilink")),
        ("[text](../other.md#Some%20Heading)", ("../other.md", "Some Heading", "text", False, "markdown")),
        ("[my note](<my note.md> \"title\")", ("my note.md", None, "my note", False, "markdown")),
        ("[x](Note%20Two)", ("Note Two", None, "x", False, "markdown")),
        ("![embedded](other.md)", ("other.md", None, "embedded", True, "markdown")),
    ],
)
def test_each_link_form_is_read(text: str, expected: tuple[str, str | None, str | None, bool, str]) -> None:
    assert parsed(text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "[site](https://example.org/page.md)",
        "[mail](mailto:me@example.org) [app](obsidian://open?vault=v)",
        "![diagram](img/arch.png) and ![[diagram.png]] and [[paper.pdf]]",
        "[script](tools/run.py)",
        "[[#Heading in this note]] and [x](#part)",
        "`[[in code]]` and ``a ` [[in code too]]``",
        "```\n[[in a fence]]\n```",
        "- item\n    ~~~md\n    [[in a fence in a list]]\n    ~~~",
        "%% a comment with [[a link]] %%",
        "[[]] and [[|alias only]] and [ref][1]\n\n[1]: other.md",
    ],
)
def test_what_is_not_a_link_to_a_note_is_left_out(text: str) -> None:
    assert parsed(text) == []


def test_a_backtick_without_a_partner_and_a_fence_closed_later_are_read_as_commonmark_does() -> None:
    text = "a lone ` then [[One]]\n\n````\n```\n[[Two]]\n````\n[[Three]]\n```\n[[Four]] never closed"
    assert [link.target for link in parse_links(text, source="n.md")] == ["One", "Three"]


def test_links_carry_their_file_line_and_offsets() -> None:
    text = "first\n\nthen [[A]] and [b](b.md)\n[[C]]"
    links = parse_links(text, source="dir/n.md", first_line=5)
    assert [(link.line, text[link.start : link.end], link.source) for link in links] == [
        (7, "[[A]]", "dir/n.md"), (7, "[b](b.md)", "dir/n.md"), (8, "[[C]]", "dir/n.md"),
    ]


# --- parsing: properties -----------------------------------------------------------------------

NAME = st.text(st.characters(whitelist_categories=("L", "N"), whitelist_characters=" -_.'"), min_size=1, max_size=20).filter(
    lambda s: s.strip() == s and s.strip(".") == s and "  " not in s
)
PROPERTIES = settings(deadline=None)  # no time bound under a loaded machine
PROSE = st.text(st.characters(whitelist_categories=("L", "N", "Zs"), whitelist_characters=".,;:'\"?\n-"), max_size=40)


@st.composite
def wikilinks(draw: st.DrawFn) -> Link:
    target = draw(NAME.filter(lambda s: not s.lower().endswith(tuple(ATTACHMENT_KINDS))))
    return Link(source="n.md", target=target, heading=draw(st.none() | NAME), alias=draw(st.none() | NAME),
                embed=draw(st.booleans()), kind="wikilink", start=0, end=0, line=0)


@PROPERTIES
@given(st.lists(st.tuples(PROSE, wikilinks()), max_size=6), PROSE)
def test_wikilinks_written_into_prose_are_read_back(pieces: list[tuple[str, Link]], tail: str) -> None:
    text, expected = "", []
    for prose, link in pieces:
        text += prose + " "
        start = len(text)
        text += link.markup
        expected.append((link.target, link.heading, link.alias, link.embed, start, len(text), 1 + text.count("\n", 0, start)))
    text += " " + tail
    links = parse_links(text, source="n.md")
    assert [(l.target, l.heading, l.alias, l.embed, l.start, l.end, l.line) for l in links] == expected


@PROPERTIES
@given(st.text(st.sampled_from("ab [](#|!`~\n%<>.:/\\") | st.characters(), max_size=200))
def test_any_text_parses_to_ordered_links_that_each_span_a_link(text: str) -> None:
    links = parse_links(text, source="n.md")
    assert all(a.end <= b.start for a, b in zip(links, links[1:]))
    for link in links:
        written = text[link.start : link.end]
        assert written.startswith(("[", "![")) and written.endswith(("]]", ")")) and link.target.strip()
        assert link.line == 1 + text.count("\n", 0, link.start)


@PROPERTIES
@given(st.lists(st.tuples(PROSE, wikilinks()), max_size=4))
def test_nothing_inside_a_fence_is_a_link(pieces: list[tuple[str, Link]]) -> None:
    inside = "".join(prose + link.markup for prose, link in pieces)
    assert parse_links(f"before\n```text\n{inside}\n```\nafter", source="n.md") == []


# --- resolution (pure) -------------------------------------------------------------------------

VAULT_NAMES = [
    NoteName("v/Payments.md", ("Idempotency keys", "idem")),
    NoteName("v/kafka/Kafka retries.md"),
    NoteName("v/Index.md"),
    NoteName("v/ops/Index.md"),
    NoteName("v/ops/Checklist.md"),
    NoteName("v/ops/runbooks/archive/Checklist.md"),
    NoteName("v/Checklists.md", ("Checklist",)),
    NoteName("v/notes.txt"),
]


@pytest.mark.parametrize(
    ("target", "source", "kind", "expected"),
    [
        ("payments", "v/x.md", "wikilink", "v/Payments.md"),  # a file name, any case
        ("Payments.md", "v/x.md", "wikilink", "v/Payments.md"),
        ("v/kafka/Kafka retries", "v/x.md", "wikilink", "v/kafka/Kafka retries.md"),  # a path from the root
        ("kafka/kafka retries", "v/x.md", "wikilink", "v/kafka/Kafka retries.md"),  # a partial path
        ("../Payments.md", "v/kafka/k.md", "markdown", "v/Payments.md"),  # relative to the linking note
        ("./Index", "v/ops/r.md", "wikilink", "v/ops/Index.md"),
        ("Kafka%20retries.md", "v/x.md", "markdown", None),  # decoding is the parser's; as given, no such name
        ("Kafka retries.md", "v/kafka/k.md", "markdown", "v/kafka/Kafka retries.md"),
        ("IDEM", "v/kafka/k.md", "wikilink", "v/Payments.md"),  # an alias
        ("Checklist", "v/ops/runbooks/r.md", "wikilink", "v/ops/Checklist.md"),  # a name beats an alias; clash: shortest path
        ("Checklist", "v/ops/runbooks/archive/r.md", "wikilink", "v/ops/runbooks/archive/Checklist.md"),  # clash: own folder first
        ("Index", "v/ops/runbook.md", "wikilink", "v/ops/Index.md"),  # own folder
        ("Index", "v/kafka/k.md", "wikilink", "v/Index.md"),  # else the shortest path
        ("notes", "v/x.md", "wikilink", "v/notes.txt"),
        ("Missing note", "v/x.md", "wikilink", None),
        ("../../outside.md", "v/x.md", "markdown", None),
    ],
)
def test_resolution_follows_obsidian(target: str, source: str, kind: str, expected: str | None) -> None:
    assert Resolver(VAULT_NAMES).resolve_target(target, source=source, kind=kind) == expected  # type: ignore[arg-type]


def test_the_link_list_puts_found_chunks_of_linked_notes_first_then_the_linked_section() -> None:
    def chunk(chunk_id: str, path: str, heading_path: str, ordinal: int) -> StoredChunk:
        return StoredChunk(chunk_id, path, heading_path, ordinal, "text", path)

    chunks = [chunk("a0", "a.md", "A", 0), chunk("a1", "a.md", "A > Setup", 1), chunk("b0", "b.md", "B", 0),
              chunk("c0", "c.md", "C", 0), chunk("c1", "c.md", "C > Setup", 1)]
    linked = {"a.md": {"setup"}, "b.md": {None}, "c.md": {None}}
    assert link_ranking(["x", "c1", "y"], chunks, linked) == ["c1", "a1", "b0"]


# --- the index ---------------------------------------------------------------------------------

VAULT = {
    "Payments.md": "---\naliases: [Idempotency keys, idem]\n---\n# Payments\n\nDouble charges stop here; failures go to"
                   " [[Kafka retries#Dead letters|the DLQ]].\n\n![[Payments flow.png]]\n\n## Keys\n\nOne key per operation.\n",
    "kafka/Kafka retries.md": "# Kafka retries\n\nRetries must be safe: see [[idempotency keys]] and [[Tenant isolation]].\n\n"
                              "## Dead letters\n\nPark poison records, replay them after [the fix](../Payments.md#Keys).\n\n"
                              "```\n[[Not a link]]\n```\n",
    "Index.md": "# Home\n\nStart at ![[Payments#Keys]].\n",
    "ops/Index.md": "# Ops index\n\nOn call notes.\n",
    "ops/Runbook.md": "# Runbook\n\nBack to [[Index]].\n",
    "journal/Day.md": "# Day\n\nRead the [[Index]].\n",
}


@pytest.fixture
def vault(tmp_path: Path, fake_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace holding a small vault under v/, indexed with the fake's embeddings."""
    ws = tmp_path / "ws"
    for rel, text in VAULT.items():
        (ws / "v" / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / "v" / rel).write_text(text, encoding="utf-8")
    (ws / "scribe.toml").write_text(f'ollama_host = "{HOST}"\nembed_model = "{EMBED_MODEL}"\n[index]\nnotes = ["v"]\n', encoding="utf-8")
    for var in ("SCRIBE_ENGINE", "OLLAMA_HOST", "SCRIBE_EMBED_MODEL", "SCRIBE_WORKSPACE", "SCRIBE_CHROMA_URL"):
        monkeypatch.delenv(var, raising=False)
    return ws


def test_scribe_links_lists_resolved_links_and_backlinks(vault: Path) -> None:
    first = ok(vault, "index", "--json").json()
    assert first["dangling_links"] == ["v/kafka/Kafka retries.md:3: [[Tenant isolation]]: no note named 'Tenant isolation'"]
    payments = ok(vault, "links", "v/Payments.md", "--json").json()
    assert [(r["target"], r["heading"], r["alias"], r["line"], r["to"]) for r in payments["outgoing"]] == [
        ("Kafka retries", "Dead letters", "the DLQ", 6, "v/kafka/Kafka retries.md"),
    ]
    assert [(r["source"], r["line"], r["embed"], r["kind"]) for r in payments["backlinks"]] == [
        ("v/Index.md", 3, True, "wikilink"),
        ("v/kafka/Kafka retries.md", 3, False, "wikilink"),
        ("v/kafka/Kafka retries.md", 7, False, "markdown"),
    ]
    assert payments["outgoing"][0]["chunk_id"] is not None
    text = ok(vault, "links", "kafka retries").stdout  # by name, as a link gives it
    assert "[[Tenant isolation]] -> dangling: no note named 'Tenant isolation'" in text
    assert "v/Payments.md:6: [[Kafka retries#Dead letters|the DLQ]]" in text
    assert [r["source"] for r in ok(vault, "links", "v/Index.md", "--json").json()["backlinks"]] == ["v/journal/Day.md"]
    assert [r["source"] for r in ok(vault, "links", "v/ops/Index.md", "--json").json()["backlinks"]] == ["v/ops/Runbook.md"]


def test_a_note_not_in_the_index_is_a_one_line_error(vault: Path) -> None:
    ok(vault, "index")
    assert "Nowhere: no note by that path or name in the index" in one_line_error(scribe(vault, "links", "Nowhere"))


def test_links_follow_notes_as_they_change_appear_and_go(vault: Path) -> None:
    ok(vault, "index")
    (vault / "v" / "Tenant isolation.md").write_text("# Tenant isolation\n\nRow-level security.\n", encoding="utf-8")
    added = ok(vault, "index", "--json").json()
    assert added["dangling_links"] == [] and added["files_changed"] == 0  # the linking note was not read again
    retries = vault / "v" / "kafka" / "Kafka retries.md"
    retries.write_text("# Kafka retries\n\nOnly [[Gone]] now.\n", encoding="utf-8")
    (vault / "v" / "Index.md").unlink()
    changed = ok(vault, "index", "--json").json()
    assert changed["dangling_links"] == ["v/kafka/Kafka retries.md:3: [[Gone]]: no note named 'Gone'"]
    assert ok(vault, "links", "Payments", "--json").json()["backlinks"] == []
    day = ok(vault, "links", "v/journal/Day.md", "--json").json()
    assert [r["to"] for r in day["outgoing"]] == ["v/ops/Index.md"]  # v/Index.md is gone: the other Index now


def test_scribe_index_and_doctor_report_dangling_links(vault: Path) -> None:
    for n in range(7):
        (vault / "v" / f"todo-{n}.md").write_text(f"# Todo {n}\n\nWrite [[Draft {n}]].\n", encoding="utf-8")
    out = ok(vault, "index").stdout.splitlines()
    start = out.index("8 dangling links:")
    assert out[start + 1 :] == [
        "  v/kafka/Kafka retries.md:3: [[Tenant isolation]]: no note named 'Tenant isolation'",
        *(f"  v/todo-{n}.md:3: [[Draft {n}]]: no note named 'Draft {n}'" for n in range(4)),
        "  ... and 3 more (scribe index --json lists them all)",
    ]
    check = links_check(vault)
    assert check is not None and check.ok and check.detail.startswith("8 dangling (a link to no note): v/kafka/Kafka retries.md:3:")


def test_an_index_from_before_links_gets_them_without_embedding_again(vault: Path, fake_server: FakeModelServer) -> None:
    ok(vault, "index")
    db = sqlite3.connect(vault / ".scribe" / "fts.sqlite")
    db.executescript("DROP TABLE links; DROP TABLE link_notes; PRAGMA user_version = 1;")
    db.close()
    assert "notes were indexed before scribe kept links" in links_check(vault).detail  # type: ignore[union-attr]
    embedded = len(fake_server.embeds)
    again = ok(vault, "index", "--json").json()
    assert again["chunks_embedded"] == 0 and len(fake_server.embeds) == embedded
    assert [r["to"] for r in ok(vault, "links", "Payments", "--json").json()["outgoing"]] == ["v/kafka/Kafka retries.md"]


def test_retrieval_ranks_chunks_of_notes_linked_with_the_draft_higher(vault: Path, fake_server: FakeModelServer) -> None:
    ok(vault, "index")
    query, runbook, retries = "what happens to the poison records", "v/ops/Runbook.md", "v/kafka/Kafka retries.md"
    with open_index(open_workspace(vault, env={})) as index:
        def ranked(text: str, draft: str | None = None, links: bool = True) -> list[tuple[str, int | None]]:
            return [(s.path, s.link_rank) for s in retrieve(index, fake_server, text, k=5, per_file=1, draft=draft, links=links)]

        assert "v/ops/Index.md" not in dict(ranked(query))
        assert ranked(query, draft=runbook)[:2] == [(retries, None), ("v/ops/Index.md", 1)]  # the draft links to it
        assert ranked(query, draft="v/ops/Index.md")[:2] == [(retries, None), (runbook, 1)]  # it links to the draft
        written = query + ", see [[Index]]"  # resolved from the draft's folder: ops/Index, not the root Index
        assert [path for path, _ in ranked(written, draft=runbook, links=False)].index("v/ops/Index.md") == 3
        assert ranked(written, draft=runbook)[0] == ("v/ops/Index.md", 1)


def test_a_task_on_a_draft_draws_on_the_notes_that_link_to_it(vault: Path, fake_server: FakeModelServer) -> None:
    notes = vault / "v" / "w"
    notes.mkdir()
    draft = "# Webhook retries\n\nPayment webhook retries need jitter and an idempotency key per charge.\n"
    (notes / "Webhook retries.md").write_text(draft, encoding="utf-8")
    (notes / "Garden.md").write_text("# Garden\n\nTomatoes want sun; see [[Webhook retries]].\n", encoding="utf-8")
    for n in range(6):  # notes sharing the draft's words, which the text alone ranks first
        (notes / f"Near {n}.md").write_text(f"# Near {n}\n\nPayment webhook retries, jitter and keys, case {n}.\n", encoding="utf-8")
    ok(vault, "index")
    by_text = ok(vault, "search", draft, "-k", "3", "--json").json()
    assert "v/w/Garden.md" not in {hit["path"] for hit in by_text}
    critique = ok(vault, "critique", str(notes / "Webhook retries.md"), "-k", "3", "--json").json()
    assert "v/w/Garden.md" in {source["path"] for source in critique["sources"]}  # it links to the draft
    alone = tuple(source["path"] for source in critique["sources"])
    ok(vault, "bench", "--drafts", str(notes), "--task", "critique", "-n", "1", "-k", "3", "--out", str(vault / "bench"))
    with RunLog(vault / ".scribe" / "runs.sqlite") as log:
        benched = {tuple(s["path"] for s in r.sources) for r in log.recent(50) if r.meta.bench and r.meta.draft == "v/w/Webhook retries.md"}
    assert benched == {alone}  # a bench measures the prompt the author's own task sends
