"""Conversations: the history a follow-up sends (pure), and follow-ups, forks, cut-off turns and the
conversation commands against the fake model server, whose `chats` are the requests scribe sent.
What a real model receives is checked on the engine in tests/test_conversations_engine.py."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

import pytest
from cli_support import ok, one_line_error, scribe
from fake_server import FakeModelServer, Reply

from scribe import conversations
from scribe.conversations import CUT_OFF_NOTE, Exchange, follow_up, history
from scribe.runlog import MIGRATIONS, RunLog

DRAFT = Path("notes") / "drafts" / "idempotency-in-payment-flows.md"
TASK = ({"role": "system", "content": "You critique drafts."}, {"role": "user", "content": "The draft: ..."})


def log_of(ws: Path) -> RunLog:
    return RunLog(ws / ".scribe" / "runs.sqlite")


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


# -- the history (pure) ------------------------------------------------------------------------


def test_history_is_the_first_prompt_then_each_answer_and_follow_up() -> None:
    turns = [Exchange(TASK, '{"issues": []}', False), Exchange((user("Why?"),), "Because.", False)]
    assert history(turns, "Shorter, please.") == [
        *TASK, assistant('{"issues": []}'), user("Why?"), assistant("Because."), user("Shorter, please."),
    ]


def test_a_cut_off_answer_is_kept_and_the_next_user_message_says_so() -> None:
    turns = [Exchange(TASK, "The first half of an ans", True), Exchange((user("Go on."),), "", True)]
    assert history(turns, "Try again.") == [
        *TASK, assistant("The first half of an ans"), user(f"{CUT_OFF_NOTE}\n\nGo on."),
        assistant(""), user(f"{CUT_OFF_NOTE}\n\nTry again."),  # roles still alternate with nothing said
    ]


# -- follow-ups through the CLI ----------------------------------------------------------------


def test_ask_continue_sends_the_earlier_turns_and_joins_the_conversation(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script("Paris.", "About two million people.")
    first = ok(fake_workspace, "ask", "Capital of France?", "--json").json()
    ran = ok(fake_workspace, "ask", "-c", "How many live there?")
    assert fake_server.chats[-1].messages == [user("Capital of France?"), assistant("Paris."), user("How many live there?")]
    assert fake_server.chats[-1].options == {"num_predict": 256, "num_ctx": 2048}  # the conversation's options, sized
    assert ran.stdout.strip() == "About two million people."
    assert ran.stderr.splitlines()[-1].endswith(f" · conversation {first['conversation_id']} turn 2")
    third = ok(fake_workspace, "ask", "--cid", first["conversation_id"][:6], "And Lyon?", "--num-predict", "8", "--json").json()
    assert (third["conversation_id"], third["turn"]) == (first["conversation_id"], 3)
    assert fake_server.chats[-1].options == {"num_predict": 8, "num_ctx": 2048} and len(fake_server.chats[-1].messages) == 5


def test_a_task_result_is_continued_in_words_with_its_prompt_draft_and_json_answer(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    critique = ok(fake_workspace, "critique", str(fake_workspace / DRAFT), "-k", "0", "--json").json()
    asked = fake_server.chats[-1]
    assert asked.format is not None
    ok(fake_workspace, "ask", "-c", "Why is the first issue high severity?")
    followed = fake_server.chats[-1]
    assert followed.messages == [*asked.messages, assistant(critique["text"]), user("Why is the first issue high severity?")]
    assert followed.format is None and followed.options == asked.options
    turns = ok(fake_workspace, "log", "--conversation", critique["conversation_id"], "--json").json()
    assert [(t["turn"], t["task"], t["asked"], t["run_id"]) for t in turns] == [
        (1, "critique", "critique", critique["run_id"]), (2, "followup", "Why is the first issue high severity?", critique["run_id"] + 1),
    ]
    with log_of(fake_workspace) as log:
        follow = log.get(turns[1]["run_id"])
    assert follow is not None and follow.meta.draft == DRAFT.as_posix() and follow.sources == critique["sources"]
    [listed] = ok(fake_workspace, "log", "conversations", "--draft", str(fake_workspace / DRAFT), "--json").json()
    assert (listed["id"], listed["task"], listed["turns"]) == (critique["conversation_id"], "critique", 2)
    assert listed["first_words"].startswith("Why is the first issue")


def test_a_retried_critique_is_one_conversation_its_invalid_first_answer_is_not_listed(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script("not a critique")  # invalid JSON: the task asks again, and the default answer is valid
    critique = ok(fake_workspace, "critique", str(fake_workspace / DRAFT), "-k", "0", "--json").json()
    assert len(fake_server.chats) == 2
    listed = ok(fake_workspace, "log", "conversations", "--json").json()
    assert [c["id"] for c in listed] == [critique["conversation_id"]]


def test_a_fork_starts_a_new_conversation_and_leaves_the_original_untouched(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script("A1", "A2", "A3", "B2")
    cid = ok(fake_workspace, "ask", "Q1", "--json").json()["conversation_id"]
    ok(fake_workspace, "ask", "-c", "Q2")
    ok(fake_workspace, "ask", "-c", "Q3")
    before = ok(fake_workspace, "log", "--conversation", cid, "--json").json()
    fork = ok(fake_workspace, "ask", "--cid", cid, "--from-turn", "1", "Q2 instead", "--json").json()
    assert fake_server.chats[-1].messages == [user("Q1"), assistant("A1"), user("Q2 instead")]
    assert fork["conversation_id"] != cid and fork["turn"] == 2
    assert ok(fake_workspace, "log", "--conversation", cid, "--json").json() == before
    forked = ok(fake_workspace, "log", "--conversation", fork["conversation_id"], "--json").json()
    assert [(t["conversation_id"], t["asked"], t["output_text"]) for t in forked] == [(cid, "Q1", "A1"), (fork["conversation_id"], "Q2 instead", "B2")]
    listed = {c["id"]: c for c in ok(fake_workspace, "log", "conversations", "--json").json()}
    assert listed[fork["conversation_id"]]["forked_from"] == [cid, 1] and listed[cid]["forked_from"] is None
    assert (listed[fork["conversation_id"]]["first_words"], listed[cid]["first_words"]) == ("Q2 instead", "Q1")
    assert ok(fake_workspace, "ask", "-c", "Q3b", "--json").json()["conversation_id"] == fork["conversation_id"]  # the latest


def test_following_up_on_an_earlier_run_forks_after_it(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script("A1", "A2", "B2")
    first = ok(fake_workspace, "ask", "Q1", "--json").json()
    ok(fake_workspace, "ask", "-c", "Q2")
    fork = ok(fake_workspace, "ask", "--run", str(first["run_id"]), "Q2 instead", "--json").json()
    assert fork["conversation_id"] != first["conversation_id"]
    assert fake_server.chats[-1].messages == [user("Q1"), assistant("A1"), user("Q2 instead")]


def test_a_broken_turn_is_kept_marked_and_told_to_the_model(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script(Reply("One, two, three.", chunks=2, break_after=1))  # the stream dies after "One, two"
    one_line_error(scribe(fake_workspace, "ask", "Count to three."))
    ok(fake_workspace, "ask", "-c", "Go on.")
    assert fake_server.chats[-1].messages == [user("Count to three."), assistant("One, two"), user(f"{CUT_OFF_NOTE}\n\nGo on.")]
    cid = conversations_latest(fake_workspace)
    turns = ok(fake_workspace, "log", "--conversation", cid, "--json").json()
    assert [(t["status"], t["cut_off"]) for t in turns] == [("failed", True), ("ok", False)]
    shown = ok(fake_workspace, "log", "--conversation", cid).stdout
    assert "failed (cut off)" in shown and "> Go on." in shown


def test_an_answer_stopped_for_repeating_itself_is_continued_from_before_its_loop(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    kept = "Leases expire, so a paused worker can wake up and find its job taken."
    again = "Every write has to check that the worker still owns the job."
    fake_server.script(Reply(f"{kept}\n\n" + f"{again}\n\n" * 10, chunks=40), "Fencing tokens.")
    ran = ok(fake_workspace, "ask", "Why are leases hard?")
    assert "began repeating itself" in ran.stderr
    ok(fake_workspace, "ask", "-c", "What fixes it?")
    assert fake_server.chats[-1].messages == [user("Why are leases hard?"), assistant(f"{kept}\n\n{again}\n"), user("What fixes it?")]


def test_a_cancelled_follow_up_keeps_its_partial_text(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ok(fake_workspace, "ask", "Q1")
    fake_server.script(Reply("A slow answer", chunks=4, delay_s=0.01))
    cancel = threading.Event()
    cancel.set()  # Esc before the first token
    with log_of(fake_workspace) as log:
        cid = conversations.latest(log)
        assert cid is not None
        run_id, result = follow_up(fake_server, log, cid, "Q2", cancel=cancel)
        assert result.status == "cancelled"
        [*_, last] = conversations.turns(log, cid)
    assert (last.run_id, last.turn, last.status, last.cut_off, last.asked) == (run_id, 2, "cancelled", True, "Q2")


def conversations_latest(ws: Path) -> str:
    with log_of(ws) as log:
        found = conversations.latest(log)
    assert found is not None
    return found


@pytest.mark.parametrize(("args", "says"), [
    (("ask", "-c", "More?"), "no conversation to continue yet"),
    (("ask", "--cid", "abc123", "More?"), "no conversation abc123"),
    (("ask", "--cid", "xyz", "More?"), "not a conversation id"),
    (("ask", "--from-turn", "1", "More?"), "give it with -c or --cid"),
    (("log", "--conversation", "abc123"), "no conversation abc123"),
])
def test_naming_no_conversation_is_one_line(fake_workspace: Path, args: tuple[str, ...], says: str) -> None:
    assert says in one_line_error(scribe(fake_workspace, *args))


def test_a_fork_turn_out_of_range_and_an_empty_follow_up_are_one_line(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    cid = ok(fake_workspace, "ask", "Q1", "--json").json()["conversation_id"]
    assert f"conversation {cid} has turns 1-1" in one_line_error(scribe(fake_workspace, "ask", "--cid", cid, "--from-turn", "3", "Q"))
    assert "needs some text" in one_line_error(scribe(fake_workspace, "ask", "-c", "  "))
    assert len(fake_server.chats) == 1


def test_every_task_summary_names_its_conversation(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    ran = ok(fake_workspace, "outline", "--topic", "Retries", "-k", "0")
    cid = conversations_latest(fake_workspace)
    assert ran.stderr.splitlines()[-1].endswith(f" · conversation {cid}")


# -- a log from before conversations ----------------------------------------------------------


def test_a_run_logged_before_conversations_reads_and_can_be_continued(tmp_path: Path, fake_server: FakeModelServer) -> None:
    path = tmp_path / "runs.sqlite"
    db = sqlite3.connect(path)
    for step in MIGRATIONS[:4]:
        step(db)
    old_prompt = "[system]\nBe brief.\n\n[user]\nName a colour."
    db.execute("INSERT INTO runs (started_at, task, model, host, status, input_text, output_text, options, meta)"
               " VALUES ('2025-01-01T00:00:00', 'ask', ?, 'http://h', 'ok', ?, 'Blue.', ?, ?)",
               (fake_server.chat_model, old_prompt, json.dumps({"num_predict": 16}), json.dumps({"via": "cli"})))
    db.execute("PRAGMA user_version = 4")
    db.commit()
    db.close()
    with RunLog(path) as log:
        [old] = log.recent()
        assert old.conversation_id is not None and (old.turn, old.turn_messages) == (1, None)
        assert conversations.latest(log) == old.conversation_id  # listed like any result
        run_id, _ = follow_up(fake_server, log, old.id, "Another?")
        new = log.get(run_id)
        assert new is not None and new.conversation_id == old.conversation_id
        turns = conversations.turns(log, new.conversation_id)
    assert fake_server.chats[-1].messages == [user(old_prompt), assistant("Blue."), user("Another?")]  # no roles guessed
    assert fake_server.chats[-1].options == {"num_predict": 16, "num_ctx": 2048}
    assert [(t.run_id, t.turn, t.asked) for t in turns] == [(old.id, 1, "ask"), (run_id, 2, "Another?")]


def test_the_window_grows_with_the_history_and_a_history_too_long_is_refused_with_the_count(fake_workspace: Path, fake_server: FakeModelServer) -> None:
    fake_server.script("A1", "word " * 1500)
    ok(fake_workspace, "ask", "Q1")
    ok(fake_workspace, "ask", "-c", "Q2")
    assert fake_server.chats[-1].options == {"num_predict": 256, "num_ctx": 2048}  # sized, as a task's window is
    ok(fake_workspace, "ask", "-c", "Q3")
    assert fake_server.chats[-1].options == {"num_predict": 256, "num_ctx": 4096}  # 1,500 words more no longer fit 2,048
    fake_server.context_length = 2048
    error = one_line_error(scribe(fake_workspace, "ask", "--cid", conversations_latest(fake_workspace), "--from-turn", "2", "Q3"))
    assert "more than num_ctx = 2,048 (the most the model and max_num_ctx allow)" in error
    assert "fork from an earlier turn" in error and len(fake_server.chats) == 3
