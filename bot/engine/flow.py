"""Flows as data: the YAML schema, the loader and the load-time validation."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator

FLOWS_DIR = Path(__file__).resolve().parent.parent.parent / "flows"
SPECIAL_TARGETS = {"return", "end", "idle", "stay"}
AskType = Literal["choice", "yesno", "text", "name", "number", "postcode"]


class FlowError(ValueError):
    """A flow file is not valid; the message says which file, step and field."""


class Option(BaseModel):
    """One answer of a choice question."""

    model_config = ConfigDict(extra="forbid")
    value: str
    label: str
    raw: bool = False  # shown as written in every language (e.g. language names)
    synonyms: list[str] = Field(default_factory=list)


class Ask(BaseModel):
    """The question a step asks and how its answer is understood."""

    model_config = ConfigDict(extra="forbid")
    type: AskType
    options: list[Option] = Field(default_factory=list)
    min: int | None = None
    max: int | None = None


class Step(BaseModel):
    """One step: say, maybe ask, save the answer, call a hook, route to the next step."""

    model_config = ConfigDict(extra="forbid")
    say: list[str] = Field(default_factory=list)
    ask: Ask | None = None
    retry: str | None = None
    save: str | None = None
    hook: str | None = None
    options_from: str | None = None  # a hook listing the choices (trades, slots...) when the step is asked
    text_from: str | None = None  # a hook writing a text (a trade card...) said when the step is entered
    call: str | None = None
    next: str | None = None
    routes: dict[str, str] = Field(default_factory=dict)

    @field_validator("say", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class Flow(BaseModel):
    """A named set of steps, with an entry step and named texts."""

    model_config = ConfigDict(extra="forbid")
    flow: str
    description: str = ""
    start: str | None = None
    steps: dict[str, Step] = Field(default_factory=dict)
    texts: dict[str, str] = Field(default_factory=dict)
    keywords: dict[str, list[str]] = Field(default_factory=dict)
    timers: dict[str, str] = Field(default_factory=dict)  # timer kind -> the step it starts (system flow)


Hook = Callable[..., str | None]


class FlowSet:
    """All flows of the assistant, validated together, with the hooks they call."""

    def __init__(self, flows: dict[str, Flow], hooks: dict[str, Hook]) -> None:
        self.flows = flows
        self.hooks = hooks

    def step(self, ref: str) -> Step:
        """The step at 'flow.step'."""
        flow, _, step = ref.partition(".")
        return self.flows[flow].steps[step]

    def resolve(self, target: str, current_flow: str, flow_first: bool = False) -> str:
        """Turn a route target into 'flow.step' ('x' is a step here, 'f.x' or a flow name elsewhere)."""
        if "." in target:
            return target
        if flow_first and target in self.flows and self.flows[target].start:
            return f"{target}.{self.flows[target].start}"
        if target in self.flows[current_flow].steps:
            return f"{current_flow}.{target}"
        if target in self.flows and self.flows[target].start:
            return f"{target}.{self.flows[target].start}"
        raise FlowError(f"{current_flow}: unknown route target {target!r}")

    def text(self, name: str) -> str:
        """A named text of the system flow."""
        return self.flows["system"].texts[name]

    @property
    def keywords(self) -> dict[str, list[str]]:
        """Global keywords: action name to the words that trigger it."""
        return self.flows["system"].keywords

    def all_texts(self) -> Iterator[tuple[str, str]]:
        """Every translatable text with where it stands, for validation and extraction."""
        for flow in self.flows.values():
            for name, text in flow.texts.items():
                yield f"{flow.flow}.texts.{name}", text
            for step_id, step in flow.steps.items():
                where = f"{flow.flow}.{step_id}"
                for text in step.say:
                    yield where, text
                if step.retry:
                    yield where, step.retry
                for option in step.ask.options if step.ask else []:
                    if not option.raw:
                        yield where, option.label


class _FlowLoader(yaml.SafeLoader):
    """YAML without the 1.1 surprises: yes, no, on and off stay words; only true/false are booleans."""


_FlowLoader.yaml_implicit_resolvers = {
    key: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:bool"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(path: Path) -> Any:
    """Read a data file the way a reviewer reads it."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_FlowLoader)  # noqa: S506 - safe loader


def read_flow_file(path: Path) -> Flow:
    """Parse one flow file."""
    try:
        data = load_yaml(path)
        return Flow.model_validate(data)
    except (yaml.YAMLError, ValueError) as exc:
        raise FlowError(f"{path.name}: {exc}") from exc


def validate(flowset: FlowSet, translated: Callable[[str], list[str]] | None = None) -> None:
    """Refuse dangling routes, unknown hooks, impossible questions and untranslated texts."""
    if "system" not in flowset.flows:
        raise FlowError("the system flow (texts and keywords) is missing")
    problems: list[str] = []
    for flow in flowset.flows.values():
        for kind, target in flow.timers.items():
            try:
                flowset.step(flowset.resolve(target, flow.flow))
            except (FlowError, KeyError):
                problems.append(f"{flow.flow}: timer {kind!r} starts at unknown step {target!r}")
        if flow.start and flow.start not in flow.steps:
            problems.append(f"{flow.flow}: start step {flow.start!r} does not exist")
        for step_id, step in flow.steps.items():
            where = f"{flow.flow}.{step_id}"
            targets = [t for t in [step.next, *step.routes.values()] if t]
            if step.call and step.call not in flowset.flows:
                problems.append(f"{where}: call to unknown flow {step.call!r}")
            for target in targets:
                if target in SPECIAL_TARGETS:
                    continue
                try:
                    flowset.step(flowset.resolve(target, flow.flow))
                except (FlowError, KeyError):
                    problems.append(f"{where}: route to unknown step {target!r}")
            for name in (step.hook, step.options_from, step.text_from):
                if name and name not in flowset.hooks:
                    problems.append(f"{where}: unknown hook {name!r}")
            if step.ask is None and not step.next and not step.call and not step.routes:
                problems.append(f"{where}: a step that asks nothing needs 'next'")
            if step.ask and step.ask.type == "choice" and not step.ask.options and not step.options_from:
                problems.append(f"{where}: a choice needs options")
            if step.ask and not step.say:
                problems.append(f"{where}: a question needs a text to say")
            if step.ask and step.ask.options:
                values = {o.value for o in step.ask.options}
                for key in step.routes:
                    if key not in values and key not in ("default", "empty") and not step.hook:
                        problems.append(f"{where}: route {key!r} matches no option")
    if translated is not None:
        for where, text in flowset.all_texts():
            for lang in translated(text):
                problems.append(f"{where}: no {lang} translation for {text!r}")
    if problems:
        raise FlowError("invalid flows:\n  " + "\n  ".join(problems))


def load_flowset(
    directory: Path = FLOWS_DIR,
    hooks: dict[str, Hook] | None = None,
    translated: Callable[[str], list[str]] | None = None,
) -> FlowSet:
    """Read every *.yaml flow in a folder and validate them as one set."""
    if hooks is None:
        from flows.hooks import HOOKS

        hooks = HOOKS
    flows = {}
    for path in sorted(directory.glob("*.yaml")):
        flow = read_flow_file(path)
        if flow.flow in flows:
            raise FlowError(f"{path.name}: flow {flow.flow!r} is defined twice")
        flows[flow.flow] = flow
    flowset = FlowSet(flows, hooks)
    validate(flowset, translated)
    return flowset
