"""LLM-as-judge calls over a bench's outputs: a rubric per task, and pairwise choices in both orders.

Every judge call goes through `calls.run_call`, so it is in the run log like any call: task
`judge:TASK` (rubric) or `judge-pairwise:TASK`, its RunMeta naming the runs it judged. Reports read
the verdicts back from there (`aggregate.parse_rubric`, `aggregate.parse_verdict`). Reruns skip the
judgements already logged for the same runs, judge configuration and prompt version.
"""

from __future__ import annotations

import itertools
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from scribe.bench.executor import Executor, HostPool, Job, Outcome, raise_if_unfinished, split_finished
from scribe.calls import run_call
from scribe.models import ModelServer
from scribe.modelspec import ModelSpec
from scribe.outline import as_markdown
from scribe.prompts import PromptTemplate
from scribe.runlog import CallRequest, RunLog, RunRecord
from scribe.runmeta import RunMeta
from scribe.tasks import Draft
from scribe.tokens import truncate_to_tokens

DRAFT_TOKENS = 1200
OUTPUT_TOKENS = 700


@dataclass(frozen=True)
class JudgeCall:
    """One judge request, not yet run: what to ask and how to tag it in the log."""

    task: str
    template: PromptTemplate
    values: dict[str, Any]
    meta: RunMeta

    @property
    def key(self) -> tuple[Any, ...]:
        m = self.meta
        return (self.task, m.judge, self.template.version, m.judged_run, m.run_x, m.run_y, m.order)


def _shown(run: RunRecord) -> str:
    """A run's output as its author read it (an outline's JSON as markdown), cut to fit the judge's prompt."""
    text = as_markdown(run.output_text) if run.task == "outline" else run.output_text
    return truncate_to_tokens(text, OUTPUT_TOKENS)


def _key_of(run: RunRecord) -> tuple[Any, ...]:
    m = run.meta
    return (run.task, m.judge, run.prompt_version, m.judged_run, m.run_x, m.run_y, m.order)


def final_runs(runs: Sequence[RunRecord]) -> list[RunRecord]:
    """The last run of each bench item (a critique retried after invalid JSON counts once)."""
    last: dict[tuple[Any, ...], RunRecord] = {}
    for run in runs:
        m = run.meta
        last[(m.draft_hash, m.config, run.task, run.prompt_version, m.repeat)] = run
    return sorted(last.values(), key=lambda r: r.id)


def plan_judging(
    runs: Sequence[RunRecord], drafts: dict[str, Draft], templates: dict[str, PromptTemplate], judge: ModelSpec, bench: str
) -> list[JudgeCall]:
    """Rubric calls for every output, then pairwise calls for every two configurations that answered
    the same (draft, task, repeat), each pair in both orders to cancel the judge's position bias."""
    calls: list[JudgeCall] = []
    finals = [r for r in final_runs(runs) if r.meta.draft_hash in drafts]

    def draft_of(run: RunRecord) -> Draft:
        return drafts[run.meta.draft_hash or ""]

    def base(run: RunRecord) -> dict[str, Any]:
        draft = draft_of(run)
        return {"title": draft.title, "draft": truncate_to_tokens(draft.body, DRAFT_TOKENS)}

    for run in finals:
        m = run.meta
        values = {**base(run), "output": _shown(run), "sections": m.sections or 5, "words": m.words or 150,
                  "heading": m.section or draft_of(run).title}
        meta = RunMeta(bench=bench, judge=judge.label, judged_run=run.id, config=m.config, draft_hash=m.draft_hash, repeat=m.repeat)
        calls.append(JudgeCall(f"judge:{run.task}", templates[f"judge-{run.task}"], values, meta))
    groups: dict[tuple[Any, ...], list[RunRecord]] = defaultdict(list)
    for run in finals:
        groups[(run.task, run.meta.draft_hash, run.meta.repeat)].append(run)
    for (task, digest, repeat), members in groups.items():
        members.sort(key=lambda r: r.meta.config or "")
        for x, y in itertools.combinations(members, 2):
            if x.meta.config == y.meta.config:
                continue
            for order, (a, b) in (("xy", (x, y)), ("yx", (y, x))):
                values = {"task": task, "request": f"A {task} of the draft below.\n\n{base(x)['draft']}",
                          "output_a": _shown(a),
                          "output_b": _shown(b)}
                meta = RunMeta(bench=bench, judge=judge.label, run_x=x.id, run_y=y.id, order=order,
                               config_x=x.meta.config, config_y=y.meta.config, draft_hash=digest, repeat=repeat)
                calls.append(JudgeCall(f"judge-pairwise:{task}", templates["judge-pairwise"], values, meta))
    return calls


def judging_jobs(calls: Sequence[JudgeCall]) -> list[Job[JudgeCall]]:
    """The calls as the executor takes them: keyed as `judged` keys the log, grouped by draft."""
    return [Job(c, c.meta.draft_hash or "", c.key) for c in calls]


def judged(logged: Sequence[RunRecord]) -> dict[tuple[Any, ...], None]:
    """Keys of the judgements the log already holds."""
    return {_key_of(r): None for r in logged if r.status == "ok" and r.task.startswith("judge")}


def judge_bench(
    client: ModelServer, runlog: RunLog, judge: ModelSpec, templates: dict[str, PromptTemplate], drafts: Sequence[Draft],
    bench: str, *, force: bool, on_total: Callable[[int], None] = lambda _n: None,
    on_call: Callable[[], None] = lambda: None,
) -> bool:
    """Judge everything a bench has logged for these drafts that is not judged yet, through the
    bench's executor (resume by key, Ctrl-C stops the call in flight); False if interrupted."""
    from scribe.bench.runner import bench_runs

    logged = list(runlog.iter_all())
    calls = plan_judging(bench_runs(logged, bench), {d.hash: d for d in drafts}, templates, judge, bench)
    jobs, finished = judging_jobs(calls), judged(logged)
    on_total(len(split_finished(jobs, finished, force=force)[0]))

    def work(call: JudgeCall, _host: str, cancel: threading.Event) -> None:
        t = call.template
        request = CallRequest(
            task=call.task, model=judge.name, messages=t.render(call.values), options={**t.options, **judge.options},
            format=t.format, prompt_name=t.name, prompt_version=t.version, meta=call.meta,
        )
        _, result = run_call(client, runlog, request, cancel=cancel)
        raise_if_unfinished(result)

    def advance(outcome: Outcome[JudgeCall, None]) -> None:
        if outcome.status != "skipped":
            on_call()

    executor: Executor[JudgeCall, None] = Executor(work, HostPool([client.host]), on_outcome=advance)
    return not executor.run(jobs, finished=finished, force=force).interrupted
