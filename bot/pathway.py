"""The pathway, the pure side: the data file (flows/data/pathway.yaml), check-in dates, intents, validation.

Nothing here touches the database; `bot/pathway_store.py` is the database side.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.appointments import TZ, next_allowed
from bot.engine.flow import load_yaml

DATA_FILE = Path(__file__).resolve().parent.parent / "flows" / "data" / "pathway.yaml"
ROME_CODE = re.compile(r"^F\d{4}$")
PRIORITY_RANK = {"high": 0, "medium": 1, "low": 2}


@dataclass(frozen=True)
class Cadence:
    """A check-in every `every_days` days, up to `until_day` from the step's start (None: its end date)."""

    every_days: int
    until_day: int | None


@dataclass(frozen=True)
class DetailSpec:
    """One detail a step records: its type (text, rome, bool, choice), whether it is required, the values."""

    type: str
    required: bool = False
    values: tuple[str, ...] = ()


@dataclass(frozen=True)
class StepDef:
    """A pathway step as the data file defines it."""

    id: str
    theme: str
    goal: str
    actions: tuple[str, ...]
    details: dict[str, DetailSpec]
    checkins: tuple[Cadence, ...]
    message: str | None
    open: bool


@dataclass(frozen=True)
class PathwayData:
    """Everything flows/data/pathway.yaml says."""

    steps: dict[str, StepDef]
    checkin_time: time
    nudge_after: timedelta
    missed_after: timedelta
    missed_in_a_row: int
    no_contact: timedelta
    lasting_job_target: int
    max_days: int
    action_statuses: tuple[str, ...]
    alerts: dict[str, str] = field(default_factory=dict)

    def step(self, step_id: str) -> StepDef:
        return self.steps[step_id]

    def priority(self, reason: str) -> str:
        return self.alerts.get(reason, "medium")

    def texts(self) -> list[tuple[str, str]]:
        """(where, msgid) of each text a resident sees, for the catalogs."""
        return [(f"pathway.{s.id}.message", s.message) for s in self.steps.values() if s.message]


def parse(data: dict[str, Any]) -> PathwayData:
    """Check and type the data file; a mistake names the step and the field."""
    steps: dict[str, StepDef] = {}
    for raw in data["steps"]:
        sid = raw["id"]
        if sid in steps:
            raise ValueError(f"pathway.yaml: step {sid!r} twice")
        cadence = []
        for c in raw.get("checkins") or []:
            until = c["until_day"]
            if until != "end" and not isinstance(until, int):
                raise ValueError(f"pathway.yaml: {sid}: until_day must be a number of days or 'end'")
            if int(c["every_days"]) <= 0:
                raise ValueError(f"pathway.yaml: {sid}: every_days must be positive")
            cadence.append(Cadence(int(c["every_days"]), None if until == "end" else int(until)))
        details = {
            name: DetailSpec(spec["type"], _flag(spec.get("required")), tuple(spec.get("values") or ()))
            for name, spec in (raw.get("details") or {}).items()
        }
        for name, spec in details.items():
            if spec.type not in ("text", "rome", "bool", "choice"):
                raise ValueError(f"pathway.yaml: {sid}.{name}: unknown type {spec.type!r}")
        steps[sid] = StepDef(
            sid,
            raw["theme"],
            raw["goal"],
            tuple(raw.get("actions") or ()),
            details,
            tuple(cadence),
            raw.get("message"),
            _flag(raw.get("open", True)),
        )
    hour, minute = (int(x) for x in str(data["checkin_time"]).split(":"))
    alerts = {str(k): str(v) for k, v in (data.get("alerts") or {}).items()}
    for reason, priority in alerts.items():
        if priority not in PRIORITY_RANK:
            raise ValueError(f"pathway.yaml: alert {reason}: unknown priority {priority!r}")
    return PathwayData(
        steps=steps,
        checkin_time=time(hour, minute),
        nudge_after=timedelta(hours=int(data["nudge_after_hours"])),
        missed_after=timedelta(hours=int(data["missed_after_hours"])),
        missed_in_a_row=int(data["missed_in_a_row"]),
        no_contact=timedelta(days=int(data["no_contact_days"])),
        lasting_job_target=int(data["lasting_job_target"]),
        max_days=int(data["max_days"]),
        action_statuses=tuple(data["action_statuses"]),
        alerts=alerts,
    )


