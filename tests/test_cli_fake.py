"""The `scribe` command against the fake model server: the real entry point, the real notes index
(Chroma and FTS5 on disk), prompts, schemas and run log, in this process and in seconds.

The fake answers instantly and obediently, so these tests check what scribe does around a model:
what it sends (sources, schemas, options), what it logs, what it prints, and how it fails. What a
real model does with it is for the engine tests (tests/test_cli.py, tests/test_tasks.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cli_support import ok, one_line_error, scribe
from fake_server import (
    CHAT_MODEL,
    DEFAULT_TEXT,
    EMBED_MODEL,
    HOST,
    FakeModelServer,
    Reply,
    pieces,
)

DRAFT = Path("notes") / "drafts" / "idempotency-in-payment-flows.md"


def runs(ws: Path) -> list[dict[str, Any]]:
    return ok(ws, "log", "--json", "-n", "100").json()


@pytest.fixture
def indexed(fake_workspace: Path) -> Path:
    ok(fake_workspace, "index")
    return fake_workspace


def test_index_embeds_with_the_configured_model_then_only_what_changed(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    first = ok(fake_workspace, "index", "--json").json()
    notes = len([p for p in (fake_workspace / "notes").rglob("*") if p.suffix in (".md", ".txt")])
    assert first["files_scanned"] == first["files_new"] == notes
    embedded = sum(len(batch) for batch in fake_server.embeds)
    assert embedded == first["chunks_embedded"] == first["chunks_total"] > notes
    assert max(len(batch) for batch in fake_server.embeds) <= 16  # [index] embed_batch_size

    again = ok(fake_workspace, "index", "--json").json()
    assert again["chunks_embedded"] == 0 and sum(len(b) for b in fake_server.embeds) == embedded

    note = fake_workspace / "notes" / "rbac-for-admin-workflows.md"
    note.write_text(note.read_text(encoding="utf-8") + "\n\n## Break-glass access\n\nA sealed admin role for outages.\n", encoding="utf-8")
    changed = ok(fake_workspace, "index", "--json").json()
    assert changed["files_changed"] == 1 and 0 < changed["chunks_embedded"] < 5


def test_search_ranks_the_note_that_shares_the_query_words(indexed: Path, fake_server: FakeModelServer) -> None:
    before = len(fake_server.embeds)
    query = "tenant isolation with row level security"
    hits = ok(indexed, "search", query, "--mode", "vector", "--json").json()
    assert hits and hits[0]["path"] == "notes/tenant-isolation-rls-schema-db.md"
    assert fake_server.embeds[before:] == [[query]]
    keyword = ok(indexed, "search", query, "--mode", "keyword", "--json").json()
    assert keyword and len(fake_server.embeds) == before + 1  # keyword search embeds nothing


def test_outline_sends_the_schema_and_the_sources_and_logs_the_run(indexed: Path, fake_server: FakeModelServer) -> None:
    result = ok(indexed, "outline", str(indexed / DRAFT), "--sections", "3", "-k", "4", "--json").json()
    assert result["status"] == "ok" and result["model"] == CHAT_MODEL
    assert [len(s["bullets"]) for s in result["outline"]["sections"]] == [2, 2, 2]
    assert result["output"].startswith("# ") and result["output"].count("\n## ") == 3

    (chat,) = fake_server.chats
    assert isinstance(chat.format, dict)
    sections = chat.format["properties"]["sections"]
    assert sections["minItems"] == sections["maxItems"] == 3
    assert "4" in sections["items"]["properties"]["bullets"]["items"]["pattern"]  # cites only the 4 sources given
    sources = result["sources"]
    assert len(sources) == 4 and all(s["path"] in chat.prompt for s in sources)
    assert DRAFT.as_posix() not in {s["path"] for s in sources}  # the draft is not its own source
    assert "charges someone twice" in chat.prompt

    (run,) = runs(indexed)
    assert (run["id"], run["task"], run["status"], run["host"]) == (result["run_id"], "outline", "ok", HOST)
    assert run["sources"] == sources and run["meta"]["format"] == chat.format
    assert run["eval_count"] == 5 and run["eval_tps"] == pytest.approx(100.0)
    assert run["prompt_eval_count"] == len(chat.prompt.split()) and run["prompt_tps"] == pytest.approx(10_000)
    assert run["ttft_ms"] is not None and run["model_digest"] == fake_server.digest(CHAT_MODEL)
    assert run["meta"]["via"] == "cli" and run["meta"]["sections"] == 3


def test_outline_retries_a_reply_that_is_not_json_once(indexed: Path, fake_server: FakeModelServer) -> None:
    fake_server.script("Sure! Here is an outline:\n# Payments")
    result = ok(indexed, "outline", str(indexed / DRAFT), "--json").json()
    assert result["attempts"] == 2 and result["outline"]["parsed"]
    first, second = sorted(runs(indexed), key=lambda r: r["id"])
    assert first["status"] == second["status"] == "ok"
    assert second["meta"]["retry_of"] == first["id"] and len(fake_server.chats) == 2


def test_critique_json_quotes_only_the_drafts_sentences(indexed: Path, fake_server: FakeModelServer) -> None:
    result = ok(indexed, "critique", str(indexed / DRAFT), "--json").json()
    assert result["status"] == "ok"
    critique = result["critique"]
    assert critique["parsed"] and critique["ungrounded"] == 0 and len(critique["issues"]) == 2
    assert {issue["severity"] for issue in critique["issues"]} <= {"low", "medium", "high"}
    (chat,) = fake_server.chats
    quotes = chat.format["properties"]["issues"]["items"]["properties"]["quote"]["enum"]
    draft = (indexed / DRAFT).read_text(encoding="utf-8")
    assert all(q in draft for q in quotes) and {i["quote"] for i in critique["issues"]} <= set(quotes)


def test_expand_in_place_keeps_a_backup_and_the_heading(indexed: Path, fake_server: FakeModelServer) -> None:
    draft = indexed / DRAFT
    before = draft.read_text(encoding="utf-8")
    fake_server.script("Retries are how a distributed system recovers from not knowing.")
    ok(indexed, "expand", str(draft), "--section", "Why retries are unavoidable", "--words", "60", "--in-place")
    after = draft.read_text(encoding="utf-8")
    assert "## Why retries are unavoidable\n\nRetries are how a distributed system recovers" in after
    assert "Networks drop responses." not in after and "## The idempotency key" in after
    (backup,) = draft.parent.glob(f"{draft.name}*.bak")
    assert backup.read_text(encoding="utf-8") == before
    (chat,) = fake_server.chats
    assert "about 60 words" in chat.prompt and chat.format is None


def test_expand_in_place_cut_off_by_the_token_limit_writes_only_complete_sentences(indexed: Path, fake_server: FakeModelServer) -> None:
    draft = indexed / DRAFT
    kept = "Retries are how a distributed system recovers from not knowing."
    fake_server.script(Reply(f"{kept} The server looks the key up in `idempotency_ke", done_reason="length"))
    ran = ok(indexed, "expand", str(draft), "--section", "Why retries are unavoidable", "--in-place")
    after = draft.read_text(encoding="utf-8")
    assert f"## Why retries are unavoidable\n\n{kept}\n\n## The idempotency key" in after
    assert "idempotency_ke\n" not in after and "looks the key up" not in after
    (note,) = [line for line in ran.stderr.splitlines() if line.startswith("note: the expansion was cut off")]
    assert "last complete sentence" in note and "num_predict" in note


def test_an_expansion_that_repeats_itself_is_stopped_and_goes_in_up_to_its_loop(indexed: Path, fake_server: FakeModelServer) -> None:
    draft = indexed / DRAFT
    kept = "Retries are how a distributed system recovers from not knowing what happened."
    again = "A retry is only safe when the server can recognise it as one."
    loop = f"{kept}\n\nFirst, the client. {again}\n\n" + "".join(f"Then case {n}. {again}\n\n" for n in range(20))
    fake_server.script(Reply(loop, chunks=80))
    ran = ok(indexed, "expand", str(draft), "--section", "Why retries are unavoidable", "--in-place")
    after = draft.read_text(encoding="utf-8")
    assert f"## Why retries are unavoidable\n\n{kept}\n\nFirst, the client. {again}\n\n## The idempotency key" in after
    assert "Then case" not in after
    assert "began repeating itself" in ran.stderr
    (run,) = runs(indexed)
    assert run["status"] == "ok" and run["done_reason"] == "looping"
    assert run["output_text"].count(again) == 2 and "Then case 1." not in run["output_text"]  # ended at the first repeat


def test_critique_json_lists_the_issues_as_the_markdown_numbers_them(indexed: Path, fake_server: FakeModelServer) -> None:
    quotes = ["Most teams only find this out after their first large incident.", "Networks drop responses."]
    fake_server.script(json.dumps({"summary": "s", "issues": [
        {"severity": "high", "quote": quotes[0], "problem": "no source", "suggestion": "cite one"},
        {"severity": "low", "quote": quotes[1], "problem": "vague", "suggestion": "say which"},
    ]}))
    result = ok(indexed, "critique", str(indexed / DRAFT), "--json").json()
    assert [issue["quote"] for issue in result["critique"]["issues"]] == quotes[::-1]  # as the draft has them
    assert result["output"].index(f"1. **low**: > {quotes[1]}") < result["output"].index(f"2. **high**: > {quotes[0]}")


def critique_issue(quote: str) -> dict[str, str]:
    return {"severity": "medium", "quote": quote, "problem": f"vague: {quote}", "suggestion": "say when",
            "replacement": f"{quote[:-1]}, as the incident review showed."}


def test_a_critique_that_repeats_an_issue_is_stopped_there_and_keeps_the_issues_before(indexed: Path, fake_server: FakeModelServer) -> None:
    first, looped = "Most teams only find this out after their first large incident.", "Networks drop responses."
    issues = [critique_issue(first)] + [critique_issue(looped)] * 6
    loop = json.dumps({"summary": "Vague in places.", "issues": issues})[:-20]  # cut off inside the sixth repeat
    fake_server.script(Reply(loop, chunks=60, done_reason="length"))
    result = ok(indexed, "critique", str(indexed / DRAFT), "--json").json()
    critique = result["critique"]
    assert critique["parsed"] and critique["stopped"] == "looping"
    assert [i["quote"] for i in critique["issues"]] == [looped, first]  # as the draft has them
    assert "began repeating" in result["output"]
    (run,) = runs(indexed)  # stopped, not retried
    assert run["status"] == "ok" and run["done_reason"] == "looping"
    assert run["output_text"].count(f'"quote": "{looped}"') == 2 and len(run["output_text"]) < len(loop) / 2  # ended at the first repeat


def test_a_critique_cut_off_by_the_token_limit_keeps_its_complete_issues(indexed: Path, fake_server: FakeModelServer) -> None:
    whole = ["Most teams only find this out after their first large incident.", "Networks drop responses."]
    reply = json.dumps({"summary": "Vague in places.", "issues": [critique_issue(q) for q in whole]})
    fake_server.script(Reply(reply[: reply.rindex('"replacement"')], done_reason="length"))
    critique = ok(indexed, "critique", str(indexed / DRAFT), "--json").json()["critique"]
    assert critique["parsed"] and critique["stopped"] == "length"
    assert [i["quote"] for i in critique["issues"]] == whole[:1]
    assert len(fake_server.chats) == 1  # a retry would be cut off at the same length


def test_ask_streams_the_answer_and_logs_its_options(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ran = ok(fake_workspace, "ask", "What is an outbox table?", "--seed", "5", "--num-predict", "20", "--system", "Be brief.")
    assert ran.stdout.strip() == DEFAULT_TEXT
    assert f"run 1 · {CHAT_MODEL} · TTFT" in ran.stderr and "100.0 tok/s" in ran.stderr
    (chat,) = fake_server.chats
    assert chat.messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is an outbox table?"}]
    assert chat.options == {"num_predict": 20, "seed": 5}
    (run,) = runs(fake_workspace)
    assert run["output_text"] == DEFAULT_TEXT and run["options"] == {"num_predict": 20, "seed": 5}
    shown = ok(fake_workspace, "log", "show", "1")
    assert "What is an outbox table?" in shown.stdout and "eval: 5 tokens in 50.0 ms" in shown.stdout


def test_models_and_doctor_see_the_registered_server(fake_workspace: Path) -> None:
    listed = ok(fake_workspace, "models", "--json").json()
    assert [m["name"] for m in listed] == [CHAT_MODEL, EMBED_MODEL]
    checks = {c["name"]: c for c in ok(fake_workspace, "doctor", "--json").json()}
    assert all(c["ok"] for c in checks.values()), checks
    assert checks["chat model"]["detail"].startswith(f"{CHAT_MODEL} present (the best writer this server has)")
    assert checks["offline-ready"]["detail"] == "yes"  # a server in this process is on this machine


def test_a_broken_stream_is_one_line_and_keeps_the_partial_text(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply(break_after=2))
    ran = scribe(fake_workspace, "ask", "hello")
    line = one_line_error(ran)
    assert ran.stdout.endswith("\n")  # the partial answer's line is closed before the error
    assert line.startswith(f"error: run 1 failed: stream from {HOST} broke after 2 chunks") and "partial output kept" in line
    (run,) = runs(fake_workspace)
    assert run["status"] == "failed" and run["output_text"] == "".join(pieces(DEFAULT_TEXT, 5)[:2])


def test_ctrl_c_mid_stream_says_what_is_kept_and_logs_the_run_cancelled(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply(interrupt_after=3))
    ran = scribe(fake_workspace, "outline", str(fake_workspace / DRAFT), "-k", "0")
    assert ran.code == 130 and "Traceback" not in ran.stderr
    assert any(line.startswith("interrupted: what finished is kept") for line in ran.stderr.splitlines())  # not glued to the partial JSON
    (run,) = runs(fake_workspace)
    assert run["status"] == "cancelled" and run["error"] == "interrupted" and len(run["output_text"]) > 0


def test_a_refused_or_unknown_model_is_one_line_with_the_fix(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    missing = one_line_error(scribe(fake_workspace, "ask", "hi", "--model", "mystery:7b"))
    assert "model 'mystery:7b' is not on" in missing and "scribe pull mystery:7b" in missing
    fake_server.script(Reply(refuse="num_ctx must be positive"))
    refused = one_line_error(scribe(fake_workspace, "ask", "hi", "--num-predict", "4"))
    assert refused == f"error: {HOST} refused the request: num_ctx must be positive"
    assert [r["status"] for r in runs(fake_workspace)] == ["failed", "failed"]


def test_an_unregistered_scheme_is_a_config_error_not_an_engine(fake_workspace: Path) -> None:
    line = one_line_error(scribe(fake_workspace, "ask", "hi", "--host", "grpc://models.local"))
    assert "grpc://models.local" in line and "http://" in line


def test_index_skips_a_link_out_of_the_workspace_and_says_so(fake_workspace: Path, tmp_path: Path, fake_server: FakeModelServer) -> None:
    secret = tmp_path / "elsewhere" / "diary.md"
    secret.parent.mkdir()
    secret.write_text("# Diary\n\nzebracorn plans for the weekend.\n", encoding="utf-8")
    (fake_workspace / "notes" / "diary.md").symlink_to(secret)

    ran = ok(fake_workspace, "index", "--json")
    warning = next(w for w in ran.json()["warnings"] if w.startswith("notes/diary.md:"))
    assert "outside the workspace" in warning and str(secret.resolve()) in warning and "follow_symlinks" in warning
    assert not any("zebracorn" in text for batch in fake_server.embeds for text in batch)

    with (fake_workspace / "scribe.toml").open("a", encoding="utf-8") as toml:
        toml.write("\n[index]\nfollow_symlinks = true\n")
    ok(fake_workspace, "index")
    assert any("zebracorn" in text for batch in fake_server.embeds for text in batch)
