"""The report's charts as inline PNGs (base64), so report.html opens offline with nothing beside it.

matplotlib is an optional extra (`scribe[charts]`), imported only here and only when a report is
drawn, on the Agg backend (no display needed).
"""

from __future__ import annotations

import base64
import io
import math
from collections import defaultdict
from typing import Any

from scribe.bench.aggregate import RatingSet, ReportModel

CHARTS_HINT = "charts need matplotlib: pip install 'scribe[charts]'"


def available() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Any:
    """A bare Agg figure: no pyplot, whose import alone costs about a second."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Any) -> str:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _latency(rows: list[dict[str, Any]]) -> str | None:
    ttft: dict[str, list[float]] = defaultdict(list)
    tps: dict[str, list[float]] = defaultdict(list)
    for row in rows:
        if row["status"] == "ok" and not row["warmup"] and not row["task"].startswith(("judge", "bench:")):
            if row["ttft_ms"] is not None:
                ttft[row["config"]].append(row["ttft_ms"])
            if row["eval_tps"] is not None:
                tps[row["config"]].append(row["eval_tps"])
    if not ttft and not tps:
        return None
    fig = _figure(10, 0.6 * max(len(ttft), len(tps), 3) + 1.2)
    axes = fig.subplots(1, 2)
    for ax, data, title in ((axes[0], ttft, "time to first token (ms), all tasks"), (axes[1], tps, "decode tokens/s, all tasks")):
        labels = sorted(data)
        if labels:
            ax.boxplot([data[k] for k in labels], orientation="horizontal", tick_labels=labels, showfliers=True)
        ax.set_title(title)
        ax.grid(axis="x", alpha=0.3)
    axes[1].set_yticklabels([])
    return _png(fig)


def _pareto(model: ReportModel) -> str | None:
    if not model.pareto:
        return None
    fig = _figure(7, 4.5)
    ax = fig.subplots()
    for p in model.pareto:
        ax.scatter(p.eval_tps, p.quality, s=60, color="tab:red" if p.on_frontier else "tab:gray", zorder=3)
        ax.annotate(p.config, (p.eval_tps, p.quality), textcoords="offset points", xytext=(6, 4), fontsize=8)
    frontier = sorted((p.eval_tps, p.quality) for p in model.pareto if p.on_frontier)
    if len(frontier) > 1:
        ax.plot(*zip(*frontier, strict=True), color="tab:red", alpha=0.6, label="Pareto frontier")
        ax.legend(loc="lower left")
    ax.set_xlabel("median decode tokens/s (higher is faster)")
    ax.set_ylabel("mean deterministic check score (0-1)")
    ax.set_ylim(-0.05, 1.05)
    ax.grid(alpha=0.3)
    ax.set_title("Quality against speed (red: not beaten on both)")
    return _png(fig)


def _win_rates(ratings: RatingSet | None) -> str | None:
    if ratings is None:
        return None
    labels = sorted(ratings.win_rates)
    grid = [[ratings.win_rates[m][o].rate if o in ratings.win_rates[m] else float("nan") for o in labels] for m in labels]
    fig = _figure(1.2 * len(labels) + 3, 1.0 * len(labels) + 2)
    ax = fig.subplots()
    image = ax.imshow(grid, vmin=0, vmax=1, cmap="RdYlGn")
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            if not math.isnan(value):  # NaN: the pair never met
                n = ratings.win_rates[labels[i]][labels[j]].n
                ax.text(j, i, f"{value:.0%}\nn={n}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label="row's win rate against column (ties count half)")
    ax.set_title(f"Win rates, {ratings.source} games, all tasks")
    return _png(fig)


def render(model: ReportModel) -> dict[str, str] | None:
    """Charts by name (base64 PNG), or None without matplotlib."""
    if not available():
        return None
    overall = next((s for source in ("combined", "judge", "author") for s in model.ratings if s.source == source and s.task == "all"), None)
    charts = {"latency": _latency(model.rows), "pareto": _pareto(model), "win_rates": _win_rates(overall)}
    return {name: png for name, png in charts.items() if png is not None}