def _flag(value: Any) -> bool:
    """true/false in the data file (its loader keeps YAML 1.1 words such as yes/no as text)."""
    return value is True or str(value).strip().lower() == "true"


@cache
def pathway_data(path: Path = DATA_FILE) -> PathwayData:
    """The data file, read once."""
    return parse(load_yaml(path))


# Check-in dates -------------------------------------------------------------------------------


def checkin_days(step: StepDef, started_on: date, ended_on: date | None, max_days: int) -> list[int]:
    """Days after the start of the step on which a check-in is due, from the step's cadence."""
    end = (ended_on - started_on).days if ended_on else None
    days: list[int] = []
    day = 0
    for cadence in step.checkins:
        limit = cadence.until_day if cadence.until_day is not None else (end if end is not None else max_days)
        if end is not None:
            limit = min(limit, end)
        limit = min(limit, max_days)
        while day + cadence.every_days <= limit:
            day += cadence.every_days
            days.append(day)
    return days


def checkin_due(started_on: date, day: int, at: time, tz: str = TZ) -> datetime:
    """When the check-in of that day goes out: at the check-in time in Paris, moved past quiet hours."""
    local = datetime.combine(started_on + timedelta(days=day), at, tzinfo=ZoneInfo(tz))
    return next_allowed(local.astimezone(UTC), tz)


# Intents (carried out by bot/pathway_store.py in the turn's transaction) -------------------------


@dataclass(frozen=True)
class CheckinSent:
    """A check-in question went out (the timer's key names it)."""

    key: str
    step: str
    nudge: bool = False


@dataclass(frozen=True)
class CheckinAnswered:
    """The resident answered a check-in: fine, difficulties, talk, or free text."""

    key: str
    answer: str
    text: str | None = None


@dataclass(frozen=True)
class CheckinDetail:
    """What the difficulty is about, or the resident's own words about it."""

    key: str
    difficulty: str | None = None
    text: str | None = None


# Validation of a pathway sent by a counsellor --------------------------------------------------


def check_pathway(steps: list[dict[str, Any]], data: PathwayData | None = None) -> list[dict[str, Any]]:
    """Errors as FastAPI shapes them (loc names the field), for a list of steps; empty when valid."""
    data = data or pathway_data()
    errors: list[dict[str, Any]] = []

    def err(loc: list[Any], msg: str) -> None:
        errors.append({"loc": ["body", "steps", *loc], "msg": msg, "type": "value_error"})

    previous: date | None = None
    for i, step in enumerate(steps):
        sid = step["step"]
        if sid not in data.steps:
            err([i, "step"], f"unknown step {sid!r}; known: {', '.join(data.steps)}")
            continue
        definition = data.steps[sid]
        started, ended = step["started_on"], step.get("ended_on")
        if ended is not None and ended < started:
            err([i, "ended_on"], "ends before it starts")
        if previous is not None and started < previous:
            err([i, "started_on"], "starts before the previous step")
        previous = started
        details = step.get("details") or {}
        for name, value in details.items():
            spec = definition.details.get(name)
            if spec is None:
                err([i, "details", name], f"not a detail of {sid}")
            elif not _valid(spec, value):
                err([i, "details", name], _expected(spec))
        for name, spec in definition.details.items():
            if spec.required and details.get(name) in (None, ""):
                err([i, "details", name], "required")
        for j, action in enumerate(step.get("actions") or []):
            if action.get("status") not in data.action_statuses:
                err([i, "actions", j, "status"], f"one of {', '.join(data.action_statuses)}")
    return errors


def _valid(spec: DetailSpec, value: Any) -> bool:
    if spec.type == "bool":
        return isinstance(value, bool)
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        return False
    if spec.type == "rome":
        return bool(ROME_CODE.match(value))
    if spec.type == "choice":
        return value in spec.values
    return True


def _expected(spec: DetailSpec) -> str:
    return {
        "bool": "true or false",
        "rome": "a ROME code such as F1703",
        "choice": f"one of {', '.join(spec.values)}",
    }.get(spec.type, "a text of 1 to 200 characters")
