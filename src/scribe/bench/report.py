"""Write a benchmark report from the run log alone: report.md, report.html, runs.csv, summary.json.

Reading the log (not a bench's own files) is what lets TUI, batch and bench runs all count. The
numbers come from `aggregate.build_model`; this module only reads, renders and writes.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from scribe.bench.aggregate import KEPT_ENOUGH, ReportModel, build_model, is_contest
from scribe.bench.machine import machine
from scribe.bench.replay import judged_in_log
from scribe.bench.stats import Interval, Summary
from scribe.critique import as_logged
from scribe.errors import ScribeError
from scribe.files import atomic_write
from scribe.runlog import RunLog, utc_now

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class ReportFiles:
    out_dir: Path
    model: ReportModel
    charts_note: str | None  # why the charts are missing, if they are

    @property
    def paths(self) -> list[Path]:
        return [self.out_dir / name for name in ("report.md", "report.html", "runs.csv", "summary.json")]


def _cell(value: Any) -> str:
    """Text safe in a markdown table cell and, once converted, in HTML (judge reasons are model output)."""
    text = " ".join(str(value).split())
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("|", "\\|")


def _spread(s: Summary | None) -> str:
    return "–" if s is None else f"{s.median:.1f} / {s.p95:.1f} (± {s.stdev:.1f})"


def _interval(i: Interval | None, digits: int = 2) -> str:
    return "–" if i is None else f"{i.estimate:.{digits}f} [{i.low:.{digits}f}, {i.high:.{digits}f}]"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _rate(i: Interval) -> str:
    return f"{_pct(i.estimate)} [{_pct(i.low)}, {_pct(i.high)}]"


def _environment():  # type: ignore[no-untyped-def]
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
        autoescape=False, trim_blocks=True, lstrip_blocks=True,
    )
    env.filters.update(cell=_cell, spread=_spread, interval=_interval, pct=_pct, rate=_rate)
    return env


def _html(markdown_text: str, env: Any) -> str:
    """The markdown report as a standalone page: charts are inline PNGs, the style is inline CSS."""
    from markdown_it import MarkdownIt  # comes with rich

    body = MarkdownIt("commonmark", {"html": True}).enable("table").render(markdown_text)
    return env.get_template("report.html.j2").render(body=body)


def _csv(rows: list[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return buffer.getvalue()


def build_report(
    runlog: RunLog,
    out_dir: Path,
    *,
    critique_schema: dict[str, Any],
    since: str | None = None,
    models: list[str] | None = None,
    bench: str | None = None,
) -> ReportFiles:
    """Aggregate the log (optionally since a date, for some configurations or one bench) and write the files."""
    from scribe.bench import charts

    runs = list(runlog.iter_all(since=since))
    prefs = runlog.preferences(since=since)
    decisions = runlog.decisions(since=since)  # build_model keeps those on the runs reported
    if bench is not None:
        runs = [r for r in runs if r.meta.bench == bench]
        ids = {r.id for r in runs}
        prefs = [p for p in prefs if p.run_a in ids and p.run_b in ids]
    wanted = set(models or [])
    judged = judged_in_log(runlog, {r.meta.replay_of for r in runs if r.meta.replay_of is not None})
    model = build_model(
        runs, prefs, decisions, critique_schema=as_logged(critique_schema), generated_at=utc_now(), report_machine=machine(), drafts=runlog.drafts(),
        keep_config=(lambda c: c in wanted or c.split("@")[0] in wanted) if wanted else (lambda _: True), judged=judged,
    )
    if not any(is_contest(r) for r in runs) or not model.latency:
        filters = ", ".join(f for f in (f"since {since}" if since else "", f"models {sorted(wanted)}" if wanted else "",
                                        f"bench {bench!r}" if bench else "") if f)
        raise ScribeError(f"{runlog.path}: no model runs to report{' (' + filters + ')' if filters else ''}; "
                          "run some first, e.g. scribe bench --model gemma3:270m --out reports/first")
    pictures = charts.render(model)
    note = None if pictures is not None else charts.CHARTS_HINT
    env = _environment()
    summary = asdict(replace(model, rows=[]))  # rows go to runs.csv; asdict would deep-copy them all
    del summary["rows"]
    out_dir.mkdir(parents=True, exist_ok=True)
    context = {"m": model, "charts": pictures or {}, "charts_note": note, "ratings_by": _ratings_by(model), "kept_enough": KEPT_ENOUGH}
    page = env.get_template("report.md.j2")
    atomic_write(out_dir / "report.md", page.render(context, html=False))
    atomic_write(out_dir / "report.html", _html(page.render(context, html=True), env))
    atomic_write(out_dir / "runs.csv", _csv(model.rows))
    atomic_write(out_dir / "summary.json", json.dumps(summary, indent=2, default=str))
    return ReportFiles(out_dir, model, note)


def _ratings_by(model: ReportModel) -> dict[str, list[Any]]:
    """Rating sets grouped by source, in the order the report shows them."""
    grouped: dict[str, list[Any]] = {}
    for source in ("judge", "author", "combined"):
        sets = [s for s in model.ratings if s.source == source]
        if sets:
            grouped[source] = sets
    return grouped
