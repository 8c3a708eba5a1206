"""What the run log records about a call beyond its columns, as one typed record (`RunMeta`).

It is stored as the JSON `meta` column. The task layer (`tasks.execute`) fills what was asked of
the model; each consumer adds why the call ran (a CLI or TUI action, a batch or bench item, a judge
call). Logs written before a field existed still read: a missing key is an unset field, and a key
this version does not know is kept in `extra`, so nothing a row holds is lost on a round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class EngineInfo:
    """Which model server answered a bench, for the report's "how to rerun" section."""

    name: str
    version: str
    host: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> EngineInfo:
        return cls(str(data.get("name", "engine")), str(data.get("version", "?")), str(data.get("host", "?")))


@dataclass(frozen=True)
class RunMeta:
    """Why a call ran and what it asked for. Every field is optional: each kind of call sets its own."""

    via: str | None = None  # the surface that made the call: "cli", "tui" or "batch"

    # What was asked, filled by tasks.execute from the TaskInput (never parsed back from the prompt).
    draft: str | None = None  # the draft's path in the workspace
    draft_hash: str | None = None  # tasks.Draft.hash; the log keeps the draft's text under it (RunLog.drafts)
    section: str | None = None  # the section worked on; None: the whole draft
    heading: str | None = None  # the heading the prompt names: the section's, else the draft's title
    sections: int | None = None  # how many sections an outline was asked for
    words: int | None = None  # how many words an expansion was asked for
    format: str | dict[str, Any] | None = None  # the format sent; RunLog.start records the request's
    retry_of: int | None = None  # the run whose invalid reply this call retries

    # A bench item or warm-up (bench.runner); `engine`, `machine` and `command` are on warm-ups.
    bench: str | None = None
    config: str | None = None  # the model configuration's label, options included
    repeat: int | None = None
    warmup: bool = False
    replay_of: int | None = None  # a replay (bench --replay): the run whose suggestions the author judged, on the same text
    engine: EngineInfo | None = None
    machine: str | None = None
    command: str | None = None

    model_spec: str | None = None  # a batch item's model configuration
    compare: str | None = None  # "A" or "B": the side of a TUI comparison this call ran as

    # A judge call (bench.judge): a rubric names the run it judged, a pairwise call both runs.
    judge: str | None = None
    judged_run: int | None = None
    run_x: int | None = None
    run_y: int | None = None
    order: str | None = None  # "xy" or "yx": which of the two was shown first
    config_x: str | None = None
    config_y: str | None = None

    extra: dict[str, Any] = field(default_factory=dict)  # keys no field names, kept as they were

    def __post_init__(self) -> None:
        clash = set(self.extra) & _FIELDS
        if clash:
            raise ValueError(f"RunMeta.extra must not hold field names: {sorted(clash)}")

    def to_json(self) -> dict[str, Any]:
        """The JSON object the log stores: only the fields set (unset ones would read back the same)."""
        data = dict(self.extra)
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and value != f.default:
                data[f.name] = asdict(value) if isinstance(value, EngineInfo) else value
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunMeta:
        """A meta object as logged, by any version: missing keys are unset fields, unknown keys go to `extra`."""
        known = {k: v for k, v in data.items() if k in _FIELDS}
        extra = {k: v for k, v in data.items() if k not in _FIELDS}
        engine = known.get("engine")
        # a bench writes an object; anything else no scribe wrote, and it reads as unset
        known["engine"] = EngineInfo.from_json(engine) if isinstance(engine, Mapping) else None
        return cls(**known, extra=extra)


_FIELDS = frozenset(f.name for f in fields(RunMeta)) - {"extra"}
