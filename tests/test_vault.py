"""An Obsidian vault as a workspace: tags (pure), attachments, what discovery leaves out, how the
workspace is found, and `scribe index` / `search --tag` / a task's `--tag` on a vault as it is,
against the fake model server (one real-engine test at the end)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from cli_support import ok, scribe
from fake_server import CHAT_MODEL, EMBED_MODEL, HOST, FakeModelServer

from scribe.config import open_workspace
from scribe.notes import Skip, attachment_kind, discover_notes, parse_note
from scribe.tags import body_tags, frontmatter_tags, has_tag

PNG = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89"

VAULT = {
    ".obsidian/app.json": '{"attachmentFolderPath": "attachments"}\n',
    ".obsidian/workspace.json": '{"main": {}}\n',
    ".trash/Old idea.md": "# Old idea\n\nzebracorn thoughts thrown away.\n",
    "Projects/Alpha.md": "---\naliases: [Project A, The Alpha]\ntags: [project/alpha, Active]\n---\n# Alpha\n\nThe alpha launch plan and its rollout. #planning\n",
    "Projects/Beta.md": "---\ntags: project/beta, paused\nalias: B\n---\n# Beta\n\nThe beta retry budget and its backoff.\n",
    "Daily/2024-05-01.md": (
        "# May 1\n\nMet about the launch #meeting (ticket #1984), see [[Alpha#Plan]].\n\n"
        "```python\n#not-a-tag\n```\n"
    ),
    "Inbox.md": "Loose thoughts on `#code` and https://example.org/#fragment, and a #project idea.\n",
    "Board.canvas": '{"nodes": [], "edges": []}\n',
}


def make_vault(root: Path) -> Path:
    """A tiny vault: settings, trash, notes with tags and aliases, an image, a PDF and a canvas."""
    for rel, text in VAULT.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    (root / "attachments").mkdir()
    (root / "attachments" / "diagram.png").write_bytes(PNG)
    (root / "attachments" / "paper.pdf").write_bytes(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n")
    return root


@pytest.fixture
def vault(tmp_path: Path, fake_server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The vault with no scribe.toml: the fake model server is named by the environment."""
    for var in ("SCRIBE_ENGINE", "SCRIBE_MODEL", "SCRIBE_WORKSPACE", "SCRIBE_CHROMA_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("OLLAMA_HOST", HOST)
    monkeypatch.setenv("SCRIBE_EMBED_MODEL", EMBED_MODEL)
    return make_vault(tmp_path / "vault")


# --- tags (pure) -------------------------------------------------------------------------------


def test_body_tags_follow_obsidians_rules() -> None:
    text = (
        "#start of a line, #nested/tag/deep, #with-dash_and_underscore. #Planning and #planning again\n"
        "# A heading is not a tag, ## nor is this\n"
        "#1984 and #2024/05 are numbers; #y2024 is a tag\n"
        "[[Note#Heading]], [link](#section), https://example.org/page#part, issue#12 and \\#escaped are not tags\n"
        "`#inline-code` is code, %%#in-a-comment%% is a comment\n"
        "```\n#fenced\n```\n"
        "~~~~\n#tilde-fenced\n```\n#still-fenced\n~~~~\n"
        "after the fence: #café and #trailing/\n"
    )
    assert body_tags(text) == ["start", "nested/tag/deep", "with-dash_and_underscore", "Planning", "y2024", "café", "trailing"]


def test_frontmatter_tags_take_a_list_or_a_string_of_tags() -> None:
    assert frontmatter_tags(["a", "#b", "project/x"]) == ["a", "b", "project/x"]
    assert frontmatter_tags("a, b c,,#d") == ["a", "b", "c", "d"]
    assert frontmatter_tags("A, a") == ["A"]
    assert frontmatter_tags(None) == [] and frontmatter_tags(True) == []


@pytest.mark.parametrize(("wanted", "matched"), [
    ("project", True), ("PROJECT", True), ("#project", True), ("project/alpha", True), ("Project/Alpha/", True),
    ("proj", False), ("project/al", False), ("alpha", False), ("", False),
])
def test_a_tag_filter_takes_the_tags_nested_under_it(wanted: str, matched: bool) -> None:
    assert has_tag(["Project/Alpha", "other"], wanted) is matched


@pytest.mark.parametrize(("name", "kind"), [
    ("a.md", None), ("b.MARKDOWN", None), ("c.txt", None), ("d.png", "an image"), ("e.PDF", "a PDF"),
    ("f.canvas", "an Obsidian canvas"), ("g.mp3", "an audio file"), ("h.excalidraw.md", "an Excalidraw drawing"),
    ("i.docx", "a .docx file"), ("Makefile", "a file without a note suffix"),
])
def test_attachments_are_told_apart_from_notes(name: str, kind: str | None) -> None:
    assert attachment_kind(Path(name)) == kind


def test_a_notes_tags_and_aliases_come_from_the_frontmatter_and_the_body(tmp_path: Path) -> None:
    root = make_vault(tmp_path / "v")
    alpha = parse_note(root / "Projects" / "Alpha.md", root=root)
    beta = parse_note(root / "Projects" / "Beta.md", root=root)
    daily = parse_note(root / "Daily" / "2024-05-01.md", root=root)
    assert alpha is not None and beta is not None and daily is not None
    assert (alpha.tags, alpha.aliases) == (["project/alpha", "Active", "planning"], ["Project A", "The Alpha"])
    assert (beta.tags, beta.aliases) == (["project/beta", "paused"], ["B"])
    assert daily.tags == ["meeting"]


# --- discovery and the workspace ---------------------------------------------------------------


def test_discovery_takes_a_vaults_notes_and_says_why_it_left_the_rest(tmp_path: Path) -> None:
    root = make_vault(tmp_path / "v")
    skipped: dict[str, Skip] = {}
    notes = discover_notes([root], root=root, on_skip=lambda path, skip: skipped.update({path.relative_to(root).as_posix(): skip}))
    assert [p.relative_to(root).as_posix() for p in notes] == ["Daily/2024-05-01.md", "Inbox.md", "Projects/Alpha.md", "Projects/Beta.md"]
    assert {rel: skip.reason for rel, skip in skipped.items()} == {
        ".obsidian": "hidden", ".trash": "hidden", "Board.canvas": "attachment",
        "attachments/diagram.png": "attachment", "attachments/paper.pdf": "attachment",
    }
    assert "Obsidian's settings" in skipped[".obsidian"].detail and "Obsidian's trash" in skipped[".trash"].detail
    assert skipped["attachments/paper.pdf"].detail == "a PDF, not a note"


def test_a_vault_is_a_workspace_whose_notes_are_all_its_markdown(tmp_path: Path) -> None:
    root = make_vault(tmp_path / "v")
    ws = open_workspace(root / "Daily", env={})
    assert ws.root == root.resolve() and ws.is_vault
    assert ws.settings.index.notes == ["."]
    assert ws.state_dir == root.resolve() / ".scribe"


def test_a_scribe_toml_in_the_vault_still_chooses_the_notes(tmp_path: Path) -> None:
    root = make_vault(tmp_path / "v")
    (root / "scribe.toml").write_text('[index]\nnotes = ["Projects"]\n', encoding="utf-8")
    assert open_workspace(root / "Daily", env={}).settings.index.notes == ["Projects"]


def test_a_stray_state_folder_above_a_vault_does_not_claim_it_but_a_scribe_toml_does(tmp_path: Path) -> None:
    root = make_vault(tmp_path / "home" / "vault")
    (tmp_path / "home" / ".scribe").mkdir()  # left by any command once run in the home folder
    assert open_workspace(root / "Projects", env={}).root == root.resolve()
    (tmp_path / "home" / "scribe.toml").write_text('[index]\nnotes = ["vault"]\n', encoding="utf-8")
    ws = open_workspace(root / "Projects", env={})
    assert ws.root == (tmp_path / "home").resolve() and not ws.is_vault and ws.settings.index.notes == ["vault"]


# --- the CLI on a vault (fake model server) ----------------------------------------------------


def search_paths(ws: Path, query: str, *tags: str) -> list[str]:
    ran = ok(ws, "search", query, "-k", "10", "--per-file", "1", "--json", *(arg for tag in tags for arg in ("--tag", tag)))
    return sorted(hit["path"] for hit in ran.json())


def test_index_and_search_a_vault_as_it_is(vault: Path, fake_server: FakeModelServer) -> None:
    ran = ok(vault / "Daily", "index", "--json")  # from a folder inside the vault
    report = ran.json()
    # skipped: .obsidian/, .trash/, .scribe/ (made by this run), the canvas, the image and the PDF
    assert (report["files_new"], report["files_skipped"], report["warnings"]) == (4, 6, [])
    assert (vault / ".scribe").is_dir() and not (vault / "Daily" / ".scribe").exists()
    embedded = " ".join(text for batch in fake_server.embeds for text in batch)
    assert "zebracorn" not in embedded and "nodes" not in embedded

    assert search_paths(vault, "launch plan retry") == ["Daily/2024-05-01.md", "Inbox.md", "Projects/Alpha.md", "Projects/Beta.md"]
    assert search_paths(vault, "launch plan retry", "project") == ["Inbox.md", "Projects/Alpha.md", "Projects/Beta.md"]  # Inbox: #project
    assert search_paths(vault, "launch plan retry", "project/alpha") == ["Projects/Alpha.md"]
    assert search_paths(vault, "launch plan retry", "PROJECT", "active") == ["Projects/Alpha.md"]
    assert search_paths(vault, "launch plan retry", "meeting") == ["Daily/2024-05-01.md"]
    assert search_paths(vault, "launch plan retry", "proj") == []


def test_tags_and_aliases_are_stored_with_each_chunk(vault: Path) -> None:
    from scribe.index import open_index

    ok(vault, "index")
    with open_index(open_workspace(vault)) as index:
        ids = index.load_manifest().files["Projects/Alpha.md"].chunk_ids
        metadata = index.vectors.metadatas(ids)
    assert {json.dumps(m["tags"]) for m in metadata.values()} == {'["project/alpha", "Active", "planning"]'}
    assert {json.dumps(m["aliases"]) for m in metadata.values()} == {'["Project A", "The Alpha"]'}


def test_a_task_grounds_itself_only_in_the_notes_with_the_tag(vault: Path, fake_server: FakeModelServer) -> None:
    ok(vault, "index")
    ran = ok(vault, "outline", "--topic", "launch plan and retry budget", "--tag", "project/beta", "--json")
    assert {source["path"] for source in ran.json()["sources"]} == {"Projects/Beta.md"}


def test_a_mistyped_notes_folder_leaves_no_state_folder_behind(tmp_path: Path, fake_server: FakeModelServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OLLAMA_HOST", HOST)
    folder = tmp_path / "documents"
    folder.mkdir()
    ran = scribe(folder, "index", "nots")
    assert ran.code == 1 and "nots: no such file or folder" in ran.stderr
    assert not (folder / ".scribe").exists()


def test_the_app_opens_on_a_vault_and_f8_indexes_its_notes(vault: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pilot_support import SIZE, until

    from textual.widgets import DirectoryTree

    from scribe.tui.app import ScribeApp

    monkeypatch.setenv("SCRIBE_MODEL", CHAT_MODEL)
    app = ScribeApp(open_workspace(vault / "Projects"), vault / "Projects" / "Alpha.md", warm_pause=None)

    def index_status() -> str:
        return str(app.main.status.query_one("#index-status").render())

    async def scenario() -> None:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: "not built" in index_status(), "the index status")
            await pilot.press("f8")
            await until(pilot, lambda: index_status().startswith("index: 4 notes"), "the re-index")
            assert Path(app.main.query_one("#tree", DirectoryTree).path) == vault.resolve()

    asyncio.run(scenario())
    assert (vault / ".scribe" / "tui.json").is_file()


# --- for real --------------------------------------------------------------------------------


def test_the_engine_indexes_a_vault_that_search_then_filters_by_tag(workspace: Path) -> None:
    """The session engine's embeddings and a real Chroma store: the scribe.toml names only the engine,
    so the vault's notes are its markdown files."""
    make_vault(workspace)
    assert ok(workspace, "index", "--json").json()["files_new"] == 4
    assert search_paths(workspace, "retry budget and backoff", "project/beta") == ["Projects/Beta.md"]
    assert search_paths(workspace, "retry budget and backoff", "project") == ["Inbox.md", "Projects/Alpha.md", "Projects/Beta.md"]
